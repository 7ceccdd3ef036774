#include "server/router.h"

#include <array>

namespace eavdb::server {
namespace {

struct RouteDef {
  Route route;
  std::string_view pattern;
  std::array<std::string_view, 4> methods;  // unused slots are ""
};

constexpr std::array<RouteDef, 15> kRoutes = {{
    {Route::kHealthz, "/healthz", {"GET"}},
    {Route::kReadyz, "/readyz", {"GET"}},
    {Route::kMetrics, "/metrics", {"GET"}},
    {Route::kTypes, "/v1/types", {"GET", "POST"}},
    {Route::kType, "/v1/types/{type}", {"GET"}},
    {Route::kTypeAttributes, "/v1/types/{type}/attributes", {"POST"}},
    {Route::kEntities, "/v1/entities/{type}", {"GET", "POST"}},
    {Route::kEntity, "/v1/entities/{type}/{id}", {"GET", "PATCH", "PUT", "DELETE"}},
    {Route::kQuery, "/v1/query", {"POST"}},
    {Route::kBulk, "/v1/bulk/{type}", {"POST"}},
    {Route::kExplain, "/v1/explain", {"POST"}},
    {Route::kTenantMetrics, "/v1/metrics", {"GET"}},
    {Route::kDashboard, "/dashboard", {"GET"}},
    {Route::kDashboardData, "/dashboard/data", {"GET"}},
    {Route::kDashboardAsset, "/dashboard/assets/{name}", {"GET"}},
}};

std::vector<std::string_view> split_path(std::string_view p) {
  std::vector<std::string_view> out;
  if (p.empty() || p[0] != '/') return out;
  p.remove_prefix(1);
  for (;;) {
    const size_t slash = p.find('/');
    out.push_back(p.substr(0, slash));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

RouteMatch match_route(std::string_view method, std::string_view path) {
  RouteMatch m;
  const auto segs = split_path(path);
  if (segs.empty()) return m;
  for (const RouteDef& def : kRoutes) {
    const auto pat = split_path(def.pattern);
    if (pat.size() != segs.size()) continue;
    std::vector<std::string> params;
    bool ok = true;
    for (size_t i = 0; i < pat.size() && ok; ++i) {
      if (pat[i].starts_with('{')) {
        ok = !segs[i].empty();
        params.emplace_back(segs[i]);
      } else {
        ok = pat[i] == segs[i];
      }
    }
    if (!ok) continue;
    m.route = def.route;
    m.pattern = std::string(def.pattern);
    m.params = std::move(params);
    for (std::string_view allowed : def.methods) {
      if (allowed.empty()) break;
      if (allowed == method) {
        m.status = RouteMatch::Status::kFound;
        return m;
      }
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += allowed;
    }
    m.status = RouteMatch::Status::kMethodNotAllowed;
    return m;
  }
  return m;
}

std::optional<std::string> Target::param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return std::nullopt;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return std::nullopt;
    out += c;
  }
  return out;
}

std::optional<Target> parse_target(std::string_view target) {
  if (target.empty() || target[0] != '/') return std::nullopt;
  Target t;
  const size_t q = target.find('?');
  auto path = percent_decode(target.substr(0, q), false);
  if (!path) return std::nullopt;
  t.path = std::move(*path);
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto k = percent_decode(pair.substr(0, eq), true);
    auto v = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!k || !v) return std::nullopt;
    t.query.emplace_back(std::move(*k), std::move(*v));
  }
  return t;
}

}  // namespace eavdb::server
