#include "query/plan_cache.h"

#include <algorithm>

#include "query/lexer.h"

namespace eavdb::query {

namespace {

// The class of a numeric literal: integer in int64, non-integer, or beyond int64.
char number_class(std::string_view text) {
  auto d = Decimal::try_parse(text);
  if (!d) return 'x';
  if (!d->is_integer()) return 'f';
  const double v = d->to_double();
  return v > -9.2e18 && v < 9.2e18 ? 'i' : 'b';
}

char value_class(const Value& v) {
  if (is_null(v)) return 'n';
  if (std::holds_alternative<int64_t>(v)) return 'i';
  if (auto* d = std::get_if<Decimal>(&v)) {
    if (!d->is_integer()) return 'f';
    const double x = d->to_double();
    return x > -9.2e18 && x < 9.2e18 ? 'I' : 'b';
  }
  if (std::holds_alternative<DateTime>(v)) return 't';
  return 's';
}

}  // namespace

std::string shape_key(std::string_view sql, const std::vector<Value>& params) {
  std::string out;
  out.reserve(sql.size());
  std::size_t param = 0;
  for (const Token& t : tokenize(sql)) {
    if (t.kind == Tok::kEnd) break;
    out.push_back(static_cast<char>('A' + static_cast<int>(t.kind)));
    switch (t.kind) {
      case Tok::kNumber: out.push_back(number_class(t.text)); break;
      case Tok::kString: break;
      case Tok::kParam: out.push_back(param < params.size() ? value_class(params[param++]) : '?'); break;
      default:
        out.append(std::to_string(t.text.size()));
        out.push_back(':');
        out.append(t.text);
    }
  }
  return out;
}

PlanCache::PlanCache(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {}

std::optional<PlanChoice> PlanCache::get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void PlanCache::put(const std::string& key, PlanChoice choice) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->second = std::move(choice);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(key, std::move(choice));
  index_[key] = lru_.begin();
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void PlanCache::clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  index_.clear();
}

int64_t PlanCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

int64_t PlanCache::misses() const {
  std::lock_guard lock(mu_);
  return misses_;
}

std::size_t PlanCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace eavdb::query
