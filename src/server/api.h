// eavdb::server — the HTTP API: request → response, independent of the connection handling.
//
// Api::handle turns one complete HTTP request into a response: routing, authentication
// (Bearer tokens of the database's token table), per-token rate limiting, role checks, tenant
// isolation (one Database per tenant, opened on first use) and the JSON endpoints. Errors are
// RFC 9457 problem details (application/problem+json) with a stable `code` member.
//
// Thread-safety: handle() may run on many worker threads at once. It blocks on the database,
// so it must not run on an I/O thread; handle_cached() is the part that may (it never waits on
// the database, another tenant's open or another thread's cache load).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "eavdb/database.h"
#include "monitor/metrics.h"
#include "server/bulk_stream.h"
#include "server/rate_limiter.h"
#include "server/router.h"
#include "server/tokens.h"

namespace eavdb::server {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// Everything `eavdb serve` can be told. Sizes in bytes, durations as given.
struct ServerOptions {
  std::string db_url = "./eavdb.db";       ///< the database (see Database::open)
  Options db_options;                       ///< per-tenant Database options (tenant is set per token)
  std::string host = "127.0.0.1";           ///< listen address (loopback unless allow_remote)
  uint16_t port = 8080;                     ///< listen port; 0 picks a free one (printed at start-up)
  bool allow_remote = false;                ///< permit a non-loopback listen address
  int io_threads = 1;                       ///< threads running the event loop
  int workers = 4;                          ///< threads doing blocking database work
  bool no_auth = false;                     ///< no tokens: every request is tenant "default", admin
  bool no_inline_reads = false;             ///< never answer on the I/O thread (Api::handle_cached)
  std::size_t max_body_bytes = 16u << 20;   ///< larger bodies get 413
  std::size_t max_header_bytes = 16u << 10; ///< larger request heads get 431
  int max_in_flight = 256;                  ///< requests admitted at once; more get 503 + Retry-After
  double rate_limit = 1000;                 ///< requests per second per token (≤ 0: unlimited)
  double rate_burst = 2000;                 ///< token-bucket capacity per token
  std::chrono::milliseconds header_timeout{10000};  ///< to receive a request head (also keep-alive idle)
  std::chrono::milliseconds body_timeout{30000};    ///< to receive a request body once the head arrived
  std::size_t max_query_rows = 100000;      ///< a query returning more rows is refused (400 row_limit)
  std::size_t max_ndjson_line_bytes = 1u << 20;  ///< a longer bulk line is a rejected record
  std::size_t max_ids = 10000;              ///< ids per bulk GET
  /// Longest a query (POST /v1/query, /v1/explain with analyze) may run; 0: no limit. A request
  /// may ask for less (body field `timeout_ms` or header `Eavdb-Timeout-Ms`), never more. A query
  /// past it is interrupted and answered 503 with code `query_timeout`.
  std::chrono::milliseconds query_timeout{30000};
};

/// A problem-details response (RFC 9457): {"type","title","status","detail","code"}.
/// `code` is stable (snake_case); `detail` says what was wrong, naming the field.
Response problem(http::status status, std::string_view code, std::string_view detail, unsigned version = 11,
                 bool keep_alive = true);

/// The API. See the file comment.
class Api {
 public:
  /// Opens nothing yet but the token table (unless options.no_auth); throws Error(kStorage)
  /// when the database cannot be opened. `metrics` must outlive the Api.
  Api(const ServerOptions& options, monitor::Registry& metrics);
  ~Api();

  /// Handles one request. `route` receives the matched route pattern ("/v1/entities/{type}/{id}"),
  /// or "unmatched", for metrics labels. Never throws.
  Response handle(const Request& req, std::string& route);

  /// The event-loop fast path: the response to `req` when it can be produced without blocking
  /// (today: GET /v1/entities/{type}/{id} by a token authenticated before and unchanged since,
  /// of a tenant already open, whose record the entity cache holds and no other process changed
  /// — see Database::load_cached), else std::nullopt and nothing was charged or counted: the
  /// caller hands the request to handle() on a worker. The response, metrics, rate limiting and
  /// ETag/304 handling are exactly handle()'s. `route` as in handle(). Thread-safe; never throws.
  std::optional<Response> handle_cached(const Request& req, std::string& route);

  /// True when `head` is answered by handle_stream(): POST /v1/bulk/{type} with op insert,
  /// upsert or update (op=delete checks every line before deleting, so it reads the body whole).
  static bool is_streamed(const Request& head);

  /// Handles a streamed bulk request whose body has not been read yet: checks it as handle()
  /// does and returns the refusal (nothing was read), or starts a 200 NDJSON response on `out`,
  /// writes each rejected record as it happens while reading `body`, then the summary line, and
  /// returns std::nullopt. An error after the response started (a lost client, a storage
  /// failure) ends it with a {"error": {...}} line instead of the summary; records committed
  /// before it stay committed (bulk transactions are per chunk). `route` as in handle(). Never throws.
  std::optional<Response> handle_stream(const Request& head, BodyStream& body, ResponseStream& out, std::string& route);

  /// /readyz answers 503 once this is false (set at shutdown).
  void set_ready(bool ready) noexcept { ready_.store(ready); }

  /// The dashboard's JSON sample (GET /dashboard/data): cumulative request, error, latency
  /// bucket and cache counters (the page turns two samples into rates), process figures and
  /// slow_shapes_json(). Thread-safe.
  std::string dashboard_data_json();

  /// The "slowest query shapes" panel: a JSON array, slowest p99 first, of at most `limit`
  /// objects {"tenant","shape","plan","count","total_ms","p99_ms","max_ms","rows"}: the
  /// Database::query_shapes() of every tenant database this server has opened. Thread-safe.
  std::string slow_shapes_json(size_t limit = 20);

 private:
  struct Caller;
  Response dispatch(const Request& req, std::string& route, std::string& tenant);
  /// Authenticates, rate-limits and checks the role. Sets `tenant` as soon as the token is known,
  /// so a refusal after that (429, 403) is still counted for the caller's tenant; a 401 leaves it
  /// empty. Returns the refusal to send, or std::nullopt; a role refusal throws HttpError (403).
  std::optional<Response> authorize(const Request& req, const RouteMatch& m, Caller& caller, std::string& tenant);
  void count_bulk(const std::string& tenant, const std::string& op, const BatchResult& r);
  Database& tenant_db(const std::string& tenant);
  /// The token's grant when authorize() saw it live and nothing was committed to the store since
  /// (a revocation by any process changes Database::data_version); else std::nullopt.
  std::optional<TokenInfo> cached_token(std::string_view token);
  void count_tenant_request(const std::string& tenant, const std::string& route, unsigned status);
  Response run_query_or_explain(const Request& req, Database& db, const std::string& tenant, bool explain);

  ServerOptions options_;
  monitor::Registry& metrics_;
  std::unique_ptr<TokenStore> tokens_;
  RateLimiter limiter_;
  const uint64_t serial_;  ///< distinct per Api of the process (names it in thread-local memos)
  std::atomic<bool> ready_{true};
  std::mutex tenants_mu_;
  std::map<std::string, std::unique_ptr<Database>, std::less<>> tenants_;
  Database* default_db_ = nullptr;  ///< tenants_["default"], opened by the constructor
  // Tokens authorize() found live, by SHA-256 of the token, with the store's data_version read
  // before that lookup: valid while the version is unchanged.
  struct CachedToken {
    TokenInfo info;
    int64_t data_version = 0;
  };
  static constexpr size_t kMaxCachedTokens = 4096;
  std::mutex token_cache_mu_;
  std::unordered_map<std::string, CachedToken> token_cache_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace eavdb::server
