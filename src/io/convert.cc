// Conversion of source fields to typed values under the import rules.

#include <fmt/format.h>

#include "eavdb/error.h"
#include "io/io.h"

namespace eavdb::io {
namespace {

/// The field's text for an error message, shortened to keep messages readable.
std::string quoted(const RawField& f) {
  constexpr size_t kMax = 40;
  if (f.text.size() <= kMax) return fmt::format("'{}'", f.text);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(f.text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
  return fmt::format("'{}...'", std::string_view(f.text).substr(0, cut));
}

std::string_view kind_name(RawField::Kind k) {
  switch (k) {
    case RawField::Kind::kNull: return "null";
    case RawField::Kind::kNumber: return "JSON number";
    case RawField::Kind::kBool: return "JSON boolean";
    case RawField::Kind::kString: return "string";
    case RawField::Kind::kJson: return "JSON object or array";
  }
  return "value";
}

[[noreturn]] void mismatch(const RawField& f, std::string_view what) {
  throw Error(ErrorCode::kTypeMismatch, fmt::format("{} is not {}", quoted(f), what));
}

[[noreturn]] void wrong_kind(const RawField& f, ValueType t) {
  throw Error(ErrorCode::kTypeMismatch,
              fmt::format("{} ({}) cannot be stored as {}", quoted(f), kind_name(f.kind), value_type_name(t)));
}

}  // namespace

Value convert(const RawField& field, ValueType type) {
  using Kind = RawField::Kind;
  if (field.kind == Kind::kNull) return std::monostate{};
  const bool truth = field.kind == Kind::kBool && field.text == "true";
  switch (type) {
    case ValueType::kInt: {
      if (field.kind == Kind::kBool) return int64_t{truth ? 1 : 0};
      if (field.kind == Kind::kJson) wrong_kind(field, type);
      const auto v = field.kind == Kind::kNumber ? parse_int_token(field.text) : parse_int_text(field.text);
      if (!v) mismatch(field, "an integer");
      return *v;
    }
    case ValueType::kDecimal: {
      if (field.kind == Kind::kBool) return Decimal::from_int(truth ? 1 : 0);
      if (field.kind == Kind::kJson) wrong_kind(field, type);
      auto d = Decimal::try_parse(field.text);
      if (!d) mismatch(field, "a decimal number");
      return std::move(*d);
    }
    case ValueType::kDatetime: {
      if (field.kind != Kind::kString) wrong_kind(field, type);
      const auto t = DateTime::try_parse(field.text);
      if (!t) mismatch(field, "a datetime");
      return *t;
    }
    case ValueType::kVarchar:
    case ValueType::kText:
      // Numbers keep their source text, booleans read "true"/"false", JSON stays minified JSON.
      return coerce(Value(field.text), type);
  }
  wrong_kind(field, type);
}

}  // namespace eavdb::io
