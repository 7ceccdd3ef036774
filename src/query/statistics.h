// eavdb::query — planner statistics: per attribute non-null count, distinct estimate, min/max and
// an equi-depth histogram; per type the entity count and the writes since the last analyze.
//
// Distinct counts are HyperLogLog estimates (P. Flajolet, É. Fusy, O. Gandouet, F. Meunier,
// "HyperLogLog: the analysis of a near-optimal cardinality estimation algorithm", AofA 2007),
// with the paper's small-range correction (linear counting). Equi-depth histograms follow
// Piatetsky-Shapiro & Connell (SIGMOD 1984): B buckets holding about the same number of rows,
// described by their B + 1 boundary values. All estimates are row counts (doubles).
//
// Value types are thread-compatible; the estimate functions are pure and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "eavdb/value.h"
#include "query/compiler.h"

namespace eavdb::query {

/// A value as statistics see it: int64 (int and datetime µs), double (decimal) or string.
using StatKey = std::variant<int64_t, double, std::string>;

/// Orders two keys: numbers numerically (int vs double too), numbers before strings, strings by
/// bytes (SQLite's BINARY collation). Returns <0, 0 or >0.
int compare_keys(const StatKey& a, const StatKey& b) noexcept;

/// The key of a bound query parameter compared with a column of type `t` (decimal TEXT becomes
/// a double); std::nullopt for NULL.
std::optional<StatKey> stat_key(const SqlParam& p, ValueType t);

/// HyperLogLog distinct-count sketch with 2^12 registers (standard error about 1.6%).
/// Not thread-safe.
class HyperLogLog {
 public:
  static constexpr int kPrecision = 12;
  static constexpr std::size_t kRegisters = std::size_t{1} << kPrecision;
  /// Adds one 64-bit hash of a value (callers hash with xxHash; see hash_key).
  void add(uint64_t hash) noexcept;
  /// The cardinality estimate E of Flajolet et al. 2007, Fig. 3: harmonic mean of 2^register,
  /// corrected with linear counting m·ln(m/V) when E ≤ 5m/2 and V registers are zero.
  double estimate() const noexcept;

 private:
  std::array<uint8_t, kRegisters> registers_{};
};

/// The xxHash3 64-bit hash of a key (type-tagged so 1 and "1" differ).
uint64_t hash_key(const StatKey& k) noexcept;

/// Statistics of one attribute.
struct AttributeStats {
  int64_t attribute_id = 0;
  int64_t non_null = 0;         ///< entities holding a value
  double distinct = 0;          ///< HyperLogLog estimate, clamped to [1, non_null] when non_null > 0
  std::optional<StatKey> min;   ///< unset when non_null == 0
  std::optional<StatKey> max;
  std::vector<StatKey> bounds;  ///< equi-depth histogram: B + 1 ascending bounds, bounds[0] = min
};

/// Statistics of one entity type.
struct TypeStats {
  int64_t type_id = 0;
  int64_t entity_count = 0;   ///< entities at the last analyze
  int64_t modifications = 0;  ///< entity writes committed since the last analyze
  int64_t analyzed_at = 0;    ///< µs since epoch
  std::unordered_map<int64_t, AttributeStats> attributes;
  /// The attribute's statistics or nullptr (an attribute added after the last analyze).
  const AttributeStats* find(int64_t attribute_id) const;
  /// True when so much changed since the analyze that the estimates should be refreshed:
  /// modifications > max(kMinChanges, kStaleShare · entity_count).
  bool stale() const noexcept;
  static constexpr double kStaleShare = 0.2;
  static constexpr int64_t kMinChanges = 500;
};

/// Builds one attribute's statistics from its values streamed in ascending order (the order of
/// the (attribute_id, value) index). `expected` is the number of values that will be added (it
/// places the histogram bounds; an inexact count only skews bucket depths). Not thread-safe.
class AttributeStatsBuilder {
 public:
  static constexpr int kBuckets = 64;
  AttributeStatsBuilder(int64_t attribute_id, int64_t expected, int buckets = kBuckets);
  void add(const StatKey& k);
  AttributeStats finish();

 private:
  AttributeStats s_;
  int64_t expected_;
  int buckets_;
  int next_bound_ = 0;
  int64_t seen_ = 0;
  HyperLogLog hll_;
  std::optional<StatKey> last_;
};

/// Estimated entities whose attribute equals `k`: the larger of non_null / distinct and the
/// share of histogram bounds equal to `k` (a value that spans buckets is frequent); 0 outside
/// [min, max].
double estimate_eq(const AttributeStats& s, const StatKey& k);

/// Estimated entities whose attribute lies between `lo` and `hi` (either may be absent: open),
/// from the histogram with linear interpolation inside a bucket for numbers.
double estimate_range(const AttributeStats& s, const std::optional<StatKey>& lo, const std::optional<StatKey>& hi);

/// The key at which a walk over the attribute's values in key order, from the largest
/// (`from_top`, a descending walk) or from the smallest, has passed about `rows` values by the
/// histogram: the walk stops after it (`key >= k` descending, `key <= k` ascending) and holds at
/// least `rows` values while the statistics are current (stale ones only move the stop; a caller
/// must not rely on the count for correctness). Interpolates inside a bucket for numbers, rounded
/// outward for integers; a string stop is the bucket's far bound. std::nullopt when there is no
/// histogram or `rows` reaches every value (the whole index is the walk).
std::optional<StatKey> walk_stop_key(const AttributeStats& s, double rows, bool from_top);

}  // namespace eavdb::query
