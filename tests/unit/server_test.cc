// Unit tests of the server's pure pieces: routing and targets, token hashing and the token table,
// the rate limiter, and the metrics registry's Prometheus exposition.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <limits>

#include "eavdb/database.h"
#include "eavdb/error.h"
#include "monitor/metrics.h"
#include "server/rate_limiter.h"
#include "server/router.h"
#include "server/tokens.h"

namespace eavdb::server {
namespace {

TEST(ServerRouter, MatchesRoutesAndParameters) {
  auto m = match_route("GET", "/v1/entities/movie/42");
  ASSERT_EQ(m.status, RouteMatch::Status::kFound);
  EXPECT_EQ(m.route, Route::kEntity);
  EXPECT_EQ(m.pattern, "/v1/entities/{type}/{id}");
  EXPECT_EQ(m.params, (std::vector<std::string>{"movie", "42"}));

  m = match_route("POST", "/v1/types/movie/attributes");
  ASSERT_EQ(m.status, RouteMatch::Status::kFound);
  EXPECT_EQ(m.route, Route::kTypeAttributes);
  EXPECT_EQ(m.params, (std::vector<std::string>{"movie"}));

  EXPECT_EQ(match_route("GET", "/healthz").route, Route::kHealthz);
  EXPECT_EQ(match_route("POST", "/v1/bulk/item").route, Route::kBulk);
}

TEST(ServerRouter, RejectsUnknownPathsAndMethods) {
  EXPECT_EQ(match_route("GET", "/v1/nothing").status, RouteMatch::Status::kNoRoute);
  EXPECT_EQ(match_route("GET", "/v1/types/").status, RouteMatch::Status::kNoRoute);       // empty parameter
  EXPECT_EQ(match_route("GET", "/v1/entities//1").status, RouteMatch::Status::kNoRoute);  // empty parameter
  EXPECT_EQ(match_route("GET", "").status, RouteMatch::Status::kNoRoute);
  auto m = match_route("DELETE", "/v1/types");
  EXPECT_EQ(m.status, RouteMatch::Status::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, POST");
  m = match_route("POST", "/v1/entities/movie/1");
  EXPECT_EQ(m.status, RouteMatch::Status::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, PATCH, PUT, DELETE");
}

TEST(ServerRouter, ParsesTargets) {
  auto t = parse_target("/v1/entities/m%6Fvie?ids=1,2%2C3&op=a+b&flag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/v1/entities/movie");
  EXPECT_EQ(t->param("ids"), "1,2,3");
  EXPECT_EQ(t->param("op"), "a b");
  EXPECT_EQ(t->param("flag"), "");
  EXPECT_FALSE(t->param("missing"));
  EXPECT_FALSE(parse_target("v1/types"));
  EXPECT_FALSE(parse_target("/v1/%zz"));
  EXPECT_FALSE(parse_target("/v1/%4"));
  EXPECT_FALSE(parse_target("/v1/a%00b"));
  EXPECT_FALSE(parse_target("/v1?x=%"));
}

TEST(ServerTokens, HashesWithSha256) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ServerTokens, GeneratesDistinctWellFormedTokens) {
  const std::string a = generate_token(), b = generate_token();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 6u + 64u);
  EXPECT_EQ(a.substr(0, 6), "eavdb_");
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 6), std::string::npos);
  EXPECT_EQ(parse_role("write"), Role::kWrite);
  EXPECT_FALSE(parse_role("root"));
}

TEST(ServerTokens, StoresOnlyHashesAndRevokes) {
  const auto dir = std::filesystem::temp_directory_path() / ("eavdb_tokens_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "t.db").string();
  Database::open(path);  // creates and migrates the file
  TokenStore store(path);
  auto [info, token] = store.create("acme", Role::kWrite);
  EXPECT_GT(info.id, 0);
  auto found = store.authenticate(token);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->tenant, "acme");
  EXPECT_EQ(found->role, Role::kWrite);
  EXPECT_FALSE(store.authenticate(token + "0"));
  EXPECT_FALSE(store.authenticate(""));
  EXPECT_THROW(store.create("Not A Code", Role::kRead), Error);

  {
    TokenStore other(path);  // a second connection sees the same rows
    ASSERT_EQ(other.list().size(), 1u);
  }
  EXPECT_TRUE(store.revoke(info.id));
  EXPECT_FALSE(store.revoke(info.id));
  EXPECT_FALSE(store.revoke(9999));
  EXPECT_FALSE(store.authenticate(token));
  ASSERT_EQ(store.list().size(), 1u);
  EXPECT_TRUE(store.list()[0].revoked_at.has_value());
  std::filesystem::remove_all(dir);
}

TEST(ServerRateLimiter, TokenBucketRefillsAtItsRate) {
  TokenBucket b(2.0, 3.0, 100.0);  // 2 per second, burst 3
  EXPECT_TRUE(b.try_take(100.0));
  EXPECT_TRUE(b.try_take(100.0));
  EXPECT_TRUE(b.try_take(100.0));
  EXPECT_FALSE(b.try_take(100.0));
  EXPECT_DOUBLE_EQ(b.wait_seconds(100.0), 0.5);
  EXPECT_FALSE(b.try_take(100.25));  // half a token
  EXPECT_TRUE(b.try_take(100.5));    // one token
  EXPECT_FALSE(b.try_take(100.5));
  EXPECT_TRUE(b.try_take(200.0));  // refilled to the burst, not beyond
  EXPECT_TRUE(b.try_take(200.0));
  EXPECT_TRUE(b.try_take(200.0));
  EXPECT_FALSE(b.try_take(200.0));
}

TEST(ServerRateLimiter, LimitsEachKeySeparately) {
  RateLimiter rl(1.0, 2.0);
  int64_t retry = 0;
  EXPECT_TRUE(rl.allow("a", 10.0, retry));
  EXPECT_TRUE(rl.allow("a", 10.0, retry));
  EXPECT_FALSE(rl.allow("a", 10.0, retry));
  EXPECT_EQ(retry, 1);
  EXPECT_TRUE(rl.allow("b", 10.0, retry));  // another token has its own bucket
  EXPECT_TRUE(rl.allow("a", 11.0, retry));
  RateLimiter slow(0.1, 1.0);
  EXPECT_TRUE(slow.allow("a", 0.0, retry));
  EXPECT_FALSE(slow.allow("a", 0.0, retry));
  EXPECT_EQ(retry, 10);  // whole seconds until the next token
  RateLimiter off(0.0, 1.0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(off.allow("a", 0.0, retry));
}

TEST(MonitorMetrics, ExposesPrometheusTextFormat) {
  monitor::Registry r;
  r.counter("http_requests_total", "Requests.", {{"route", "/v1/x"}, {"status", "200"}}).inc();
  r.counter("http_requests_total", "Requests.", {{"route", "/v1/x"}, {"status", "200"}}).inc(2);
  r.counter("http_requests_total", "Requests.", {{"route", "a\"b\\c\nd"}, {"status", "500"}}).inc();
  r.gauge("temperature", "A gauge.").set(-1.5);
  auto& h = r.histogram("latency_seconds", "Latency.", {0.125, 1.0});
  h.observe(0.0625);
  h.observe(0.125);  // upper bounds are inclusive
  h.observe(0.5);
  h.observe(7);
  EXPECT_EQ(r.expose(),
            "# HELP http_requests_total Requests.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{route=\"/v1/x\",status=\"200\"} 3\n"
            "http_requests_total{route=\"a\\\"b\\\\c\\nd\",status=\"500\"} 1\n"
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{le=\"0.125\"} 2\n"
            "latency_seconds_bucket{le=\"1\"} 3\n"
            "latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "latency_seconds_sum 7.6875\n"
            "latency_seconds_count 4\n"
            "# HELP temperature A gauge.\n"
            "# TYPE temperature gauge\n"
            "temperature -1.5\n");
}

TEST(MonitorMetrics, RejectsBadNamesAndTypeClashes) {
  monitor::Registry r;
  EXPECT_THROW(r.counter("1abc", "x"), std::invalid_argument);
  EXPECT_THROW(r.counter("a-b", "x"), std::invalid_argument);
  r.counter("dual", "x");
  EXPECT_THROW(r.gauge("dual", "x"), std::invalid_argument);
  r.counter("neg", "x").inc(-5);  // counters never go down
  EXPECT_EQ(r.counter("neg", "x").value(), 0);
}

TEST(MonitorMetrics, CollectorsRunBeforeExposition) {
  monitor::Registry r;
  int runs = 0;
  r.add_collector([&](monitor::Registry& reg) { reg.gauge("sampled", "s").set(++runs); });
  EXPECT_NE(r.expose().find("sampled 1\n"), std::string::npos);
  EXPECT_NE(r.expose().find("sampled 2\n"), std::string::npos);
  EXPECT_EQ(monitor::format_sample_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_GT(monitor::process_rss_bytes(), 0u);
  EXPECT_GE(monitor::process_cpu_seconds(), 0.0);
}

}  // namespace
}  // namespace eavdb::server
