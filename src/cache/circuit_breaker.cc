// Circuit breaker: rolling-window failure ratio and the closed/open/half-open state machine.
#include "cache/circuit_breaker.h"

#include <algorithm>

namespace eavdb::cache {

std::string_view breaker_state_name(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(const BreakerOptions& options, Clock clock)
    : options_(options), clock_(std::move(clock)) {
  if (!(options_.failure_ratio > 0.0)) options_.failure_ratio = 1e-9;
  options_.failure_ratio = std::min(options_.failure_ratio, 1.0);
  options_.minimum_calls = std::max(options_.minimum_calls, 1);
  options_.half_open_probes = std::max(options_.half_open_probes, 1);
  options_.window = std::max(options_.window, std::chrono::milliseconds(1));
  options_.cool_down = std::max(options_.cool_down, std::chrono::milliseconds(1));
  slice_ = std::max(std::chrono::nanoseconds(1),
                    std::chrono::duration_cast<std::chrono::nanoseconds>(options_.window) / kBuckets);
}

int64_t CircuitBreaker::slice_of(std::chrono::steady_clock::time_point t) const {
  return static_cast<int64_t>(t.time_since_epoch() / slice_);
}

void CircuitBreaker::clear_window_locked() {
  for (auto& b : buckets_) b = Bucket{};
}

void CircuitBreaker::open_locked(std::chrono::steady_clock::time_point t) {
  state_.store(BreakerState::kOpen, std::memory_order_release);
  changed_at_ = t;
  probes_issued_ = probes_succeeded_ = 0;
  ++counters_.opened;
}

bool CircuitBreaker::allow() {
  if (state_.load(std::memory_order_acquire) == BreakerState::kClosed) return true;
  std::lock_guard lock(mu_);
  auto t = now();
  switch (state_.load(std::memory_order_relaxed)) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      if (t - changed_at_ < options_.cool_down) {
        ++counters_.rejected;
        return false;
      }
      state_.store(BreakerState::kHalfOpen, std::memory_order_release);
      changed_at_ = t;
      probes_issued_ = probes_succeeded_ = 0;
      [[fallthrough]];
    case BreakerState::kHalfOpen:
      // Probes that never reported back free their slots after another cool-down.
      if (probes_issued_ >= options_.half_open_probes && t - changed_at_ >= options_.cool_down) {
        probes_issued_ = probes_succeeded_;
        changed_at_ = t;
      }
      if (probes_issued_ < options_.half_open_probes) {
        ++probes_issued_;
        return true;
      }
      ++counters_.rejected;
      return false;
  }
  return false;
}

void CircuitBreaker::record(bool success) {
  std::lock_guard lock(mu_);
  if (success)
    ++counters_.successes;
  else
    ++counters_.failures;
  auto t = now();
  switch (state_.load(std::memory_order_relaxed)) {
    case BreakerState::kOpen:
      return;
    case BreakerState::kHalfOpen:
      if (!success) {
        open_locked(t);
      } else if (++probes_succeeded_ >= options_.half_open_probes) {
        state_.store(BreakerState::kClosed, std::memory_order_release);
        clear_window_locked();
        ++counters_.closed;
      }
      return;
    case BreakerState::kClosed:
      break;
  }
  int64_t slice = slice_of(t);
  Bucket& b = buckets_[static_cast<size_t>(((slice % kBuckets) + kBuckets) % kBuckets)];
  if (b.epoch != slice) b = Bucket{slice, 0, 0};
  if (success)
    ++b.successes;
  else
    ++b.failures;
  if (success) return;
  uint64_t calls = 0, failures = 0;
  for (const auto& x : buckets_) {
    if (x.epoch > slice - kBuckets && x.epoch <= slice) {
      calls += x.successes + x.failures;
      failures += x.failures;
    }
  }
  if (calls >= static_cast<uint64_t>(options_.minimum_calls) &&
      static_cast<double>(failures) >= options_.failure_ratio * static_cast<double>(calls)) {
    open_locked(t);
    clear_window_locked();
  }
}

BreakerCounters CircuitBreaker::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

}  // namespace eavdb::cache
