// eavdb::loadtest — `eavdb loadtest URL`: an open-model, constant-throughput HTTP load generator
// after Gil Tene's wrk2.
//
// Requests are scheduled at a fixed global rate, independent of how fast the server answers:
// request k is due at start + k/rate and is sent on connection k mod C (keep-alive, one request
// at a time per connection). Latency is measured from the *scheduled* time, not from the moment
// the request could actually be sent, so a stalled server is charged for all the requests that
// queued up behind the stall (coordinated omission corrected). Requests due during the warm-up
// are sent but not recorded. Runs are bounded in time (max_duration) and requests (max_requests).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "loadtest/histogram.h"

namespace eavdb::loadtest {

/// Kinds of request of the mix.
enum class Kind { kGet = 0, kQuery = 1, kPut = 2 };
inline constexpr int kKinds = 3;
/// "get", "query" or "put".
const char* kind_name(Kind k);

/// The request mix: relative weights of GET entity / POST query / PATCH entity.
struct Mix {
  uint32_t weight[kKinds] = {100, 0, 0};

  /// Parses "get=80,query=15,put=5" (any subset, any order; weights are non-negative integers,
  /// at least one positive). Throws Error(kInvalidArgument) naming the bad item.
  static Mix parse(const std::string& text);
  /// The kind for a uniform draw `u` in [0, total()): weights laid end to end in kind order.
  Kind pick(uint64_t u) const;
  uint64_t total() const { return uint64_t{weight[0]} + weight[1] + weight[2]; }
  /// "get=80,query=15,put=5" (kinds with weight 0 left out).
  std::string to_string() const;
};

/// The fixed-rate schedule. Global request k (0-based) is due `k / rate` seconds after the start
/// and belongs to connection k mod connections; so connection c sends its n-th request
/// (n = 0, 1, ...) at (c + n*connections) / rate. Offsets are computed from k (not accumulated),
/// so there is no drift however long the run. Pure arithmetic; thread-safe.
class Schedule {
 public:
  /// `rate` > 0 requests per second; `connections` ≥ 1; `total` = requests in the whole run.
  Schedule(double rate, int connections, uint64_t total);
  /// Global index of connection `c`'s `n`-th request.
  uint64_t global_index(int c, uint64_t n) const { return static_cast<uint64_t>(c) + n * connections_; }
  /// Whether connection `c` has an `n`-th request (its global index is below total()).
  bool has(int c, uint64_t n) const { return global_index(c, n) < total_; }
  /// Nanoseconds after the start at which global request k is due: floor(k * 1e9 / rate).
  std::chrono::nanoseconds offset(uint64_t k) const;
  /// Requests connection `c` sends in the whole run.
  uint64_t count_for(int c) const;
  /// Requests in a run of `seconds` at `rate`: ceil(seconds * rate).
  static uint64_t requests_in(double seconds, double rate);
  uint64_t total() const { return total_; }
  int connections() const { return connections_; }
  double rate() const { return rate_; }

 private:
  double rate_;
  int connections_;
  uint64_t total_;
};

/// Where the requests go: http://HOST[:PORT] (path ignored except its absence of a query).
struct Target {
  std::string host;
  uint16_t port = 80;
  /// Parses "http://host[:port][/]"; throws Error(kInvalidArgument) for another scheme, a missing
  /// host or a bad port.
  static Target parse(const std::string& url);
};

/// Options of one run (the CLI flags of `eavdb loadtest`).
struct Options {
  std::string url;                 ///< http://127.0.0.1:8080
  double rate = 1000;              ///< requests per second (all connections together)
  int connections = 10;            ///< keep-alive connections
  int threads = 2;                 ///< client threads (connections are spread over them)
  double duration_s = 10;          ///< measured time, seconds
  double warmup_s = 1;             ///< time before the measured part, seconds (sent, not recorded)
  double timeout_s = 5;            ///< per request (connect, write and read); a timeout is an error
  double max_duration_s = 600;     ///< hard bound: warmup + duration above this is refused
  uint64_t max_requests = 10'000'000;  ///< hard bound on requests scheduled in the run (warm-up included)
  Mix mix;                         ///< request kinds
  std::string type = "movie";      ///< entity type of GET/PATCH and of the default query
  int64_t id_min = 1, id_max = 1000;   ///< ids drawn uniformly from [id_min, id_max]
  std::string token;               ///< Bearer token ("" sends none)
  std::string query_sql;           ///< query SQL ("" → SELECT * FROM <type> WHERE id >= ? ORDER BY id LIMIT 10); each ? gets a random id
  std::string put_body = "{}";     ///< JSON object sent as PATCH body
  bool allow_remote = false;       ///< permit a non-loopback target
  uint64_t seed = 1;               ///< random seed (ids and kinds; per connection)
};

/// Parses "A-B" (or "A..B") into an inclusive id range; throws Error(kInvalidArgument).
std::pair<int64_t, int64_t> parse_id_range(const std::string& text);

/// Checks the options (ranges, bounds, mix, JSON body is an object, target scheme); throws
/// Error(kInvalidArgument) naming the option. Does not resolve the host.
void validate(const Options& options);

/// Outcome of a run. Latencies in nanoseconds, measured from the scheduled send time.
struct Report {
  Options options;
  uint64_t scheduled = 0;          ///< requests scheduled in the measured part
  uint64_t completed = 0;          ///< responses received in the measured part (any status)
  uint64_t ok = 0;                 ///< of which 1xx/2xx/3xx
  uint64_t warmup_requests = 0;    ///< requests scheduled during the warm-up
  double measured_seconds = 0;     ///< wall time of the measured part (up to its last response)
  double achieved_rate = 0;        ///< completed / measured_seconds
  bool truncated = false;          ///< max_requests cut the run short
  Histogram latency;               ///< every completed measured request
  Histogram by_kind[kKinds];       ///< the same split by kind
  uint64_t sent_by_kind[kKinds] = {0, 0, 0};
  std::map<std::string, uint64_t> errors;  ///< "connect", "timeout", "io", "status_503", ... → count
  uint64_t error_count() const;

  /// Human-readable summary (rates, percentiles in ms, errors).
  std::string text() const;
  /// The JSON report (options, counts, percentiles in ms, errors, non-empty histogram buckets).
  std::string json() const;
};

/// Runs the load test: resolves the target (refusing non-loopback addresses unless
/// allow_remote), opens the connections and sends the schedule. Blocks for about warmup +
/// duration (never longer than max_duration + timeout). Throws Error(kInvalidArgument) for bad
/// options or a refused target, Error(kIo) when the host cannot be resolved. Server errors are
/// counted in the report, never thrown.
Report run(const Options& options);

}  // namespace eavdb::loadtest
