// io readers over memory (HTTP request bodies): NDJSON with a line limit, one JSON object, one
// JSON array of values.
#include <gtest/gtest.h>

#include "io/io.h"

namespace eavdb::io {
namespace {

TEST(IoMemory, NdjsonFromMemoryWithLineLimit) {
  std::string long_line = "{\"a\":\"" + std::string(100, 'x') + "\"}";
  auto r = open_ndjson_memory_reader("{\"a\":1}\n\n" + long_line + "\n{\"a\":2.50}\nnope", 64);
  Record rec;
  ASSERT_TRUE(r->next(rec));
  ASSERT_FALSE(rec.error);
  ASSERT_EQ(rec.fields.size(), 1u);
  EXPECT_EQ(rec.fields[0].second.text, "1");
  ASSERT_TRUE(r->next(rec));  // the blank line is skipped
  EXPECT_EQ(rec.line, 3);
  ASSERT_TRUE(rec.error);
  EXPECT_EQ(*rec.error, "line 3: record is longer than 64 bytes");
  ASSERT_TRUE(r->next(rec));
  ASSERT_FALSE(rec.error);
  EXPECT_EQ(rec.fields[0].second.kind, RawField::Kind::kNumber);
  EXPECT_EQ(rec.fields[0].second.text, "2.50");
  ASSERT_TRUE(r->next(rec));
  EXPECT_TRUE(rec.error);  // "nope" is not JSON
  EXPECT_FALSE(r->next(rec));
  EXPECT_FALSE(open_ndjson_memory_reader("")->next(rec));
}

TEST(IoMemory, ParsesOneObject) {
  Record rec;
  EXPECT_FALSE(parse_json_object(R"({"t":"x","n":19.90,"o":{"k":[1, 2]},"z":null})", rec));
  ASSERT_EQ(rec.fields.size(), 4u);
  EXPECT_EQ(rec.fields[1].second.text, "19.90");
  EXPECT_EQ(rec.fields[2].second.kind, RawField::Kind::kJson);
  EXPECT_EQ(rec.fields[2].second.text, R"({"k":[1,2]})");
  EXPECT_EQ(rec.fields[3].second.kind, RawField::Kind::kNull);
  EXPECT_TRUE(parse_json_object("[1]", rec));
  EXPECT_TRUE(parse_json_object("{\"a\":1} trailing", rec));
  EXPECT_TRUE(parse_json_object(std::string(5000, '{'), rec));
}

TEST(IoMemory, ParsesAnArrayOfValues) {
  std::vector<RawField> v;
  EXPECT_FALSE(parse_json_array(R"([1, "s", 2.50, true, null, [3]])", v));
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v[0].kind, RawField::Kind::kNumber);
  EXPECT_EQ(v[1].text, "s");
  EXPECT_EQ(v[2].text, "2.50");
  EXPECT_EQ(v[3].kind, RawField::Kind::kBool);
  EXPECT_EQ(v[4].kind, RawField::Kind::kNull);
  EXPECT_EQ(v[5].text, "[3]");
  EXPECT_EQ(parse_json_array("{}", v), std::optional<std::string>("not a JSON array"));
  EXPECT_TRUE(v.empty());
  EXPECT_TRUE(parse_json_array("[1,", v));
}

}  // namespace
}  // namespace eavdb::io
