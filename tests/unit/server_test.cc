// Unit tests of the server's pure pieces: routing and targets, token hashing and the token table,
// the rate limiter, the metrics registry's Prometheus exposition, the compiled-in dashboard
// assets, the library's query deadline (QueryOptions::deadline) the server's time limit uses, and
// the I/O-thread fast path (Database::load_cached, Api::handle_cached) against the worker path.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <limits>

#include "eavdb/database.h"
#include "eavdb/error.h"
#include "eavdb/session.h"
#include "server/api.h"
#include "server/assets.h"
#include "server/bulk_stream.h"
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
  EXPECT_EQ(match_route("POST", "/v1/explain").route, Route::kExplain);
  EXPECT_EQ(match_route("GET", "/v1/explain").status, RouteMatch::Status::kMethodNotAllowed);
  EXPECT_EQ(match_route("GET", "/v1/metrics").route, Route::kTenantMetrics);
  EXPECT_EQ(match_route("GET", "/dashboard").route, Route::kDashboard);
  EXPECT_EQ(match_route("GET", "/dashboard/data").route, Route::kDashboardData);
  m = match_route("GET", "/dashboard/assets/dashboard.js");
  ASSERT_EQ(m.status, RouteMatch::Status::kFound);
  EXPECT_EQ(m.route, Route::kDashboardAsset);
  EXPECT_EQ(m.params, (std::vector<std::string>{"dashboard.js"}));
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

TEST(MonitorMetrics, ExposeOnlyKeepsOneLabelValue) {
  monitor::Registry r;
  r.counter("req_total", "R.", {{"route", "/q"}, {"tenant", "acme"}}).inc();
  r.counter("req_total", "R.", {{"route", "/q"}, {"tenant", "beta"}}).inc(2);
  r.counter("req_total", "R.", {{"route", "/q"}}).inc(5);  // no tenant label: never shown to a tenant
  r.gauge("beta_only", "B.", {{"tenant", "beta"}}).set(1);
  r.histogram("lat", "L.", {1.0}, {{"tenant", "acme"}}).observe(0.5);
  EXPECT_EQ(r.expose_only("tenant", "acme"),
            "# HELP lat L.\n"
            "# TYPE lat histogram\n"
            "lat_bucket{tenant=\"acme\",le=\"1\"} 1\n"
            "lat_bucket{tenant=\"acme\",le=\"+Inf\"} 1\n"
            "lat_sum{tenant=\"acme\"} 0.5\n"
            "lat_count{tenant=\"acme\"} 1\n"
            "# HELP req_total R.\n"
            "# TYPE req_total counter\n"
            "req_total{route=\"/q\",tenant=\"acme\"} 1\n");
  EXPECT_EQ(r.expose_only("tenant", "nobody"), "");
  EXPECT_EQ(r.counter_total("req_total"), 8);
  EXPECT_EQ(r.counter_total("req_total", "tenant", "b"), 2);
  EXPECT_EQ(r.counter_total("missing"), 0);
}

TEST(MonitorMetrics, BucketQuantileInterpolatesInsideTheBucket) {
  const std::vector<double> bounds{1, 2, 4};
  EXPECT_EQ(monitor::bucket_quantile(bounds, {0, 0, 0, 0}, 0.5), 0);    // no observations
  EXPECT_DOUBLE_EQ(monitor::bucket_quantile(bounds, {10, 0, 0, 0}, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(monitor::bucket_quantile(bounds, {0, 4, 4, 0}, 0.75), 3.0);  // rank 6: half into (2, 4]
  EXPECT_DOUBLE_EQ(monitor::bucket_quantile(bounds, {1, 0, 0, 9}, 0.99), 4.0);  // +Inf reports the top bound
}

TEST(ServerAssets, DashboardFilesAreCompiledIn) {
  const Asset* page = find_asset("dashboard.html");
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("/dashboard/assets/dashboard.js"), std::string_view::npos);
  const Asset* js = find_asset("dashboard.js");
  ASSERT_NE(js, nullptr);
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("/dashboard/data"), std::string_view::npos);
  EXPECT_EQ(find_asset("nope.js"), nullptr);
  EXPECT_EQ(find_asset("../dashboard.html"), nullptr);
}

// A body that arrives `piece` bytes at a time (a slow client, or a chunked upload).
class PiecewiseBody final : public BodyStream {
 public:
  PiecewiseBody(std::string data, size_t piece) : data_(std::move(data)), piece_(piece) {}
  bool read(std::string& out) override {
    if (pos_ >= data_.size()) return false;
    if (empty_turn_ = !empty_turn_; empty_turn_) return true;  // every other read brings nothing
    out.append(data_, pos_, piece_);
    pos_ += piece_;
    return true;
  }
  bool failed() const override { return false; }

 private:
  std::string data_;
  size_t piece_;
  size_t pos_ = 0;
  bool empty_turn_ = false;
};

std::vector<BatchRecord> drain(RecordSource& src) {
  std::vector<BatchRecord> out;
  BatchRecord r;
  while (src.next(r)) out.push_back(r);
  return out;
}

// Streamed parsing gives exactly what parsing the whole body at once gives: same records, same
// line numbers, same error texts, whatever the piece and chunk sizes.
TEST(ServerBulkStream, MatchesTheInMemoryReaderForAnyPieceSize) {
  EntityTypeDef type;
  type.code = "movie";
  AttributeDef title, year;
  title.code = title.label = "title";
  year.code = year.label = "year";
  year.type = ValueType::kInt;
  type.attributes = {title, year};
  const std::string body = std::string("{\"title\":\"a\",\"year\":1}\n\n{\"title\":\"b\",\"year\":\"x\"}\nnot json\n") +
                           "{\"title\":\"" + std::string(80, 'z') + "\"}\n" +  // over the 64-byte line limit
                           "  \n{\"id\":7,\"title\":\"c\"}\n{\"title\":\"" + std::string(100, 'y') + "\"}\n" +
                           "{\"title\":\"last, no newline\"}";
  auto whole = open_ndjson_record_source(body, &type, 64);
  const std::vector<BatchRecord> expected = drain(*whole);
  ASSERT_EQ(expected.size(), 7u);
  for (size_t piece : {1u, 3u, 7u, 64u, 1000u}) {
    for (size_t chunk : {1u, 50u, 1u << 20}) {
      PiecewiseBody in(body, piece);
      StreamedNdjsonSource src(in, &type, 64, chunk);
      const std::vector<BatchRecord> got = drain(src);
      ASSERT_EQ(got.size(), expected.size()) << "piece " << piece << ", chunk " << chunk;
      for (size_t i = 0; i < got.size(); ++i) {
        SCOPED_TRACE(testing::Message() << "piece " << piece << ", chunk " << chunk << ", record " << i);
        EXPECT_EQ(got[i].line, expected[i].line);
        EXPECT_EQ(got[i].id, expected[i].id);
        EXPECT_EQ(got[i].error, expected[i].error);
        EXPECT_EQ(got[i].error_field, expected[i].error_field);
        EXPECT_EQ(got[i].values, expected[i].values);
      }
      EXPECT_EQ(src.bytes_read(), body.size());
    }
  }
}

// A body that delivers `data`, then fails (a stalled or lost client) instead of ending.
class FailingBody final : public BodyStream {
 public:
  explicit FailingBody(std::string data) : data_(std::move(data)) {}
  bool read(std::string& out) override {
    if (done_) return false;
    done_ = true;
    out += data_;
    return true;
  }
  bool failed() const override { return done_; }
  std::string failure() const override { return "stalled"; }

 private:
  std::string data_;
  bool done_ = false;
};

// A body cut off in the middle of a line: the complete lines are records, the cut-off one is not
// (it is not what the client sent: parsing it would reject or, worse, store a truncated record)
// and its number is reported. A body that ends normally keeps its unterminated last line.
TEST(ServerBulkStream, ALineCutOffByAFailedBodyIsNotARecord) {
  EntityTypeDef type;
  type.code = "movie";
  AttributeDef title;
  title.code = title.label = "title";
  type.attributes = {title};
  FailingBody cut("{\"title\":\"a\"}\nnot json\n{\"title\":\"b\"}\n{\"title\":\"c\"}");  // complete JSON, no newline
  StreamedNdjsonSource src(cut, &type, 1024);
  const std::vector<BatchRecord> got = drain(src);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_FALSE(got[0].error);
  EXPECT_TRUE(got[1].error);
  EXPECT_EQ(got[2].line, 3);
  EXPECT_FALSE(got[2].error);
  EXPECT_EQ(src.dropped_line(), 4);
  PiecewiseBody whole("{\"title\":\"a\"}\n{\"title\":\"c\"}", 5);
  StreamedNdjsonSource ok(whole, &type, 1024);
  EXPECT_EQ(drain(ok).size(), 2u);
  EXPECT_EQ(ok.dropped_line(), 0);
}

// ---- the I/O-thread fast path ---------------------------------------------------------------------

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void define_movie(Database& db) {
  EntityTypeDef t;
  t.code = t.label = "movie";
  AttributeDef title;
  title.code = title.label = "title";
  title.type = ValueType::kVarchar;
  AttributeDef year;
  year.code = year.label = "year";
  year.type = ValueType::kInt;
  t.attributes = {title, year};
  db.define_type(t);
}

int64_t create_movie(Database& db, const std::string& title, int64_t year) {
  Session s = db.session();
  Entity& e = s.create("movie");
  e.set("title", title);
  e.set("year", year);
  s.flush();
  return e.id();
}

void set_year(Database& db, int64_t id, int64_t year) {
  Session s = db.session();
  Entity* e = s.find("movie", id);
  ASSERT_NE(e, nullptr);
  e->set("year", year);
  s.flush();
}

TEST(LoadCached, AnswersOnlyFromACoherentCache) {
  const auto dir = fresh_dir("eavdb_load_cached");
  const std::string path = (dir / "c.db").string();
  auto db = Database::open(path);
  define_movie(*db);
  const int64_t id = create_movie(*db, "Alien", 1979);

  EXPECT_FALSE(db->load_cached("movie", id + 100));  // never loaded
  EXPECT_FALSE(db->load_cached("nosuchtype", id));   // unknown type: no catalog reload
  EXPECT_FALSE(db->load_cached("movie", id));        // not in L2 yet
  ASSERT_TRUE(db->load("movie", {id})[0]);           // fills L2 and applies the log
  auto hit = db->load_cached("movie", id);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->record.version, 1);
  EXPECT_EQ(hit->type->code, "movie");
  db->load("movie", {id + 100});                     // a cached "no such entity" is not a hit
  EXPECT_FALSE(db->load_cached("movie", id + 100));

  // A commit of this process: its answer is never the old version.
  set_year(*db, id, 1980);
  if (auto h = db->load_cached("movie", id)) {
    EXPECT_EQ(h->record.version, 2);
  }
  ASSERT_EQ(db->load("movie", {id})[0]->version, 2);
  hit = db->load_cached("movie", id);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->record.version, 2);

  // A commit through another Database on the same file (its own connections and caches, as
  // another process would have): this one's L2 still holds version 2, so the only correct
  // cache-only answer is none until load() has read the invalidation log.
  {
    auto other = Database::open(path);
    set_year(*other, id, 1981);
  }
  EXPECT_FALSE(db->load_cached("movie", id));
  ASSERT_EQ(db->load("movie", {id})[0]->version, 3);
  hit = db->load_cached("movie", id);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->record.version, 3);
  const int64_t year_attr = hit->type->find("year")->id;
  bool saw_year = false;
  for (const auto& [attr, value] : hit->record.values)
    if (attr == year_attr) {
      saw_year = true;
      EXPECT_EQ(std::get<int64_t>(value), 1981);
    }
  EXPECT_TRUE(saw_year);

  Options off;
  off.cache.enabled = false;
  auto uncached = Database::open(path, off);
  uncached->load("movie", {id});
  EXPECT_FALSE(uncached->load_cached("movie", id));  // no cache: always "ask load()"
  db.reset();
  uncached.reset();
  std::filesystem::remove_all(dir);
}

Request get_request(const std::string& target, const std::string& token = "") {
  Request req{http::verb::get, target, 11};
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.keep_alive(true);
  return req;
}

TEST(ApiFastPath, AnswersLikeTheWorkerPathAndSeesEveryCommit) {
  const auto dir = fresh_dir("eavdb_api_fast");
  const std::string path = (dir / "a.db").string();
  Database::open(path);  // creates and migrates the file
  std::string token, doomed;
  int64_t doomed_id = 0;
  {
    TokenStore store(path);
    token = store.create("acme", Role::kRead).second;
    auto [info, t] = store.create("acme", Role::kRead);
    doomed = t;
    doomed_id = info.id;
  }
  int64_t id = 0;
  {
    Options o;
    o.tenant = "acme";
    auto db = Database::open(path, o);
    define_movie(*db);
    id = create_movie(*db, "Alien", 1979);
  }
  ServerOptions so;
  so.db_url = path;
  so.rate_limit = 0.001;  // no refill during the test: the bucket counts requests exactly
  so.rate_burst = 1000;
  monitor::Registry metrics;
  Api api(so, metrics);
  const std::string target = "/v1/entities/movie/" + std::to_string(id);
  std::string route;

  // Unknown token, unopened tenant, nothing cached: the fast path declines.
  EXPECT_FALSE(api.handle_cached(get_request(target, token), route));
  const Response slow = api.handle(get_request(target, token), route);
  ASSERT_EQ(slow.result_int(), 200u) << slow.body();
  auto fast = api.handle_cached(get_request(target, token), route);
  ASSERT_TRUE(fast);
  EXPECT_EQ(route, "/v1/entities/{type}/{id}");
  EXPECT_EQ(fast->result_int(), 200u);
  EXPECT_EQ(fast->body(), slow.body());
  EXPECT_EQ(fast->at(http::field::etag), slow.at(http::field::etag));
  EXPECT_EQ(fast->at(http::field::content_type), slow.at(http::field::content_type));

  // ETag / If-None-Match as on the worker path.
  auto conditional = get_request(target, token);
  conditional.set(http::field::if_none_match, "\"1\"");
  fast = api.handle_cached(conditional, route);
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->result_int(), 304u);
  EXPECT_EQ(fast->at(http::field::etag), "\"1\"");
  conditional.set(http::field::if_none_match, "xyz");
  EXPECT_FALSE(api.handle_cached(conditional, route));  // the worker's 400
  EXPECT_EQ(api.handle(conditional, route).result_int(), 400u);

  // Other methods, routes, tenants and tokens are the worker's.
  auto patch = get_request(target, token);
  patch.method(http::verb::patch);
  EXPECT_FALSE(api.handle_cached(patch, route));
  EXPECT_FALSE(api.handle_cached(get_request("/v1/types", token), route));
  EXPECT_FALSE(api.handle_cached(get_request(target), route));
  EXPECT_FALSE(api.handle_cached(get_request(target, token + "0"), route));

  // A commit by another process on the same file: the fast path never answers the old version.
  {
    Options o;
    o.tenant = "acme";
    auto writer = Database::open(path, o);
    set_year(*writer, id, 1980);
  }
  fast = api.handle_cached(get_request(target, token), route);
  if (fast) {
    EXPECT_NE(fast->at(http::field::etag), "\"1\"");
  }
  ASSERT_EQ(api.handle(get_request(target, token), route).at(http::field::etag), "\"2\"");
  fast = api.handle_cached(get_request(target, token), route);
  ASSERT_TRUE(fast);  // the worker re-read the token and the log: the fast path is back
  EXPECT_EQ(fast->at(http::field::etag), "\"2\"");
  EXPECT_NE(fast->body().find("\"year\":1980"), std::string::npos) << fast->body();

  // A token revoked by another connection stops working on the fast path at once.
  ASSERT_EQ(api.handle(get_request(target, doomed), route).result_int(), 200u);
  ASSERT_TRUE(api.handle_cached(get_request(target, doomed), route));
  {
    TokenStore other(path);
    ASSERT_TRUE(other.revoke(doomed_id));
  }
  fast = api.handle_cached(get_request(target, doomed), route);
  EXPECT_FALSE(fast && fast->result_int() == 200u);
  EXPECT_EQ(api.handle(get_request(target, doomed), route).result_int(), 401u);
  EXPECT_FALSE(api.handle_cached(get_request(target, doomed), route));

  // Metrics: both paths count the tenant's requests in the same series.
  const std::string text = metrics.expose_only("tenant", "acme");
  EXPECT_NE(text.find("eavdb_tenant_requests_total{route=\"/v1/entities/{type}/{id}\",status=\"304\",tenant=\"acme\"} 1"),
            std::string::npos)
      << text;
  std::filesystem::remove_all(dir);
}

TEST(ApiFastPath, SharesTheRateLimitWithTheWorkerPath) {
  const auto dir = fresh_dir("eavdb_api_limit");
  const std::string path = (dir / "l.db").string();
  Database::open(path);
  std::string token;
  {
    TokenStore store(path);
    token = store.create("default", Role::kRead).second;
  }
  int64_t id = 0;
  {
    auto db = Database::open(path);
    define_movie(*db);
    id = create_movie(*db, "Heat", 1995);
  }
  ServerOptions so;
  so.db_url = path;
  so.rate_limit = 0.001;  // ~no refill: exactly `burst` requests pass
  so.rate_burst = 3;
  monitor::Registry metrics;
  Api api(so, metrics);
  const std::string target = "/v1/entities/movie/" + std::to_string(id);
  std::string route;
  EXPECT_EQ(api.handle(get_request(target, token), route).result_int(), 200u);  // 1
  auto fast = api.handle_cached(get_request(target, token), route);            // 2
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->result_int(), 200u);
  fast = api.handle_cached(get_request(target, token), route);  // 3
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->result_int(), 200u);
  fast = api.handle_cached(get_request(target, token), route);  // 4: refused here
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->result_int(), 429u);
  EXPECT_FALSE(fast->at(http::field::retry_after).empty());
  EXPECT_NE(fast->body().find("\"code\":\"rate_limited\""), std::string::npos);
  EXPECT_EQ(api.handle(get_request(target, token), route).result_int(), 429u);  // and there
  std::filesystem::remove_all(dir);
}


// ---- per-tenant request counts --------------------------------------------------------------------

Request json_request(http::verb verb, const std::string& target, const std::string& body, const std::string& token) {
  Request req{verb, target, 11};
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(true);
  return req;
}

// A streamed body nobody reads and a response nobody sends: handle_stream's refusals need neither.
class NoBody final : public BodyStream, public ResponseStream {
 public:
  bool read(std::string&) override { return false; }
  bool failed() const override { return false; }
  void start(Response) override { started = true; }
  void write(std::string piece) override { written += piece; }
  bool started = false;
  std::string written;
};

// A request authenticated as a tenant's token is counted for that tenant whatever the answer:
// a role refusal (403, on the buffered and the streamed path) and a rate-limit refusal (429)
// included. A request without a valid token (401) names no tenant and is counted for none.
TEST(ServerTenantMetrics, CountsForbiddenAndLimitedRequestsForTheTokensTenant) {
  const auto dir = fresh_dir("eavdb_tenant_403");
  const std::string path = (dir / "t.db").string();
  Database::open(path);
  std::string reader, writer;
  {
    TokenStore store(path);
    reader = store.create("acme", Role::kRead).second;
    writer = store.create("acme", Role::kWrite).second;
  }
  {
    Options o;
    o.tenant = "acme";
    auto db = Database::open(path, o);
    define_movie(*db);
  }
  ServerOptions so;
  so.db_url = path;
  so.rate_limit = 0.001;  // ~no refill: each token's bucket holds exactly 3 requests
  so.rate_burst = 3;
  monitor::Registry metrics;
  Api api(so, metrics);
  std::string route;
  const std::string movie = R"({"title":"Alien","year":1979})";
  EXPECT_EQ(api.handle(json_request(http::verb::post, "/v1/entities/movie", movie, reader), route).result_int(), 403u);
  EXPECT_EQ(api.handle(json_request(http::verb::post, "/v1/types", R"({"code":"x","attributes":[]})", writer), route)
                .result_int(),
            403u);
  NoBody stream;
  auto refused = api.handle_stream(json_request(http::verb::post, "/v1/bulk/movie?op=insert", "", reader), stream,
                                   stream, route);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 403u);
  EXPECT_FALSE(stream.started);
  EXPECT_EQ(api.handle(get_request("/v1/types", reader), route).result_int(), 200u);
  EXPECT_EQ(api.handle(get_request("/v1/types", reader), route).result_int(), 429u);  // the 4th of 3
  EXPECT_EQ(api.handle(get_request("/v1/types"), route).result_int(), 401u);
  EXPECT_EQ(api.handle(get_request("/v1/types", reader + "0"), route).result_int(), 401u);

  const std::string acme = metrics.expose_only("tenant", "acme");
  for (const char* series : {"{route=\"/v1/entities/{type}\",status=\"403\",tenant=\"acme\"} 1",
                             "{route=\"/v1/types\",status=\"403\",tenant=\"acme\"} 1",
                             "{route=\"/v1/bulk/{type}\",status=\"403\",tenant=\"acme\"} 1",
                             "{route=\"/v1/types\",status=\"200\",tenant=\"acme\"} 1",
                             "{route=\"/v1/types\",status=\"429\",tenant=\"acme\"} 1"})
    EXPECT_NE(acme.find(std::string("eavdb_tenant_requests_total") + series), std::string::npos) << series << "\n" << acme;
  // The tenant's own view (GET /v1/metrics) shows the same series to the tenant's token.
  const Response own = api.handle(get_request("/v1/metrics", writer), route);
  ASSERT_EQ(own.result_int(), 200u);
  EXPECT_NE(own.body().find("status=\"403\",tenant=\"acme\""), std::string::npos) << own.body();
  const std::string all = metrics.expose();
  EXPECT_EQ(all.find("status=\"401\",tenant="), std::string::npos) << all;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace eavdb::server
