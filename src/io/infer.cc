// Number syntax of source text and column type inference.

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "eavdb/schema.h"
#include "io/io.h"

namespace eavdb::io {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Length of the run of digits at the start of `s`.
size_t digit_run(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  return n;
}

std::string_view strip_sign(std::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  return s;
}

/// Integer digits without a leading zero: "0", "7", "120"; not "", "00", "05".
bool valid_integer_digits(std::string_view digits) {
  return !digits.empty() && (digits[0] != '0' || digits.size() == 1);
}

std::optional<int64_t> to_int64(std::string_view text) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<int64_t> parse_int_text(std::string_view text) noexcept {
  const std::string_view digits = strip_sign(text);
  if (!valid_integer_digits(digits) || digit_run(digits) != digits.size()) return std::nullopt;
  return to_int64(text);
}

std::optional<int64_t> parse_int_token(std::string_view token) noexcept {
  if (token.find_first_of(".eE") != std::string_view::npos) return std::nullopt;
  return to_int64(token);
}

bool is_plain_decimal_text(std::string_view text) noexcept {
  std::string_view s = strip_sign(text);
  const size_t int_len = digit_run(s);
  if (!valid_integer_digits(s.substr(0, int_len))) return false;
  s.remove_prefix(int_len);
  if (s.empty()) return true;
  if (s[0] != '.') return false;
  s.remove_prefix(1);
  return !s.empty() && digit_run(s) == s.size();
}

/// Per column: flags for the types every value so far fits, and the longest text. O(1) each.
struct TypeInferrer::State {
  struct Column {
    std::string label, code;
    int64_t non_null = 0;
    bool all_int = true, all_number = true, all_datetime = true;
    size_t max_bytes = 0;
  };
  std::vector<Column> columns;
  std::unordered_map<std::string, size_t> by_code;
  // Source name -> column (kSkipped: no usable code), so each distinct name is normalised once
  // rather than once per record (normalize_code allocates; it was a tenth of the inference pass).
  static constexpr size_t kSkipped = static_cast<size_t>(-1);
  std::unordered_map<std::string, size_t> by_name;

  void observe(Column& c, const RawField& f) {
    ++c.non_null;
    c.max_bytes = std::max(c.max_bytes, f.text.size());
    switch (f.kind) {
      case RawField::Kind::kNull:
        break;
      case RawField::Kind::kBool:  // true/false import as 1/0
        c.all_datetime = false;
        break;
      case RawField::Kind::kNumber:
        c.all_datetime = false;
        if (c.all_int && !parse_int_token(f.text)) c.all_int = false;
        if (c.all_number && !c.all_int && !Decimal::try_parse(f.text)) c.all_number = false;
        break;
      case RawField::Kind::kString:
        if (c.all_int && !parse_int_text(f.text)) c.all_int = false;
        if (c.all_number && !c.all_int && !(is_plain_decimal_text(f.text) && Decimal::try_parse(f.text)))
          c.all_number = false;
        if (c.all_datetime && !DateTime::try_parse(f.text)) c.all_datetime = false;
        break;
      case RawField::Kind::kJson:
        c.all_int = c.all_number = c.all_datetime = false;
        break;
    }
  }
};

TypeInferrer::TypeInferrer() : state_(std::make_unique<State>()) {}
TypeInferrer::~TypeInferrer() = default;

void TypeInferrer::observe(const Record& record) {
  for (const auto& [name, field] : record.fields) {
    auto named = state_->by_name.find(name);
    if (named == state_->by_name.end()) {
      std::string code = normalize_code(name);
      size_t column = State::kSkipped;  // no usable attribute code: the importer skips such fields
      if (!code.empty()) {
        auto [it, added] = state_->by_code.try_emplace(code, state_->columns.size());
        if (added) state_->columns.push_back({name, std::move(code)});
        column = it->second;
      }
      named = state_->by_name.emplace(name, column).first;
    }
    if (named->second == State::kSkipped) continue;
    if (field.kind != RawField::Kind::kNull) state_->observe(state_->columns[named->second], field);
  }
}

std::vector<InferredColumn> TypeInferrer::columns() const {
  std::vector<InferredColumn> out;
  out.reserve(state_->columns.size());
  for (const State::Column& c : state_->columns) {
    ValueType t = ValueType::kVarchar;
    if (c.non_null > 0) {
      if (c.all_int) {
        t = ValueType::kInt;
      } else if (c.all_number) {
        t = ValueType::kDecimal;
      } else if (c.all_datetime) {
        t = ValueType::kDatetime;
      } else if (c.max_bytes > kMaxVarcharBytes) {
        t = ValueType::kText;
      }
    }
    out.push_back({c.label, c.code, t, c.non_null});
  }
  return out;
}

}  // namespace eavdb::io
