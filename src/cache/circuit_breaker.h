// eavdb::cache — a circuit breaker guarding calls to the shared (L3) cache.
//
// A cache that is down must cost nothing: when too many recent calls failed, the breaker *opens*
// and callers skip the remote store at once (reads miss, writes are dropped) instead of waiting
// for connect/command timeouts. After a cool-down it lets a few *probe* calls through
// (*half-open*); if they all succeed it closes again, if one fails it reopens.
//
// State machine (after Nygard, "Release It!", and resilience4j's count/time-window breaker):
//
//   kClosed ──(≥ minimum_calls in the window and failures/calls ≥ failure_ratio)──▶ kOpen
//   kOpen ──(cool_down elapsed; checked by allow())──▶ kHalfOpen
//   kHalfOpen ──(half_open_probes successes)──▶ kClosed       kHalfOpen ──(any failure)──▶ kOpen
//
// The failure ratio is measured over a rolling time window split into kBuckets buckets of
// window/kBuckets each; a bucket older than the window is reset when its slot is reused, so the
// cost of record() is O(kBuckets) and independent of the call rate. Results recorded while open
// (calls that started before the breaker opened) are ignored. A half-open probe that never reports
// its result frees its slot after another cool_down, so the breaker cannot get stuck half-open.
//
// Time comes from an injectable clock so tests drive the state machine without sleeping.
//
// Thread-safety: every method may be called from any thread. allow() on a closed breaker is one
// atomic load; everything else takes a small mutex.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

namespace eavdb::cache {

/// The three states of a breaker; see the file comment.
enum class BreakerState { kClosed, kOpen, kHalfOpen };

/// "closed", "open", "half_open".
std::string_view breaker_state_name(BreakerState state) noexcept;

/// Settings of a breaker. Values out of range are clamped: failure_ratio to (0, 1], counts and
/// durations to at least 1.
struct BreakerOptions {
  double failure_ratio = 0.5;                 ///< failures / calls in the window that open the breaker
  int minimum_calls = 10;                     ///< calls in the window before the ratio is considered
  std::chrono::milliseconds window{10000};    ///< rolling window of the failure ratio
  std::chrono::milliseconds cool_down{1000};  ///< time open before probing
  int half_open_probes = 3;                   ///< probes let through (and needed) while half-open
};

/// Monotonic counters of a breaker.
struct BreakerCounters {
  uint64_t successes = 0;  ///< results recorded as success
  uint64_t failures = 0;   ///< results recorded as failure
  uint64_t rejected = 0;   ///< allow() calls answered false
  uint64_t opened = 0;     ///< transitions to kOpen
  uint64_t closed = 0;     ///< transitions from kHalfOpen to kClosed
};

/// A thread-safe circuit breaker. See the file comment.
class CircuitBreaker {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  /// Buckets of the rolling window.
  static constexpr int kBuckets = 10;

  /// A closed breaker. `clock` defaults to std::chrono::steady_clock::now.
  explicit CircuitBreaker(const BreakerOptions& options = {}, Clock clock = {});

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// True when a call may go ahead. Closed: always. Open: false until cool_down has passed since
  /// it opened, then the breaker turns half-open. Half-open: true for up to half_open_probes
  /// calls. Every false is counted in counters().rejected.
  bool allow();
  /// Reports the outcome of a call that allow() let through. Closed: counted in the window (and
  /// may open the breaker). Half-open: a failure reopens it; half_open_probes successes close it.
  /// Open: ignored.
  void record(bool success);

  /// The current state. An open breaker whose cool-down has passed still reports kOpen until the
  /// next allow() moves it to kHalfOpen.
  BreakerState state() const noexcept { return state_.load(std::memory_order_acquire); }
  /// Counters since construction.
  BreakerCounters counters() const;
  /// The (clamped) settings.
  const BreakerOptions& options() const noexcept { return options_; }

 private:
  struct Bucket {
    int64_t epoch = -1;  // index of the window slice the counts belong to
    uint32_t successes = 0;
    uint32_t failures = 0;
  };

  std::chrono::steady_clock::time_point now() const {
    return clock_ ? clock_() : std::chrono::steady_clock::now();
  }
  int64_t slice_of(std::chrono::steady_clock::time_point t) const;
  void open_locked(std::chrono::steady_clock::time_point t);
  void clear_window_locked();

  BreakerOptions options_;
  Clock clock_;
  std::chrono::nanoseconds slice_;  // window / kBuckets

  std::atomic<BreakerState> state_{BreakerState::kClosed};
  mutable std::mutex mu_;
  std::array<Bucket, kBuckets> buckets_{};
  std::chrono::steady_clock::time_point changed_at_{};  // when it opened / went half-open
  int probes_issued_ = 0;                               // half-open: calls let through
  int probes_succeeded_ = 0;                            // half-open: successes recorded
  BreakerCounters counters_;
};

}  // namespace eavdb::cache
