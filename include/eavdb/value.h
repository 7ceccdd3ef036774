// eavdb — typed attribute values: the five value types of DESIGN.md §1.
//
//   varchar   UTF-8 string of at most 255 bytes (longer is an error, never a truncation)
//   int       signed 64-bit integer
//   decimal   exact decimal; "19.99" reads back as "19.99"; compares numerically
//   datetime  UTC instant with microsecond precision; ISO 8601 on the wire
//   text      UTF-8 string of any length
//
// All types here are plain values: thread-compatible (const use from many threads is safe).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace eavdb {

/// The declared type of an attribute; one typed value table per type.
enum class ValueType { kVarchar, kInt, kDecimal, kDatetime, kText };

/// Longest varchar value, in bytes of UTF-8.
inline constexpr std::size_t kMaxVarcharBytes = 255;

/// "varchar", "int", "decimal", "datetime", "text".
std::string_view value_type_name(ValueType t) noexcept;
/// Inverse of value_type_name; std::nullopt for an unknown name.
std::optional<ValueType> parse_value_type(std::string_view name) noexcept;

/// An exact decimal number held in canonical text form: optional '-', integer digits without
/// leading zeros (a lone "0" allowed), and, if present, '.' followed by the fractional digits as
/// written (trailing zeros are kept, like PostgreSQL numeric keeps its scale). "-0" becomes "0".
class Decimal {
 public:
  /// Zero.
  Decimal() : text_("0") {}
  /// Parses "12", "-12.340", "+.5", "1e3", "2.5E-2". Throws Error(kInvalidArgument) on anything
  /// else (empty, "1.2.3", "NaN", "inf", more than 1000 digits).
  static Decimal parse(std::string_view text);
  /// Like parse, but returns std::nullopt instead of throwing.
  static std::optional<Decimal> try_parse(std::string_view text) noexcept;
  /// Exact conversion of an integer.
  static Decimal from_int(int64_t v);

  /// Canonical text, e.g. "19.99".
  const std::string& str() const noexcept { return text_; }
  /// Nearest double (for statistics and inexact consumers only).
  double to_double() const noexcept;
  /// True when the value has no non-zero fractional digit.
  bool is_integer() const noexcept;

  /// Numeric three-way comparison: 19.9 == 19.90.
  friend std::strong_ordering operator<=>(const Decimal& a, const Decimal& b) noexcept;
  friend bool operator==(const Decimal& a, const Decimal& b) noexcept { return (a <=> b) == 0; }

  /// Exact sum.
  friend Decimal operator+(const Decimal& a, const Decimal& b);
  /// a / n rounded half-up to `scale` fractional digits (trailing zeros removed). n > 0.
  static Decimal divide(const Decimal& a, int64_t n, int scale = 16);

 private:
  explicit Decimal(std::string canonical) : text_(std::move(canonical)) {}
  std::string text_;
};

/// Numeric comparison of two canonical decimal strings (as produced by Decimal::str()).
/// Returns <0, 0, >0. Used as the SQLite collation of decimal value columns.
int compare_decimal_text(std::string_view a, std::string_view b) noexcept;

/// A UTC instant, microseconds since 1970-01-01T00:00:00Z.
struct DateTime {
  int64_t micros = 0;

  /// Parses the formats the importer and query language accept:
  ///   ISO 8601 date "2024-03-01", date-time "2024-03-01T12:30:00[.ffffff][Z|±HH:MM|±HHMM]"
  ///   (a space may replace 'T'), "YYYY/MM/DD[ HH:MM[:SS]]", and "Mon DD YYYY" ("Jun 12 1998").
  /// Naive times are UTC; offsets are converted to UTC. Throws Error(kInvalidArgument).
  static DateTime parse(std::string_view text);
  /// Like parse, but returns std::nullopt instead of throwing.
  static std::optional<DateTime> try_parse(std::string_view text) noexcept;
  /// "YYYY-MM-DDTHH:MM:SSZ", or with ".ffffff" when the microseconds are not zero.
  std::string to_iso() const;

  friend auto operator<=>(const DateTime&, const DateTime&) = default;
};

/// One attribute value, or NULL (std::monostate). Strings serve varchar and text alike.
using Value = std::variant<std::monostate, int64_t, Decimal, DateTime, std::string>;

/// True when v holds NULL.
inline bool is_null(const Value& v) noexcept { return std::holds_alternative<std::monostate>(v); }

/// Converts `v` to the representation of type `t`, or throws Error(kTypeMismatch) naming the
/// reason (e.g. a string that is not a number for int, a varchar over 255 bytes). Strings are
/// parsed for int/decimal/datetime; ints widen to decimal; NULL stays NULL.
Value coerce(const Value& v, ValueType t);

/// Text rendering: ints and decimals as digits, datetimes ISO 8601, strings as is, NULL as "".
std::string to_string(const Value& v);

}  // namespace eavdb
