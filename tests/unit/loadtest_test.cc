// Unit tests of `eavdb loadtest` (src/loadtest): the histogram's layout and percentiles, the
// fixed-rate schedule's arithmetic, option parsing, and whole runs against a small in-test HTTP
// server (request counts and kinds, status errors, connect errors, coordinated-omission
// correction behind a stalled response). No assertion depends on how fast anything runs: the
// stall test only uses lower bounds that a slower machine makes larger, never smaller.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "eavdb/error.h"
#include "loadtest/histogram.h"
#include "loadtest/loadtest.h"

namespace eavdb::loadtest {
namespace {

using namespace std::chrono_literals;

// ---- histogram --------------------------------------------------------------------------------

TEST(LoadtestHistogram, SmallValuesAreExact) {
  for (uint64_t v : {0ull, 1ull, 2ull, 1000ull, 2047ull}) {
    EXPECT_EQ(Histogram::index_of(v), v);
    EXPECT_EQ(Histogram::lowest_of(Histogram::index_of(v)), v);
    EXPECT_EQ(Histogram::highest_of(Histogram::index_of(v)), v);
  }
}

TEST(LoadtestHistogram, LayoutIsContiguousAndWithinOnePartInAThousand) {
  // Every index covers [lowest, highest], the next index starts right after, and the bucket
  // width is at most 1/1024 of its lowest value (three significant digits).
  for (std::size_t i = 0; i < Histogram::index_of(Histogram::kMaxValue); ++i) {
    const uint64_t lo = Histogram::lowest_of(i), hi = Histogram::highest_of(i);
    ASSERT_LE(lo, hi);
    ASSERT_EQ(Histogram::lowest_of(i + 1), hi + 1) << "index " << i;
    ASSERT_EQ(Histogram::index_of(lo), i);
    ASSERT_EQ(Histogram::index_of(hi), i);
    if (lo >= 2048) {
      ASSERT_LE(hi - lo + 1, lo / 1024) << "index " << i;
    }
  }
  EXPECT_EQ(Histogram::index_of(4096), Histogram::index_of(4097));  // width 4 from 2^12 on
  EXPECT_NE(Histogram::index_of(4095), Histogram::index_of(4096));
}

TEST(LoadtestHistogram, PercentilesOfAUniformRange) {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 µs .. 100 ms in ns
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 100000000u);
  EXPECT_DOUBLE_EQ(h.mean(), 50000.5 * 1000);
  auto near = [](uint64_t got, double want) { return std::abs(static_cast<double>(got) - want) <= want / 1000.0; };
  EXPECT_TRUE(near(h.percentile(50), 50000e3)) << h.percentile(50);
  EXPECT_TRUE(near(h.percentile(90), 90000e3)) << h.percentile(90);
  EXPECT_TRUE(near(h.percentile(99), 99000e3)) << h.percentile(99);
  EXPECT_TRUE(near(h.percentile(99.9), 99900e3)) << h.percentile(99.9);
  EXPECT_EQ(h.percentile(100), h.max());
  // A percentile is never below the true value of that rank (highest equivalent value).
  EXPECT_GE(h.percentile(50), 50000000u);
}

TEST(LoadtestHistogram, RanksAreExactForFewValues) {
  Histogram h;
  h.record(5);
  h.record(7, 3);  // 5, 7, 7, 7
  h.record(1000000);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.percentile(0), 5u);
  EXPECT_EQ(h.percentile(20), 5u);   // rank 1
  EXPECT_EQ(h.percentile(21), 7u);   // rank 2
  EXPECT_EQ(h.percentile(80), 7u);   // rank 4
  EXPECT_EQ(h.percentile(80.1), 1000000u);  // rank 5, capped at the exact max
  EXPECT_EQ(h.buckets().size(), 3u);
}

TEST(LoadtestHistogram, EmptyMergeAndClamp) {
  Histogram a, b;
  EXPECT_EQ(a.percentile(99), 0u);
  EXPECT_EQ(a.min(), 0u);
  EXPECT_EQ(a.mean(), 0.0);
  a.record(10);
  b.record(30);
  b.record(Histogram::kMaxValue + 12345);  // clamped, not lost
  a.add(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.min(), 10u);
  EXPECT_EQ(a.max(), Histogram::kMaxValue);
  EXPECT_EQ(a.percentile(50), 30u);
}

// ---- schedule ---------------------------------------------------------------------------------

TEST(LoadtestSchedule, RequestsAreEvenlySpacedAndDealtRoundRobin) {
  const Schedule s(1000, 4, 10);  // 1 ms apart; connections 0..3
  EXPECT_EQ(s.offset(0), 0ns);
  EXPECT_EQ(s.offset(1), 1ms);
  EXPECT_EQ(s.offset(9), 9ms);
  EXPECT_EQ(s.global_index(0, 0), 0u);
  EXPECT_EQ(s.global_index(1, 0), 1u);
  EXPECT_EQ(s.global_index(1, 2), 9u);  // connection 1 sends requests 1, 5, 9
  EXPECT_TRUE(s.has(1, 2));
  EXPECT_FALSE(s.has(2, 2));             // 10 is past the end
  EXPECT_EQ(s.count_for(0), 3u);
  EXPECT_EQ(s.count_for(1), 3u);
  EXPECT_EQ(s.count_for(2), 2u);
  EXPECT_EQ(s.count_for(3), 2u);
  uint64_t sum = 0;
  for (int c = 0; c < 4; ++c) sum += s.count_for(c);
  EXPECT_EQ(sum, s.total());
  // Per connection the interval is connections / rate.
  EXPECT_EQ(s.offset(s.global_index(2, 1)) - s.offset(s.global_index(2, 0)), 4ms);
}

TEST(LoadtestSchedule, NoDriftOverLongRuns) {
  const Schedule s(3, 1, 1'000'000'000);  // 333,333.33 ns apart: rounding never accumulates
  EXPECT_EQ(s.offset(3), 1s);
  EXPECT_EQ(s.offset(3'000'000), 1'000'000s);
  EXPECT_EQ(s.offset(1), 333'333'333ns);
  EXPECT_EQ(s.offset(2), 666'666'666ns);
  const Schedule fast(1e6, 7, 100);
  EXPECT_EQ(fast.offset(123456789), 123456789us);
}

TEST(LoadtestSchedule, RequestsInAPeriod) {
  EXPECT_EQ(Schedule::requests_in(10, 1000), 10000u);
  EXPECT_EQ(Schedule::requests_in(0.1, 30), 3u);  // 2.9999999999999996 in doubles
  EXPECT_EQ(Schedule::requests_in(1, 2.5), 3u);   // a started interval is scheduled
  EXPECT_EQ(Schedule::requests_in(0, 1000), 0u);
  EXPECT_THROW(Schedule(0, 1, 1), Error);
  EXPECT_THROW(Schedule(10, 0, 1), Error);
}

// ---- options ----------------------------------------------------------------------------------

TEST(LoadtestOptions, MixParsesAndPicksByWeight) {
  Mix m = Mix::parse("get=80, query=15,put=5");
  EXPECT_EQ(m.total(), 100u);
  EXPECT_EQ(m.pick(0), Kind::kGet);
  EXPECT_EQ(m.pick(79), Kind::kGet);
  EXPECT_EQ(m.pick(80), Kind::kQuery);
  EXPECT_EQ(m.pick(94), Kind::kQuery);
  EXPECT_EQ(m.pick(95), Kind::kPut);
  EXPECT_EQ(m.to_string(), "get=80,query=15,put=5");
  m = Mix::parse("put=1");
  EXPECT_EQ(m.pick(0), Kind::kPut);
  EXPECT_EQ(m.to_string(), "put=1");
  for (const char* bad : {"", "get", "get=x", "get=-1", "post=3", "get=1,get=2", "get=0,query=0", "get=1,"}) {
    try {
      Mix::parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("--mix"), std::string::npos) << e.what();
    }
  }
}

TEST(LoadtestOptions, TargetsAndIdRanges) {
  Target t = Target::parse("http://127.0.0.1:8080");
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 8080);
  t = Target::parse("http://localhost/");
  EXPECT_EQ(t.host, "localhost");
  EXPECT_EQ(t.port, 80);
  t = Target::parse("http://[::1]:9000/v1");
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, 9000);
  for (const char* bad : {"https://127.0.0.1:1", "127.0.0.1:80", "http://:80", "http://h:0", "http://h:70000",
                          "http://h:8x", "http://h:", "http://[::1"})
    EXPECT_THROW(Target::parse(bad), Error) << bad;
  EXPECT_EQ(parse_id_range("1-3201"), (std::pair<int64_t, int64_t>{1, 3201}));
  EXPECT_EQ(parse_id_range("5..5"), (std::pair<int64_t, int64_t>{5, 5}));
  for (const char* bad : {"", "7", "0-5", "9-3", "a-b", "1-"}) EXPECT_THROW(parse_id_range(bad), Error) << bad;
}

TEST(LoadtestOptions, ValidateEnforcesBounds) {
  Options o;
  o.url = "http://127.0.0.1:1";
  EXPECT_NO_THROW(validate(o));
  auto refused = [&](auto change, const char* what) {
    Options x = o;
    change(x);
    try {
      validate(x);
      ADD_FAILURE() << "accepted " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused([](Options& x) { x.duration_s = 500; x.warmup_s = 101; }, "--max-duration");
  refused([](Options& x) { x.rate = 0; }, "--rate");
  refused([](Options& x) { x.connections = 0; }, "--connections");
  refused([](Options& x) { x.timeout_s = 0; }, "--timeout");
  refused([](Options& x) { x.max_requests = 0; }, "--max-requests");
  refused([](Options& x) { x.type = "a b"; }, "--type");
  refused([](Options& x) { x.mix = Mix::parse("put=1"); x.put_body = "[1]"; }, "--put-body");
}

TEST(LoadtestRun, RefusesNonLoopbackTargets) {
  Options o;
  o.url = "http://192.0.2.7:8080";  // TEST-NET-1: never contacted
  try {
    run(o);
    ADD_FAILURE() << "non-loopback target accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("--allow-remote"), std::string::npos) << e.what();
  }
}

// ---- whole runs against an in-test server ----------------------------------------------------

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

/// A blocking HTTP server on 127.0.0.1 (one thread per connection) that counts what it gets:
/// GET of id 7 → 404, every other request → 200; the `stall_at`-th request (1-based) waits
/// `stall` before answering.
class TestServer {
 public:
  explicit TestServer(int stall_at = 0, std::chrono::milliseconds stall = 0ms)
      : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)), stall_at_(stall_at), stall_(stall) {
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() {
    stop_ = true;
    {  // a blocking accept() does not notice close() from another thread: wake it with a connection
      net::io_context ioc;
      tcp::socket wake(ioc);
      beast::error_code ec;
      wake.connect(acceptor_.local_endpoint(), ec);
    }
    thread_.join();
    beast::error_code ec;
    acceptor_.close(ec);
    for (auto& t : sessions_) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

  std::mutex mu;
  std::map<std::string, int> methods;  // "GET" → count
  int not_found = 0, bad_auth = 0, bad_query_body = 0;
  std::atomic<int> requests{0};

 private:
  void accept_loop() {
    while (!stop_) {
      beast::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      sessions_.emplace_back([this, s = std::move(s)]() mutable { serve(std::move(s)); });
    }
  }
  void serve(tcp::socket s) {
    beast::flat_buffer buf;
    while (true) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(s, buf, req, ec);
      if (ec) return;
      const int n = ++requests;
      if (n == stall_at_) std::this_thread::sleep_for(stall_);
      http::response<http::string_body> res{http::status::ok, 11};
      {
        std::lock_guard lock(mu);
        ++methods[std::string(req.method_string())];
        if (req[http::field::authorization] != "Bearer secret") ++bad_auth;
        if (req.method() == http::verb::post &&
            (req.target() != "/v1/query" || req.body().find("\"sql\":\"SELECT * FROM movie WHERE id >= ? ORDER BY id LIMIT 10\",\"params\":[") != 1))
          ++bad_query_body;
        if (req.method() == http::verb::get && req.target() == "/v1/entities/movie/7") {
          res.result(http::status::not_found);
          ++not_found;
        }
      }
      res.body() = "{}";
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(s, res, ec);
      if (ec) return;
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  int stall_at_;
  std::chrono::milliseconds stall_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> sessions_;
};

TEST(LoadtestRun, SendsTheScheduleAndCountsKindsAndStatuses) {
  TestServer server;
  Options o;
  o.url = server.url();
  o.rate = 400;
  o.duration_s = 0.5;
  o.warmup_s = 0;
  o.connections = 4;
  o.threads = 2;
  o.timeout_s = 30;  // generous: a loaded CI machine must not turn into timeouts
  o.id_min = 1;
  o.id_max = 10;
  o.token = "secret";
  o.mix = Mix::parse("get=60,query=30,put=10");
  o.put_body = R"({"title":"x"})";
  const Report r = run(o);
  EXPECT_EQ(r.scheduled, 200u);
  EXPECT_EQ(r.completed, 200u);
  EXPECT_EQ(r.latency.count(), 200u);
  std::lock_guard lock(server.mu);
  EXPECT_EQ(server.requests.load(), 200);
  EXPECT_EQ(static_cast<uint64_t>(server.methods["GET"]), r.sent_by_kind[0]);
  EXPECT_EQ(static_cast<uint64_t>(server.methods["POST"]), r.sent_by_kind[1]);
  EXPECT_EQ(static_cast<uint64_t>(server.methods["PATCH"]), r.sent_by_kind[2]);
  EXPECT_GT(r.sent_by_kind[0], r.sent_by_kind[2]);  // 120 vs 20 expected: far apart for any seed
  EXPECT_GT(r.sent_by_kind[1], 0u);
  EXPECT_EQ(server.bad_auth, 0);
  EXPECT_EQ(server.bad_query_body, 0);
  const uint64_t e404 = r.errors.count("status_404") ? r.errors.at("status_404") : 0;
  EXPECT_EQ(e404, static_cast<uint64_t>(server.not_found));
  EXPECT_EQ(r.ok + e404, r.completed);
  EXPECT_EQ(r.error_count(), e404);
  // The JSON report carries the same figures.
  const std::string j = r.json();
  EXPECT_NE(j.find("\"scheduled\":200"), std::string::npos) << j;
  EXPECT_NE(j.find("\"mix\":\"get=60,query=30,put=10\""), std::string::npos) << j;
}

TEST(LoadtestRun, WarmupRequestsAreSentButNotRecorded) {
  TestServer server;
  Options o;
  o.url = server.url();
  o.rate = 200;
  o.warmup_s = 0.25;
  o.duration_s = 0.25;
  o.connections = 2;
  o.timeout_s = 30;
  const Report r = run(o);
  EXPECT_EQ(r.warmup_requests, 50u);
  EXPECT_EQ(r.scheduled, 50u);
  EXPECT_EQ(r.completed, 50u);
  EXPECT_EQ(server.requests.load(), 100);
}

TEST(LoadtestRun, MaxRequestsBoundsTheRun) {
  TestServer server;
  Options o;
  o.url = server.url();
  o.rate = 100;
  o.duration_s = 100;  // would be 10,000 requests
  o.warmup_s = 0;
  o.max_requests = 20;
  o.timeout_s = 30;
  const Report r = run(o);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.scheduled, 20u);
  EXPECT_EQ(server.requests.load(), 20);
}

TEST(LoadtestRun, LatencyIsMeasuredFromTheScheduledTime) {
  // One connection at 100/s; the server holds request 1 for 300 ms. Requests 2..31 were due
  // every 10 ms during the stall and could only be sent after it, so with the correction each
  // carries (300 - 10*(i-1)) ms or more of waiting: at least 20 requests ≥ 100 ms. Measured
  // from the actual send (coordinated omission), only the stalled request would be that slow.
  TestServer server(1, 300ms);
  Options o;
  o.url = server.url();
  o.rate = 100;
  o.duration_s = 0.5;
  o.warmup_s = 0;
  o.connections = 1;
  o.threads = 1;
  o.timeout_s = 30;
  const Report r = run(o);
  ASSERT_EQ(r.completed, 50u);
  uint64_t slow = 0;
  for (const auto& [v, n] : r.latency.buckets())
    if (v >= 100'000'000) slow += n;
  EXPECT_GE(slow, 20u);
  EXPECT_GE(r.latency.max(), 300'000'000u);
  EXPECT_GE(r.latency.percentile(50), 50'000'000u);  // request 26 of 50 was due at 250 ms, sent ≥ 300 ms
}

TEST(LoadtestRun, RefusedConnectionsAreConnectErrors) {
  uint16_t port = 0;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  Options o;
  o.url = "http://127.0.0.1:" + std::to_string(port);
  o.rate = 50;
  o.duration_s = 0.2;
  o.warmup_s = 0;
  o.connections = 2;
  o.timeout_s = 30;
  const Report r = run(o);
  EXPECT_EQ(r.scheduled, 10u);
  EXPECT_EQ(r.completed, 0u);
  ASSERT_TRUE(r.errors.count("connect")) << r.text();
  EXPECT_EQ(r.errors.at("connect"), 10u);
}

}  // namespace
}  // namespace eavdb::loadtest
