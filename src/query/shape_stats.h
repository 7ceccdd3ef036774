// eavdb::query — per-shape query statistics and the slow-query log.
//
// ShapeStatsLog records every executed query under its *display shape*: the token stream with
// every literal and '?' replaced by '?' (a run of literals in a list collapses to one '?', so
// `IN (1, 2)` and `IN (1, 2, 3)` share a shape), identifiers and keywords lower-cased. Per shape
// it keeps the count, total/max latency, rows returned, the plan of the latest run and a
// fixed-size log-bucket latency histogram (kBuckets buckets, 4 per octave from 1 µs: p99 is the
// upper bound of the bucket holding the 99th percentile, within 19% above the true value, and
// never above the maximum). The number of shapes is bounded: a new shape beyond capacity evicts
// the least recently recorded one. Thread-safe (one mutex).
//
// SlowQueryLog appends one NDJSON line per query at or over a threshold:
// {"time": RFC 3339 UTC with ms, "sql", "params": [...] (each "?" when redacted), "plan", "rows",
// "duration_ms"}. Thread-safe; the file is opened in append mode and flushed after each line.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eavdb/explain.h"
#include "eavdb/value.h"

namespace eavdb::query {

/// The display shape of `sql` (see the file comment). Throws Error(kSyntax) like tokenize().
std::string display_shape(std::string_view sql);

/// A fixed-size latency histogram: bucket i holds durations in (2^((i-1)/4), 2^(i/4)] µs;
/// bucket 0 everything ≤ 1 µs, the last everything above its lower bound. Not thread-safe.
class LatencyHistogram {
 public:
  static constexpr int kBuckets = 112;  ///< 4 per octave: the last bound is 2^27.75 µs (≈ 3.9 min)
  /// Adds one duration in ms (negative counts as 0).
  void add(double ms) noexcept;
  /// The upper bound (ms) of the bucket holding quantile `q` in [0, 1]; 0 when empty.
  double quantile_ms(double q) const noexcept;
  uint64_t count() const noexcept { return count_; }
  /// The upper bound of bucket `i` in ms.
  static double bucket_upper_ms(int i) noexcept;

 private:
  std::array<uint32_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

/// Bounded per-shape statistics (see the file comment).
class ShapeStatsLog {
 public:
  /// Keeps at most `capacity` shapes (≥ 1).
  explicit ShapeStatsLog(std::size_t capacity = 1000);
  /// Records one run of `shape` that took `ms` milliseconds, returned `rows` rows and ran `plan`.
  /// The first run of a shape also keeps `sql` and `params` as its sample (the advisor re-plans it).
  void record(const std::string& shape, std::string_view plan, double ms, uint64_t rows, std::string_view sql = {},
              const std::vector<Value>& params = {});
  /// A shape's statistics with the sample query of its first run.
  struct Sample {
    QueryShapeStats stats;
    std::string sql;
    std::vector<Value> params;
  };
  /// Every shape with its sample, most recently recorded first.
  std::vector<Sample> samples() const;
  /// Up to `limit` shapes, highest p99 first (ties: higher total first, then shape text).
  std::vector<QueryShapeStats> top(std::size_t limit) const;
  /// Every shape (unordered), for the advisor.
  std::vector<QueryShapeStats> all() const;
  std::size_t size() const;

 private:
  struct Entry {
    std::string shape;
    std::string plan;
    uint64_t count = 0;
    double total_ms = 0, max_ms = 0;
    uint64_t rows = 0;
    LatencyHistogram hist;
    std::string sample_sql;
    std::vector<Value> sample_params;
  };
  static QueryShapeStats snapshot(const Entry& e);
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  ///< front: most recently recorded
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  ///< keys view Entry::shape
};

/// The slow-query log (see the file comment).
class SlowQueryLog {
 public:
  /// Opens `path` for appending (created when absent). Throws Error(kInvalidArgument) naming the
  /// path and the OS reason when it cannot be opened.
  SlowQueryLog(const std::string& path, double threshold_ms, bool redact);
  ~SlowQueryLog();
  SlowQueryLog(const SlowQueryLog&) = delete;
  SlowQueryLog& operator=(const SlowQueryLog&) = delete;
  /// True when a query of `ms` milliseconds belongs in the log.
  bool wants(double ms) const noexcept { return ms >= threshold_ms_; }
  /// Appends one line (call only when wants(ms)). Write errors are counted, never thrown.
  void write(std::string_view sql, const std::vector<Value>& params, std::string_view plan, uint64_t rows, double ms);
  /// Lines that could not be written.
  uint64_t errors() const;

 private:
  std::FILE* file_ = nullptr;
  double threshold_ms_;
  bool redact_;
  mutable std::mutex mu_;
  uint64_t errors_ = 0;
};

/// One slow-query log line without the trailing newline (exposed for tests): `now_us` is the
/// wall-clock time in µs since the Unix epoch.
std::string slow_query_line(int64_t now_us, std::string_view sql, const std::vector<Value>& params, bool redact,
                            std::string_view plan, uint64_t rows, double ms);

}  // namespace eavdb::query
