// MessagePack codec of cache records; see codec.h for the layouts.
#include "cache/codec.h"

#include <msgpack.hpp>

#include <cstring>
#include <exception>
#include <limits>

#include "eavdb/error.h"

namespace eavdb::cache {
namespace {

constexpr uint8_t kFormat = 1;
constexpr int8_t kExtDecimal = 1;
constexpr int8_t kExtDateTime = 2;
constexpr int kMaxValueType = static_cast<int>(ValueType::kText);

[[noreturn]] void corrupt(const std::string& why) {
  throw Error(ErrorCode::kStorage, "corrupt cache record: " + why);
}

// A msgpack output stream appending to a std::string.
struct StringSink {
  std::string out;
  void write(const char* p, size_t n) { out.append(p, n); }
};
using Packer = msgpack::packer<StringSink>;

void pack_string(Packer& pk, std::string_view s) {
  if (s.size() > std::numeric_limits<uint32_t>::max())
    throw Error(ErrorCode::kLimit, "cache record string over 4 GiB");
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void pack_array_header(Packer& pk, size_t n) {
  if (n > std::numeric_limits<uint32_t>::max()) throw Error(ErrorCode::kLimit, "cache record array too long");
  pk.pack_array(static_cast<uint32_t>(n));
}

void pack_value(Packer& pk, const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<T, int64_t>) {
          pk.pack_int64(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          pack_string(pk, x);
        } else if constexpr (std::is_same_v<T, Decimal>) {
          const std::string& s = x.str();
          pk.pack_ext(s.size(), kExtDecimal);
          pk.pack_ext_body(s.data(), static_cast<uint32_t>(s.size()));
        } else {
          static_assert(std::is_same_v<T, DateTime>);
          char be[8];
          auto u = static_cast<uint64_t>(x.micros);
          for (int i = 7; i >= 0; --i, u >>= 8) be[i] = static_cast<char>(u & 0xff);
          pk.pack_ext(sizeof be, kExtDateTime);
          pk.pack_ext_body(be, sizeof be);
        }
      },
      v);
}

// Parses `bytes` as exactly one msgpack object. Every size limit is the input length: each array
// element or string byte needs at least one input byte, so a lying header fails the limit check
// before anything is allocated.
msgpack::object_handle parse(std::string_view bytes) {
  size_t n = bytes.size();
  msgpack::unpack_limit limit(n, n, n, n, n, 8);
  size_t off = 0;
  msgpack::object_handle oh;
  try {
    oh = msgpack::unpack(bytes.data(), n, off, nullptr, nullptr, limit);
  } catch (const std::exception& e) {
    corrupt(std::string("msgpack: ") + e.what());
  }
  if (off != n) corrupt("trailing bytes after the record");
  return oh;
}

// Checked accessors over a parsed object.
const msgpack::object_array& as_array(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::ARRAY) corrupt(std::string(what) + " is not an array");
  return o.via.array;
}

const msgpack::object_array& as_array(const msgpack::object& o, const char* what, uint32_t size) {
  const auto& a = as_array(o, what);
  if (a.size != size)
    corrupt(std::string(what) + " has " + std::to_string(a.size) + " elements, expected " +
            std::to_string(size));
  return a;
}

int64_t as_int(const msgpack::object& o, const char* what) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      corrupt(std::string(what) + " out of range");
    return static_cast<int64_t>(o.via.u64);
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  corrupt(std::string(what) + " is not an integer");
}

std::string as_string(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::STR) corrupt(std::string(what) + " is not a string");
  return std::string(o.via.str.ptr, o.via.str.size);
}

bool as_bool(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::BOOLEAN) corrupt(std::string(what) + " is not a boolean");
  return o.via.boolean;
}

void check_format(const msgpack::object& o) {
  if (as_int(o, "format") != kFormat) corrupt("unknown format version");
}

Value as_value(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return std::monostate{};
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return as_int(o, "value");
    case msgpack::type::STR:
      return std::string(o.via.str.ptr, o.via.str.size);
    case msgpack::type::EXT: {
      const auto& ext = o.via.ext;
      if (ext.type() == kExtDecimal) {
        std::string_view text(ext.data(), ext.size);
        auto d = Decimal::try_parse(text);
        if (!d || d->str() != text) corrupt("decimal value is not canonical");
        return *d;
      }
      if (ext.type() == kExtDateTime) {
        if (ext.size != 8) corrupt("datetime value has " + std::to_string(ext.size) + " bytes");
        uint64_t u = 0;
        for (uint32_t i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(ext.data()[i]);
        return DateTime{static_cast<int64_t>(u)};
      }
      corrupt("unknown value extension " + std::to_string(ext.type()));
    }
    default:
      corrupt("value of unexpected msgpack type " + std::to_string(static_cast<int>(o.type)));
  }
}

// Runs a decoder, turning anything it throws into the corrupt-record error.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    corrupt(e.what());
  }
}

}  // namespace

std::string encode_entity(const EntityRecord& record) {
  StringSink sink;
  sink.out.reserve(32 + record.values.size() * 12);
  Packer pk(sink);
  pk.pack_array(7);
  pk.pack_uint8(kFormat);
  pk.pack_int64(record.id);
  pk.pack_int64(record.type_id);
  pk.pack_int64(record.version);
  pk.pack_int64(record.created_at);
  pk.pack_int64(record.updated_at);
  pack_array_header(pk, record.values.size() * 2);
  for (const auto& [attr, value] : record.values) {
    pk.pack_int64(attr);
    pack_value(pk, value);
  }
  return std::move(sink.out);
}

EntityRecord decode_entity(std::string_view bytes) {
  return guarded([&] {
    auto oh = parse(bytes);
    const auto& a = as_array(oh.get(), "entity", 7);
    check_format(a.ptr[0]);
    EntityRecord r;
    r.id = as_int(a.ptr[1], "id");
    r.type_id = as_int(a.ptr[2], "type_id");
    r.version = as_int(a.ptr[3], "version");
    r.created_at = as_int(a.ptr[4], "created_at");
    r.updated_at = as_int(a.ptr[5], "updated_at");
    const auto& vals = as_array(a.ptr[6], "values");
    if (vals.size % 2 != 0) corrupt("values has an odd number of elements");
    r.values.reserve(vals.size / 2);
    for (uint32_t i = 0; i < vals.size; i += 2)
      r.values.emplace_back(as_int(vals.ptr[i], "attribute id"), as_value(vals.ptr[i + 1]));
    return r;
  });
}

std::string encode_result(const QueryResult& result) {
  StringSink sink;
  Packer pk(sink);
  pk.pack_array(4);
  pk.pack_uint8(kFormat);
  if (result.select_star)
    pk.pack_true();
  else
    pk.pack_false();
  pack_array_header(pk, result.columns.size() * 2);
  for (const auto& c : result.columns) {
    pack_string(pk, c.name);
    pk.pack_uint8(static_cast<uint8_t>(c.type));
  }
  pack_array_header(pk, result.rows.size());
  for (const auto& row : result.rows) {
    pack_array_header(pk, row.size());
    for (const auto& v : row) pack_value(pk, v);
  }
  return std::move(sink.out);
}

QueryResult decode_result(std::string_view bytes) {
  return guarded([&] {
    auto oh = parse(bytes);
    const auto& a = as_array(oh.get(), "result", 4);
    check_format(a.ptr[0]);
    QueryResult r;
    r.select_star = as_bool(a.ptr[1], "select_star");
    const auto& cols = as_array(a.ptr[2], "columns");
    if (cols.size % 2 != 0) corrupt("columns has an odd number of elements");
    r.columns.reserve(cols.size / 2);
    for (uint32_t i = 0; i < cols.size; i += 2) {
      ResultColumn c;
      c.name = as_string(cols.ptr[i], "column name");
      int64_t t = as_int(cols.ptr[i + 1], "column type");
      if (t < 0 || t > kMaxValueType) corrupt("unknown column type " + std::to_string(t));
      c.type = static_cast<ValueType>(t);
      r.columns.push_back(std::move(c));
    }
    const auto& rows = as_array(a.ptr[3], "rows");
    r.rows.reserve(rows.size);
    for (uint32_t i = 0; i < rows.size; ++i) {
      const auto& row = as_array(rows.ptr[i], "row", static_cast<uint32_t>(r.columns.size()));
      std::vector<Value> values;
      values.reserve(row.size);
      for (uint32_t j = 0; j < row.size; ++j) values.push_back(as_value(row.ptr[j]));
      r.rows.push_back(std::move(values));
    }
    return r;
  });
}

std::string encode_invalidation(const Invalidation& inv) {
  StringSink sink;
  Packer pk(sink);
  pk.pack_array(6);
  pk.pack_uint8(kFormat);
  pack_string(pk, inv.ns);
  pack_array_header(pk, inv.entities.size() * 3);
  for (const auto& e : inv.entities) {
    pk.pack_int64(e.type_id);
    pk.pack_int64(e.id);
    pk.pack_int64(e.version);
  }
  pack_array_header(pk, inv.tags.size());
  for (const auto& t : inv.tags) pack_string(pk, t);
  pack_string(pk, inv.origin);
  pk.pack_int64(inv.sent_at_us);
  return std::move(sink.out);
}

Invalidation decode_invalidation(std::string_view bytes) {
  return guarded([&] {
    auto oh = parse(bytes);
    const auto& a = as_array(oh.get(), "invalidation", 6);
    check_format(a.ptr[0]);
    Invalidation inv;
    inv.ns = as_string(a.ptr[1], "ns");
    const auto& ents = as_array(a.ptr[2], "entities");
    if (ents.size % 3 != 0) corrupt("entities is not a list of triples");
    inv.entities.reserve(ents.size / 3);
    for (uint32_t i = 0; i < ents.size; i += 3) {
      Invalidation::Entity e;
      e.type_id = as_int(ents.ptr[i], "type_id");
      e.id = as_int(ents.ptr[i + 1], "id");
      e.version = as_int(ents.ptr[i + 2], "version");
      inv.entities.push_back(e);
    }
    const auto& tags = as_array(a.ptr[3], "tags");
    inv.tags.reserve(tags.size);
    for (uint32_t i = 0; i < tags.size; ++i) inv.tags.push_back(as_string(tags.ptr[i], "tag"));
    inv.origin = as_string(a.ptr[4], "origin");
    inv.sent_at_us = as_int(a.ptr[5], "sent_at_us");
    return inv;
  });
}

}  // namespace eavdb::cache
