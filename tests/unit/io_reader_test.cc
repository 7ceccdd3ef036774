// Streaming readers: JSON array, NDJSON, CSV.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "eavdb/error.h"
#include "io/io.h"

namespace eavdb::io {
namespace {

using Kind = RawField::Kind;

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "eavdb_io_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::vector<Record> read_all(const std::string& path, Format format) {
  std::vector<Record> out;
  auto reader = open_reader(path, format);
  Record r;
  while (reader->next(r)) out.push_back(r);
  std::remove(path.c_str());
  return out;
}

std::vector<Record> read_text(const std::string& name, const std::string& content, Format format) {
  return read_all(write_temp(name, content), format);
}

const RawField* find(const Record& r, const std::string& name) {
  for (const auto& [n, f] : r.fields)
    if (n == name) return &f;
  return nullptr;
}

void expect_field(const Record& r, const std::string& name, Kind kind, const std::string& text) {
  const RawField* f = find(r, name);
  ASSERT_NE(f, nullptr) << "field " << name << " missing in record " << r.index;
  EXPECT_EQ(f->kind, kind) << name;
  EXPECT_EQ(f->text, text) << name;
}

/// A /proc/self/status memory figure of this process ("VmRSS", "VmHWM"), in KiB.
int64_t status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  return -1;
}

/// Resets VmHWM to the current RSS (Linux >= 4.0), so a later peak measures only what follows.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

TEST(IoNdjson, ValueKindsAndExactNumberText) {
  auto recs = read_text("kinds.ndjson",
                        R"({"a": 6.1, "b": 1e3, "c": -0, "d": true, "e": null, "f": "x\"y\u00e9", "g": {"k": [1, 2.50, {"z": null}]}, "h": [ ]})"
                        "\n",
                        Format::kNdjson);
  ASSERT_EQ(recs.size(), 1u);
  const Record& r = recs[0];
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.index, 0);
  EXPECT_EQ(r.line, 1);
  ASSERT_EQ(r.fields.size(), 8u);
  EXPECT_EQ(r.fields[0].first, "a");
  EXPECT_EQ(r.fields[7].first, "h");
  expect_field(r, "a", Kind::kNumber, "6.1");
  expect_field(r, "b", Kind::kNumber, "1e3");
  expect_field(r, "c", Kind::kNumber, "-0");
  expect_field(r, "d", Kind::kBool, "true");
  expect_field(r, "e", Kind::kNull, "");
  expect_field(r, "f", Kind::kString, "x\"y\xC3\xA9");
  expect_field(r, "g", Kind::kJson, R"({"k":[1,2.50,{"z":null}]})");
  expect_field(r, "h", Kind::kJson, "[]");
}

TEST(IoNdjson, MalformedLineIsReportedAndReadingContinues) {
  auto recs = read_text("bad.ndjson",
                        "{\"a\": 1}\n"
                        "\n"
                        "{\"a\": 2,}\n"
                        "[1, 2]\n"
                        "{\"a\": 3}\r\n"
                        "   \n"
                        "{\"a\": [1,,2]}\n"
                        "{\"a\": 4}",
                        Format::kNdjson);
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_FALSE(recs[0].error);
  expect_field(recs[0], "a", Kind::kNumber, "1");
  ASSERT_TRUE(recs[1].error);
  EXPECT_EQ(recs[1].line, 3);
  EXPECT_EQ(recs[1].index, 1);
  EXPECT_EQ(recs[1].error->rfind("line 3: ", 0), 0u) << *recs[1].error;
  EXPECT_TRUE(recs[1].fields.empty());
  ASSERT_TRUE(recs[2].error);
  EXPECT_EQ(*recs[2].error, "line 4: record is not a JSON object");
  EXPECT_FALSE(recs[3].error);
  EXPECT_EQ(recs[3].line, 5);
  expect_field(recs[3], "a", Kind::kNumber, "3");
  ASSERT_TRUE(recs[4].error) << "nested damage must be detected";
  EXPECT_EQ(recs[4].line, 7);
  EXPECT_FALSE(recs[5].error);
  EXPECT_EQ(recs[5].line, 8);
  EXPECT_EQ(recs[5].index, 5);
  expect_field(recs[5], "a", Kind::kNumber, "4");
  // the last line has no '\n' and is still read
  auto last = read_text("last.ndjson", "{\"a\": 1}\n{\"b\": \"z\"}", Format::kNdjson);
  ASSERT_EQ(last.size(), 2u);
  expect_field(last[1], "b", Kind::kString, "z");
}

TEST(IoNdjson, DuplicateKeyLastWinsAndTrailingContentIsAnError) {
  auto recs = read_text("dup.ndjson", "{\"a\": 1, \"b\": 2, \"a\": \"x\"}\n{\"a\": 1} 2\n{\"a\": 1}}\n", Format::kNdjson);
  ASSERT_EQ(recs.size(), 3u);
  ASSERT_EQ(recs[0].fields.size(), 2u);
  EXPECT_EQ(recs[0].fields[0].first, "a");
  expect_field(recs[0], "a", Kind::kString, "x");
  EXPECT_TRUE(recs[1].error);
  EXPECT_TRUE(recs[2].error);
}

TEST(IoNdjson, BomAndMissingFile) {
  auto recs = read_text("bom.ndjson", "\xEF\xBB\xBF{\"a\": 1}\n", Format::kNdjson);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_FALSE(recs[0].error);
  try {
    open_reader(::testing::TempDir() + "no/such/file.ndjson", Format::kNdjson);
    FAIL() << "expected Error(kIo)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("no/such/file.ndjson"), std::string::npos);
  }
}

TEST(IoJson, ArrayElementsWithLines) {
  auto recs = read_text("arr.json",
                        "[\n"
                        "  {\"Title\": \"A, [b]\", \"n\": 1.50},\n"
                        "  {\"Title\": \"q\\\"}\",\n"
                        "   \"n\": -2}\n"
                        "]\n",
                        Format::kJson);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].line, 2);
  EXPECT_EQ(recs[1].line, 3);
  EXPECT_EQ(recs[1].index, 1);
  expect_field(recs[0], "Title", Kind::kString, "A, [b]");
  expect_field(recs[0], "n", Kind::kNumber, "1.50");
  expect_field(recs[1], "Title", Kind::kString, "q\"}");
  expect_field(recs[1], "n", Kind::kNumber, "-2");
  EXPECT_TRUE(read_text("empty_arr.json", " [ ] \n", Format::kJson).empty());
}

TEST(IoJson, MalformedElementIsReportedAndScanningContinues) {
  auto recs = read_text("badel.json",
                        "[{\"a\": 1},\n"
                        " {\"a\" 2},\n"
                        " 7,\n"
                        " {\"a\": 3}}, {\"a\": 4},\n"
                        " {\"a\": 5}]",
                        Format::kJson);
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_FALSE(recs[0].error);
  ASSERT_TRUE(recs[1].error);
  EXPECT_EQ(recs[1].line, 2);
  EXPECT_EQ(recs[1].error->rfind("line 2: ", 0), 0u);
  ASSERT_TRUE(recs[2].error);
  EXPECT_EQ(*recs[2].error, "line 3: record is not a JSON object");
  EXPECT_TRUE(recs[3].error);  // stray '}'
  EXPECT_EQ(recs[3].line, 4);
  EXPECT_FALSE(recs[4].error);
  EXPECT_EQ(recs[4].line, 4);
  expect_field(recs[4], "a", Kind::kNumber, "4");
  EXPECT_FALSE(recs[5].error);
  EXPECT_EQ(recs[5].line, 5);
  expect_field(recs[5], "a", Kind::kNumber, "5");
}

TEST(IoJson, NotAnArrayIsOneErrorAndStop) {
  auto recs = read_text("obj.json", "{\"a\": 1}\n{\"a\": 2}\n", Format::kJson);
  ASSERT_EQ(recs.size(), 1u);
  ASSERT_TRUE(recs[0].error);
  EXPECT_EQ(recs[0].line, 1);
  auto garbage = read_text("garbage.json", "\n\nhello", Format::kJson);
  ASSERT_EQ(garbage.size(), 1u);
  EXPECT_EQ(garbage[0].line, 3);
  EXPECT_EQ(read_text("empty.json", "", Format::kJson).size(), 1u);
}

TEST(IoJson, TruncatedArray) {
  auto inside = read_text("trunc1.json", "[{\"a\": 1},\n {\"a\": \"unfinished", Format::kJson);
  ASSERT_EQ(inside.size(), 2u);
  EXPECT_FALSE(inside[0].error);
  ASSERT_TRUE(inside[1].error);
  EXPECT_EQ(inside[1].line, 2);
  EXPECT_NE(inside[1].error->find("missing ']'"), std::string::npos) << *inside[1].error;

  auto after = read_text("trunc2.json", "[{\"a\": 1}, {\"a\": 2}\n", Format::kJson);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_FALSE(after[1].error);
  ASSERT_TRUE(after[2].error);
  EXPECT_NE(after[2].error->find("missing ']'"), std::string::npos);

  auto trailing = read_text("trunc3.json", "[{\"a\": 1}] x", Format::kJson);
  ASSERT_EQ(trailing.size(), 2u);
  EXPECT_TRUE(trailing[1].error);
}

TEST(IoCsv, QuotedFieldsAndStartLines) {
  auto recs = read_text("q.csv",
                        "name,note,n\n"
                        "plain, spaced ,1\n"
                        "\"a,b\",\"say \"\"hi\"\"\",2\n"
                        "\"multi\nline\nvalue\",x,3\n"
                        "\n"
                        "last,,\n",
                        Format::kCsv);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].line, 2);
  EXPECT_EQ(recs[1].line, 3);
  EXPECT_EQ(recs[2].line, 4);
  EXPECT_EQ(recs[3].line, 8);
  EXPECT_EQ(recs[3].index, 3);
  expect_field(recs[0], "note", Kind::kString, " spaced ");
  expect_field(recs[0], "n", Kind::kString, "1");
  expect_field(recs[1], "name", Kind::kString, "a,b");
  expect_field(recs[1], "note", Kind::kString, "say \"hi\"");
  expect_field(recs[2], "name", Kind::kString, "multi\nline\nvalue");
  expect_field(recs[3], "note", Kind::kNull, "");
  expect_field(recs[3], "n", Kind::kNull, "");
  EXPECT_EQ(recs[0].fields[0].first, "name");
  EXPECT_EQ(recs[0].fields[2].first, "n");
}

TEST(IoCsv, CrlfBomAndWrongFieldCount) {
  auto recs = read_text("crlf.csv",
                        "\xEF\xBB\xBFzip_code,city\r\n"
                        "00501,Holtsville\r\n"
                        "1,2,3\r\n"
                        "\"x\r\ny\",z\r\n"
                        "only\r\n"
                        "02,w",
                        Format::kCsv);
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0].fields[0].first, "zip_code");
  expect_field(recs[0], "zip_code", Kind::kString, "00501");
  expect_field(recs[0], "city", Kind::kString, "Holtsville");
  ASSERT_TRUE(recs[1].error);
  EXPECT_EQ(*recs[1].error, "line 3: expected 2 fields, found 3");
  EXPECT_EQ(recs[1].line, 3);
  EXPECT_FALSE(recs[2].error);
  EXPECT_EQ(recs[2].line, 4);
  expect_field(recs[2], "zip_code", Kind::kString, "x\r\ny");
  expect_field(recs[2], "city", Kind::kString, "z");
  ASSERT_TRUE(recs[3].error);
  EXPECT_EQ(recs[3].line, 6);
  EXPECT_EQ(*recs[3].error, "line 6: expected 2 fields, found 1");
  EXPECT_EQ(recs[4].line, 7);
  expect_field(recs[4], "zip_code", Kind::kString, "02");
}

TEST(IoCsv, UnterminatedQuoteAndHeaderOnly) {
  auto recs = read_text("unterminated.csv", "a,b\n1,2\n3,\"open\n", Format::kCsv);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_FALSE(recs[0].error);
  ASSERT_TRUE(recs[1].error);
  EXPECT_EQ(recs[1].line, 3);
  EXPECT_TRUE(read_text("header.csv", "a,b\n", Format::kCsv).empty());
  EXPECT_TRUE(read_text("nothing.csv", "", Format::kCsv).empty());
}

// Readers hold one record at a time: reading 2 x 30 MB must not grow the peak RSS by more than a
// small fraction of that.
TEST(IoNdjson, BoundedMemoryOnLargeFiles) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Sanitizer allocators quarantine freed memory, so RSS measures them, not the reader.
  GTEST_SKIP() << "RSS bounds are measured in non-sanitizer builds";
#endif
  const std::string ndjson = ::testing::TempDir() + "eavdb_io_big_" + std::to_string(::getpid()) + ".ndjson";
  const std::string json = ::testing::TempDir() + "eavdb_io_big_" + std::to_string(::getpid()) + ".json";
  int64_t rows = 0;
  {
    std::FILE* a = std::fopen(ndjson.c_str(), "wb");
    std::FILE* b = std::fopen(json.c_str(), "wb");
    ASSERT_TRUE(a && b);
    std::fputs("[\n", b);
    const std::string pad(150, 'x');
    for (size_t bytes = 0; bytes < (size_t{30} << 20); ++rows) {
      const std::string line = "{\"id\": " + std::to_string(rows) + ", \"price\": 19.90, \"name\": \"item " + pad +
                               "\", \"tags\": [\"a\", \"b\"], \"ok\": true}";
      std::fputs(line.c_str(), a);
      std::fputc('\n', a);
      if (rows) std::fputs(",\n", b);
      std::fputs(line.c_str(), b);
      bytes += line.size() + 1;
    }
    std::fputs("\n]\n", b);
    std::fclose(a);
    std::fclose(b);
  }
  for (const auto& [path, format] : {std::pair{ndjson, Format::kNdjson}, std::pair{json, Format::kJson}}) {
    reset_peak_rss();
    const int64_t before = status_kib("VmRSS");
    ASSERT_GT(before, 0);
    const bool hwm_reset = status_kib("VmHWM") <= before + 1024;  // clear_refs worked
    int64_t max_rss = before;
    auto reader = open_reader(path, format);
    Record r;
    int64_t n = 0, errors = 0;
    while (reader->next(r)) {
      errors += r.error.has_value();
      if (++n % 2000 == 0) max_rss = std::max(max_rss, status_kib("VmRSS"));
    }
    EXPECT_EQ(n, rows);
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(r.line, format == Format::kNdjson ? rows : rows + 1);
    // Sampled RSS, and the kernel's high-water mark when clear_refs could reset it.
    if (hwm_reset) max_rss = std::max(max_rss, status_kib("VmHWM"));
    const int64_t growth_kib = max_rss - before;
    EXPECT_LT(growth_kib, 20 * 1024) << "peak RSS grew by " << growth_kib << " KiB";
    std::remove(path.c_str());
  }
}

}  // namespace
}  // namespace eavdb::io
