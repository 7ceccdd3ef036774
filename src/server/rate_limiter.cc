#include "server/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace eavdb::server {

void TokenBucket::refill(double now_s) {
  if (now_s > last_) {
    tokens_ = std::min(burst_, tokens_ + (now_s - last_) * rate_);
    last_ = now_s;
  }
}

bool TokenBucket::try_take(double now_s) {
  refill(now_s);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

bool TokenBucket::full(double now_s) {
  refill(now_s);
  return tokens_ >= burst_;
}

double TokenBucket::wait_seconds(double now_s) {
  refill(now_s);
  return tokens_ >= 1.0 ? 0.0 : (1.0 - tokens_) / rate_;
}

bool RateLimiter::allow(const std::string& key, double now_s, int64_t& retry_after_s) {
  if (rate_ <= 0) return true;
  std::lock_guard lock(mu_);
  // Bounded memory: when many keys accumulated, forget the buckets that are full again (a new
  // bucket starts full, so forgetting them changes nothing).
  if (buckets_.size() > 100000) {
    for (auto it = buckets_.begin(); it != buckets_.end();) it = it->second.full(now_s) ? buckets_.erase(it) : std::next(it);
  }
  auto it = buckets_.try_emplace(key, rate_, burst_, now_s).first;
  if (it->second.try_take(now_s)) return true;
  retry_after_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(it->second.wait_seconds(now_s))));
  return false;
}

}  // namespace eavdb::server
