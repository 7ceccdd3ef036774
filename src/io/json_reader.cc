// Streaming JSON readers: NDJSON (one object per line) and JSON array files (one top-level array
// of objects, cut into elements by a small structural scanner). Each record's bytes are parsed
// with simdjson: validated by the DOM parser, then read with On Demand for exact number tokens.

#include <simdjson.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "eavdb/error.h"
#include "io/io.h"

namespace eavdb::io {
namespace {

namespace od = simdjson::ondemand;

constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr size_t kKeepCapacity = size_t{4} << 20;  // larger record buffers are released after use

/// A file read in fixed-size chunks, or a buffer held in memory (served in one piece).
class ByteSource {
 public:
  explicit ByteSource(const std::string& path) : path_(path), buf_(kChunkBytes) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_)
      throw Error(ErrorCode::kIo, fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  }
  /// Serves `data` itself (no file).
  explicit ByteSource(std::string&& data) : path_("<memory>"), mem_(std::move(data)), memory_(true) {
    len_ = mem_.size();
  }
  ~ByteSource() {
    if (file_) std::fclose(file_);
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  /// Makes at least one unread byte available; false at end of file. Throws Error(kIo).
  bool fill() {
    if (pos_ < len_) return true;
    if (memory_) return false;
    pos_ = 0;
    len_ = std::fread(buf_.data(), 1, buf_.size(), file_);
    if (len_ == 0 && std::ferror(file_))
      throw Error(ErrorCode::kIo, fmt::format("cannot read '{}': {}", path_, std::strerror(errno)));
    return len_ > 0;
  }
  /// The unread bytes of the current chunk (call fill() first).
  const char* data() const { return (memory_ ? mem_.data() : buf_.data()) + pos_; }
  size_t available() const { return len_ - pos_; }
  void consume(size_t n) { pos_ += n; }
  /// Skips a UTF-8 byte order mark at the start of the file.
  void skip_bom() {
    if (fill() && available() >= 3 && std::memcmp(data(), "\xEF\xBB\xBF", 3) == 0) consume(3);
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<char> buf_;
  std::string mem_;
  bool memory_ = false;
  size_t pos_ = 0, len_ = 0;
};

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_json_space(s.back())) s.remove_suffix(1);
  return s;
}

/// Parses one record's JSON text into a Record; reuses its parsers and buffers across records.
class JsonRecordParser {
 public:
  /// Fills `out.fields`, or sets `out.error` ("line N: ..."). `text` must have at least
  /// SIMDJSON_PADDING bytes of capacity after its size.
  void parse(std::string& text, Record& out) {
    if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING)
      text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    const std::string_view err = parse_object(text, out);
    if (!err.empty()) {
      out.fields.clear();
      out.error = fmt::format("line {}: {}", out.line, err);
    }
  }

 private:
  std::string_view parse_object(const std::string& text, Record& out) {
    // The DOM parser validates the whole text (On Demand skips what it is not asked for and
    // does not check for trailing content); On Demand then yields the exact number tokens.
    simdjson::dom::element root;
    auto error = dom_.parse(text.data(), text.size(), false).get(root);
    if (error) return simdjson::error_message(error);
    if (!root.is_object()) return "record is not a JSON object";
    od::document doc;
    od::object obj;
    if ((error = parser_.iterate(simdjson::padded_string_view(text.data(), text.size(), text.capacity())).get(doc)) ||
        (error = doc.get_object().get(obj)))
      return simdjson::error_message(error);
    for (auto member : obj) {
      od::field field;
      std::string_view key;
      if ((error = std::move(member).get(field)) || (error = field.unescaped_key().get(key)))
        return simdjson::error_message(error);
      RawField value;
      if ((error = read_value(field.value(), value))) return simdjson::error_message(error);
      add_field(out, key, std::move(value));
    }
    return {};
  }

 public:
  /// Parses a JSON array into its elements (objects/arrays as minified JSON text); "" on
  /// success, else the reason.
  std::string_view parse_array(std::string& text, std::vector<RawField>& out) {
    if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING)
      text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    simdjson::dom::element root;
    auto error = dom_.parse(text.data(), text.size(), false).get(root);
    if (error) return simdjson::error_message(error);
    if (!root.is_array()) return "not a JSON array";
    od::document doc;
    od::array arr;
    if ((error = parser_.iterate(simdjson::padded_string_view(text.data(), text.size(), text.capacity())).get(doc)) ||
        (error = doc.get_array().get(arr)))
      return simdjson::error_message(error);
    for (auto element : arr) {
      od::value v;
      if ((error = std::move(element).get(v))) return simdjson::error_message(error);
      RawField f;
      if ((error = read_value(v, f))) return simdjson::error_message(error);
      out.push_back(std::move(f));
    }
    return {};
  }

 private:
  simdjson::error_code read_value(od::value v, RawField& out) {
    od::json_type type;
    if (auto error = v.type().get(type)) return error;
    simdjson::error_code error = simdjson::SUCCESS;
    std::string_view raw;
    switch (type) {
      case od::json_type::null:
        out.kind = RawField::Kind::kNull;
        break;
      case od::json_type::boolean: {
        bool b = false;
        if ((error = v.get_bool().get(b))) return error;
        out.kind = RawField::Kind::kBool;
        out.text = b ? "true" : "false";
        break;
      }
      case od::json_type::number:
        out.kind = RawField::Kind::kNumber;
        out.text = trim_right(v.raw_json_token());
        break;
      case od::json_type::string:
        if ((error = v.get_string().get(raw))) return error;
        out.kind = RawField::Kind::kString;
        out.text = raw;
        break;
      case od::json_type::object:
      case od::json_type::array: {
        if (type == od::json_type::object) {
          od::object o;
          if ((error = v.get_object().get(o)) || (error = o.raw_json().get(raw))) return error;
        } else {
          od::array a;
          if ((error = v.get_array().get(a)) || (error = a.raw_json().get(raw))) return error;
        }
        out.kind = RawField::Kind::kJson;
        out.text.resize(raw.size());
        size_t len = 0;
        if ((error = simdjson::minify(raw.data(), raw.size(), out.text.data(), len))) return error;
        out.text.resize(len);
        break;
      }
    }
    return simdjson::SUCCESS;
  }

  /// Appends a field; a repeated key replaces the earlier value (last one wins).
  static void add_field(Record& out, std::string_view key, RawField value) {
    for (auto& [name, existing] : out.fields) {
      if (name == key) {
        existing = std::move(value);
        return;
      }
    }
    out.fields.emplace_back(std::string(key), std::move(value));
  }

  simdjson::dom::parser dom_;
  od::parser parser_;
};

void reset(Record& out, int64_t index, int64_t line) {
  out.index = index;
  out.line = line;
  out.fields.clear();
  out.error.reset();
}

void release_if_large(std::string& s) {
  if (s.capacity() > kKeepCapacity) std::string().swap(s);
}

std::string too_long(int64_t line, size_t max_bytes = kMaxRecordBytes) {
  if (max_bytes % (size_t{1} << 20) == 0)
    return fmt::format("line {}: record is longer than {} MiB", line, max_bytes >> 20);
  return fmt::format("line {}: record is longer than {} bytes", line, max_bytes);
}

/// NDJSON: one JSON object per line; blank lines are skipped.
class NdjsonReader : public RecordReader {
 public:
  explicit NdjsonReader(const std::string& path) : src_(path) { src_.skip_bom(); }
  NdjsonReader(std::string&& data, size_t max_line_bytes) : src_(std::move(data)), max_(max_line_bytes) {
    src_.skip_bom();
  }

  bool next(Record& out) override {
    for (;;) {
      bool overflow = false;
      if (!read_line(overflow)) return false;
      const int64_t line = line_++;
      if (!overflow && trim_right(line_buf_).empty()) continue;  // blank line
      reset(out, index_++, line);
      if (overflow) {
        out.error = too_long(line, max_);
      } else {
        parser_.parse(line_buf_, out);
      }
      release_if_large(line_buf_);
      return true;
    }
  }

 private:
  /// Reads the next line (without its '\n') into line_buf_; false at end of file. A line over
  /// kMaxRecordBytes is consumed but not stored, and `overflow` is set.
  bool read_line(bool& overflow) {
    line_buf_.clear();
    bool any = false;
    while (src_.fill()) {
      any = true;
      const char* p = src_.data();
      const size_t n = src_.available();
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
      const size_t take = nl ? static_cast<size_t>(nl - p) : n;
      if (!overflow && line_buf_.size() + take > max_) {
        overflow = true;
        line_buf_.clear();
      }
      if (!overflow) line_buf_.append(p, take);
      src_.consume(nl ? take + 1 : take);
      if (nl) return true;
    }
    return any;
  }

  ByteSource src_;
  size_t max_ = kMaxRecordBytes;
  JsonRecordParser parser_;
  std::string line_buf_;
  int64_t line_ = 1;
  int64_t index_ = 0;
};

/// A JSON array file: `[ {...}, {...} ]`. Elements are cut out by tracking string/escape state
/// and bracket depth, then parsed one at a time.
class JsonArrayReader : public RecordReader {
 public:
  explicit JsonArrayReader(const std::string& path) : src_(path) { src_.skip_bom(); }

  bool next(Record& out) override {
    if (pending_error_) {
      reset(out, index_++, line_);
      out.error = std::move(*pending_error_);
      pending_error_.reset();
      phase_ = Phase::kDone;
      return true;
    }
    switch (phase_) {
      case Phase::kDone:
        return false;
      case Phase::kStart: {
        const int c = skip_space();
        if (c != '[') {
          fail(out, c < 0 ? "file is empty, expected a JSON array" : "expected a JSON array ('[') at the start of the file");
          return true;
        }
        src_.consume(1);
        phase_ = Phase::kFirst;
        return next(out);
      }
      case Phase::kClosed: {
        if (skip_space() < 0) {
          phase_ = Phase::kDone;
          return false;
        }
        fail(out, "unexpected content after the closing ']' of the array");
        return true;
      }
      case Phase::kFirst:
      case Phase::kNext:
        break;
    }
    const int c = skip_space();
    if (c < 0) {
      fail(out, "unexpected end of file: missing ']' at the end of the array");
      return true;
    }
    if (c == ']') {
      src_.consume(1);
      if (phase_ == Phase::kFirst) {
        phase_ = Phase::kClosed;
        return next(out);
      }
      reset(out, index_++, line_);
      out.error = fmt::format("line {}: expected an array element after ','", line_);
      phase_ = Phase::kClosed;
      return true;
    }
    if (c == ',') {
      reset(out, index_++, line_);
      out.error = fmt::format("line {}: empty array element", line_);
      src_.consume(1);
      phase_ = Phase::kNext;
      return true;
    }
    reset(out, index_++, line_);
    const End end = scan_element();
    if (end == End::kTruncated) {
      out.error = fmt::format("line {}: unexpected end of file inside the element: missing ']' at the end of the array", out.line);
      phase_ = Phase::kDone;
    } else {
      if (overflow_) {
        out.error = too_long(out.line);
      } else {
        parser_.parse(elem_, out);
      }
      if (end == End::kComma) phase_ = Phase::kNext;
      if (end == End::kClose) phase_ = Phase::kClosed;
      if (end == End::kEof) pending_error_ = fmt::format("line {}: unexpected end of file: missing ']' at the end of the array", line_);
    }
    release_if_large(elem_);
    return true;
  }

 private:
  enum class Phase { kStart, kFirst, kNext, kClosed, kDone };
  enum class End { kComma, kClose, kEof, kTruncated };

  /// Skips whitespace (counting lines); the next byte, or -1 at end of file.
  int skip_space() {
    while (src_.fill()) {
      const char c = *src_.data();
      if (!is_json_space(c)) return static_cast<unsigned char>(c);
      if (c == '\n') ++line_;
      src_.consume(1);
    }
    return -1;
  }

  void fail(Record& out, std::string_view reason) {
    reset(out, index_++, line_);
    out.error = fmt::format("line {}: {}", line_, reason);
    phase_ = Phase::kDone;
  }

  /// Copies one top-level element into elem_ (unless it exceeds kMaxRecordBytes: overflow_) and
  /// consumes its terminating ',' or ']'.
  End scan_element() {
    elem_.clear();
    overflow_ = false;
    int depth = 0;
    bool in_string = false, escape = false;
    while (src_.fill()) {
      const char* p = src_.data();
      const size_t n = src_.available();
      size_t i = 0;
      std::optional<End> end;
      for (; i < n; ++i) {
        const char c = p[i];
        if (c == '\n') ++line_;
        if (in_string) {
          if (escape) {
            escape = false;
          } else if (c == '\\') {
            escape = true;
          } else if (c == '"') {
            in_string = false;
          }
        } else if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          if (depth > 0) {
            --depth;
          } else if (c == ']') {
            end = End::kClose;
            break;
          }  // a stray '}' stays in the element; the parser reports it
        } else if (c == ',' && depth == 0) {
          end = End::kComma;
          break;
        }
      }
      append(p, i);
      if (end) {
        src_.consume(i + 1);
        return *end;
      }
      src_.consume(i);
    }
    return (in_string || depth > 0) ? End::kTruncated : End::kEof;
  }

  void append(const char* p, size_t n) {
    if (overflow_) return;
    if (elem_.size() + n > kMaxRecordBytes) {
      overflow_ = true;
      std::string().swap(elem_);
      return;
    }
    elem_.append(p, n);
  }

  ByteSource src_;
  JsonRecordParser parser_;
  std::string elem_;
  bool overflow_ = false;
  Phase phase_ = Phase::kStart;
  std::optional<std::string> pending_error_;
  int64_t line_ = 1;
  int64_t index_ = 0;
};

}  // namespace

std::unique_ptr<RecordReader> open_json_array_reader(const std::string& path) {
  return std::make_unique<JsonArrayReader>(path);
}

std::unique_ptr<RecordReader> open_ndjson_reader(const std::string& path) {
  return std::make_unique<NdjsonReader>(path);
}

std::unique_ptr<RecordReader> open_ndjson_memory_reader(std::string data, size_t max_line_bytes) {
  return std::make_unique<NdjsonReader>(std::move(data), max_line_bytes);
}

std::optional<std::string> parse_json_object(std::string text, Record& out) {
  reset(out, 0, 1);
  JsonRecordParser parser;
  parser.parse(text, out);
  return out.error;
}

std::optional<std::string> parse_json_array(std::string text, std::vector<RawField>& out) {
  out.clear();
  JsonRecordParser parser;
  const std::string_view err = parser.parse_array(text, out);
  if (err.empty()) return std::nullopt;
  out.clear();
  return std::string(err);
}

std::unique_ptr<RecordReader> open_reader(const std::string& path, Format format) {
  switch (format) {
    case Format::kJson: return open_json_array_reader(path);
    case Format::kNdjson: return open_ndjson_reader(path);
    case Format::kCsv: return open_csv_reader(path);
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown input format");
}

}  // namespace eavdb::io
