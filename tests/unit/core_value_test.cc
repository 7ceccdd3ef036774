// Core value layer: Decimal text/arithmetic/collation, DateTime parsing/formatting, coerce.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "eavdb/error.h"
#include "eavdb/value.h"

namespace eavdb {
namespace {

// Runs `fn`, expecting an eavdb::Error with `code` whose message contains `fragment`.
void expect_error(const std::function<void()>& fn, ErrorCode code, const std::string& fragment) {
  try {
    fn();
    ADD_FAILURE() << "expected " << error_code_name(code) << " error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

std::string canon(std::string_view s) { return Decimal::parse(s).str(); }
int cmp(std::string_view a, std::string_view b) { return compare_decimal_text(a, b); }
std::string add(std::string_view a, std::string_view b) { return (Decimal::parse(a) + Decimal::parse(b)).str(); }
std::string div(std::string_view a, int64_t n, int scale = 16) { return Decimal::divide(Decimal::parse(a), n, scale).str(); }
int64_t dt(std::string_view s) { return DateTime::parse(s).micros; }

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kDay = 86'400 * kSec;

// ---------------------------------------------------------------------------------------------
// Decimal

TEST(CoreDecimal, CanonicalTextRoundTrips) {
  EXPECT_EQ(canon("19.99"), "19.99");
  EXPECT_EQ(canon("19.90"), "19.90");
  EXPECT_EQ(canon("0"), "0");
  EXPECT_EQ(canon("-12.340"), "-12.340");
  EXPECT_EQ(canon("007"), "7");
  EXPECT_EQ(canon("000.50"), "0.50");
  EXPECT_EQ(canon("+3"), "3");
  EXPECT_EQ(canon("+.5"), "0.5");
  EXPECT_EQ(canon(".5"), "0.5");
  EXPECT_EQ(canon("-.5"), "-0.5");
  EXPECT_EQ(canon("5."), "5");
  EXPECT_EQ(canon("-0"), "0");
  EXPECT_EQ(canon("-0.00"), "0.00");
  EXPECT_EQ(canon("-000"), "0");
  EXPECT_EQ(Decimal().str(), "0");
  // Canonical text parses to itself.
  for (const char* s : {"19.99", "-0.001", "123456789012345678901234567890.5", "0.00"})
    EXPECT_EQ(canon(canon(s)), canon(s)) << s;
}

// Plain [-]digits[.digits] text, random: canonical forms are copied as they are (the fast path
// for values read back from storage), the rest rewritten; both must agree with a reference.
TEST(CoreDecimal, PlainTextAgreesWithAReferenceCanonicalForm) {
  std::mt19937 rng(7);
  auto digits = [&](int n) {
    std::string d;
    for (int k = 0; k < n; ++k) d += static_cast<char>('0' + (rng() % 3 == 0 ? 0 : rng() % 10));
    return d;
  };
  for (int round = 0; round < 20000; ++round) {
    const bool neg = rng() % 2;
    std::string int_part = digits(static_cast<int>(rng() % 5)), frac = digits(static_cast<int>(rng() % 4));
    const bool dot = rng() % 2;
    std::string text = (neg ? "-" : "") + int_part + (dot ? "." + frac : "");
    if (int_part.empty() && (!dot || frac.empty())) {
      EXPECT_FALSE(Decimal::try_parse(text).has_value()) << text;
      continue;
    }
    std::string want_int = int_part;
    while (want_int.size() > 1 && want_int[0] == '0') want_int.erase(0, 1);
    if (want_int.empty()) want_int = "0";
    std::string want = want_int + (dot && !frac.empty() ? "." + frac : "");
    if (neg && want.find_first_not_of("0.") != std::string::npos) want = "-" + want;
    EXPECT_EQ(canon(text), want) << text;
  }
}

TEST(CoreDecimal, ExponentFormsExpand) {
  EXPECT_EQ(canon("1e3"), "1000");
  EXPECT_EQ(canon("1E+3"), "1000");
  EXPECT_EQ(canon("2.5E-2"), "0.025");
  EXPECT_EQ(canon("1.50e1"), "15.0");
  EXPECT_EQ(canon("12.5e-1"), "1.25");
  EXPECT_EQ(canon("-1.5e2"), "-150");
  EXPECT_EQ(canon("0e99999999999"), "0");
  EXPECT_EQ(canon("123e0"), "123");
  EXPECT_EQ(canon(".5e1"), "5");
  EXPECT_EQ(canon("0.0012e2"), "0.12");
}

TEST(CoreDecimal, RejectsGarbage) {
  for (const char* s : {"", "-", "+", ".", "1.2.3", "NaN", "nan", "inf", "-Infinity", "1e", "1e+", "e5",
                        ".e5", " 1", "1 ", "12abc", "1,5", "0x10", "--1", "+-1", "1..2"}) {
    EXPECT_FALSE(Decimal::try_parse(s).has_value()) << "'" << s << "'";
    expect_error([&] { Decimal::parse(s); }, ErrorCode::kInvalidArgument, "is not a decimal number");
  }
}

TEST(CoreDecimal, DigitLimit) {
  const std::string thousand(1000, '7');
  EXPECT_EQ(canon(thousand), thousand);
  EXPECT_EQ(canon("0." + std::string(999, '1')).size(), 1001u);
  expect_error([&] { Decimal::parse(thousand + "7"); }, ErrorCode::kInvalidArgument, "more than 1000 digits");
  expect_error([] { Decimal::parse("1e1000"); }, ErrorCode::kInvalidArgument, "more than 1000 digits");
  expect_error([] { Decimal::parse("1e-1000"); }, ErrorCode::kInvalidArgument, "more than 1000 digits");
  expect_error([] { Decimal::parse("1e999999999999999"); }, ErrorCode::kInvalidArgument, "more than 1000");
  EXPECT_EQ(canon("1e999").size(), 1000u);
  // Error messages quote at most 64 bytes of the input.
  try {
    Decimal::parse(std::string(200, 'x'));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + std::string(64, 'x') + "...'"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(std::string(65, 'x')), std::string::npos);
  }
}

TEST(CoreDecimal, FromInt) {
  EXPECT_EQ(Decimal::from_int(0).str(), "0");
  EXPECT_EQ(Decimal::from_int(-42).str(), "-42");
  EXPECT_EQ(Decimal::from_int(std::numeric_limits<int64_t>::min()).str(), "-9223372036854775808");
  EXPECT_EQ(Decimal::from_int(std::numeric_limits<int64_t>::max()).str(), "9223372036854775807");
}

TEST(CoreDecimal, ToDoubleAndIsInteger) {
  EXPECT_DOUBLE_EQ(Decimal::parse("19.99").to_double(), 19.99);
  EXPECT_DOUBLE_EQ(Decimal::parse("-0.025").to_double(), -0.025);
  EXPECT_DOUBLE_EQ(Decimal::parse("1e20").to_double(), 1e20);
  EXPECT_TRUE(Decimal::parse("12").is_integer());
  EXPECT_TRUE(Decimal::parse("12.000").is_integer());
  EXPECT_TRUE(Decimal::parse("-0.0").is_integer());
  EXPECT_FALSE(Decimal::parse("12.001").is_integer());
  EXPECT_FALSE(Decimal::parse("-0.5").is_integer());
}

TEST(CoreDecimal, NumericOrdering) {
  // Strictly increasing chain, each compared against every later element.
  const std::vector<std::string> chain = {"-100",  "-10", "-9.5", "-9.49", "-1", "-0.01", "0",
                                          "0.001", "0.01", "0.1",  "9.99",  "10", "10.5",  "99", "100"};
  for (std::size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(cmp(chain[i], chain[i]), 0) << chain[i];
    for (std::size_t j = i + 1; j < chain.size(); ++j) {
      EXPECT_LT(cmp(chain[i], chain[j]), 0) << chain[i] << " < " << chain[j];
      EXPECT_GT(cmp(chain[j], chain[i]), 0) << chain[j] << " > " << chain[i];
    }
  }
  EXPECT_EQ(cmp("0", "0.000"), 0);
  EXPECT_EQ(cmp("19.9", "19.90"), 0);
  EXPECT_EQ(cmp("-19.9", "-19.900"), 0);
  EXPECT_LT(cmp("19.9", "19.901"), 0);
  EXPECT_GT(cmp("-19.9", "-19.901"), 0);
  EXPECT_LT(cmp("123456789012345678901234567890", "123456789012345678901234567891"), 0);
  // Tolerates non-canonical inputs: '+', leading zeros, "-0".
  EXPECT_EQ(cmp("+5", "005.0"), 0);
  EXPECT_EQ(cmp("-0", "0.00"), 0);
  EXPECT_LT(cmp("-0", "0.1"), 0);
  EXPECT_GT(cmp("-0", "-0.1"), 0);
  // Operators follow the text comparison.
  EXPECT_EQ(Decimal::parse("19.9"), Decimal::parse("19.90"));
  EXPECT_LT(Decimal::parse("-10"), Decimal::parse("-9.5"));
  EXPECT_GT(Decimal::parse("10"), Decimal::parse("9.99"));
}

TEST(CoreDecimal, ExactAddition) {
  EXPECT_EQ(add("0.1", "0.2"), "0.3");
  EXPECT_EQ(add("19.99", "0.01"), "20.00");
  EXPECT_EQ(add("999.999", "0.001"), "1000.000");
  EXPECT_EQ(add("1.5", "1.25"), "2.75");
  EXPECT_EQ(add("1.50", "1"), "2.50");
  EXPECT_EQ(add("99999999999999999999999999", "1"), "100000000000000000000000000");
  // Mixed signs: borrows, sign of the larger magnitude, zero results.
  EXPECT_EQ(add("10", "-0.01"), "9.99");
  EXPECT_EQ(add("-10", "0.01"), "-9.99");
  EXPECT_EQ(add("1000", "-999.999"), "0.001");
  EXPECT_EQ(add("-1000", "999.999"), "-0.001");
  EXPECT_EQ(add("5", "-5"), "0");
  EXPECT_EQ(add("5.00", "-5"), "0.00");
  EXPECT_EQ(add("-2.5", "-2.5"), "-5.0");
  EXPECT_EQ(add("0", "-3"), "-3");
  EXPECT_EQ(add("-0.5", "0.25"), "-0.25");
  EXPECT_EQ(add("100000000000000000000.1", "-0.2"), "99999999999999999999.9");
}

TEST(CoreDecimal, DivisionRounding) {
  EXPECT_EQ(div("10", 4), "2.5");
  EXPECT_EQ(div("1", 3), "0.3333333333333333");
  EXPECT_EQ(div("2", 3), "0.6666666666666667");
  EXPECT_EQ(div("-2", 3), "-0.6666666666666667");
  EXPECT_EQ(div("2.5", 1, 0), "3");
  EXPECT_EQ(div("-2.5", 1, 0), "-3");
  EXPECT_EQ(div("2.4999", 1, 0), "2");
  EXPECT_EQ(div("0.125", 1, 2), "0.13");
  EXPECT_EQ(div("9.995", 1, 2), "10");
  EXPECT_EQ(div("99.96", 1, 1), "100");
  EXPECT_EQ(div("6.00", 2), "3");
  EXPECT_EQ(div("0", 7), "0");
  EXPECT_EQ(div("-0.0001", 1, 2), "0");  // rounds to zero: no "-0"
  EXPECT_EQ(div("123456789012345678901234567890", 10), "12345678901234567890123456789");
  EXPECT_EQ(div("1", std::numeric_limits<int64_t>::max(), 30), "0.000000000000000000108420217249");
  expect_error([] { div("1", 0); }, ErrorCode::kInvalidArgument, "positive");
  expect_error([] { div("1", -3); }, ErrorCode::kInvalidArgument, "positive");
  expect_error([] { div("1", 3, -1); }, ErrorCode::kInvalidArgument, "scale");
}

// Text of v * 10^-scale with exactly `scale` fractional digits (the canonical form).
std::string scaled_text(int64_t v, int scale) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  if (digits.size() <= static_cast<std::size_t>(scale)) digits.insert(0, scale + 1 - digits.size(), '0');
  if (scale > 0) digits.insert(digits.size() - scale, ".");
  return (v < 0 ? "-" : "") + digits;
}

int64_t pow10(int e) {
  int64_t p = 1;
  while (e-- > 0) p *= 10;
  return p;
}

TEST(CoreDecimal, RandomizedAgainstScaledIntegers) {
  std::mt19937_64 rng(20240301);
  std::uniform_int_distribution<int64_t> value(-2'000'000, 2'000'000);
  std::uniform_int_distribution<int> scale(0, 5);
  std::uniform_int_distribution<int64_t> divisor(1, 999);
  for (int iter = 0; iter < 5000; ++iter) {
    const int64_t a = iter % 10 == 0 ? 0 : value(rng), b = iter % 7 == 0 ? -a : value(rng);
    const int sa = scale(rng), sb = iter % 7 == 0 ? sa : scale(rng), s = std::max(sa, sb);
    const std::string ta = scaled_text(a, sa), tb = scaled_text(b, sb);
    ASSERT_EQ(canon(ta), ta);
    const int64_t wa = a * pow10(s - sa), wb = b * pow10(s - sb);  // both at the common scale
    EXPECT_EQ(cmp(ta, tb), (wa > wb) - (wa < wb)) << ta << " vs " << tb;
    EXPECT_EQ(add(ta, tb), scaled_text(wa + wb, s)) << ta << " + " << tb;
    // a / n at `ds` digits = round_half_away(a * 10^(ds - sa) / n).
    const int64_t n = divisor(rng);
    const int ds = scale(rng);
    int64_t num = a, den = n;
    if (ds >= sa) num *= pow10(ds - sa); else den *= pow10(sa - ds);
    int64_t q = (num < 0 ? -num : num) / den;
    if (2 * ((num < 0 ? -num : num) % den) >= den) ++q;
    std::string expected = scaled_text(num < 0 ? -q : q, ds);
    if (expected.find('.') != std::string::npos) {
      while (expected.back() == '0') expected.pop_back();
      if (expected.back() == '.') expected.pop_back();
    }
    if (expected == "-0") expected = "0";
    EXPECT_EQ(div(ta, n, ds), expected) << ta << " / " << n << " @" << ds;
  }
}

// ---------------------------------------------------------------------------------------------
// DateTime

TEST(CoreDateTime, IsoFormats) {
  EXPECT_EQ(dt("1970-01-01"), 0);
  EXPECT_EQ(dt("1970-01-02"), kDay);
  EXPECT_EQ(dt("2024-03-01"), 1709251200 * kSec);
  EXPECT_EQ(dt("2024-03-01T12:30"), (1709251200 + 45000) * kSec);
  EXPECT_EQ(dt("2024-03-01T12:30:15"), (1709251200 + 45015) * kSec);
  EXPECT_EQ(dt("2024-03-01 12:30:15"), (1709251200 + 45015) * kSec);
  EXPECT_EQ(dt("2024-03-01t12:30:15z"), (1709251200 + 45015) * kSec);
  EXPECT_EQ(dt("2024-03-01T12:30:15Z"), (1709251200 + 45015) * kSec);
  EXPECT_EQ(dt("2024-03-01T12:30:15.5Z"), (1709251200 + 45015) * kSec + 500000);
  EXPECT_EQ(dt("2024-03-01T12:30:15.123456"), (1709251200 + 45015) * kSec + 123456);
  EXPECT_EQ(dt("2024-03-01T12:30:15.123456789"), (1709251200 + 45015) * kSec + 123456);  // truncated
  EXPECT_EQ(dt("2024-03-01T12:30:15.000001"), (1709251200 + 45015) * kSec + 1);
}

TEST(CoreDateTime, Offsets) {
  const int64_t utc = dt("2024-03-01T12:30:00Z");
  EXPECT_EQ(dt("2024-03-01T14:30:00+02:00"), utc);
  EXPECT_EQ(dt("2024-03-01T14:30:00+0200"), utc);
  EXPECT_EQ(dt("2024-03-01T14:30:00+02"), utc);
  EXPECT_EQ(dt("2024-03-01T07:00:00-05:30"), utc);
  EXPECT_EQ(dt("2024-03-01T07:00-0530"), utc);
  EXPECT_EQ(dt("2024-03-01T12:30:00+00:00"), utc);
  EXPECT_EQ(dt("2024-03-01T12:30:00.25-00:00"), utc + 250000);
  // Offsets cross the day boundary.
  EXPECT_EQ(dt("2024-03-01T01:00:00+03:00"), dt("2024-02-29T22:00:00Z"));
}

TEST(CoreDateTime, SlashAndMonthNameFormats) {
  EXPECT_EQ(dt("2024/03/01 12:30:15"), dt("2024-03-01T12:30:15Z"));
  EXPECT_EQ(dt("2024/03/01"), dt("2024-03-01"));
  EXPECT_EQ(dt("2001/01/01 06:55"), dt("2001-01-01T06:55:00Z"));  // flights-*.json write minutes only
  EXPECT_EQ(dt("Jun 12 1998"), dt("1998-06-12"));
  EXPECT_EQ(dt("jun 12 1998"), dt("1998-06-12"));
  EXPECT_EQ(dt("DEC 31 1999"), dt("1999-12-31"));
  EXPECT_EQ(dt("Feb 1 2000"), dt("2000-02-01"));
  EXPECT_EQ(dt("Sep 09 2001"), dt("2001-09-09"));
}

TEST(CoreDateTime, CalendarValidation) {
  EXPECT_EQ(dt("2024-02-29"), dt("2024-02-28") + kDay);  // leap year
  EXPECT_EQ(dt("2000-02-29"), dt("2000-02-28") + kDay);  // divisible by 400
  EXPECT_EQ(dt("Feb 29 2024"), dt("2024-02-29"));
  EXPECT_EQ(dt("0001-01-01"), -62135596800 * kSec);
  EXPECT_EQ(dt("9999-12-31T23:59:59.999999"), 253402300800 * kSec - 1);
  for (const char* s : {"2023-02-29", "1900-02-29", "2024-02-30", "2024-04-31", "2024-13-01", "2024-00-10",
                        "2024-01-00", "2024-01-32", "0000-01-01", "2024-01-01T24:00", "2024-01-01T23:60",
                        "2024-01-01T23:59:60", "2024-01-01T12:00:00+24:00", "2024-01-01T12:00:00+01:60",
                        "Feb 30 2024", "Feb 29 2023", "2024/02/30 00:00:00", "2024/13/01"}) {
    EXPECT_FALSE(DateTime::try_parse(s).has_value()) << s;
  }
}

TEST(CoreDateTime, RejectsMalformed) {
  for (const char* s : {"", "2024", "2024-3-1", "24-03-01", "2024-03-01T", "2024-03-01T1:00", "2024-03-01T12",
                        "2024-03-01T12:30:", "2024-03-01T12:30:15.", "2024-03-01T12:30:15.1234567890",
                        "2024-03-01T12:30.5", "2024-03-01Z", "2024-03-01T12:30:15+", "2024-03-01T12:30:15+1",
                        "2024-03-01T12:30:15+01:", "2024-03-01T12:30:15+01:0", "2024-03-01T12:30:15 Z",
                        "2024-03-01T12:30:15ZZ", "2024-03-01  12:30", "2024-03-01X12:30", "2024/03/01 12:30:", "2024/03/01 12:3",
                        "2024/03/01T12:30:15", "2024/3/1", "Jun 12 98", "June 12 1998", "Jun 123 1998",
                        "Jun  1 1998", "Foo 12 1998", "12 Jun 1998", "now", "1709251200"}) {
    EXPECT_FALSE(DateTime::try_parse(s).has_value()) << s;
  }
  expect_error([] { DateTime::parse("yesterday"); }, ErrorCode::kInvalidArgument,
               "'yesterday' is not a datetime (expected ISO 8601, YYYY/MM/DD HH:MM:SS or Mon DD YYYY)");
}

TEST(CoreDateTime, ToIso) {
  EXPECT_EQ(DateTime{0}.to_iso(), "1970-01-01T00:00:00Z");
  EXPECT_EQ(DateTime{1}.to_iso(), "1970-01-01T00:00:00.000001Z");
  EXPECT_EQ(DateTime{dt("2024-03-01T12:30:15.5")}.to_iso(), "2024-03-01T12:30:15.500000Z");
  EXPECT_EQ(DateTime{dt("2024-03-01T14:30:00+02:00")}.to_iso(), "2024-03-01T12:30:00Z");
  EXPECT_EQ(DateTime{dt("0001-01-01")}.to_iso(), "0001-01-01T00:00:00Z");
  EXPECT_EQ(DateTime{dt("9999-12-31T23:59:59.999999")}.to_iso(), "9999-12-31T23:59:59.999999Z");
  // Before the epoch: floor division, never negative time-of-day fields.
  EXPECT_EQ(DateTime{-1}.to_iso(), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(DateTime{-kSec}.to_iso(), "1969-12-31T23:59:59Z");
  EXPECT_EQ(DateTime{-kDay}.to_iso(), "1969-12-31T00:00:00Z");
  EXPECT_EQ(DateTime{dt("1900-02-28T06:07:08.9")}.to_iso(), "1900-02-28T06:07:08.900000Z");
  // to_iso output parses back to the same instant.
  for (int64_t m : {int64_t{0}, int64_t{-1}, int64_t{1234567890123456}, int64_t{-987654321012345}})
    EXPECT_EQ(dt(DateTime{m}.to_iso()), m) << m;
  EXPECT_LT(DateTime{-5}, DateTime{3});
}

// ---------------------------------------------------------------------------------------------
// Value helpers and coerce

TEST(CoreCoerce, TypeNames) {
  for (ValueType t : {ValueType::kVarchar, ValueType::kInt, ValueType::kDecimal, ValueType::kDatetime,
                      ValueType::kText})
    EXPECT_EQ(parse_value_type(value_type_name(t)), t);
  EXPECT_EQ(value_type_name(ValueType::kDatetime), "datetime");
  EXPECT_EQ(parse_value_type("INT"), ValueType::kInt);
  EXPECT_EQ(parse_value_type("integer"), std::nullopt);
  EXPECT_EQ(parse_value_type(""), std::nullopt);
  EXPECT_EQ(error_code_name(ErrorCode::kInvalidArgument), "invalid_argument");
  EXPECT_EQ(error_code_name(ErrorCode::kTypeMismatch), "type_mismatch");
  EXPECT_EQ(error_code_name(ErrorCode::kNotFound), "not_found");
  EXPECT_EQ(error_code_name(ErrorCode::kLimit), "limit");
}

TEST(CoreCoerce, ToStringRendering) {
  EXPECT_EQ(to_string(Value{}), "");
  EXPECT_EQ(to_string(Value{int64_t{-7}}), "-7");
  EXPECT_EQ(to_string(Value{Decimal::parse("19.90")}), "19.90");
  EXPECT_EQ(to_string(Value{DateTime{kDay}}), "1970-01-02T00:00:00Z");
  EXPECT_EQ(to_string(Value{std::string("héllo")}), "héllo");
}

TEST(CoreCoerce, NullStaysNull) {
  for (ValueType t : {ValueType::kVarchar, ValueType::kInt, ValueType::kDecimal, ValueType::kDatetime,
                      ValueType::kText})
    EXPECT_TRUE(is_null(coerce(Value{}, t)));
}

TEST(CoreCoerce, ToInt) {
  EXPECT_EQ(std::get<int64_t>(coerce(int64_t{42}, ValueType::kInt)), 42);
  EXPECT_EQ(std::get<int64_t>(coerce(Decimal::parse("12.000"), ValueType::kInt)), 12);
  EXPECT_EQ(std::get<int64_t>(coerce(Decimal::parse("-9223372036854775808"), ValueType::kInt)),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(std::get<int64_t>(coerce(std::string("-17"), ValueType::kInt)), -17);
  EXPECT_EQ(std::get<int64_t>(coerce(std::string("+17"), ValueType::kInt)), 17);
  EXPECT_EQ(std::get<int64_t>(coerce(std::string("9223372036854775807"), ValueType::kInt)),
            std::numeric_limits<int64_t>::max());
  for (const char* s : {"12abc", "", " 1", "1 ", "+", "-", "+-1", "1.5", "1e3", "0x1F", "--1"})
    expect_error([&] { coerce(std::string(s), ValueType::kInt); }, ErrorCode::kTypeMismatch,
                 "'" + std::string(s) + "' is not an int");
  expect_error([] { coerce(std::string("9223372036854775808"), ValueType::kInt); }, ErrorCode::kTypeMismatch,
               "out of range for int");
  expect_error([] { coerce(Decimal::parse("1e30"), ValueType::kInt); }, ErrorCode::kTypeMismatch,
               "out of range for int");
  expect_error([] { coerce(Decimal::parse("1.5"), ValueType::kInt); }, ErrorCode::kTypeMismatch,
               "decimal '1.5' has a fractional part");
  expect_error([] { coerce(DateTime{0}, ValueType::kInt); }, ErrorCode::kTypeMismatch,
               "datetime '1970-01-01T00:00:00Z' cannot be converted to int");
}

TEST(CoreCoerce, ToDecimal) {
  EXPECT_EQ(std::get<Decimal>(coerce(int64_t{-5}, ValueType::kDecimal)).str(), "-5");
  EXPECT_EQ(std::get<Decimal>(coerce(Decimal::parse("1.10"), ValueType::kDecimal)).str(), "1.10");
  EXPECT_EQ(std::get<Decimal>(coerce(std::string("2.5e-2"), ValueType::kDecimal)).str(), "0.025");
  expect_error([] { coerce(std::string("abc"), ValueType::kDecimal); }, ErrorCode::kTypeMismatch,
               "'abc' is not a decimal number");
  expect_error([] { coerce(std::string(1001, '1'), ValueType::kDecimal); }, ErrorCode::kTypeMismatch,
               "more than 1000 digits");
  expect_error([] { coerce(DateTime{0}, ValueType::kDecimal); }, ErrorCode::kTypeMismatch,
               "cannot be converted to decimal");
}

TEST(CoreCoerce, ToDatetime) {
  EXPECT_EQ(std::get<DateTime>(coerce(DateTime{5}, ValueType::kDatetime)).micros, 5);
  EXPECT_EQ(std::get<DateTime>(coerce(std::string("1970-01-02"), ValueType::kDatetime)).micros, kDay);
  expect_error([] { coerce(std::string("2024-02-30"), ValueType::kDatetime); }, ErrorCode::kTypeMismatch,
               "'2024-02-30' is not a datetime");
  expect_error([] { coerce(int64_t{5}, ValueType::kDatetime); }, ErrorCode::kTypeMismatch,
               "int '5' cannot be converted to datetime");
  expect_error([] { coerce(Decimal::parse("5.5"), ValueType::kDatetime); }, ErrorCode::kTypeMismatch,
               "decimal '5.5' cannot be converted to datetime");
}

TEST(CoreCoerce, ToVarcharAndText) {
  EXPECT_EQ(std::get<std::string>(coerce(std::string("héllo"), ValueType::kVarchar)), "héllo");
  EXPECT_EQ(std::get<std::string>(coerce(int64_t{-3}, ValueType::kVarchar)), "-3");
  EXPECT_EQ(std::get<std::string>(coerce(Decimal::parse("1.50"), ValueType::kText)), "1.50");
  EXPECT_EQ(std::get<std::string>(coerce(DateTime{0}, ValueType::kVarchar)), "1970-01-01T00:00:00Z");
  const std::string max(kMaxVarcharBytes, 'a');
  EXPECT_EQ(std::get<std::string>(coerce(max, ValueType::kVarchar)), max);
  expect_error([&] { coerce(max + "a", ValueType::kVarchar); }, ErrorCode::kTypeMismatch,
               "is 256 bytes, varchar allows at most 255");
  // 128 two-byte characters = 256 bytes: the limit is in bytes, not characters.
  std::string wide;
  for (int i = 0; i < 128; ++i) wide += "é";
  expect_error([&] { coerce(wide, ValueType::kVarchar); }, ErrorCode::kTypeMismatch, "is 256 bytes");
  EXPECT_EQ(std::get<std::string>(coerce(std::string(100000, 'x'), ValueType::kText)).size(), 100000u);
  expect_error([] { coerce(Decimal::parse(std::string(300, '9')), ValueType::kVarchar); },
               ErrorCode::kTypeMismatch, "is 300 bytes");
  // Invalid UTF-8 is rejected for both string types.
  for (const char* bad : {"ab\xff", "\xc3", "\xc3\x28", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "ok\x80"}) {
    expect_error([&] { coerce(std::string(bad), ValueType::kText); }, ErrorCode::kTypeMismatch,
                 "not valid UTF-8");
    expect_error([&] { coerce(std::string(bad), ValueType::kVarchar); }, ErrorCode::kTypeMismatch,
                 "not valid UTF-8");
  }
  // Valid multi-byte sequences of every length pass.
  const std::string utf8 = "a\xc2\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
  EXPECT_EQ(std::get<std::string>(coerce(utf8, ValueType::kText)), utf8);
}

TEST(CoreCoerce, MessagesTruncateLongValues) {
  const std::string long_value(300, 'z');
  try {
    coerce(long_value, ValueType::kInt);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'" + std::string(64, 'z') + "...'"), std::string::npos) << what;
    EXPECT_LT(what.size(), 120u) << what;
  }
  // Cut on a UTF-8 boundary: 63 ASCII bytes then a 2-byte character straddling byte 64.
  const std::string straddle = std::string(63, 'a') + "é" + std::string(10, 'b');
  try {
    coerce(straddle, ValueType::kInt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + std::string(63, 'a') + "...'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace eavdb
