#include "server/api.h"

#include <boost/beast/http/status.hpp>
#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "eavdb/batch.h"
#include "eavdb/session.h"
#include "io/io.h"
#include "server/assets.h"
#include "server/router.h"
#include "storage/sqlite/sqlite_backend.h"

namespace eavdb::server {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

/// A client error raised inside a handler: becomes a problem response.
struct HttpError {
  http::status status;
  std::string code;
  std::string detail;
};

[[noreturn]] void fail(http::status status, std::string code, std::string detail) {
  throw HttpError{status, std::move(code), std::move(detail)};
}

void put_string(JsonWriter& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

http::status status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kSyntax:
    case ErrorCode::kTypeMismatch:
    case ErrorCode::kLimit: return http::status::bad_request;
    case ErrorCode::kNotFound: return http::status::not_found;
    case ErrorCode::kConflict:
    case ErrorCode::kConstraint:
    case ErrorCode::kSchema: return http::status::conflict;
    case ErrorCode::kVersion:
    case ErrorCode::kStorage:
    case ErrorCode::kIo: return http::status::internal_server_error;
    case ErrorCode::kTimeout: return http::status::service_unavailable;
  }
  return http::status::internal_server_error;
}

Response json_response(const Request& req, http::status status, std::string body,
                       std::string_view content_type = "application/json") {
  Response res{status, req.version()};
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  return res;
}

// ---- request bodies ---------------------------------------------------------------------------

/// The body parsed as one JSON object with exact number tokens (io's reader).
io::Record parse_object_body(const Request& req) {
  io::Record rec;
  if (auto err = io::parse_json_object(req.body(), rec))
    fail(http::status::bad_request, "malformed_json", fmt::format("request body: {}", *err));
  return rec;
}

/// The body parsed with RapidJSON as a document (for schema bodies: no exact numbers needed).
rapidjson::Document parse_document(const Request& req) {
  rapidjson::Document d;
  // Iterative: a deeply nested body must not exhaust the worker's stack.
  d.Parse<rapidjson::kParseIterativeFlag>(req.body().data(), req.body().size());
  if (d.HasParseError())
    fail(http::status::bad_request, "malformed_json",
         fmt::format("request body: invalid JSON at offset {}", d.GetErrorOffset()));
  return d;
}

std::string member_string(const rapidjson::Value& obj, const char* name, const std::string& where, bool required) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) {
    if (required) fail(http::status::bad_request, "invalid_field", fmt::format("{}: field '{}' is required", where, name));
    return {};
  }
  if (!it->value.IsString())
    fail(http::status::bad_request, "invalid_field", fmt::format("{}: field '{}' must be a string", where, name));
  return {it->value.GetString(), it->value.GetStringLength()};
}

bool member_bool(const rapidjson::Value& obj, const char* name, const std::string& where, bool dflt) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return dflt;
  if (!it->value.IsBool())
    fail(http::status::bad_request, "invalid_field", fmt::format("{}: field '{}' must be true or false", where, name));
  return it->value.GetBool();
}

AttributeDef parse_attribute(const rapidjson::Value& v, const std::string& where) {
  if (!v.IsObject()) fail(http::status::bad_request, "invalid_field", fmt::format("{}: must be an object", where));
  static constexpr std::string_view kKnown[] = {"code", "label", "type", "required", "unique", "filterable", "sortable"};
  for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
    const std::string_view k(m->name.GetString(), m->name.GetStringLength());
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown))
      fail(http::status::bad_request, "invalid_field", fmt::format("{}: unknown field '{}'", where, k));
  }
  AttributeDef a;
  a.code = member_string(v, "code", where, true);
  a.label = member_string(v, "label", where, false);
  if (a.label.empty()) a.label = a.code;
  const std::string type = member_string(v, "type", where, true);
  const auto t = parse_value_type(type);
  if (!t)
    fail(http::status::bad_request, "invalid_field",
         fmt::format("{}: field 'type': '{}' is not one of varchar, int, decimal, datetime, text", where, type));
  a.type = *t;
  a.required = member_bool(v, "required", where, false);
  a.unique = member_bool(v, "unique", where, false);
  a.filterable = member_bool(v, "filterable", where, true);
  a.sortable = member_bool(v, "sortable", where, true);
  return a;
}

/// A JSON value given for a query parameter.
Value param_value(const io::RawField& f, size_t i) {
  switch (f.kind) {
    case io::RawField::Kind::kNull: return std::monostate{};
    case io::RawField::Kind::kBool: return int64_t{f.text == "true"};
    case io::RawField::Kind::kString: return f.text;
    case io::RawField::Kind::kNumber: {
      if (auto v = io::parse_int_token(f.text)) return *v;
      if (auto d = Decimal::try_parse(f.text)) return *d;
      fail(http::status::bad_request, "invalid_field",
           fmt::format("field 'params', element {}: number {} is not an exact decimal (no exponents)", i, f.text));
    }
    case io::RawField::Kind::kJson: break;
  }
  fail(http::status::bad_request, "invalid_field",
       fmt::format("field 'params', element {}: must be a string, number, boolean or null", i));
}

int64_t parse_id(std::string_view text, std::string_view what) {
  auto id = io::parse_int_token(text);
  if (!id || *id <= 0)
    fail(http::status::bad_request, "invalid_id", fmt::format("{}: '{}' is not a positive integer id", what, text));
  return *id;
}

// ---- responses -------------------------------------------------------------------------------

/// One entity as a JSON object (the CLI's shape: system columns, then the attributes it has).
std::string entity_json(const EntityTypeDef& type, const EntityRecord& rec) {
  std::ostringstream os;
  io::write_result(os, io::entity_result(type, {rec}), io::OutputFormat::kNdjson);
  std::string s = os.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string types_json(const std::vector<EntityTypeDef>& types, bool single) {
  std::ostringstream os;
  io::write_types_json(os, types, single);
  return os.str();
}

std::string etag(int64_t version) { return fmt::format("\"{}\"", version); }

/// The version in an If-Match / If-None-Match header ("\"3\"", "W/\"3\"", "3"); -1 for "*";
/// std::nullopt when absent.
std::optional<int64_t> version_header(const Request& req, http::field f) {
  auto it = req.find(f);
  if (it == req.end()) return std::nullopt;
  std::string_view v(it->value().data(), it->value().size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v == "*") return -1;
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  auto n = io::parse_int_token(v);
  if (!n)
    fail(http::status::bad_request, "invalid_header",
         fmt::format("header '{}': '{}' is not an entity version (an ETag such as \"3\")", http::to_string(f), v));
  return *n;
}

}  // namespace

Response problem(http::status status, std::string_view code, std::string_view detail, unsigned version, bool keep_alive) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("type");
  put_string(w, fmt::format("urn:eavdb:problem:{}", code));
  w.Key("title");
  const auto reason = http::obsolete_reason(status);
  put_string(w, std::string_view(reason.data(), reason.size()));
  w.Key("status");
  w.Int(static_cast<int>(status));
  w.Key("detail");
  put_string(w, detail);
  w.Key("code");
  put_string(w, code);
  w.EndObject();
  Response res{status, version};
  res.set(http::field::content_type, "application/problem+json");
  res.keep_alive(keep_alive);
  res.body() = std::string(buf.GetString(), buf.GetSize());
  return res;
}

struct Api::Caller {
  std::string tenant;
  Role role = Role::kRead;
  std::string key;  // rate-limit key
};

namespace {
std::atomic<uint64_t> g_api_serial{0};
}  // namespace

Api::Api(const ServerOptions& options, monitor::Registry& metrics)
    : options_(options),
      metrics_(metrics),
      limiter_(options.rate_limit, options.rate_burst),
      serial_(g_api_serial.fetch_add(1) + 1) {
  // Opening the default tenant migrates the file (the token table is migration 4).
  Options o = options_.db_options;
  o.tenant = "default";
  default_db_ = tenants_.emplace("default", Database::open(options_.db_url, o)).first->second.get();
  if (!options_.no_auth) tokens_ = std::make_unique<TokenStore>(storage::sqlite::path_from_url(options_.db_url));
  metrics_.add_collector([this](monitor::Registry& r) {
    r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
        .set(static_cast<double>(monitor::process_rss_bytes()));
    r.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
        .mirror(monitor::process_cpu_seconds());
    r.gauge("eavdb_uptime_seconds", "Seconds since the server started.")
        .set(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    // Summed over tenants: /metrics is an operator endpoint and names no tenant.
    CacheLevelStats sum[4];
    size_t open_tenants = 0;
    static constexpr const char* kLevels[4] = {"l1", "l2", "l3", "l4"};
    std::map<std::string, double> breakers{{"closed", 0}, {"open", 0}, {"half_open", 0}};
    {
      std::lock_guard lock(tenants_mu_);
      open_tenants = tenants_.size();
      for (const auto& [tenant, db] : tenants_) {
        const CacheStats st = db->cache_stats();
        const CacheLevelStats* levels[4] = {&st.l1, &st.l2, &st.l3, &st.l4};
        if (!st.l3_breaker.empty()) breakers[st.l3_breaker] += 1;
        for (int i = 0; i < 4; ++i) {
          // The tenant's own series (GET /v1/metrics shows a token only its tenant's).
          const monitor::Labels tl{{"level", kLevels[i]}, {"tenant", tenant}};
          r.counter("eavdb_tenant_cache_hits_total", "Cache hits by tenant and level.", tl)
              .mirror(static_cast<double>(levels[i]->hits));
          r.counter("eavdb_tenant_cache_misses_total", "Cache misses by tenant and level.", tl)
              .mirror(static_cast<double>(levels[i]->misses));
          r.gauge("eavdb_tenant_cache_entries", "Live cache entries by tenant and level.", tl)
              .set(static_cast<double>(levels[i]->entries));
          sum[i].hits += levels[i]->hits;
          sum[i].misses += levels[i]->misses;
          sum[i].evictions += levels[i]->evictions;
          sum[i].entries += levels[i]->entries;
          sum[i].bytes += levels[i]->bytes;
        }
      }
    }
    for (const auto& [state, n] : breakers)
      r.gauge("eavdb_cache_l3_breaker", "Tenant databases whose L3 circuit breaker is in this state.", {{"state", state}})
          .set(n);
    for (int i = 0; i < 4; ++i) {
      const monitor::Labels lb{{"level", kLevels[i]}};
      r.counter("eavdb_cache_hits_total", "Cache hits by level.", lb).mirror(static_cast<double>(sum[i].hits));
      r.counter("eavdb_cache_misses_total", "Cache misses by level.", lb).mirror(static_cast<double>(sum[i].misses));
      r.counter("eavdb_cache_evictions_total", "Cache evictions by level.", lb).mirror(static_cast<double>(sum[i].evictions));
      r.gauge("eavdb_cache_entries", "Live cache entries by level.", lb).set(static_cast<double>(sum[i].entries));
      r.gauge("eavdb_cache_bytes", "Bytes charged to the cache by level.", lb).set(static_cast<double>(sum[i].bytes));
    }
    r.gauge("eavdb_tenants_open", "Tenant databases opened by this server.").set(static_cast<double>(open_tenants));
  });
}

Api::~Api() = default;

Database& Api::tenant_db(const std::string& tenant) {
  std::lock_guard lock(tenants_mu_);
  auto it = tenants_.find(tenant);
  if (it != tenants_.end()) return *it->second;
  Options o = options_.db_options;
  o.tenant = tenant;
  return *tenants_.emplace(tenant, Database::open(options_.db_url, o)).first->second;
}

Response Api::handle(const Request& req, std::string& route) {
  route = "unmatched";
  std::string tenant;
  Response res = [&] {
    try {
      return dispatch(req, route, tenant);
    } catch (const HttpError& e) {
      return problem(e.status, e.code, e.detail, req.version(), req.keep_alive());
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kTimeout)  // a stable code of its own: the client may retry with a cheaper query
        return problem(http::status::service_unavailable, "query_timeout", e.what(), req.version(), req.keep_alive());
      return problem(status_of(e.code()), error_code_name(e.code()), e.what(), req.version(), req.keep_alive());
    } catch (const std::exception& e) {
      return problem(http::status::internal_server_error, "internal", e.what(), req.version(), req.keep_alive());
    }
  }();
  if (!tenant.empty()) count_tenant_request(tenant, route, res.result_int());
  return res;
}

void Api::count_tenant_request(const std::string& tenant, const std::string& route, unsigned status) {
  // Authenticated requests: per-tenant series (GET /v1/metrics shows a tenant its own). A thread
  // mostly repeats one series: the last one is remembered (series are never removed, so the
  // pointer stays valid while this Api, named by its serial, lives).
  struct Memo {
    uint64_t api = 0;
    std::string tenant, route;
    unsigned status = 0;
    monitor::Counter* counter = nullptr;
  };
  thread_local Memo memo;
  if (memo.counter && memo.api == serial_ && memo.status == status && memo.route == route && memo.tenant == tenant) {
    memo.counter->inc();
    return;
  }
  auto& counter = metrics_.counter("eavdb_tenant_requests_total", "Authenticated API requests by tenant, route and status.",
                                   {{"route", route}, {"status", std::to_string(status)}, {"tenant", tenant}});
  counter.inc();
  memo = Memo{serial_, tenant, route, status, &counter};
}

std::optional<TokenInfo> Api::cached_token(std::string_view token) {
  const std::string hash = sha256_hex(token);
  CachedToken entry;
  {
    std::lock_guard lock(token_cache_mu_);
    auto it = token_cache_.find(hash);
    if (it == token_cache_.end()) return std::nullopt;
    entry = it->second;
  }
  if (default_db_->data_version() != entry.data_version) return std::nullopt;  // maybe revoked since
  return entry.info;
}

std::optional<Response> Api::handle_cached(const Request& req, std::string& route) {
  if (req.method() != http::verb::get || !req.body().empty()) return std::nullopt;
  Caller caller;
  Database* db = nullptr;
  std::optional<Database::CachedLoad> hit;
  std::optional<int64_t> inm;
  RouteMatch m;
  // Everything that can send the request to the worker is decided before the rate limiter is
  // charged: after that, the request is answered here.
  try {
    const auto target = parse_target(std::string_view(req.target().data(), req.target().size()));
    if (!target) return std::nullopt;
    m = match_route("GET", target->path);
    if (m.status != RouteMatch::Status::kFound || m.route != Route::kEntity) return std::nullopt;
    if (options_.no_auth) {
      caller = {"default", Role::kAdmin, "no-auth"};
    } else {
      auto it = req.find(http::field::authorization);
      if (it == req.end()) return std::nullopt;
      const std::string_view auth(it->value().data(), it->value().size());
      if (auth.size() < 7 || !(auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) return std::nullopt;
      auto info = cached_token(auth.substr(7));
      if (!info) return std::nullopt;
      caller = {info->tenant, info->role, std::to_string(info->id)};
    }
    {
      // try_lock: a worker holds the lock while it opens another tenant's database.
      std::unique_lock lock(tenants_mu_, std::try_to_lock);
      if (!lock.owns_lock()) return std::nullopt;
      auto it = tenants_.find(caller.tenant);
      if (it == tenants_.end()) return std::nullopt;  // opening it blocks
      db = it->second.get();
    }
    const auto id = io::parse_int_token(m.params.at(1));
    if (!id || *id <= 0) return std::nullopt;
    inm = version_header(req, http::field::if_none_match);  // a malformed one is the worker's 400
    hit = db->load_cached(m.params.at(0), *id);
    if (!hit) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }

  route = m.pattern;
  Response res = [&] {
    try {
      int64_t retry_after = 0;
      const double now_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      if (!options_.no_auth && !limiter_.allow(caller.key, now_s, retry_after)) {
        Response r = problem(http::status::too_many_requests, "rate_limited",
                             fmt::format("this token is limited to {} requests per second", options_.rate_limit),
                             req.version(), req.keep_alive());
        r.set(http::field::retry_after, std::to_string(retry_after));
        return r;
      }
      // A GET is a read: every role may (see authorize()).
      const EntityRecord& rec = hit->record;
      if (inm && (*inm == -1 || *inm == rec.version)) {
        Response r{http::status::not_modified, req.version()};
        r.keep_alive(req.keep_alive());
        r.set(http::field::etag, etag(rec.version));
        return r;
      }
      Response r = json_response(req, http::status::ok, entity_json(*hit->type, rec));
      r.set(http::field::etag, etag(rec.version));
      return r;
    } catch (const std::exception& e) {
      return problem(http::status::internal_server_error, "internal", e.what(), req.version(), req.keep_alive());
    }
  }();
  count_tenant_request(caller.tenant, route, res.result_int());
  return res;
}

namespace {

/// The query parameters of POST /v1/bulk/{type}: op (checked here), key, on_error.
BatchOptions bulk_options(const Target& target, const std::string& op) {
  if (op != "insert" && op != "upsert" && op != "update" && op != "delete")
    fail(http::status::bad_request, "invalid_query",
         fmt::format("query parameter 'op': '{}' is not one of insert, upsert, update, delete", op));
  BatchOptions bo;
  bo.key = target.param("key").value_or("");
  const std::string on_error = target.param("on_error").value_or("skip");
  if (on_error != "skip" && on_error != "abort")
    fail(http::status::bad_request, "invalid_query", "query parameter 'on_error': must be skip or abort");
  bo.on_error = on_error == "abort" ? OnError::kAbort : OnError::kSkip;
  if (op == "upsert" && bo.key.empty())
    fail(http::status::bad_request, "invalid_query", "query parameter 'key' is required for op=upsert");
  return bo;
}

/// The last line of a bulk response: {"summary": {...}}.
std::string bulk_summary_json(const std::string& op, const BatchResult& r) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("summary");
  w.StartObject();
  w.Key("op");
  put_string(w, op);
  w.Key("processed");
  w.Int64(r.processed);
  w.Key("inserted");
  w.Int64(r.inserted);
  w.Key("updated");
  w.Int64(r.updated);
  w.Key("deleted");
  w.Int64(r.deleted);
  w.Key("rejected");
  w.Int64(r.failed);
  w.Key("aborted");
  w.Bool(r.aborted);
  w.Key("first_id");
  w.Int64(r.first_id);
  w.Key("last_id");
  w.Int64(r.last_id);
  w.Key("seconds");
  w.Double(r.seconds);
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

std::optional<Response> Api::authorize(const Request& req, const RouteMatch& m, Caller& caller, std::string& tenant) {
  if (options_.no_auth) {
    caller = {"default", Role::kAdmin, "no-auth"};
  } else {
    auto it = req.find(http::field::authorization);
    std::string_view auth = it == req.end() ? std::string_view{} : std::string_view(it->value().data(), it->value().size());
    if (auth.size() < 7 || !(auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
      Response res = problem(http::status::unauthorized, "unauthorized",
                             "an 'Authorization: Bearer <token>' header is required", req.version(), req.keep_alive());
      res.set(http::field::www_authenticate, "Bearer realm=\"eavdb\"");
      return std::optional<Response>(std::move(res));
    }
    // Read before the lookup: a revocation committed after it changes the version.
    const int64_t data_version = default_db_->data_version();
    auto info = tokens_->authenticate(auth.substr(7));
    {
      const std::string hash = sha256_hex(auth.substr(7));
      std::lock_guard lock(token_cache_mu_);
      if (!info) {
        token_cache_.erase(hash);
      } else {
        if (token_cache_.size() >= kMaxCachedTokens && !token_cache_.count(hash)) token_cache_.clear();
        token_cache_[hash] = CachedToken{*info, data_version};
      }
    }
    if (!info) {
      Response res = problem(http::status::unauthorized, "invalid_token", "the token is unknown or revoked",
                             req.version(), req.keep_alive());
      res.set(http::field::www_authenticate, "Bearer realm=\"eavdb\", error=\"invalid_token\"");
      return std::optional<Response>(std::move(res));
    }
    caller = {info->tenant, info->role, std::to_string(info->id)};
  }
  // Authenticated from here on: every answer (429, 403 included) is counted for the tenant.
  tenant = caller.tenant;
  int64_t retry_after = 0;
  const double now_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (!options_.no_auth && !limiter_.allow(caller.key, now_s, retry_after)) {  // the limit is per token
    Response res = problem(http::status::too_many_requests, "rate_limited",
                           fmt::format("this token is limited to {} requests per second", options_.rate_limit),
                           req.version(), req.keep_alive());
    res.set(http::field::retry_after, std::to_string(retry_after));
    return std::optional<Response>(std::move(res));
  }
  const bool is_read = req.method() == http::verb::get || m.route == Route::kQuery || m.route == Route::kExplain;
  const bool is_schema = m.route == Route::kTypes || m.route == Route::kTypeAttributes;
  if (is_schema && !is_read && caller.role != Role::kAdmin)
    fail(http::status::forbidden, "forbidden", fmt::format("changing the schema needs an admin token (this one is {})",
                                                           role_name(caller.role)));
  if (!is_read && caller.role == Role::kRead)
    fail(http::status::forbidden, "forbidden", "this token is read-only");

  return std::nullopt;
}

Response Api::dispatch(const Request& req, std::string& route, std::string& tenant) {
  const auto target = parse_target(std::string_view(req.target().data(), req.target().size()));
  if (!target) fail(http::status::bad_request, "bad_target", "the request target is not a valid origin-form path");
  const std::string method(req.method_string());
  const RouteMatch m = match_route(method, target->path);
  if (m.status == RouteMatch::Status::kNoRoute)
    fail(http::status::not_found, "no_route", fmt::format("no route for {}", target->path));
  route = m.pattern;
  if (m.status == RouteMatch::Status::kMethodNotAllowed) {
    Response res = problem(http::status::method_not_allowed, "method_not_allowed",
                           fmt::format("{} does not allow {} (allowed: {})", m.pattern, method, m.allow), req.version(),
                           req.keep_alive());
    res.set(http::field::allow, m.allow);
    return res;
  }

  // ---- unauthenticated operational endpoints ----
  switch (m.route) {
    case Route::kHealthz: return json_response(req, http::status::ok, "{\"status\":\"ok\"}");
    case Route::kReadyz:
      if (!ready_.load()) fail(http::status::service_unavailable, "shutting_down", "the server is shutting down");
      tenant_db("default").types();  // the database answers
      return json_response(req, http::status::ok, "{\"status\":\"ready\"}");
    case Route::kMetrics:
      return json_response(req, http::status::ok, metrics_.expose(), "text/plain; version=0.0.4; charset=utf-8");
    case Route::kDashboardData: return json_response(req, http::status::ok, dashboard_data_json());
    case Route::kDashboard:
    case Route::kDashboardAsset: {
      const std::string name = m.route == Route::kDashboard ? std::string("dashboard.html") : m.params.at(0);
      const Asset* a = find_asset(name);
      if (!a) fail(http::status::not_found, "no_route", fmt::format("no dashboard asset '{}'", name));
      Response res = json_response(req, http::status::ok, std::string(a->body), a->content_type);
      res.set(http::field::cache_control, "no-cache");
      return res;
    }
    default: break;
  }

  // ---- authentication, rate limit, roles ----
  Caller caller;
  if (auto refused = authorize(req, m, caller, tenant)) return std::move(*refused);

  Database& db = tenant_db(caller.tenant);
  const auto p = [&](size_t i) -> const std::string& { return m.params.at(i); };

  switch (m.route) {
    case Route::kTypes: {
      if (req.method() == http::verb::get) return json_response(req, http::status::ok, types_json(db.types(), false));
      const auto d = parse_document(req);
      if (!d.IsObject()) fail(http::status::bad_request, "invalid_field", "request body: must be a JSON object");
      EntityTypeDef def;
      def.code = member_string(d, "code", "request body", true);
      if (!is_valid_code(def.code))
        fail(http::status::bad_request, "invalid_field",
             fmt::format("field 'code': '{}' is not a valid code ([a-z][a-z0-9_]*, at most 63 bytes)", def.code));
      def.label = member_string(d, "label", "request body", false);
      if (def.label.empty()) def.label = def.code;
      if (db.find_type(def.code))
        fail(http::status::conflict, "type_exists",
             fmt::format("type '{}' exists; add attributes with POST /v1/types/{}/attributes", def.code, def.code));
      auto attrs = d.FindMember("attributes");
      if (attrs != d.MemberEnd()) {
        if (!attrs->value.IsArray()) fail(http::status::bad_request, "invalid_field", "field 'attributes' must be an array");
        for (rapidjson::SizeType i = 0; i < attrs->value.Size(); ++i)
          def.attributes.push_back(parse_attribute(attrs->value[i], fmt::format("attributes[{}]", i)));
      }
      const EntityTypeDef stored = db.define_type(def);
      Response res = json_response(req, http::status::created, types_json({stored}, true));
      res.set(http::field::location, "/v1/types/" + stored.code);
      return res;
    }
    case Route::kType: return json_response(req, http::status::ok, types_json({db.require_type(p(0))}, true));
    case Route::kTypeAttributes: {
      EntityTypeDef def = db.require_type(p(0));
      const auto d = parse_document(req);
      std::vector<AttributeDef> added;
      if (d.IsArray()) {
        for (rapidjson::SizeType i = 0; i < d.Size(); ++i) added.push_back(parse_attribute(d[i], fmt::format("[{}]", i)));
      } else {
        added.push_back(parse_attribute(d, "request body"));
      }
      for (const auto& a : added)
        if (def.find(a.code))
          fail(http::status::conflict, "attribute_exists", fmt::format("type '{}' already has attribute '{}'", def.code, a.code));
      def.attributes = added;
      const EntityTypeDef stored = db.define_type(def);
      Response res = json_response(req, http::status::created, types_json({stored}, true));
      res.set(http::field::location, "/v1/types/" + stored.code);
      return res;
    }
    case Route::kEntities: {
      const EntityTypeDef type = db.require_type(p(0));
      if (req.method() == http::verb::get) {
        const auto ids_text = target->param("ids");
        if (!ids_text || ids_text->empty())
          fail(http::status::bad_request, "invalid_query", "query parameter 'ids' is required (ids=1,2,3); use POST /v1/query to search");
        std::vector<int64_t> ids;
        std::string_view rest = *ids_text;
        while (true) {
          const size_t comma = rest.find(',');
          if (ids.size() >= options_.max_ids)
            fail(http::status::bad_request, "limit", fmt::format("query parameter 'ids': at most {} ids", options_.max_ids));
          ids.push_back(parse_id(rest.substr(0, comma), fmt::format("query parameter 'ids', item {}", ids.size() + 1)));
          if (comma == std::string_view::npos) break;
          rest.remove_prefix(comma + 1);
        }
        BatchProcessor bp(db, type.code);
        const LoadResult r = bp.load(ids);
        std::ostringstream os;
        io::write_result(os, io::entity_result(type, r.entities), io::OutputFormat::kJson);
        std::string entities = os.str();
        while (!entities.empty() && entities.back() == '\n') entities.pop_back();
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        w.StartObject();
        w.Key("entities");
        w.RawValue(entities.data(), entities.size(), rapidjson::kArrayType);
        w.Key("missing");
        w.StartArray();
        for (int64_t id : r.missing) w.Int64(id);
        w.EndArray();
        w.EndObject();
        return json_response(req, http::status::ok, std::string(buf.GetString(), buf.GetSize()));
      }
      // POST: create
      io::Record body = parse_object_body(req);
      Session s = db.session();
      Entity& e = s.create(type.code);
      for (auto& [name, field] : body.fields) {
        if (is_reserved_column(name))
          fail(http::status::bad_request, "invalid_field", fmt::format("field '{}': system columns cannot be written", name));
        const AttributeDef* a = type.find(name);
        if (!a) {
          const std::string near = type.suggest(name);
          fail(http::status::bad_request, "unknown_attribute",
               fmt::format("field '{}': type '{}' has no such attribute{}", name, type.code,
                           near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
        }
        try {
          e.set(a->code, io::convert(field, a->type));
        } catch (const Error& err) {
          fail(http::status::bad_request, error_code_name(err.code()).data(), fmt::format("field '{}': {}", name, err.what()));
        }
      }
      s.flush();
      const int64_t id = e.id();
      auto rec = db.load(type.code, {id});
      if (!rec[0]) fail(http::status::conflict, "conflict", "the entity was deleted right after it was created");
      Response res = json_response(req, http::status::created, entity_json(type, *rec[0]));
      res.set(http::field::location, fmt::format("/v1/entities/{}/{}", type.code, id));
      res.set(http::field::etag, etag(rec[0]->version));
      return res;
    }
    case Route::kEntity: {
      const EntityTypeDef type = db.require_type(p(0));
      const int64_t id = parse_id(p(1), "path segment {id}");
      if (req.method() == http::verb::get) {
        auto rec = db.load(type.code, {id});
        if (!rec[0]) fail(http::status::not_found, "not_found", fmt::format("{} {} does not exist", type.code, id));
        const auto inm = version_header(req, http::field::if_none_match);
        if (inm && (*inm == -1 || *inm == rec[0]->version)) {
          Response res{http::status::not_modified, req.version()};
          res.keep_alive(req.keep_alive());
          res.set(http::field::etag, etag(rec[0]->version));
          return res;
        }
        Response res = json_response(req, http::status::ok, entity_json(type, *rec[0]));
        res.set(http::field::etag, etag(rec[0]->version));
        return res;
      }
      const auto if_match = version_header(req, http::field::if_match);
      Session s = db.session();
      Entity* e = s.find(type.code, id);
      if (!e) fail(http::status::not_found, "not_found", fmt::format("{} {} does not exist", type.code, id));
      if (if_match && *if_match != -1 && *if_match != e->version())
        fail(http::status::precondition_failed, "version_mismatch",
             fmt::format("{} {} is at version {}, not {}", type.code, id, e->version(), *if_match));
      if (req.method() == http::verb::delete_) {
        s.remove(*e);
        try {
          s.flush();
        } catch (const Error& err) {
          if (err.code() == ErrorCode::kConflict && if_match)
            fail(http::status::precondition_failed, "version_mismatch", err.what());
          throw;
        }
        Response res{http::status::no_content, req.version()};
        res.keep_alive(req.keep_alive());
        return res;
      }
      io::Record body = parse_object_body(req);
      std::set<std::string> given;
      for (auto& [name, field] : body.fields) {
        if (is_reserved_column(name))
          fail(http::status::bad_request, "invalid_field",
               fmt::format("field '{}': system columns cannot be written (send the version as If-Match)", name));
        const AttributeDef* a = type.find(name);
        if (!a) {
          const std::string near = type.suggest(name);
          fail(http::status::bad_request, "unknown_attribute",
               fmt::format("field '{}': type '{}' has no such attribute{}", name, type.code,
                           near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
        }
        try {
          e->set(a->code, io::convert(field, a->type));
        } catch (const Error& err) {
          fail(http::status::bad_request, error_code_name(err.code()).data(), fmt::format("field '{}': {}", name, err.what()));
        }
        given.insert(a->code);
      }
      if (req.method() == http::verb::put)  // full replacement: what is not given is removed
        for (const auto& a : type.attributes)
          if (!given.count(a.code)) e->set(a.code, Value{});
      try {
        s.flush();
      } catch (const Error& err) {
        if (err.code() == ErrorCode::kConflict && if_match)
          fail(http::status::precondition_failed, "version_mismatch", err.what());
        throw;
      }
      auto rec = db.load(type.code, {id});
      if (!rec[0]) fail(http::status::not_found, "not_found", fmt::format("{} {} does not exist", type.code, id));
      Response res = json_response(req, http::status::ok, entity_json(type, *rec[0]));
      res.set(http::field::etag, etag(rec[0]->version));
      return res;
    }
    case Route::kQuery: return run_query_or_explain(req, db, caller.tenant, false);
    case Route::kExplain: return run_query_or_explain(req, db, caller.tenant, true);
    case Route::kTenantMetrics:
      return json_response(req, http::status::ok, metrics_.expose_only("tenant", caller.tenant),
                           "text/plain; version=0.0.4; charset=utf-8");
    case Route::kBulk: {
      const EntityTypeDef type = db.require_type(p(0));
      const std::string op = target->param("op").value_or("");
      BatchOptions bo = bulk_options(*target, op);
      std::vector<BatchError> rejected;
      bo.on_reject = [&](const BatchError& e) { rejected.push_back(e); };
      BatchProcessor bp(db, type.code, bo);
      BatchResult r;
      if (op == "delete") {
        // Every line must name an id: they are all read (and checked) before anything is deleted.
        auto src = open_ndjson_record_source(req.body(), nullptr, options_.max_ndjson_line_bytes);
        std::vector<int64_t> ids;
        BatchRecord rec;
        while (src->next(rec)) {
          if (rec.error) fail(http::status::bad_request, "malformed_record", *rec.error);
          if (rec.id <= 0)
            fail(http::status::bad_request, "invalid_field", fmt::format("line {}: field 'id' (a positive integer) is required", rec.line));
        }
        src = open_ndjson_record_source(req.body(), nullptr, options_.max_ndjson_line_bytes);
        while (src->next(rec)) ids.push_back(rec.id);
        struct VectorIds : IdSource {
          std::vector<int64_t>* v;
          size_t i = 0;
          std::optional<int64_t> next() override { return i < v->size() ? std::optional<int64_t>((*v)[i++]) : std::nullopt; }
          int64_t size_hint() const override { return static_cast<int64_t>(v->size()); }
        } id_source;
        id_source.v = &ids;
        r = bp.remove(id_source);
      } else {
        auto src = open_ndjson_record_source(req.body(), &type, options_.max_ndjson_line_bytes);
        if (op == "insert") r = bp.insert(*src);
        else if (op == "upsert") r = bp.upsert(*src);
        else r = bp.update(*src);
      }
      count_bulk(caller.tenant, op, r);
      std::string out;
      for (const BatchError& e : rejected) {
        out += rejection_json(e);
        out += '\n';
      }
      out += bulk_summary_json(op, r);
      out += '\n';
      return json_response(req, http::status::ok, std::move(out), "application/x-ndjson");
    }
    default: break;
  }
  fail(http::status::not_found, "no_route", "no such route");
}

void Api::count_bulk(const std::string& tenant, const std::string& op, const BatchResult& r) {
  metrics_.counter("eavdb_bulk_records_total", "Records processed by bulk requests.", {{"op", op}, {"tenant", tenant}})
      .inc(static_cast<double>(r.processed));
  if (r.seconds > 0)
    metrics_
        .gauge("eavdb_bulk_records_per_second", "Records per second of the tenant's last bulk request.",
               {{"op", op}, {"tenant", tenant}})
        .set(static_cast<double>(r.processed) / r.seconds);
}

bool Api::is_streamed(const Request& head) {
  if (head.method() != http::verb::post) return false;
  const auto target = parse_target(std::string_view(head.target().data(), head.target().size()));
  if (!target) return false;
  const RouteMatch m = match_route("POST", target->path);
  if (m.status != RouteMatch::Status::kFound || m.route != Route::kBulk) return false;
  const auto op = target->param("op");
  return op && (*op == "insert" || *op == "upsert" || *op == "update");
}

std::optional<Response> Api::handle_stream(const Request& head, BodyStream& body, ResponseStream& out,
                                           std::string& route) {
  route = "/v1/bulk/{type}";
  std::string tenant;
  bool started = false;
  const auto count = [&](unsigned status) {
    if (!tenant.empty())
      metrics_
          .counter("eavdb_tenant_requests_total", "Authenticated API requests by tenant, route and status.",
                   {{"route", route}, {"status", std::to_string(status)}, {"tenant", tenant}})
          .inc();
  };
  const auto refuse = [&](Response res) {
    res.keep_alive(false);  // the body was not read: the connection cannot carry another request
    count(res.result_int());
    return std::optional<Response>(std::move(res));
  };
  const auto error_line = [](std::string_view code, std::string_view detail) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("error");
    w.StartObject();
    w.Key("code");
    put_string(w, code);
    w.Key("detail");
    put_string(w, detail);
    w.EndObject();
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
  };
  try {
    const auto target = parse_target(std::string_view(head.target().data(), head.target().size()));
    if (!target) fail(http::status::bad_request, "bad_target", "the request target is not a valid origin-form path");
    const RouteMatch m = match_route("POST", target->path);
    Caller caller;
    if (auto refused = authorize(head, m, caller, tenant)) return refuse(std::move(*refused));
    Database& db = tenant_db(caller.tenant);
    const EntityTypeDef type = db.require_type(m.params.at(0));
    const std::string op = target->param("op").value_or("");
    BatchOptions bo = bulk_options(*target, op);
    Response res{http::status::ok, head.version()};
    res.set(http::field::content_type, "application/x-ndjson");
    out.start(std::move(res));
    started = true;
    bo.on_reject = [&](const BatchError& e) { out.write(rejection_json(e) + "\n"); };
    StreamedNdjsonSource src(body, &type, options_.max_ndjson_line_bytes);
    BatchProcessor bp(db, type.code, bo);
    BatchResult r;
    try {
      r = op == "insert" ? bp.insert(src) : op == "upsert" ? bp.upsert(src) : bp.update(src);
    } catch (const Error& e) {
      out.write(error_line(error_code_name(e.code()), e.what()));
      count(200);
      return std::nullopt;
    }
    count_bulk(caller.tenant, op, r);
    if (body.failed()) {
      const std::string why = body.failure();
      const std::string dropped =
          src.dropped_line() > 0 ? fmt::format("; line {} was cut off and not processed", src.dropped_line()) : "";
      out.write(error_line("body_incomplete",
                           fmt::format("the request body ended early ({}) after {} bytes; the {} records before it "
                                       "were processed ({} inserted, {} updated, {} rejected){}",
                                       why.empty() ? "connection lost or read timeout" : why, src.bytes_read(),
                                       r.processed, r.inserted, r.updated, r.failed, dropped)));
    }
    out.write(bulk_summary_json(op, r) + "\n");
    count(200);
    return std::nullopt;
  } catch (const HttpError& e) {
    if (!started) return refuse(problem(e.status, e.code, e.detail, head.version(), false));
    out.write(error_line(e.code, e.detail));
  } catch (const Error& e) {
    if (!started) return refuse(problem(status_of(e.code()), error_code_name(e.code()), e.what(), head.version(), false));
    out.write(error_line(error_code_name(e.code()), e.what()));
  } catch (const std::exception& e) {
    if (!started) return refuse(problem(http::status::internal_server_error, "internal", e.what(), head.version(), false));
    out.write(error_line("internal", e.what()));
  }
  count(200);
  return std::nullopt;
}

Response Api::run_query_or_explain(const Request& req, Database& db, const std::string& tenant, bool explain) {
  io::Record body = parse_object_body(req);
  std::optional<std::string> sql;
  std::vector<Value> params;
  bool analyze = false;
  QueryOptions qo;
  std::optional<int64_t> timeout_ms;
  const auto positive_ms = [](std::string_view text, std::string_view what) {
    auto v = io::parse_int_token(text);
    if (!v || *v <= 0)
      fail(http::status::bad_request, "invalid_field", fmt::format("{}: '{}' is not a positive number of milliseconds", what, text));
    return *v;
  };
  for (auto& [name, field] : body.fields) {
    if (name == "sql") {
      if (field.kind != io::RawField::Kind::kString) fail(http::status::bad_request, "invalid_field", "field 'sql' must be a string");
      sql = field.text;
    } else if (name == "params") {
      if (field.kind == io::RawField::Kind::kNull) continue;
      std::vector<io::RawField> items;
      if (field.kind != io::RawField::Kind::kJson || io::parse_json_array(field.text, items))
        fail(http::status::bad_request, "invalid_field", "field 'params' must be an array");
      for (size_t i = 0; i < items.size(); ++i) params.push_back(param_value(items[i], i));
    } else if (name == "timeout_ms") {
      if (field.kind != io::RawField::Kind::kNumber)
        fail(http::status::bad_request, "invalid_field", "field 'timeout_ms' must be a positive integer");
      timeout_ms = positive_ms(field.text, "field 'timeout_ms'");
    } else if (name == "plan") {
      if (field.kind != io::RawField::Kind::kString || (field.text != "auto" && field.text != "eav" && field.text != "flat"))
        fail(http::status::bad_request, "invalid_field", "field 'plan' must be one of \"auto\", \"eav\", \"flat\"");
      qo.plan = field.text == "eav" ? PlanKind::kEav : field.text == "flat" ? PlanKind::kFlat : PlanKind::kAuto;
    } else if (name == "analyze" && explain) {
      if (field.kind != io::RawField::Kind::kBool) fail(http::status::bad_request, "invalid_field", "field 'analyze' must be true or false");
      analyze = field.text == "true";
    } else {
      fail(http::status::bad_request, "invalid_field",
           fmt::format("unknown field '{}' (expected sql, params, plan, timeout_ms{})", name, explain ? ", analyze" : ""));
    }
  }
  if (!sql) fail(http::status::bad_request, "invalid_field", "field 'sql' is required");
  if (auto h = req.find("Eavdb-Timeout-Ms"); h != req.end()) {
    const int64_t v = positive_ms(std::string_view(h->value().data(), h->value().size()), "header 'Eavdb-Timeout-Ms'");
    timeout_ms = timeout_ms ? std::min(*timeout_ms, v) : v;
  }
  // The server's limit is an upper bound; a request may only ask for less.
  int64_t limit_ms = options_.query_timeout.count();
  if (timeout_ms && (limit_ms <= 0 || *timeout_ms < limit_ms)) limit_ms = *timeout_ms;
  const auto started = std::chrono::steady_clock::now();
  if (limit_ms > 0) qo.deadline = started + std::chrono::milliseconds(limit_ms);

  if (explain) {
    const ExplainResult r = db.explain(*sql, params, analyze, qo);
    return json_response(req, http::status::ok, explain_json(r));
  }
  std::string plan_used;
  qo.plan_used = &plan_used;
  const QueryResult r = db.query(*sql, params, qo);
  metrics_
      .histogram("eavdb_query_duration_seconds", "Query latency by tenant and plan kind (flat, eav, cached).",
                 monitor::default_latency_buckets(), {{"plan", plan_used.empty() ? "cached" : plan_used}, {"tenant", tenant}})
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (r.rows.size() > options_.max_query_rows)
    fail(http::status::bad_request, "row_limit",
         fmt::format("the query returned {} rows, more than the limit of {}; add LIMIT/OFFSET", r.rows.size(),
                     options_.max_query_rows));
  std::ostringstream os;
  io::write_result(os, r, io::OutputFormat::kJson);
  std::string rows = os.str();
  while (!rows.empty() && rows.back() == '\n') rows.pop_back();
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("columns");
  w.StartArray();
  for (const auto& c : r.columns) {
    w.StartObject();
    w.Key("name");
    put_string(w, c.name);
    w.Key("type");
    put_string(w, value_type_name(c.type));
    w.EndObject();
  }
  w.EndArray();
  w.Key("rows");
  w.RawValue(rows.data(), rows.size(), rapidjson::kArrayType);
  w.EndObject();
  return json_response(req, http::status::ok, std::string(buf.GetString(), buf.GetSize()));
}

// ---- dashboard ----------------------------------------------------------------------------------

std::string Api::slow_shapes_json(size_t limit) {
  struct Shape {
    std::string tenant;
    QueryShapeStats stats;
  };
  std::vector<Shape> shapes;
  {
    std::lock_guard lock(tenants_mu_);
    for (const auto& [tenant, db] : tenants_)
      for (auto& s : db->query_shapes(limit)) shapes.push_back({tenant, std::move(s)});
  }
  std::sort(shapes.begin(), shapes.end(), [](const Shape& a, const Shape& b) {
    return a.stats.p99_ms != b.stats.p99_ms ? a.stats.p99_ms > b.stats.p99_ms : a.stats.shape < b.stats.shape;
  });
  if (shapes.size() > limit) shapes.resize(limit);
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartArray();
  for (const Shape& s : shapes) {
    w.StartObject();
    w.Key("tenant");
    put_string(w, s.tenant);
    w.Key("shape");
    put_string(w, s.stats.shape);
    w.Key("plan");
    put_string(w, s.stats.plan);
    w.Key("count");
    w.Uint64(s.stats.count);
    w.Key("total_ms");
    w.Double(s.stats.total_ms);
    w.Key("p99_ms");
    w.Double(s.stats.p99_ms);
    w.Key("max_ms");
    w.Double(s.stats.max_ms);
    w.Key("rows");
    w.Uint64(s.stats.rows);
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string Api::dashboard_data_json() {
  metrics_.collect();  // samples cache counters, process figures, connections
  std::vector<double> bounds = monitor::default_latency_buckets();
  std::vector<uint64_t> counts(bounds.size() + 1, 0);
  metrics_.for_each_histogram("eavdb_http_request_duration_seconds", [&](const monitor::Labels&, const monitor::Histogram& h) {
    if (h.bounds() != bounds) return;
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += h.bucket_count(i);
  });
  uint64_t requests = 0;
  metrics_.for_each_histogram("eavdb_http_request_duration_seconds", [&](const monitor::Labels&, const monitor::Histogram& h) {
    requests += h.count();
  });
  // 5xx answers, from the request counter's status label.
  const auto errors = static_cast<uint64_t>(metrics_.counter_total("eavdb_http_requests_total", "status", "5"));
  const auto gauge = [&](const char* name) { return metrics_.gauge(name, "").value(); };
  const auto counter = [&](const char* name) { return metrics_.counter(name, "").value(); };
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("time");
  w.Double(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  w.Key("uptime_seconds");
  w.Double(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  w.Key("requests_total");
  w.Uint64(requests);
  w.Key("errors_total");
  w.Uint64(errors);
  w.Key("latency_ms");
  w.StartObject();
  for (const auto& [name, q] : {std::pair{"p50", 0.5}, std::pair{"p90", 0.9}, std::pair{"p99", 0.99}, std::pair{"p999", 0.999}}) {
    w.Key(name);
    w.Double(monitor::bucket_quantile(bounds, counts, q) * 1e3);
  }
  w.EndObject();
  w.Key("latency_buckets");
  w.StartObject();
  w.Key("bounds_ms");
  w.StartArray();
  for (double b : bounds) w.Double(b * 1e3);
  w.EndArray();
  w.Key("counts");
  w.StartArray();
  for (uint64_t c : counts) w.Uint64(c);
  w.EndArray();
  w.EndObject();
  w.Key("cache");
  w.StartArray();
  for (const char* level : {"l1", "l2", "l3", "l4"}) {
    const monitor::Labels lb{{"level", level}};
    w.StartObject();
    w.Key("level");
    w.String(level);
    w.Key("hits");
    w.Double(metrics_.counter("eavdb_cache_hits_total", "", lb).value());
    w.Key("misses");
    w.Double(metrics_.counter("eavdb_cache_misses_total", "", lb).value());
    w.Key("entries");
    w.Double(metrics_.gauge("eavdb_cache_entries", "", lb).value());
    w.Key("bytes");
    w.Double(metrics_.gauge("eavdb_cache_bytes", "", lb).value());
    w.EndObject();
  }
  w.EndArray();
  w.Key("in_flight");
  w.Double(gauge("eavdb_http_requests_in_flight"));
  w.Key("connections");
  w.Double(gauge("eavdb_http_connections"));
  w.Key("workers");
  w.Double(gauge("eavdb_workers"));
  w.Key("workers_busy");
  w.Double(gauge("eavdb_workers_busy"));
  w.Key("workers_queued");
  w.Double(gauge("eavdb_workers_queued"));
  w.Key("tenants_open");
  w.Double(gauge("eavdb_tenants_open"));
  w.Key("rss_bytes");
  w.Double(gauge("process_resident_memory_bytes"));
  w.Key("cpu_seconds");
  w.Double(counter("process_cpu_seconds_total"));
  w.Key("bulk_records_total");
  w.Double(metrics_.counter_total("eavdb_bulk_records_total"));
  w.Key("slow_shapes");
  const std::string shapes = slow_shapes_json();
  w.RawValue(shapes.data(), shapes.size(), rapidjson::kArrayType);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace eavdb::server
