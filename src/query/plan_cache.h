// eavdb::query — the plan cache: planner decisions (query/planner.h PlanChoice) keyed by the
// query's normalised shape, so a query that differs from an earlier one only in its literal or
// parameter values skips estimation and plan search.
//
// The shape is the token stream with every literal and '?' replaced by its class: the classes
// that change how the binder rewrites a predicate are kept apart (an integer, a number with a
// fraction — `int_col < 5.5` becomes `int_col <= 5` —, a number outside int64, a string, NULL, and
// for parameters the type of the bound value). A cached choice is re-validated against the new
// bound query (choice_fits) before use, so a stale or mismatched entry can cost a re-plan but
// never a wrong answer. Thread-safe (one mutex); LRU-bounded.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eavdb/value.h"
#include "query/planner.h"

namespace eavdb::query {

/// The shape key of `sql` with `params`: tokens with literals replaced by their class (see the
/// file comment). Throws Error(kSyntax) like tokenize().
std::string shape_key(std::string_view sql, const std::vector<Value>& params);

/// An LRU map from shape keys to plan choices.
class PlanCache {
 public:
  /// Holds at most `capacity` entries (≥ 1).
  explicit PlanCache(std::size_t capacity = 4096);
  /// The cached choice for `key`, refreshed as most recently used.
  std::optional<PlanChoice> get(const std::string& key);
  /// Stores (or replaces) the choice for `key`, evicting the least recently used beyond capacity.
  void put(const std::string& key, PlanChoice choice);
  /// Drops every entry (after an analyze, a flat-table change or a schema change).
  void clear();
  /// Lookups that found an entry / did not.
  int64_t hits() const;
  int64_t misses() const;
  std::size_t size() const;

 private:
  using Entry = std::pair<std::string, PlanChoice>;
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  ///< front: most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

}  // namespace eavdb::query
