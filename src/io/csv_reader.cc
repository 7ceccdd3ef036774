// Streaming CSV reader on libcsv. The first row is the header; every later row is one record.
// libcsv does not report positions, so lines are counted from what it hands back: with
// CSV_REPALL_NL every unquoted line break reaches the row callback, and quoted line breaks are
// inside the field data.

#include <csv.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>

#include <fmt/format.h>

#include "eavdb/error.h"
#include "io/io.h"

namespace eavdb::io {
namespace {

constexpr size_t kChunkBytes = size_t{64} << 10;
constexpr int kFieldBegun = 2;  // libcsv's parser state inside a field (csv_parser::pstate)

class CsvReader : public RecordReader {
 public:
  explicit CsvReader(const std::string& path) : path_(path), buf_(kChunkBytes) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_)
      throw Error(ErrorCode::kIo, fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
    if (csv_init(&parser_, CSV_REPALL_NL) != 0) {
      std::fclose(file_);
      throw Error(ErrorCode::kIo, "cannot initialise the CSV parser");
    }
    // Spaces are data (RFC 4180): never trim them around unquoted fields.
    csv_set_space_func(&parser_, [](unsigned char) { return 0; });
  }
  ~CsvReader() override {
    csv_free(&parser_);
    std::fclose(file_);
  }
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  bool next(Record& out) override {
    while (ready_.empty()) {
      if (done_) return false;
      feed();
    }
    out = std::move(ready_.front());
    ready_.pop_front();
    return true;
  }

 private:
  /// Parses the next chunk (or finishes at end of file), queueing completed records.
  void feed() {
    size_t n = std::fread(buf_.data(), 1, buf_.size(), file_);
    if (n == 0) {
      if (std::ferror(file_))
        throw Error(ErrorCode::kIo, fmt::format("cannot read '{}': {}", path_, std::strerror(errno)));
      unterminated_ = parser_.pstate == kFieldBegun && parser_.quoted;
      csv_fini(&parser_, on_field, on_row, this);
      done_ = true;
      return;
    }
    const char* p = buf_.data();
    if (first_chunk_) {
      first_chunk_ = false;
      if (n >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
        n -= 3;
      }
    }
    if (csv_parse(&parser_, p, n, on_field, on_row, this) != n)
      throw Error(ErrorCode::kIo, fmt::format("cannot parse '{}': {}", path_, csv_strerror(csv_error(&parser_))));
    // A field that never ends (an unbalanced quote) must not grow without bound.
    if (parser_.entry_pos > kMaxRecordBytes) {
      Record r;
      r.index = index_++;
      r.line = row_started_ ? row_line_ : newlines_ + 1;
      r.error = fmt::format("line {}: field is longer than {} MiB (unbalanced quote?)", r.line, kMaxRecordBytes >> 20);
      ready_.push_back(std::move(r));
      done_ = true;
    }
  }

  static void on_field(void* data, size_t len, void* self) {
    static_cast<CsvReader*>(self)->field(static_cast<const char*>(data), len);
  }
  static void on_row(int c, void* self) { static_cast<CsvReader*>(self)->row(c); }

  void field(const char* data, size_t len) {
    if (!row_started_) {
      row_started_ = true;
      row_line_ = newlines_ + 1;
    }
    newlines_ += std::count(data, data + len, '\n');
    row_bytes_ += len + 1;
    if (row_bytes_ > kMaxRecordBytes) {
      overflow_ = true;
      fields_.clear();
    }
    if (!overflow_) fields_.emplace_back(data, len);
    ++field_count_;
  }

  void row(int c) {
    if (row_started_) finish_row();
    if (c == '\n') ++newlines_;
  }

  void finish_row() {
    if (!have_header_) {
      header_ = std::move(fields_);
      have_header_ = true;
    } else {
      Record r;
      r.index = index_++;
      r.line = row_line_;
      if (unterminated_) {
        r.error = fmt::format("line {}: unterminated quoted field at the end of the file", r.line);
      } else if (overflow_) {
        r.error = fmt::format("line {}: record is longer than {} MiB", r.line, kMaxRecordBytes >> 20);
      } else if (field_count_ != header_.size()) {
        r.error = fmt::format("line {}: expected {} fields, found {}", r.line, header_.size(), field_count_);
      } else {
        r.fields.reserve(header_.size());
        for (size_t i = 0; i < header_.size(); ++i) {
          RawField f;
          if (!fields_[i].empty()) {
            f.kind = RawField::Kind::kString;
            f.text = std::move(fields_[i]);
          }
          r.fields.emplace_back(header_[i], std::move(f));
        }
      }
      ready_.push_back(std::move(r));
    }
    fields_.clear();
    field_count_ = 0;
    row_bytes_ = 0;
    overflow_ = false;
    row_started_ = false;
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  csv_parser parser_{};
  std::vector<char> buf_;
  bool first_chunk_ = true;
  bool done_ = false;
  bool unterminated_ = false;

  std::vector<std::string> header_;
  bool have_header_ = false;
  std::vector<std::string> fields_;  // the current row
  size_t field_count_ = 0;
  size_t row_bytes_ = 0;
  bool overflow_ = false;
  bool row_started_ = false;
  int64_t row_line_ = 1;
  int64_t newlines_ = 0;  // line breaks consumed so far
  int64_t index_ = 0;
  std::deque<Record> ready_;
};

}  // namespace

std::unique_ptr<RecordReader> open_csv_reader(const std::string& path) {
  return std::make_unique<CsvReader>(path);
}

}  // namespace eavdb::io
