// eavdb::server — request routing: the API's route table, path matching and query strings.
//
// Pure functions over strings; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eavdb::server {

/// The API's routes (one per path pattern).
enum class Route {
  kHealthz,         ///< /healthz
  kReadyz,          ///< /readyz
  kMetrics,         ///< /metrics
  kTypes,           ///< /v1/types
  kType,            ///< /v1/types/{type}
  kTypeAttributes,  ///< /v1/types/{type}/attributes
  kEntities,        ///< /v1/entities/{type}
  kEntity,          ///< /v1/entities/{type}/{id}
  kQuery,           ///< /v1/query
  kBulk,            ///< /v1/bulk/{type}
  kExplain,         ///< /v1/explain
  kTenantMetrics,   ///< /v1/metrics (the caller's tenant's series only)
  kDashboard,       ///< /dashboard (the live page)
  kDashboardData,   ///< /dashboard/data (the page's JSON sample)
  kDashboardAsset,  ///< /dashboard/assets/{name} (compiled-in scripts and styles)
};

/// The outcome of matching a request line against the route table.
struct RouteMatch {
  enum class Status { kFound, kNoRoute, kMethodNotAllowed };
  Status status = Status::kNoRoute;
  Route route = Route::kHealthz;       ///< valid unless kNoRoute
  std::string pattern;                 ///< "/v1/entities/{type}/{id}" (a metrics label); "" when kNoRoute
  std::vector<std::string> params;     ///< the {…} segments, in order, percent-decoded
  std::string allow;                   ///< kMethodNotAllowed: the allowed methods, "GET, POST"
};

/// Matches `method` ("GET", ...) and a percent-decoded `path` ("/v1/types/movie"). A trailing
/// '/' is not accepted (no route); an empty segment never matches a parameter.
RouteMatch match_route(std::string_view method, std::string_view path);

/// A request target split into its decoded path and query parameters.
struct Target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;  ///< in order; '+' is a space

  /// The first value of query parameter `name`, or std::nullopt.
  std::optional<std::string> param(std::string_view name) const;
};

/// Splits and percent-decodes an origin-form target ("/v1/x?a=1&b=%20"). Returns std::nullopt
/// when it does not start with '/', has a malformed %-escape, or decodes to a NUL byte.
std::optional<Target> parse_target(std::string_view target);

/// Decodes %XX escapes (and '+' as space when `plus_is_space`); std::nullopt on a malformed
/// escape or a decoded NUL.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

}  // namespace eavdb::server
