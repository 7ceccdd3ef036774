// eavdb — typed values: exact decimals, UTC datetimes, coercion between value types.
#include "eavdb/value.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "eavdb/error.h"

namespace eavdb {
namespace {

constexpr std::size_t kMaxDecimalDigits = 1000;  // canonical digits (integer + fractional)
constexpr std::size_t kMaxQuoteBytes = 64;       // longest value echoed in an error message

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `text` in single quotes for an error message; longer than 64 bytes it is cut on a UTF-8
// character boundary and ends in "...".
std::string quote(std::string_view text) {
  if (text.size() <= kMaxQuoteBytes) return fmt::format("'{}'", text);
  std::size_t n = kMaxQuoteBytes;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return fmt::format("'{}...'", text.substr(0, n));
}

// ---------------------------------------------------------------------------------------------
// Decimal text

enum class DecimalFail { kNone, kSyntax, kTooLong };

// Writes the canonical form of decimal literal `s` to `out` (see Decimal in value.h).
// Grammar: [+-] digits [. digits] | [+-] . digits, then optionally [eE] [+-] digits.
// True when `s` is already canonical: an optional '-', an integer part without leading zeros,
// an optional '.' with at least one digit, at most kMaxDecimalDigits digits, not negative zero.
// The common case of values read back from storage, copied as they are.
bool is_canonical_decimal(std::string_view s) noexcept {
  std::size_t i = s.size() > 0 && s[0] == '-' ? 1 : 0;
  const std::size_t int_begin = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i == int_begin || (s[int_begin] == '0' && i - int_begin > 1)) return false;
  bool nonzero = i - int_begin > 1 || s[int_begin] != '0';
  std::size_t digits = i - int_begin;
  if (i < s.size()) {
    if (s[i] != '.' || ++i == s.size()) return false;
    for (; i < s.size(); ++i, ++digits) {
      if (!is_digit(s[i])) return false;
      nonzero = nonzero || s[i] != '0';
    }
  }
  return digits <= kMaxDecimalDigits && (int_begin == 0 || nonzero);
}

DecimalFail canonical_decimal(std::string_view s, std::string& out) {
  if (is_canonical_decimal(s)) {
    out.assign(s);
    return DecimalFail::kNone;
  }
  std::size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  const std::size_t int_begin = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  const std::string_view int_digits = s.substr(int_begin, i - int_begin);
  std::string_view frac_digits;
  if (i < s.size() && s[i] == '.') {
    const std::size_t frac_begin = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    frac_digits = s.substr(frac_begin, i - frac_begin);
  }
  if (int_digits.empty() && frac_digits.empty()) return DecimalFail::kSyntax;
  int64_t exp = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exp_neg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exp_neg = s[i++] == '-';
    const std::size_t exp_begin = i;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (exp < 1'000'000'000) exp = exp * 10 + (s[i] - '0');  // saturates; caught by the size check
    }
    if (i == exp_begin) return DecimalFail::kSyntax;
    if (exp_neg) exp = -exp;
  }
  if (i != s.size()) return DecimalFail::kSyntax;

  // Mantissa digits D = int_digits ++ frac_digits; the decimal point moves to `pos` within D.
  const auto int_len = static_cast<int64_t>(int_digits.size());
  const int64_t nd = int_len + static_cast<int64_t>(frac_digits.size());
  auto digit = [&](int64_t k) { return k < int_len ? int_digits[k] : frac_digits[k - int_len]; };
  int64_t first_nonzero = 0;
  while (first_nonzero < nd && digit(first_nonzero) == '0') ++first_nonzero;
  const int64_t pos = int_len + exp;
  const bool has_int = first_nonzero < std::min(pos, nd);
  const int64_t int_count = has_int ? pos - first_nonzero : 1;
  const int64_t frac_count = pos >= 0 ? std::max<int64_t>(0, nd - pos) : nd - pos;
  if (int_count + frac_count > static_cast<int64_t>(kMaxDecimalDigits)) return DecimalFail::kTooLong;

  out.clear();
  out.reserve(static_cast<std::size_t>(int_count + frac_count + 2));
  if (neg && first_nonzero < nd) out.push_back('-');  // "-0.00" -> "0.00"
  if (has_int) {
    for (int64_t k = first_nonzero; k < pos; ++k) out.push_back(k < nd ? digit(k) : '0');
  } else {
    out.push_back('0');
  }
  if (frac_count > 0) {
    out.push_back('.');
    for (int64_t k = pos; k < nd; ++k) out.push_back(k < 0 ? '0' : digit(k));
  }
  return DecimalFail::kNone;
}

std::string decimal_error(std::string_view text, DecimalFail fail) {
  if (fail == DecimalFail::kTooLong)
    return fmt::format("{} has more than {} digits", quote(text), kMaxDecimalDigits);
  return fmt::format("{} is not a decimal number", quote(text));
}

// A decimal string split for comparison and arithmetic: integer digits without leading zeros
// ("" for zero) and fractional digits as written. Tolerates a leading '+' and leading zeros.
struct DecimalParts {
  bool neg = false;
  std::string_view int_digits;
  std::string_view frac_digits;
};

DecimalParts split_decimal(std::string_view s) noexcept {
  DecimalParts p;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    p.neg = s[0] == '-';
    s.remove_prefix(1);
  }
  const std::size_t dot = s.find('.');
  p.int_digits = s.substr(0, dot);
  if (dot != std::string_view::npos) p.frac_digits = s.substr(dot + 1);
  while (!p.int_digits.empty() && p.int_digits[0] == '0') p.int_digits.remove_prefix(1);
  return p;
}

bool is_zero(const DecimalParts& p) noexcept {
  return p.int_digits.empty() &&
         std::all_of(p.frac_digits.begin(), p.frac_digits.end(), [](char c) { return c == '0'; });
}

// Compares |a| and |b|: integer length, integer digits, then fractional digits with missing
// digits read as '0'.
int compare_magnitude(const DecimalParts& a, const DecimalParts& b) noexcept {
  if (a.int_digits.size() != b.int_digits.size()) return a.int_digits.size() < b.int_digits.size() ? -1 : 1;
  if (const int c = a.int_digits.compare(b.int_digits); c != 0) return c < 0 ? -1 : 1;
  const std::size_t common = std::min(a.frac_digits.size(), b.frac_digits.size());
  if (const int c = a.frac_digits.substr(0, common).compare(b.frac_digits.substr(0, common)); c != 0)
    return c < 0 ? -1 : 1;
  const std::string_view rest_a = a.frac_digits.substr(common);
  const std::string_view rest_b = b.frac_digits.substr(common);
  if (rest_a.find_first_not_of('0') != std::string_view::npos) return 1;
  if (rest_b.find_first_not_of('0') != std::string_view::npos) return -1;
  return 0;
}

// Digit of |p| at place `place`, counted from the right of a number with `scale` fractional
// digits (place 0 = last fractional digit).
int digit_at(const DecimalParts& p, std::size_t place, std::size_t scale) noexcept {
  if (place < scale) {
    const std::size_t j = scale - 1 - place;
    return j < p.frac_digits.size() ? p.frac_digits[j] - '0' : 0;
  }
  const std::size_t q = place - scale;
  return q < p.int_digits.size() ? p.int_digits[p.int_digits.size() - 1 - q] - '0' : 0;
}

// Canonical text from a digit string holding `scale` fractional digits (most significant
// first; may carry leading zeros). `strip_trailing` drops trailing fractional zeros.
std::string compose_decimal(bool neg, std::string_view digits, std::size_t scale, bool strip_trailing) {
  std::string_view int_digits = digits.substr(0, digits.size() - scale);
  std::string_view frac_digits = digits.substr(digits.size() - scale);
  while (!int_digits.empty() && int_digits[0] == '0') int_digits.remove_prefix(1);
  if (strip_trailing) {
    while (!frac_digits.empty() && frac_digits.back() == '0') frac_digits.remove_suffix(1);
  }
  const bool zero = int_digits.empty() && frac_digits.find_first_not_of('0') == std::string_view::npos;
  std::string out;
  out.reserve(int_digits.size() + frac_digits.size() + 3);
  if (neg && !zero) out.push_back('-');
  if (int_digits.empty()) out.push_back('0');
  out.append(int_digits);
  if (!frac_digits.empty()) {
    out.push_back('.');
    out.append(frac_digits);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// DateTime text

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// Reads exactly `count` ASCII digits at s[i...] into `out`.
bool read_digits(std::string_view s, std::size_t& i, int count, int& out) noexcept {
  if (i + static_cast<std::size_t>(count) > s.size()) return false;
  int v = 0;
  for (int k = 0; k < count; ++k, ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool read_char(std::string_view s, std::size_t& i, char c) noexcept {
  if (i >= s.size() || s[i] != c) return false;
  ++i;
  return true;
}

// Microseconds since the epoch of a validated civil UTC time, or nullopt when out of range.
// Seconds stop at 59: leap seconds (":60") are rejected, since the µs timeline has no slot for them.
std::optional<int64_t> civil_micros(int y, int mo, int d, int h, int mi, int s, int64_t us) noexcept {
  using namespace std::chrono;
  if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;  // Feb 30, Feb 29 of a common year, ...
  const int64_t days = sys_days{ymd}.time_since_epoch().count();
  return days * kMicrosPerDay + ((h * 60 + mi) * 60 + s) * kMicrosPerSecond + us;
}

// ISO 8601: YYYY-MM-DD[(T|t| )HH:MM[:SS[.f{1,9}]][Z|z|±HH:MM|±HHMM|±HH]].
std::optional<int64_t> parse_iso(std::string_view s) noexcept {
  std::size_t i = 0;
  int y = 0, mo = 0, d = 0;
  if (!read_digits(s, i, 4, y) || !read_char(s, i, '-') || !read_digits(s, i, 2, mo) ||
      !read_char(s, i, '-') || !read_digits(s, i, 2, d))
    return std::nullopt;
  if (i == s.size()) return civil_micros(y, mo, d, 0, 0, 0, 0);
  if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return std::nullopt;
  ++i;
  int h = 0, mi = 0, sec = 0;
  int64_t us = 0;
  if (!read_digits(s, i, 2, h) || !read_char(s, i, ':') || !read_digits(s, i, 2, mi)) return std::nullopt;
  if (read_char(s, i, ':')) {
    if (!read_digits(s, i, 2, sec)) return std::nullopt;
    if (read_char(s, i, '.')) {
      int n = 0;
      for (; i < s.size() && is_digit(s[i]); ++i, ++n) {
        if (n < 6) us = us * 10 + (s[i] - '0');  // digits past microseconds are truncated
      }
      if (n < 1 || n > 9) return std::nullopt;
      for (int k = std::min(n, 6); k < 6; ++k) us *= 10;
    }
  }
  int64_t offset_minutes = 0;
  if (i < s.size()) {
    const char c = s[i++];
    if (c == '+' || c == '-') {
      int oh = 0, om = 0;
      if (!read_digits(s, i, 2, oh)) return std::nullopt;
      if (read_char(s, i, ':') || i < s.size()) {
        if (!read_digits(s, i, 2, om)) return std::nullopt;
      }
      if (oh > 23 || om > 59) return std::nullopt;
      offset_minutes = (oh * 60 + om) * (c == '-' ? -1 : 1);
    } else if (c != 'Z' && c != 'z') {
      return std::nullopt;
    }
  }
  if (i != s.size()) return std::nullopt;
  const auto local = civil_micros(y, mo, d, h, mi, sec, us);
  if (!local) return std::nullopt;
  return *local - offset_minutes * 60 * kMicrosPerSecond;
}

// "YYYY/MM/DD", "YYYY/MM/DD HH:MM" or "YYYY/MM/DD HH:MM:SS" (seconds optional as in ISO 8601;
// the flights datasets write "2001/01/01 06:55").
std::optional<int64_t> parse_slashed(std::string_view s) noexcept {
  std::size_t i = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, i, 4, y) || !read_char(s, i, '/') || !read_digits(s, i, 2, mo) ||
      !read_char(s, i, '/') || !read_digits(s, i, 2, d))
    return std::nullopt;
  if (i != s.size()) {
    if (!read_char(s, i, ' ') || !read_digits(s, i, 2, h) || !read_char(s, i, ':') ||
        !read_digits(s, i, 2, mi))
      return std::nullopt;
    if (i != s.size() && (!read_char(s, i, ':') || !read_digits(s, i, 2, sec) || i != s.size()))
      return std::nullopt;
  }
  return civil_micros(y, mo, d, h, mi, sec, 0);
}

// "Mon DD YYYY": English three-letter month (any case), day of 1 or 2 digits.
std::optional<int64_t> parse_month_name(std::string_view s) noexcept {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  if (s.size() < 10 || s[3] != ' ') return std::nullopt;
  const char name[3] = {lower(s[0]), lower(s[1]), lower(s[2])};
  int mo = 0;
  for (int k = 0; k < 12; ++k) {
    if (kMonths[k] == std::string_view(name, 3)) mo = k + 1;
  }
  if (mo == 0) return std::nullopt;
  std::size_t i = 4;
  int d = 0, y = 0;
  const int day_digits = s[5] == ' ' ? 1 : 2;
  if (!read_digits(s, i, day_digits, d) || !read_char(s, i, ' ') || !read_digits(s, i, 4, y) || i != s.size())
    return std::nullopt;
  return civil_micros(y, mo, d, 0, 0, 0, 0);
}

// ---------------------------------------------------------------------------------------------
// Coercion

// Offset of the first byte not part of well-formed UTF-8 (no overlongs, surrogates or code
// points above U+10FFFF), or npos when `s` is valid.
std::size_t invalid_utf8_offset(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > n) return i;
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

// Kind of value held, for messages: "int", "decimal", "datetime", "string".
std::string_view held_kind(const Value& v) noexcept {
  switch (v.index()) {
    case 1: return "int";
    case 2: return "decimal";
    case 3: return "datetime";
    case 4: return "string";
    default: return "null";
  }
}

Error mismatch(const std::string& message) { return Error(ErrorCode::kTypeMismatch, message); }

Error cannot_convert(const Value& v, ValueType t) {
  return mismatch(fmt::format("{} {} cannot be converted to {}", held_kind(v), quote(to_string(v)),
                              value_type_name(t)));
}

// Strict int64 from text: optional sign then digits only.
int64_t parse_int_strict(std::string_view s) {
  const std::size_t body = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (s.size() == body || !std::all_of(s.begin() + body, s.end(), is_digit))
    throw mismatch(fmt::format("{} is not an int", quote(s)));
  if (s[0] == '+') s.remove_prefix(1);
  int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc::result_out_of_range)
    throw mismatch(fmt::format("{} is out of range for int (64-bit)", quote(s)));
  if (ec != std::errc() || ptr != s.data() + s.size()) throw mismatch(fmt::format("{} is not an int", quote(s)));
  return out;
}

Value to_int(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<Decimal>(&v)) {
    if (!d->is_integer())
      throw mismatch(fmt::format("decimal {} has a fractional part; int expects a whole number", quote(d->str())));
    const std::string_view text = d->str();
    return parse_int_strict(text.substr(0, text.find('.')));
  }
  if (const auto* s = std::get_if<std::string>(&v)) return parse_int_strict(*s);
  throw cannot_convert(v, ValueType::kInt);
}

Value to_decimal(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return Decimal::from_int(*i);
  if (std::holds_alternative<Decimal>(v)) return v;
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (auto d = Decimal::try_parse(*s)) return *std::move(d);
    std::string scratch;
    throw mismatch(decimal_error(*s, canonical_decimal(*s, scratch)));
  }
  throw cannot_convert(v, ValueType::kDecimal);
}

Value to_datetime(const Value& v) {
  if (std::holds_alternative<DateTime>(v)) return v;
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (auto t = DateTime::try_parse(*s)) return *t;
    throw mismatch(fmt::format("{} is not a datetime (expected ISO 8601, YYYY/MM/DD HH:MM:SS or Mon DD YYYY)",
                               quote(*s)));
  }
  throw cannot_convert(v, ValueType::kDatetime);
}

Value to_text(const Value& v, ValueType t) {
  std::string s = to_string(v);
  if (std::holds_alternative<std::string>(v)) {
    if (const std::size_t bad = invalid_utf8_offset(s); bad != std::string_view::npos)
      throw mismatch(fmt::format("value {} is not valid UTF-8 (bad byte at offset {})",
                                 quote(std::string_view(s).substr(0, bad)), bad));
  }
  if (t == ValueType::kVarchar && s.size() > kMaxVarcharBytes)
    throw mismatch(fmt::format("value {} is {} bytes, varchar allows at most {}", quote(s), s.size(),
                               kMaxVarcharBytes));
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Value types

std::string_view value_type_name(ValueType t) noexcept {
  switch (t) {
    case ValueType::kVarchar: return "varchar";
    case ValueType::kInt: return "int";
    case ValueType::kDecimal: return "decimal";
    case ValueType::kDatetime: return "datetime";
    case ValueType::kText: return "text";
  }
  return "unknown";
}

std::optional<ValueType> parse_value_type(std::string_view name) noexcept {
  // ASCII case-insensitive, so "INT" and "Decimal" are accepted as well.
  for (ValueType t : {ValueType::kVarchar, ValueType::kInt, ValueType::kDecimal, ValueType::kDatetime,
                      ValueType::kText}) {
    const std::string_view n = value_type_name(t);
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) { return a == lower(b); }))
      return t;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Decimal

Decimal Decimal::parse(std::string_view text) {
  std::string canonical;
  if (const DecimalFail fail = canonical_decimal(text, canonical); fail != DecimalFail::kNone)
    throw Error(ErrorCode::kInvalidArgument, decimal_error(text, fail));
  return Decimal(std::move(canonical));
}

std::optional<Decimal> Decimal::try_parse(std::string_view text) noexcept {
  try {
    std::string canonical;
    if (canonical_decimal(text, canonical) != DecimalFail::kNone) return std::nullopt;
    return Decimal(std::move(canonical));
  } catch (...) {  // std::bad_alloc only
    return std::nullopt;
  }
}

Decimal Decimal::from_int(int64_t v) { return Decimal(std::to_string(v)); }

double Decimal::to_double() const noexcept {
  double out = 0;
  std::from_chars(text_.data(), text_.data() + text_.size(), out);  // locale-independent strtod
  return out;
}

bool Decimal::is_integer() const noexcept {
  const std::size_t dot = text_.find('.');
  return dot == std::string::npos || text_.find_first_not_of('0', dot + 1) == std::string::npos;
}

int compare_decimal_text(std::string_view a, std::string_view b) noexcept {
  const DecimalParts pa = split_decimal(a);
  const DecimalParts pb = split_decimal(b);
  if (pa.neg != pb.neg) {
    if (is_zero(pa) && is_zero(pb)) return 0;  // only reachable for non-canonical "-0"
    return pa.neg ? -1 : 1;
  }
  const int c = compare_magnitude(pa, pb);
  return pa.neg ? -c : c;
}

std::strong_ordering operator<=>(const Decimal& a, const Decimal& b) noexcept {
  const int c = compare_decimal_text(a.text_, b.text_);
  return c < 0 ? std::strong_ordering::less : c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal;
}

Decimal operator+(const Decimal& a, const Decimal& b) {
  const DecimalParts pa = split_decimal(a.text_);
  const DecimalParts pb = split_decimal(b.text_);
  const std::size_t scale = std::max(pa.frac_digits.size(), pb.frac_digits.size());
  const std::size_t width = std::max(pa.int_digits.size(), pb.int_digits.size()) + 1 + scale;
  std::string digits(width, '0');  // filled from the right, least significant place first
  bool neg = pa.neg;
  if (pa.neg == pb.neg) {
    int carry = 0;
    for (std::size_t place = 0; place < width; ++place) {
      const int sum = digit_at(pa, place, scale) + digit_at(pb, place, scale) + carry;
      digits[width - 1 - place] = static_cast<char>('0' + sum % 10);
      carry = sum / 10;
    }
  } else {
    // Subtract the smaller magnitude from the larger; the result takes the larger's sign.
    const bool a_larger = compare_magnitude(pa, pb) >= 0;
    const DecimalParts& big = a_larger ? pa : pb;
    const DecimalParts& small = a_larger ? pb : pa;
    neg = big.neg;
    int borrow = 0;
    for (std::size_t place = 0; place < width; ++place) {
      int diff = digit_at(big, place, scale) - digit_at(small, place, scale) - borrow;
      borrow = diff < 0;
      if (diff < 0) diff += 10;
      digits[width - 1 - place] = static_cast<char>('0' + diff);
    }
  }
  return Decimal(compose_decimal(neg, digits, scale, false));
}

Decimal Decimal::divide(const Decimal& a, int64_t n, int scale) {
  if (n <= 0) throw Error(ErrorCode::kInvalidArgument, fmt::format("decimal divisor must be positive, got {}", n));
  if (scale < 0 || scale > static_cast<int>(kMaxDecimalDigits))
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("decimal division scale must be 0..{}, got {}", kMaxDecimalDigits, scale));
  const DecimalParts p = split_decimal(a.text_);
  const auto want = static_cast<std::size_t>(scale);
  // Divide the digit string D (value D * 10^-fa), padded so the quotient carries at least
  // scale + 1 fractional digits; the first dropped digit then decides the rounding exactly.
  std::string digits(p.int_digits);
  digits.append(p.frac_digits);
  const std::size_t fa = p.frac_digits.size();
  const std::size_t extra = want + 1 > fa ? want + 1 - fa : 0;
  digits.append(extra, '0');
  const std::size_t quotient_scale = fa + extra;
  __extension__ typedef unsigned __int128 Wide;  // remainder * 10 exceeds 64 bits for large n
  Wide rem = 0;
  const auto divisor = static_cast<Wide>(n);
  for (char& c : digits) {
    rem = rem * 10 + static_cast<Wide>(c - '0');
    c = static_cast<char>('0' + static_cast<int>(rem / divisor));
    rem %= divisor;
  }
  const std::size_t keep = digits.size() - quotient_scale + want;
  const bool round_up = digits[keep] >= '5';  // half away from zero (on the magnitude)
  digits.resize(keep);
  if (round_up) {
    std::size_t k = keep;
    while (k > 0 && digits[k - 1] == '9') digits[--k] = '0';
    if (k == 0) digits.insert(digits.begin(), '1');
    else ++digits[k - 1];
  }
  return Decimal(compose_decimal(p.neg, digits, want, true));
}

// ---------------------------------------------------------------------------------------------
// DateTime

DateTime DateTime::parse(std::string_view text) {
  if (auto t = try_parse(text)) return *t;
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("{} is not a datetime (expected ISO 8601, YYYY/MM/DD HH:MM:SS or Mon DD YYYY)",
                          quote(text)));
}

std::optional<DateTime> DateTime::try_parse(std::string_view text) noexcept {
  std::optional<int64_t> micros;
  if (text.size() >= 5 && text[4] == '-') micros = parse_iso(text);
  else if (text.size() >= 5 && text[4] == '/') micros = parse_slashed(text);
  else micros = parse_month_name(text);
  if (!micros) return std::nullopt;
  return DateTime{*micros};
}

std::string DateTime::to_iso() const {
  using namespace std::chrono;
  int64_t days = micros / kMicrosPerDay;
  int64_t rem = micros % kMicrosPerDay;
  if (rem < 0) {  // floor division: instants before 1970 belong to the earlier day
    rem += kMicrosPerDay;
    --days;
  }
  const year_month_day ymd{sys_days{std::chrono::days{days}}};
  const int64_t secs = rem / kMicrosPerSecond;
  const int64_t frac = rem % kMicrosPerSecond;
  const int y = static_cast<int>(ymd.year());
  const unsigned mo = static_cast<unsigned>(ymd.month());
  const unsigned d = static_cast<unsigned>(ymd.day());
  if (frac == 0)
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", y, mo, d, secs / 3600, secs / 60 % 60, secs % 60);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", y, mo, d, secs / 3600, secs / 60 % 60,
                     secs % 60, frac);
}

// ---------------------------------------------------------------------------------------------
// Value

Value coerce(const Value& v, ValueType t) {
  if (is_null(v)) return v;
  switch (t) {
    case ValueType::kInt: return to_int(v);
    case ValueType::kDecimal: return to_decimal(v);
    case ValueType::kDatetime: return to_datetime(v);
    case ValueType::kVarchar:
    case ValueType::kText: return to_text(v, t);
  }
  throw cannot_convert(v, t);
}

std::string to_string(const Value& v) {
  switch (v.index()) {
    case 1: return std::to_string(std::get<int64_t>(v));
    case 2: return std::get<Decimal>(v).str();
    case 3: return std::get<DateTime>(v).to_iso();
    case 4: return std::get<std::string>(v);
    default: return {};
  }
}

}  // namespace eavdb
