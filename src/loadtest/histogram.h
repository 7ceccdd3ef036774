// eavdb::loadtest::Histogram — a latency histogram with HdrHistogram's log-linear layout.
//
// Values (nanoseconds) below 2^kSubBucketBits land in exact unit buckets; above that, each
// power-of-two range is split into 2^(kSubBucketBits-1) equal sub-buckets, so every recorded
// value is known to within 1/1024 of itself (three significant decimal digits) while the whole
// range up to kMaxValue needs about 33,000 counters. (Debian packages HdrHistogram only for Java
// and Go, hence this small C++ version.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace eavdb::loadtest {

/// Log-linear histogram of non-negative integer values (the load tester records nanoseconds).
/// Not thread-safe: each thread records into its own and the results are merged with add().
class Histogram {
 public:
  static constexpr int kSubBucketBits = 11;                  ///< 2048 exact values in the first bucket
  static constexpr uint64_t kMaxValue = (uint64_t{1} << 42) - 1;  ///< ~73 minutes in ns; larger values are clamped

  Histogram();

  /// Records `value` `count` times; values above kMaxValue are recorded as kMaxValue.
  void record(uint64_t value, uint64_t count = 1);
  /// Adds every count of `other` (same layout) to this histogram.
  void add(const Histogram& other);

  uint64_t count() const { return total_; }
  /// Smallest and largest recorded values (exact, not bucketed); 0 when empty.
  uint64_t min() const { return total_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  /// Arithmetic mean of the recorded values (exact sum / count); 0 when empty.
  double mean() const;
  /// The value at `percentile` (0..100): the highest value equivalent to the bucket holding the
  /// ceil(percentile/100 * count)-th smallest recording, capped at max(). 0 when empty.
  uint64_t percentile(double percentile) const;
  /// Non-empty buckets as (highest value of the bucket, count), in increasing value order.
  std::vector<std::pair<uint64_t, uint64_t>> buckets() const;

  /// Bucket index of a value, and the lowest/highest value sharing that index (the layout; public
  /// for tests).
  static std::size_t index_of(uint64_t value);
  static uint64_t lowest_of(std::size_t index);
  static uint64_t highest_of(std::size_t index);

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace eavdb::loadtest
