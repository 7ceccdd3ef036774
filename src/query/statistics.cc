#include "query/statistics.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace eavdb::query {

int compare_keys(const StatKey& a, const StatKey& b) noexcept {
  const bool as = std::holds_alternative<std::string>(a), bs = std::holds_alternative<std::string>(b);
  if (as || bs) {
    if (as && bs) {
      int c = std::get<std::string>(a).compare(std::get<std::string>(b));
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    return as ? 1 : -1;
  }
  if (std::holds_alternative<int64_t>(a) && std::holds_alternative<int64_t>(b)) {
    int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  auto num = [](const StatKey& k) {
    return std::holds_alternative<int64_t>(k) ? static_cast<double>(std::get<int64_t>(k)) : std::get<double>(k);
  };
  double x = num(a), y = num(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

std::optional<StatKey> stat_key(const SqlParam& p, ValueType t) {
  if (std::holds_alternative<std::monostate>(p)) return std::nullopt;
  if (auto* i = std::get_if<int64_t>(&p)) return StatKey(*i);
  if (auto* d = std::get_if<double>(&p)) return StatKey(*d);
  const auto& s = std::get<std::string>(p);
  if (t == ValueType::kDecimal) return StatKey(std::strtod(s.c_str(), nullptr));
  return StatKey(s);
}

void HyperLogLog::add(uint64_t hash) noexcept {
  const auto index = static_cast<std::size_t>(hash >> (64 - kPrecision));
  const uint64_t rest = hash << kPrecision;
  // rho: position of the leftmost 1-bit of the remaining 64 - p bits (all zero: 64 - p + 1).
  const int rho = rest == 0 ? 64 - kPrecision + 1 : std::countl_zero(rest) + 1;
  registers_[index] = std::max(registers_[index], static_cast<uint8_t>(rho));
}

double HyperLogLog::estimate() const noexcept {
  constexpr double m = static_cast<double>(kRegisters);
  const double alpha = 0.7213 / (1.0 + 1.079 / m);
  double sum = 0;
  int zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -static_cast<int>(r));
    zeros += r == 0;
  }
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / zeros);  // small-range correction
  return e;  // 64-bit hashes: no large-range correction needed
}

uint64_t hash_key(const StatKey& k) noexcept {
  if (auto* i = std::get_if<int64_t>(&k)) return XXH3_64bits_withSeed(i, sizeof *i, 1);
  if (auto* d = std::get_if<double>(&k)) return XXH3_64bits_withSeed(d, sizeof *d, 2);
  const auto& s = std::get<std::string>(k);
  return XXH3_64bits_withSeed(s.data(), s.size(), 3);
}

const AttributeStats* TypeStats::find(int64_t attribute_id) const {
  auto it = attributes.find(attribute_id);
  return it == attributes.end() ? nullptr : &it->second;
}

bool TypeStats::stale() const noexcept {
  const double limit = std::max<double>(kMinChanges, kStaleShare * static_cast<double>(entity_count));
  return static_cast<double>(modifications) > limit;
}

AttributeStatsBuilder::AttributeStatsBuilder(int64_t attribute_id, int64_t expected, int buckets)
    : expected_(std::max<int64_t>(1, expected)), buckets_(std::max(1, buckets)) {
  s_.attribute_id = attribute_id;
}

void AttributeStatsBuilder::add(const StatKey& k) {
  if (!s_.min) s_.min = k;
  // Bound i sits at position round(i * (expected - 1) / B).
  while (next_bound_ <= buckets_ &&
         seen_ >= static_cast<int64_t>(std::llround(static_cast<double>(next_bound_) *
                                                    static_cast<double>(expected_ - 1) / buckets_))) {
    s_.bounds.push_back(k);
    ++next_bound_;
  }
  hll_.add(hash_key(k));
  last_ = k;
  ++seen_;
}

AttributeStats AttributeStatsBuilder::finish() {
  s_.non_null = seen_;
  if (seen_ > 0) {
    s_.max = last_;
    if (s_.bounds.empty() || compare_keys(s_.bounds.back(), *last_) != 0) s_.bounds.push_back(*last_);
    s_.distinct = std::clamp(hll_.estimate(), 1.0, static_cast<double>(seen_));
  } else {
    s_.bounds.clear();
  }
  return std::move(s_);
}

namespace {

// Fraction of the attribute's rows below `k` (strictly below when !inclusive, else ≤), from the
// histogram: whole buckets below, plus a linear share of the bucket holding `k` for numbers (half
// of it for strings).
double position(const AttributeStats& s, const StatKey& k, bool inclusive) {
  const auto& b = s.bounds;
  if (b.size() < 2) {
    if (b.empty()) return 0;
    int c = compare_keys(k, b[0]);
    return c > 0 || (c == 0 && inclusive) ? 1.0 : 0.0;
  }
  const double buckets = static_cast<double>(b.size() - 1);
  if (compare_keys(k, b.front()) < 0) return 0;
  if (compare_keys(k, b.back()) > 0) return 1;
  // First bound > k (inclusive) or >= k (exclusive).
  std::size_t i = 0;
  while (i < b.size() && (inclusive ? compare_keys(b[i], k) <= 0 : compare_keys(b[i], k) < 0)) ++i;
  if (i == 0) return 0;
  if (i == b.size()) return 1;
  // k lies in bucket i - 1: [b[i-1], b[i]].
  double share = 0.5;
  auto num = [](const StatKey& x) -> std::optional<double> {
    if (auto* v = std::get_if<int64_t>(&x)) return static_cast<double>(*v);
    if (auto* v = std::get_if<double>(&x)) return *v;
    return std::nullopt;
  };
  auto lo = num(b[i - 1]), hi = num(b[i]), x = num(k);
  if (lo && hi && x && *hi > *lo) share = std::clamp((*x - *lo) / (*hi - *lo), 0.0, 1.0);
  return (static_cast<double>(i - 1) + share) / buckets;
}

}  // namespace

double estimate_eq(const AttributeStats& s, const StatKey& k) {
  if (s.non_null == 0 || !s.min || !s.max) return 0;
  if (compare_keys(k, *s.min) < 0 || compare_keys(k, *s.max) > 0) return 0;
  double uniform = static_cast<double>(s.non_null) / std::max(1.0, s.distinct);
  if (s.bounds.size() >= 2) {
    int equal = 0;
    for (const auto& b : s.bounds) equal += compare_keys(b, k) == 0;
    double depth = static_cast<double>(s.non_null) / static_cast<double>(s.bounds.size() - 1);
    if (equal > 1) uniform = std::max(uniform, (equal - 1) * depth);
  }
  return std::min(uniform, static_cast<double>(s.non_null));
}

double estimate_range(const AttributeStats& s, const std::optional<StatKey>& lo, const std::optional<StatKey>& hi) {
  if (s.non_null == 0) return 0;
  double from = lo ? position(s, *lo, false) : 0.0;
  double to = hi ? position(s, *hi, true) : 1.0;
  double rows = std::max(0.0, to - from) * static_cast<double>(s.non_null);
  if (lo && hi && compare_keys(*lo, *hi) <= 0) rows = std::max(rows, estimate_eq(s, *lo));
  return std::min(rows, static_cast<double>(s.non_null));
}

std::optional<StatKey> walk_stop_key(const AttributeStats& s, double rows, bool from_top) {
  const auto& b = s.bounds;
  if (b.size() < 2 || s.non_null <= 0) return std::nullopt;
  const double m = static_cast<double>(b.size() - 1);
  // Position from the bottom, in buckets, where the walk has passed `rows` values.
  const double share = rows / static_cast<double>(s.non_null);
  if (!(share < 1)) return std::nullopt;
  const double pos = (from_top ? 1 - share : share) * m;
  const auto i = std::min(static_cast<std::size_t>(std::max(0.0, pos)), b.size() - 2);
  const double t = std::clamp(pos - static_cast<double>(i), 0.0, 1.0);
  const StatKey& lo = b[i];
  const StatKey& hi = b[i + 1];
  if (const auto* l = std::get_if<int64_t>(&lo)) {
    if (const auto* h = std::get_if<int64_t>(&hi)) {
      const double v = static_cast<double>(*l) + t * (static_cast<double>(*h) - static_cast<double>(*l));
      // Outward: a descending walk stops at or below v, an ascending one at or above.
      const int64_t k = static_cast<int64_t>(from_top ? std::floor(v) : std::ceil(v));
      return StatKey(std::clamp(k, std::min(*l, *h), std::max(*l, *h)));
    }
  }
  const auto num = [](const StatKey& x) -> std::optional<double> {
    if (const auto* v = std::get_if<int64_t>(&x)) return static_cast<double>(*v);
    if (const auto* v = std::get_if<double>(&x)) return *v;
    return std::nullopt;
  };
  if (auto l = num(lo), h = num(hi); l && h) return StatKey(*l + t * (*h - *l));
  return from_top ? lo : hi;
}

}  // namespace eavdb::query
