// eavdb::monitor — a small metrics registry (counters, gauges, histograms with labels) and its
// Prometheus text exposition.
//
// Why not prometheus-cpp (DESIGN.md §4): it is not packaged in Debian 12, and the project only
// uses Debian packages. The registry is deliberately small; its output follows the text-based
// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/): one
// "# HELP" and "# TYPE" line per family, samples `name{label="value",...} value`, label values
// escaped (\\, \", \n), histograms as cumulative `_bucket{le="..."}` samples ending in
// le="+Inf", plus `_sum` and `_count`.
//
// Thread-safety: every method may be called from any thread. Recording (inc/set/observe) is
// lock-free on atomics; creating a labelled child and exposition take the registry's mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eavdb::monitor {

/// Label pairs of one series, e.g. {{"route", "GET /v1/types"}, {"status", "200"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing value.
class Counter {
 public:
  /// Adds `v` (must be ≥ 0; negative values are ignored).
  void inc(double v = 1.0) noexcept {
    if (v > 0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  /// Sets the total from a monotonic source counted elsewhere (cache counters, CPU time).
  void mirror(double total) noexcept { value_.store(total, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// A value that goes up and down (or is sampled).
class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// Observations counted into fixed buckets (upper bounds, ascending), with sum and count.
class Histogram {
 public:
  /// `bounds`: ascending finite upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  /// Records one observation (e.g. a latency in seconds).
  void observe(double v) noexcept;
  /// Bucket upper bounds (without +Inf).
  const std::vector<double>& bounds() const noexcept { return bounds_; }
  /// Non-cumulative count of bucket i (i == bounds().size() is the +Inf bucket).
  uint64_t bucket_count(size_t i) const noexcept { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

/// Latency buckets in seconds, 100 µs … 10 s.
std::vector<double> default_latency_buckets();

/// A set of metric families, exposed together.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// The counter `name` with `labels`, created on first use. Names must match
  /// [a-zA-Z_:][a-zA-Z0-9_:]*; a name already registered with another type throws
  /// std::invalid_argument. References stay valid for the registry's lifetime.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  /// The gauge `name` with `labels` (as counter()).
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  /// The histogram `name` with `labels` (as counter()); `bounds` is used when it is created.
  Histogram& histogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                       const Labels& labels = {});

  /// Registers a function run at the start of every expose() (to sample gauges: cache
  /// counters, process RSS). It must not call expose().
  void add_collector(std::function<void(Registry&)> collector);
  /// Runs the collectors (what expose() does first), for readers of single values.
  void collect();

  /// The Prometheus text exposition (format 0.0.4) of every family, families in name order,
  /// series in label order.
  std::string expose();
  /// The exposition restricted to series carrying the label `name`="value" (e.g. a tenant's
  /// series on a tenant-scoped endpoint); families with no such series are left out entirely.
  std::string expose_only(std::string_view label_name, std::string_view label_value);

  /// Calls `fn(labels, histogram)` for every series of histogram family `name` (none when it
  /// does not exist or is not a histogram), under the registry's mutex: `fn` must not call the
  /// registry.
  void for_each_histogram(std::string_view name, const std::function<void(const Labels&, const Histogram&)>& fn);
  /// The sum of the series of counter family `name` (0 when absent): all of them, or with
  /// `label` given, those whose value of `label` starts with `value_prefix` ("status", "5").
  double counter_total(std::string_view name, std::string_view label = {}, std::string_view value_prefix = {});

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(std::string_view name, std::string_view help, Kind kind);
  std::string expose_filtered(const std::pair<std::string_view, std::string_view>* only);

  std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::mutex collectors_mu_;
  std::vector<std::function<void(Registry&)>> collectors_;
};

/// Escapes a label value for the text format: backslash, double quote and line feed.
std::string escape_label_value(std::string_view v);
/// A sample value in the text format: integers without a fraction, "+Inf", "-Inf", "NaN".
std::string format_sample_value(double v);

/// The q-quantile (0 < q ≤ 1) of bucket counts `counts` (non-cumulative; counts[bounds.size()]
/// is the +Inf bucket), interpolated linearly inside the bucket that holds it (Prometheus'
/// histogram_quantile); observations in +Inf report the largest finite bound. 0 without any.
double bucket_quantile(const std::vector<double>& bounds, const std::vector<uint64_t>& counts, double q);

/// Resident set size of this process in bytes (from /proc/self/statm), 0 when unavailable.
uint64_t process_rss_bytes();
/// User + system CPU time of this process in seconds (getrusage).
double process_cpu_seconds();

}  // namespace eavdb::monitor
