// eavdb::server — per-key request rate limiting with token buckets.
//
// Each key (an API token id) has a bucket of `burst` tokens refilled at `rate` per second; a
// request takes one token or is refused (HTTP 429 with Retry-After). Time is passed in, so the
// logic is deterministic under test.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace eavdb::server {

/// One token bucket. Not thread-safe (RateLimiter locks around it).
class TokenBucket {
 public:
  /// `rate`: tokens added per second (> 0); `burst`: capacity (≥ 1). Starts full at `now_s`.
  TokenBucket(double rate, double burst, double now_s) : rate_(rate), burst_(burst), tokens_(burst), last_(now_s) {}
  /// Takes one token at time `now_s` (seconds, monotonic); false when none is left.
  bool try_take(double now_s);
  /// Seconds until a token is available at `now_s` (0 when one is).
  double wait_seconds(double now_s);
  /// True when the bucket is full at `now_s` (it holds no state worth keeping).
  bool full(double now_s);

 private:
  void refill(double now_s);
  double rate_, burst_, tokens_, last_;
};

/// Token buckets by key. Thread-safe.
class RateLimiter {
 public:
  /// `rate` requests per second with bursts of `burst`; rate ≤ 0 disables limiting.
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst < 1 ? 1 : burst) {}
  /// True when `key` may make a request at `now_s`; otherwise false and `retry_after_s` is the
  /// time until it may (whole seconds, ≥ 1, for the Retry-After header).
  bool allow(const std::string& key, double now_s, int64_t& retry_after_s);

 private:
  double rate_, burst_;
  std::mutex mu_;
  std::unordered_map<std::string, TokenBucket> buckets_;
};

}  // namespace eavdb::server
