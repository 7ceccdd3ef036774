#include "loadtest/loadtest.h"

#include <sys/resource.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <thread>

#include "eavdb/error.h"

namespace eavdb::loadtest {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<uint64_t>(ch - '0');
  }
  out = v;
  return true;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kGet: return "get";
    case Kind::kQuery: return "query";
    case Kind::kPut: return "put";
  }
  return "?";
}

// ---- Mix --------------------------------------------------------------------------------------

Mix Mix::parse(const std::string& text) {
  Mix m;
  m.weight[0] = m.weight[1] = m.weight[2] = 0;
  bool seen[kKinds] = {false, false, false};
  std::string_view rest = text;
  if (trim(rest).empty()) invalid("--mix: empty (expected e.g. get=80,query=15,put=5)");
  while (true) {
    const auto comma = rest.find(',');
    const std::string item = trim(rest.substr(0, comma));
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      invalid(fmt::format("--mix: item '{}' is not kind=weight (kinds: get, query, put)", item));
    const std::string name = trim(std::string_view(item).substr(0, eq));
    const std::string value = trim(std::string_view(item).substr(eq + 1));
    int k = name == "get" ? 0 : name == "query" ? 1 : name == "put" ? 2 : -1;
    if (k < 0) invalid(fmt::format("--mix: unknown kind '{}' (kinds: get, query, put)", name));
    if (seen[k]) invalid(fmt::format("--mix: kind '{}' given twice", name));
    seen[k] = true;
    uint64_t w = 0;
    if (!parse_u64(value, w) || w > 1'000'000)
      invalid(fmt::format("--mix: weight of '{}' must be an integer 0..1000000, got '{}'", name, value));
    m.weight[k] = static_cast<uint32_t>(w);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (m.total() == 0) invalid("--mix: every weight is 0");
  return m;
}

Kind Mix::pick(uint64_t u) const {
  if (u < weight[0]) return Kind::kGet;
  if (u < uint64_t{weight[0]} + weight[1]) return Kind::kQuery;
  return Kind::kPut;
}

std::string Mix::to_string() const {
  std::string s;
  for (int k = 0; k < kKinds; ++k)
    if (weight[k]) s += fmt::format("{}{}={}", s.empty() ? "" : ",", kind_name(static_cast<Kind>(k)), weight[k]);
  return s;
}

// ---- Schedule ---------------------------------------------------------------------------------

Schedule::Schedule(double rate, int connections, uint64_t total)
    : rate_(rate), connections_(connections), total_(total) {
  if (!(rate > 0) || !std::isfinite(rate)) invalid("rate must be a positive number");
  if (connections < 1) invalid("connections must be at least 1");
}

std::chrono::nanoseconds Schedule::offset(uint64_t k) const {
  return std::chrono::nanoseconds(static_cast<int64_t>(std::floor(static_cast<long double>(k) * 1e9L / rate_)));
}

uint64_t Schedule::count_for(int c) const {
  const auto cu = static_cast<uint64_t>(c);
  if (cu >= total_) return 0;
  return (total_ - cu + connections_ - 1) / connections_;
}

uint64_t Schedule::requests_in(double seconds, double rate) {
  if (seconds <= 0) return 0;
  const long double exact = static_cast<long double>(seconds) * rate;
  const long double r = std::round(exact);
  // 10 s at 1000/s is 10,000 requests even when the product is 9999.9999999.
  return static_cast<uint64_t>(std::fabs(exact - r) < 1e-6L ? r : std::ceil(exact));
}

// ---- Target, options --------------------------------------------------------------------------

Target Target::parse(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0)
    invalid(fmt::format("URL '{}': only http://host[:port] is supported", url));
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  Target t;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [::1]:8080
    const auto close = rest.find(']');
    if (close == std::string_view::npos) invalid(fmt::format("URL '{}': unclosed '[' in the host", url));
    t.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') invalid(fmt::format("URL '{}': expected ':' after ']'", url));
      port = rest.substr(1);
    }
  } else {
    const auto colon = rest.find(':');
    t.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (t.host.empty()) invalid(fmt::format("URL '{}': no host", url));
  if (!port.empty() || url.find(':', kScheme.size()) != std::string::npos) {
    uint64_t p = 0;
    if (!port.empty() && (!parse_u64(port, p) || p == 0 || p > 65535))
      invalid(fmt::format("URL '{}': '{}' is not a port (1..65535)", url, port));
    if (port.empty() && t.host.find(':') == std::string::npos && url.find('[') == std::string::npos)
      invalid(fmt::format("URL '{}': empty port", url));
    if (p) t.port = static_cast<uint16_t>(p);
  }
  return t;
}

std::pair<int64_t, int64_t> parse_id_range(const std::string& text) {
  std::string_view s = text;
  auto sep = s.find("..");
  size_t len = 2;
  if (sep == std::string_view::npos) {
    sep = s.find('-');
    len = 1;
  }
  uint64_t a = 0, b = 0;
  if (sep == std::string_view::npos || !parse_u64(trim(s.substr(0, sep)), a) || !parse_u64(trim(s.substr(sep + len)), b))
    invalid(fmt::format("--ids: expected FIRST-LAST (positive integers), got '{}'", text));
  if (a < 1 || b < a || b > static_cast<uint64_t>(INT64_MAX))
    invalid(fmt::format("--ids: '{}' is not a range 1 <= FIRST <= LAST", text));
  return {static_cast<int64_t>(a), static_cast<int64_t>(b)};
}

void validate(const Options& o) {
  Target::parse(o.url);
  if (!(o.rate > 0) || !std::isfinite(o.rate) || o.rate > 10'000'000) invalid("--rate: must be in (0, 10000000] requests/s");
  if (o.connections < 1 || o.connections > 100'000) invalid("--connections: must be 1..100000");
  if (o.threads < 1 || o.threads > 256) invalid("--threads: must be 1..256");
  if (!(o.duration_s > 0)) invalid("--duration: must be positive");
  if (o.warmup_s < 0) invalid("--warmup: must not be negative");
  if (!(o.timeout_s > 0)) invalid("--timeout: must be positive");
  if (!(o.max_duration_s > 0)) invalid("--max-duration: must be positive");
  if (o.warmup_s + o.duration_s > o.max_duration_s)
    invalid(fmt::format("--warmup + --duration = {} s exceeds --max-duration {} s", o.warmup_s + o.duration_s,
                        o.max_duration_s));
  if (o.max_requests < 1) invalid("--max-requests: must be at least 1");
  if (o.mix.total() == 0) invalid("--mix: every weight is 0");
  if (o.id_min < 1 || o.id_max < o.id_min) invalid("--ids: empty range");
  if (o.type.empty()) invalid("--type: empty");
  for (char ch : o.type)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'))
      invalid(fmt::format("--type: '{}' is not an entity type code", o.type));
  if (o.mix.weight[static_cast<int>(Kind::kPut)]) {
    rapidjson::Document d;
    d.Parse(o.put_body.c_str());
    if (d.HasParseError() || !d.IsObject()) invalid("--put-body: must be a JSON object");
  }
}

// ---- the run ----------------------------------------------------------------------------------

namespace {

/// Everything one client thread owns: its io_context, counters and histograms.
struct Worker {
  net::io_context ioc{1};
  Histogram latency;
  Histogram by_kind[kKinds];
  uint64_t sent_by_kind[kKinds] = {0, 0, 0};
  uint64_t completed = 0, ok = 0;
  std::map<std::string, uint64_t> errors;
  Clock::time_point last_completion{};
};

/// Shared, read-only state of a run.
struct Plan {
  const Options& o;
  Schedule schedule;
  uint64_t warmup_requests;
  Clock::time_point start;
  Clock::time_point deadline;  // no request is sent after this
  tcp::resolver::results_type endpoints;
  std::string host_header;
  std::string query_sql;
  std::chrono::nanoseconds timeout;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(const Plan& plan, Worker& w, int index)
      : plan_(plan), w_(w), c_(index), stream_(w.ioc), timer_(w.ioc),
        rng_(plan.o.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(index)) {}

  void start() { next(); }

 private:
  bool measured() const { return plan_.schedule.global_index(c_, n_) >= plan_.warmup_requests; }

  void count_error(const std::string& kind) {
    if (measured()) ++w_.errors[kind];
  }

  void next() {
    if (!plan_.schedule.has(c_, n_)) return close();
    due_ = plan_.start + plan_.schedule.offset(plan_.schedule.global_index(c_, n_));
    if (due_ > plan_.deadline || Clock::now() > plan_.deadline) {
      // Out of time: the rest of this connection's schedule is never sent.
      for (; plan_.schedule.has(c_, n_); ++n_) count_error("not_sent");
      return close();
    }
    timer_.expires_at(due_);
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->send(); });
  }

  void build() {
    std::uniform_int_distribution<uint64_t> kd(0, plan_.o.mix.total() - 1);
    std::uniform_int_distribution<int64_t> id(plan_.o.id_min, plan_.o.id_max);
    kind_ = plan_.o.mix.pick(kd(rng_));
    req_ = {};
    req_.version(11);
    req_.keep_alive(true);
    req_.set(http::field::host, plan_.host_header);
    req_.set(http::field::user_agent, "eavdb-loadtest");
    if (!plan_.o.token.empty()) req_.set(http::field::authorization, "Bearer " + plan_.o.token);
    switch (kind_) {
      case Kind::kGet:
        req_.method(http::verb::get);
        req_.target(fmt::format("/v1/entities/{}/{}", plan_.o.type, id(rng_)));
        break;
      case Kind::kQuery: {
        req_.method(http::verb::post);
        req_.target("/v1/query");
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> jw(sb);
        jw.StartObject();
        jw.Key("sql");
        jw.String(plan_.query_sql.c_str(), static_cast<rapidjson::SizeType>(plan_.query_sql.size()));
        jw.Key("params");
        jw.StartArray();
        for (char ch : plan_.query_sql)
          if (ch == '?') jw.Int64(id(rng_));
        jw.EndArray();
        jw.EndObject();
        req_.set(http::field::content_type, "application/json");
        req_.body() = sb.GetString();
        break;
      }
      case Kind::kPut:
        req_.method(http::verb::patch);
        req_.target(fmt::format("/v1/entities/{}/{}", plan_.o.type, id(rng_)));
        req_.set(http::field::content_type, "application/json");
        req_.body() = plan_.o.put_body;
        break;
    }
    req_.prepare_payload();
  }

  void send() {
    build();
    retried_ = false;
    if (measured()) ++w_.sent_by_kind[static_cast<int>(kind_)];
    if (connected_) return write();
    connect();
  }

  void connect() {
    const auto now = Clock::now();
    if (now < connect_not_before_) {  // back off after a refused connect instead of spinning
      timer_.expires_at(connect_not_before_);
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->connect(); });
      return;
    }
    stream_.expires_after(plan_.timeout);
    stream_.async_connect(plan_.endpoints, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
      if (ec) {
        self->connect_not_before_ = Clock::now() + std::chrono::milliseconds(10);
        return self->fail(ec == beast::error::timeout ? "timeout" : "connect");
      }
      beast::error_code ignored;
      self->stream_.socket().set_option(tcp::no_delay(true), ignored);
      self->connected_ = true;
      self->reused_ = false;
      self->write();
    });
  }

  void write() {
    stream_.expires_after(plan_.timeout);
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->io_error(ec);
      self->parser_.emplace();
      self->parser_->body_limit(64u << 20);
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](beast::error_code rec, std::size_t) { self->on_read(rec); });
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) return io_error(ec);
    const auto now = Clock::now();
    const auto& res = parser_->get();
    const unsigned status = res.result_int();
    if (measured()) {
      const auto ns = static_cast<uint64_t>(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(now - due_).count()));
      w_.latency.record(ns);
      w_.by_kind[static_cast<int>(kind_)].record(ns);
      ++w_.completed;
      if (status < 400) ++w_.ok;
      else ++w_.errors[fmt::format("status_{}", status)];
      w_.last_completion = std::max(w_.last_completion, now);
    }
    reused_ = true;
    if (!res.keep_alive()) drop();
    ++n_;
    next();
  }

  void io_error(beast::error_code ec) {
    // A kept-alive connection the server closed while idle: reconnect and send once more, as
    // HTTP clients do (the request never reached the server).
    if (reused_ && !retried_ && (ec == http::error::end_of_stream || ec == net::error::eof ||
                                 ec == net::error::connection_reset || ec == net::error::broken_pipe)) {
      retried_ = true;
      drop();
      return connect();
    }
    fail(ec == beast::error::timeout ? "timeout" : "io");
  }

  void fail(const std::string& kind) {
    count_error(kind);
    drop();
    ++n_;
    next();
  }

  void drop() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    buffer_.clear();
    connected_ = false;
  }

  void close() {
    timer_.cancel();
    drop();
  }

  const Plan& plan_;
  Worker& w_;
  int c_;
  uint64_t n_ = 0;
  beast::tcp_stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::mt19937_64 rng_;
  Kind kind_ = Kind::kGet;
  Clock::time_point due_;
  Clock::time_point connect_not_before_{};
  bool connected_ = false, reused_ = false, retried_ = false;
};

/// Raises the soft open-file limit towards the hard one when the connections need it.
void ensure_fd_limit(int connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t need = static_cast<rlim_t>(connections) + 64;
  if (rl.rlim_cur >= need) return;
  rlimit want = rl;
  want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : std::min(rl.rlim_max, need);
  setrlimit(RLIMIT_NOFILE, &want);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < need)
    invalid(fmt::format("--connections {} needs about {} open files; the limit is {} (raise ulimit -n)", connections,
                        need, static_cast<unsigned long long>(rl.rlim_cur)));
}

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

uint64_t Report::error_count() const {
  uint64_t n = 0;
  for (const auto& [k, v] : errors) n += v;
  return n;
}

Report run(const Options& options) {
  validate(options);
  const Target target = Target::parse(options.url);
  net::io_context resolver_ctx;
  tcp::resolver resolver(resolver_ctx);
  beast::error_code ec;
  auto endpoints = resolver.resolve(target.host, std::to_string(target.port), ec);
  if (ec || endpoints.empty())
    throw Error(ErrorCode::kIo, fmt::format("cannot resolve '{}': {}", target.host, ec ? ec.message() : "no address"));
  for (const auto& e : endpoints)
    if (!e.endpoint().address().is_loopback() && !options.allow_remote)
      invalid(fmt::format("{} resolves to {}, which is not a loopback address; pass --allow-remote to load it",
                          target.host, e.endpoint().address().to_string()));
  ensure_fd_limit(options.connections);

  const uint64_t warmup_requests = Schedule::requests_in(options.warmup_s, options.rate);
  const uint64_t wanted = warmup_requests + Schedule::requests_in(options.duration_s, options.rate);
  const uint64_t total = std::min(wanted, options.max_requests);
  const int threads = std::min(options.threads, options.connections);
  const auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(options.timeout_s));
  const auto span = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(options.warmup_s + options.duration_s));
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  Plan plan{options,
            Schedule(options.rate, options.connections, total),
            std::min(warmup_requests, total),
            start,
            start + span + timeout,
            endpoints,
            target.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", target.host, target.port)
                                                       : fmt::format("{}:{}", target.host, target.port),
            options.query_sql.empty() ? fmt::format("SELECT * FROM {} WHERE id >= ? ORDER BY id LIMIT 10", options.type)
                                      : options.query_sql,
            timeout};

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>());
  for (int c = 0; c < options.connections; ++c) {
    Worker& w = *workers[static_cast<size_t>(c % threads)];
    auto conn = std::make_shared<Connection>(plan, w, c);
    net::post(w.ioc, [conn] { conn->start(); });
  }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back([&w = *workers[static_cast<size_t>(t)]] { w.ioc.run(); });
  workers[0]->ioc.run();
  for (auto& th : pool) th.join();

  Report r;
  r.options = options;
  r.warmup_requests = plan.warmup_requests;
  r.scheduled = total - plan.warmup_requests;
  r.truncated = total < wanted;
  Clock::time_point last{};
  for (auto& w : workers) {
    r.latency.add(w->latency);
    for (int k = 0; k < kKinds; ++k) {
      r.by_kind[k].add(w->by_kind[k]);
      r.sent_by_kind[k] += w->sent_by_kind[k];
    }
    r.completed += w->completed;
    r.ok += w->ok;
    for (const auto& [kind, n] : w->errors) r.errors[kind] += n;
    last = std::max(last, w->last_completion);
  }
  const auto measure_start = start + plan.schedule.offset(plan.warmup_requests);
  const auto measure_end = std::max(last, start + plan.schedule.offset(total));
  r.measured_seconds = std::max(0.0, std::chrono::duration<double>(measure_end - measure_start).count());
  r.achieved_rate = r.measured_seconds > 0 ? static_cast<double>(r.completed) / r.measured_seconds : 0.0;
  return r;
}

std::string Report::text() const {
  std::string s;
  s += fmt::format("target {}  rate {:.0f}/s  connections {}  threads {}  warm-up {} s  duration {} s  mix {}\n",
                   options.url, options.rate, options.connections, options.threads, options.warmup_s,
                   options.duration_s, options.mix.to_string());
  s += fmt::format("requests: {} scheduled, {} completed ({} ok), {} errors{}\n", scheduled, completed, ok,
                   error_count(), truncated ? " (cut short by --max-requests)" : "");
  s += fmt::format("achieved rate: {:.1f} requests/s over {:.3f} s\n", achieved_rate, measured_seconds);
  s += "latency (ms, from the scheduled send time):\n";
  s += fmt::format("  {:<6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "kind", "count", "p50", "p90", "p99",
                   "p99.9", "max", "mean");
  auto row = [&](const char* name, const Histogram& h) {
    s += fmt::format("  {:<6} {:>8} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f}\n", name, h.count(),
                     ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)), ms(h.percentile(99.9)),
                     ms(h.max()), h.mean() / 1e6);
  };
  row("all", latency);
  for (int k = 0; k < kKinds; ++k)
    if (options.mix.weight[k]) row(kind_name(static_cast<Kind>(k)), by_kind[k]);
  if (!errors.empty()) {
    s += "errors:";
    for (const auto& [kind, n] : errors) s += fmt::format(" {}={}", kind, n);
    s += "\n";
  }
  return s;
}

std::string Report::json() const {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&](const std::string& v) { w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size())); };
  auto lat = [&](const Histogram& h) {
    w.StartObject();
    w.Key("count"); w.Uint64(h.count());
    w.Key("min_ms"); w.Double(ms(h.min()));
    w.Key("mean_ms"); w.Double(h.mean() / 1e6);
    w.Key("p50_ms"); w.Double(ms(h.percentile(50)));
    w.Key("p90_ms"); w.Double(ms(h.percentile(90)));
    w.Key("p99_ms"); w.Double(ms(h.percentile(99)));
    w.Key("p999_ms"); w.Double(ms(h.percentile(99.9)));
    w.Key("max_ms"); w.Double(ms(h.max()));
    w.EndObject();
  };
  w.StartObject();
  w.Key("target"); str(options.url);
  w.Key("options");
  w.StartObject();
  w.Key("rate"); w.Double(options.rate);
  w.Key("connections"); w.Int(options.connections);
  w.Key("threads"); w.Int(options.threads);
  w.Key("warmup_s"); w.Double(options.warmup_s);
  w.Key("duration_s"); w.Double(options.duration_s);
  w.Key("timeout_s"); w.Double(options.timeout_s);
  w.Key("max_requests"); w.Uint64(options.max_requests);
  w.Key("mix"); str(options.mix.to_string());
  w.Key("type"); str(options.type);
  w.Key("ids"); str(fmt::format("{}-{}", options.id_min, options.id_max));
  w.EndObject();
  w.Key("scheduled"); w.Uint64(scheduled);
  w.Key("warmup_requests"); w.Uint64(warmup_requests);
  w.Key("completed"); w.Uint64(completed);
  w.Key("ok"); w.Uint64(ok);
  w.Key("truncated"); w.Bool(truncated);
  w.Key("measured_seconds"); w.Double(measured_seconds);
  w.Key("achieved_rate"); w.Double(achieved_rate);
  w.Key("sent");
  w.StartObject();
  for (int k = 0; k < kKinds; ++k) {
    w.Key(kind_name(static_cast<Kind>(k)));
    w.Uint64(sent_by_kind[k]);
  }
  w.EndObject();
  w.Key("latency"); lat(latency);
  w.Key("latency_by_kind");
  w.StartObject();
  for (int k = 0; k < kKinds; ++k) {
    w.Key(kind_name(static_cast<Kind>(k)));
    lat(by_kind[k]);
  }
  w.EndObject();
  w.Key("errors");
  w.StartObject();
  for (const auto& [kind, n] : errors) {
    str(kind);
    w.Uint64(n);
  }
  w.EndObject();
  w.Key("error_count"); w.Uint64(error_count());
  w.Key("histogram_ns");  // [highest value of the bucket, count] of every non-empty bucket
  w.StartArray();
  for (const auto& [v, n] : latency.buckets()) {
    w.StartArray();
    w.Uint64(v);
    w.Uint64(n);
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace eavdb::loadtest
