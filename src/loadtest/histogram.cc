#include "loadtest/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace eavdb::loadtest {
namespace {
constexpr uint64_t kHalf = uint64_t{1} << (Histogram::kSubBucketBits - 1);
constexpr uint64_t kSubMask = (uint64_t{1} << Histogram::kSubBucketBits) - 1;

// Power-of-two "bucket" of a value: 0 below 2^kSubBucketBits, else the shift that brings the
// value into [kHalf, 2*kHalf).
int shift_of(uint64_t value) {
  return (63 - std::countl_zero(value | kSubMask)) - (Histogram::kSubBucketBits - 1);
}
}  // namespace

Histogram::Histogram() : counts_(index_of(kMaxValue) + 1, 0) {}

std::size_t Histogram::index_of(uint64_t value) {
  const int b = shift_of(value);
  return static_cast<std::size_t>(static_cast<uint64_t>(b) * kHalf + (value >> b));
}

uint64_t Histogram::lowest_of(std::size_t index) {
  const uint64_t i = index;
  const int b = i < 2 * kHalf ? 0 : static_cast<int>(i / kHalf) - 1;
  return (i - static_cast<uint64_t>(b) * kHalf) << b;
}

uint64_t Histogram::highest_of(std::size_t index) {
  const uint64_t i = index;
  const int b = i < 2 * kHalf ? 0 : static_cast<int>(i / kHalf) - 1;
  return ((i - static_cast<uint64_t>(b) * kHalf + 1) << b) - 1;
}

void Histogram::record(uint64_t value, uint64_t count) {
  if (count == 0) return;
  value = std::min(value, kMaxValue);
  counts_[index_of(value)] += count;
  total_ += count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value) * count;
}

void Histogram::add(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double Histogram::mean() const { return total_ ? static_cast<double>(sum_ / total_) : 0.0; }

uint64_t Histogram::percentile(double percentile) const {
  if (total_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  auto rank = static_cast<uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(total_)));
  rank = std::clamp<uint64_t>(rank, 1, total_);
  uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_of(i), max_);
  }
  return max_;
}

std::vector<std::pair<uint64_t, uint64_t>> Histogram::buckets() const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (std::size_t i = 0; i < counts_.size(); ++i)
    if (counts_[i]) out.emplace_back(std::min(highest_of(i), max_), counts_[i]);
  return out;
}

}  // namespace eavdb::loadtest
