// Admission/eviction policies (cache/policy.h) and the frequency sketch (cache/frequency_sketch.h):
// LRU order, W-TinyLFU admission, promotion and demotion, scan resistance, weights and both bounds,
// sketch saturation and aging, stale handles, the hill climber, and hit ratios on a Zipf trace.
#include "cache/policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cache/frequency_sketch.h"
#include "eavdb/error.h"

namespace eavdb::cache {
namespace {

// Key hashes in tests are distinct small-ish integers; the policies mix them before use.
uint64_t key(uint64_t i) { return 0x1000 + i; }

// A minimal EntrySource: key hash and weight by handle.
class TableSource final : public EntrySource {
 public:
  uint64_t key_hash(Handle h) const noexcept override { return rows_.at(h).first; }
  uint64_t weight(Handle h) const noexcept override { return rows_.at(h).second; }
  void set(Handle h, uint64_t hash, uint64_t weight) { rows_[h] = {hash, weight}; }
  void erase(Handle h) { rows_.erase(h); }

 private:
  std::map<Handle, std::pair<uint64_t, uint64_t>> rows_;
};

// The owner side of a policy: key hash -> (handle, weight), kept in step with what the policy
// reports, so tests can check that both sides agree after every operation.
class Owner {
 public:
  // With `borrowed` the policy reads key hashes and weights from the owner (an EntrySource kept
  // in step with the owner's map) instead of keeping copies.
  Owner(PolicyKind kind, uint64_t max_weight, uint64_t max_entries, bool borrowed = false)
      : policy_(Policy::create(kind, max_weight, max_entries, borrowed ? &source_ : nullptr)),
        max_weight_(max_weight),
        max_entries_(max_entries) {}

  Policy& policy() { return *policy_; }

  // A lookup: a hit if cached (recorded as a hit), else a miss (recorded) followed by an insert.
  // Returns true on a hit.
  bool access(uint64_t k, uint64_t weight = 1) {
    auto it = entries_.find(k);
    if (it != entries_.end()) {
      policy_->record_hit(it->second.handle);
      return true;
    }
    policy_->record_miss(k);
    put(k, weight);
    return false;
  }

  // Inserts a key that is not cached; returns its handle (kNoHandle if dropped at once).
  Handle put(uint64_t k, uint64_t weight = 1) {
    EXPECT_FALSE(entries_.contains(k));
    last_evicted_.clear();
    const Handle h = policy_->insert(k, weight, last_evicted_);
    for (const Evicted& e : last_evicted_) {
      // The new entry itself is reported without a handle; everything else with the one it had,
      // which must differ from the new entry's.
      if (e.key_hash == k) {
        EXPECT_EQ(e.handle, kNoHandle);
        EXPECT_EQ(h, kNoHandle);
        continue;
      }
      EXPECT_NE(e.handle, h);
      drop(e);
    }
    if (h != kNoHandle) {
      entries_[k] = Entry{h, weight};
      weight_ += weight;
      source_.set(h, k, weight);
    }
    check();
    return h;
  }

  void update(uint64_t k, uint64_t weight) {
    last_evicted_.clear();
    Entry& entry = entries_.at(k);
    policy_->update_weight(entry.handle, weight, last_evicted_);
    weight_ = weight_ - entry.weight + weight;
    entry.weight = weight;
    source_.set(entry.handle, k, weight);  // after update_weight, as EntrySource requires
    for (const Evicted& e : last_evicted_) drop(e);
    check();
  }

  void remove(uint64_t k) {
    policy_->remove(entries_.at(k).handle);
    source_.erase(entries_.at(k).handle);
    weight_ -= entries_.at(k).weight;
    entries_.erase(k);
    check();
  }

  bool cached(uint64_t k) const { return entries_.contains(k); }
  Handle handle(uint64_t k) const { return entries_.at(k).handle; }
  size_t size() const { return entries_.size(); }
  const std::vector<Evicted>& last_evicted() const { return last_evicted_; }
  std::vector<uint64_t> keys() const {
    std::vector<uint64_t> out;
    for (const auto& [k, e] : entries_) out.push_back(k);
    return out;
  }

  // Both bounds hold, and the policy's counters match the owner's view.
  void check() const {
    const PolicyStats s = policy_->stats();
    ASSERT_LE(s.weight, max_weight_);
    ASSERT_LE(s.entries, max_entries_);
    ASSERT_EQ(s.entries, entries_.size());
    ASSERT_EQ(s.weight, weight_);
  }

 private:
  struct Entry {
    Handle handle;
    uint64_t weight;
  };

  void drop(const Evicted& e) {
    auto it = entries_.find(e.key_hash);
    ASSERT_NE(it, entries_.end()) << "evicted an unknown key " << e.key_hash;
    ASSERT_EQ(it->second.handle, e.handle);
    weight_ -= it->second.weight;
    source_.erase(e.handle);
    entries_.erase(it);
  }

  TableSource source_;  // declared before policy_, which borrows it
  std::unique_ptr<Policy> policy_;
  uint64_t max_weight_;
  uint64_t max_entries_;
  std::map<uint64_t, Entry> entries_;
  uint64_t weight_ = 0;  // sum of entries_' weights
  std::vector<Evicted> last_evicted_;
};

// "wtinylfu" / "lru", and whether the owner supplies hashes and weights, for SCOPED_TRACE.
std::string fmt_mode(PolicyKind kind, bool borrowed) {
  return std::string(policy_name(kind)) + (borrowed ? " (EntrySource)" : " (own copies)");
}

// Zipf(alpha) ranks in [0, n) by inverse CDF (binary search over the cumulative weights).
class Zipf {
 public:
  Zipf(uint64_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (uint64_t i = 0; i < n; ++i) cdf_[i] = sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha);
    for (double& c : cdf_) c /= sum;
  }
  uint64_t operator()(std::mt19937_64& rng) const {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
    return std::min<uint64_t>(static_cast<uint64_t>(it - cdf_.begin()), cdf_.size() - 1);
  }

 private:
  std::vector<double> cdf_;
};

// ---- names and arguments ---------------------------------------------------------------------

TEST(CachePolicyTest, NamesRoundTrip) {
  EXPECT_EQ(policy_name(PolicyKind::kWTinyLfu), "wtinylfu");
  EXPECT_EQ(policy_name(PolicyKind::kLru), "lru");
  EXPECT_EQ(parse_policy("wtinylfu"), PolicyKind::kWTinyLfu);
  EXPECT_EQ(parse_policy("lru"), PolicyKind::kLru);
  try {
    parse_policy("arc");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

TEST(CachePolicyTest, RejectsZeroAndHugeBounds) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    EXPECT_THROW(Policy::create(kind, 0, 10), Error);
    EXPECT_THROW(Policy::create(kind, 10, 0), Error);
    EXPECT_THROW(Policy::create(kind, 10, uint64_t{1} << 40), Error);
    EXPECT_NE(Policy::create(kind, 1, 1), nullptr);
  }
}

// ---- LRU -------------------------------------------------------------------------------------

TEST(CachePolicyLru, EvictsLeastRecentlyUsedFirst) {
  Owner o(PolicyKind::kLru, 100, 3);
  o.access(key(1));
  o.access(key(2));
  o.access(key(3));
  EXPECT_TRUE(o.access(key(1)));  // order now 2, 3, 1
  o.access(key(4));
  ASSERT_EQ(o.last_evicted().size(), 1u);
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(2));
  EXPECT_TRUE(o.access(key(3)));  // order now 1, 4, 3
  o.access(key(5));
  ASSERT_EQ(o.last_evicted().size(), 1u);
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(1));
  o.access(key(6));
  ASSERT_EQ(o.last_evicted().size(), 1u);
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(4));
  EXPECT_EQ(o.policy().stats().evictions, 3u);
  EXPECT_EQ(o.policy().stats().window_max, 0u);
}

TEST(CachePolicyLru, EvictsByWeightInOrder) {
  Owner o(PolicyKind::kLru, 10, 100);
  o.put(key(1), 4);
  o.put(key(2), 4);
  o.put(key(3), 2);  // weight 10: full
  EXPECT_TRUE(o.last_evicted().empty());
  o.put(key(4), 7);  // needs 7: drops 1 and 2 (LRU first), keeps 3
  ASSERT_EQ(o.last_evicted().size(), 2u);
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(1));
  EXPECT_EQ(o.last_evicted()[1].key_hash, key(2));
  EXPECT_TRUE(o.cached(key(3)));
  EXPECT_EQ(o.policy().stats().weight, 9u);
}

// ---- W-TinyLFU admission ---------------------------------------------------------------------

// 100 entries: window 1, protected 79, probation the rest.
constexpr uint64_t kSmall = 100;

// Fills a fresh W-TinyLFU policy with keys [0, count) each seen `freq` times.
void fill(Owner& o, uint64_t first, uint64_t count, int freq) {
  for (uint64_t i = first; i < first + count; ++i) {
    for (int f = 1; f < freq; ++f) o.policy().record_miss(key(i));
    o.access(key(i));
  }
}

TEST(CachePolicyWTinyLfu, AdmissionComparesCandidateWithVictim) {
  Owner o(PolicyKind::kWTinyLfu, 1000, kSmall);
  fill(o, 0, kSmall - 1, 5);  // 99 hot entries, frequency 5
  o.access(key(1000));        // cold, frequency 1: sits in the window; the cache is full
  EXPECT_TRUE(o.last_evicted().empty());
  EXPECT_EQ(o.size(), kSmall);

  // The next insert pushes the cold entry out of the window; it loses to the hot probation victim.
  o.access(key(1001));
  ASSERT_EQ(o.last_evicted().size(), 1u);
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(1000));

  // A candidate as frequent as the victim loses too (ties favour the victim).
  fill(o, 2000, 1, 5);  // pushes key 1001 out (frequency 1)
  ASSERT_EQ(o.last_evicted().size(), 1u);
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(1001));
  o.access(key(1002));  // pushes key 2000 out: 5 vs 5
  ASSERT_EQ(o.last_evicted().size(), 1u);
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(2000));

  // A hotter candidate is admitted and the probation LRU entry (the oldest hot key) goes.
  fill(o, 3000, 1, 6);  // pushes key 1002 out
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(1002));
  o.access(key(1003));  // key 3000 (frequency 6) against key 0 (frequency 5)
  ASSERT_EQ(o.last_evicted().size(), 1u);
  EXPECT_EQ(o.last_evicted()[0].key_hash, key(0));
  EXPECT_TRUE(o.cached(key(3000)));
}

TEST(CachePolicyWTinyLfu, KeepsFrequentEntryAgainstScan) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    Owner o(kind, 1000, kSmall);
    fill(o, 0, kSmall, 1);
    for (int i = 0; i < 8; ++i) o.access(key(7));  // one hot entry among cold ones
    bool survived = true;
    for (uint64_t i = 0; i < 10 * kSmall; ++i) {  // a scan of one-hit wonders
      o.access(key(100'000 + i));
      survived = survived && o.cached(key(7));
    }
    if (kind == PolicyKind::kWTinyLfu) {
      EXPECT_TRUE(survived);
      EXPECT_TRUE(o.access(key(7)));
    } else {
      EXPECT_FALSE(survived);  // the contrast: a scan flushes LRU
    }
  }
}

TEST(CachePolicyWTinyLfu, ProbationHitPromotesToProtected) {
  Owner o(PolicyKind::kWTinyLfu, 1000, kSmall);
  fill(o, 0, kSmall, 1);           // all in probation but the last (window); nothing evicted yet
  EXPECT_TRUE(o.access(key(5)));   // probation hit: protected, frequency 2
  o.policy().record_miss(key(6));  // same frequency, but stays in probation
  // 200 candidates of frequency 3 each beat every probation entry: probation is flushed.
  for (uint64_t i = 0; i < 2 * kSmall; ++i) fill(o, 10'000 + i, 1, 3);
  EXPECT_TRUE(o.cached(key(5)));
  EXPECT_FALSE(o.cached(key(6)));
  for (uint64_t i = 0; i < kSmall; ++i) {
    if (i != 5) {
      EXPECT_FALSE(o.cached(key(i))) << i;
    }
  }
}

TEST(CachePolicyWTinyLfu, CandidateDuelsWithProtectedWhenProbationIsEmpty) {
  // 20 entries: window 1, protected 19, probation 3% = nothing. A candidate leaving the window
  // finds no probation victim but itself; it must duel with the protected LRU entry rather than
  // be dropped unheard (it was, whatever its frequency, before).
  constexpr uint64_t kTiny = 20;
  for (const bool borrowed : {false, true}) {
    SCOPED_TRACE(borrowed);
    Owner o(PolicyKind::kWTinyLfu, kTiny, kTiny, borrowed);
    for (uint64_t i = 0; i < kTiny; ++i) o.access(key(i));  // all cached, frequency 1
    for (uint64_t i = 0; i < kTiny; ++i) o.access(key(i));  // hits: frequency 2, promoted
    ASSERT_EQ(o.size(), kTiny);
    for (int f = 0; f < 5; ++f) o.policy().record_miss(key(100));  // frequency 6 once inserted
    o.access(key(100));  // into the window; its LRU entry (key 19) leaves it and duels
    o.access(key(101));  // frequency 1: pushes key 100 out of the window
    EXPECT_TRUE(o.cached(key(100)));
    ASSERT_EQ(o.last_evicted().size(), 1u);
    EXPECT_NE(o.last_evicted()[0].key_hash, key(100));
    // A cold candidate still loses to a more frequent protected entry.
    o.access(key(102));  // pushes key 101 (frequency 1) out of the window
    ASSERT_EQ(o.last_evicted().size(), 1u);
    EXPECT_EQ(o.last_evicted()[0].key_hash, key(101));
  }
}

TEST(CachePolicyWTinyLfu, ProtectedOverflowDemotesLeastRecent) {
  Owner o(PolicyKind::kWTinyLfu, 1000, kSmall);
  fill(o, 0, kSmall, 1);
  // Protected holds 96% of the capacity (policy.cc): promote 97 entries into a protected segment
  // of 96: the first promoted is demoted back to probation, the rest stay protected.
  for (uint64_t i = 0; i < 97; ++i) EXPECT_TRUE(o.access(key(i)));
  for (uint64_t i = 0; i < 2 * kSmall; ++i) fill(o, 10'000 + i, 1, 3);
  EXPECT_FALSE(o.cached(key(0)));
  for (uint64_t i = 1; i < 97; ++i) EXPECT_TRUE(o.cached(key(i))) << i;
  for (uint64_t i = 97; i < kSmall; ++i) EXPECT_FALSE(o.cached(key(i))) << i;
}

// ---- weights and bounds ----------------------------------------------------------------------

TEST(CachePolicyWeights, BoundsHoldAfterEveryOperation) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) for (bool borrowed : {false, true}) {
    SCOPED_TRACE(fmt_mode(kind, borrowed));
    Owner o(kind, 1000, 40, borrowed);
    std::mt19937_64 rng(42);
    for (int step = 0; step < 20'000; ++step) {
      const uint64_t k = key(rng() % 200);
      const uint64_t weight = 1 + rng() % 120;
      switch (rng() % 8) {
        case 0:
          if (o.cached(k)) o.update(k, weight);
          break;
        case 1:
          if (o.cached(k)) o.remove(k);
          break;
        default:
          o.access(k, weight);
      }
      if (HasFatalFailure()) return;
    }
    EXPECT_GT(o.policy().stats().evictions, 0u);
  }
}

TEST(CachePolicyWeights, OversizedEntryIsDroppedAtOnce) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) for (bool borrowed : {false, true}) {
    SCOPED_TRACE(fmt_mode(kind, borrowed));
    Owner o(kind, 100, 10, borrowed);
    o.put(key(1), 60);
    const Handle h = o.put(key(2), 101);
    EXPECT_EQ(h, kNoHandle);
    ASSERT_EQ(o.last_evicted().size(), 1u);
    EXPECT_EQ(o.last_evicted()[0].key_hash, key(2));
    EXPECT_EQ(o.last_evicted()[0].handle, kNoHandle);
    EXPECT_TRUE(o.cached(key(1)));
    EXPECT_EQ(o.policy().stats().weight, 60u);
    EXPECT_EQ(o.policy().stats().evictions, 1u);
    // An entry exactly as heavy as the bound fits (after everything else is evicted); W-TinyLFU
    // admits it only if it is more frequent than the entry it displaces.
    o.policy().record_miss(key(3));
    EXPECT_NE(o.put(key(3), 100), kNoHandle);
    EXPECT_EQ(o.policy().stats().weight, 100u);
    // Growing past the bound evicts the entry itself, with its handle.
    const Handle h3 = o.handle(key(3));
    o.update(key(3), 101);
    ASSERT_EQ(o.last_evicted().size(), 1u);
    EXPECT_EQ(o.last_evicted()[0].handle, h3);
    EXPECT_EQ(o.policy().stats().entries, 0u);
  }
}

TEST(CachePolicyWeights, MaxEntriesBoundsCount) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) for (bool borrowed : {false, true}) {
    SCOPED_TRACE(fmt_mode(kind, borrowed));
    Owner o(kind, uint64_t{1} << 40, 50, borrowed);
    for (uint64_t i = 0; i < 1000; ++i) {
      o.access(key(i % 300), 1000 + i);
      if (HasFatalFailure()) return;
    }
    EXPECT_EQ(o.policy().stats().entries, 50u);
  }
}

TEST(CachePolicyWeights, UpdateWeightEvictsOthersAndKeepsAccounting) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) for (bool borrowed : {false, true}) {
    SCOPED_TRACE(fmt_mode(kind, borrowed));
    Owner o(kind, 100, 100, borrowed);
    for (uint64_t i = 0; i < 10; ++i) o.access(key(i), 10);  // full by weight
    o.update(key(9), 5);
    EXPECT_EQ(o.policy().stats().weight, 95u);
    EXPECT_TRUE(o.last_evicted().empty());
    o.update(key(9), 40);  // +35: others must go
    EXPECT_FALSE(o.last_evicted().empty());
    EXPECT_LE(o.policy().stats().weight, 100u);
  }
}

// ---- sketch ----------------------------------------------------------------------------------

TEST(CachePolicySketch, CountsAndSaturates) {
  FrequencySketch sketch(1024);
  EXPECT_EQ(sketch.sample_size(), 10240u);
  EXPECT_EQ(sketch.frequency(key(1)), 0u);
  for (int i = 0; i < 7; ++i) sketch.increment(key(1));
  EXPECT_EQ(sketch.frequency(key(1)), 7u);
  for (int i = 0; i < 100; ++i) sketch.increment(key(1));
  EXPECT_EQ(sketch.frequency(key(1)), 15u);
  EXPECT_EQ(sketch.size(), 15u);  // saturated increments are not counted toward aging
  sketch.clear();
  EXPECT_EQ(sketch.frequency(key(1)), 0u);
  EXPECT_EQ(sketch.size(), 0u);
}

TEST(CachePolicySketch, HalvesAfterSamplePeriod) {
  FrequencySketch sketch(64);
  ASSERT_EQ(sketch.sample_size(), 640u);
  for (int i = 0; i < 12; ++i) sketch.increment(key(1));
  ASSERT_EQ(sketch.frequency(key(1)), 12u);
  uint64_t other = 0;
  uint32_t before = 0;
  while (sketch.resets() == 0) {
    before = sketch.frequency(key(1));
    sketch.increment(key(1'000'000 + other++));
  }
  // Every counter was halved right after the increment that reached the sample size (which may
  // have bumped one of key 1's counters first).
  EXPECT_LE(sketch.frequency(key(1)), (before + 1) / 2);
  EXPECT_GE(sketch.frequency(key(1)), 6u);
  EXPECT_LT(sketch.size(), sketch.sample_size() / 2);
  EXPECT_GE(other, 640u - 12u);
}

TEST(CachePolicySketch, AgeHalvesNow) {
  // age() halves every counter at once, as the periodic aging does, and counts as a reset.
  FrequencySketch sketch(1000, 10);
  for (int i = 0; i < 12; ++i) sketch.increment(key(1));
  for (int i = 0; i < 5; ++i) sketch.increment(key(2));
  ASSERT_EQ(sketch.frequency(key(1)), 12u);
  ASSERT_EQ(sketch.frequency(key(2)), 5u);
  const uint64_t size = sketch.size();
  sketch.age();
  EXPECT_EQ(sketch.frequency(key(1)), 6u);
  EXPECT_EQ(sketch.frequency(key(2)), 2u);
  EXPECT_EQ(sketch.resets(), 1u);
  EXPECT_LT(sketch.size(), size);
}

TEST(CachePolicySketch, ConservativeUpdateLimitsOverestimate) {
  // 4,000 keys seen once each in a sketch of 256 words (4,096 counters): every key's estimate is
  // at least 1; collisions push it higher. An increment raises only the counters at the key's
  // estimate, so colliding keys over-count far less than when all four counters grow (the mean
  // estimate is 3.0 with all four raised, 1.9 with conservative update).
  FrequencySketch sketch(256, 100);
  constexpr uint64_t kKeys = 4000;
  for (uint64_t i = 0; i < kKeys; ++i) sketch.increment(key(i));
  ASSERT_EQ(sketch.resets(), 0u);
  uint64_t sum = 0;
  for (uint64_t i = 0; i < kKeys; ++i) {
    const uint32_t f = sketch.frequency(key(i));
    ASSERT_GE(f, 1u) << i;  // count-min never under-counts
    sum += f;
  }
  const double mean = static_cast<double>(sum) / kKeys;
  RecordProperty("mean_estimate", std::to_string(mean));
  EXPECT_LE(mean, 2.5);
}

TEST(CachePolicySketch, MetadataStaysSmall) {
  // Per entry, with the owner supplying key hashes and weights (EntrySource): 8 bytes of links
  // and queue tag, 7 of sketch and half a byte of the climber's sampled ghost — within 16 bytes
  // once the policy is full. Without an EntrySource the policy keeps its own copies of the key
  // hash (8) and weight (4) on top.
  for (uint64_t cap : {500u, 5000u, 50'000u, 65'536u}) {
    SCOPED_TRACE(cap);
    for (const bool borrowed : {true, false}) {
      SCOPED_TRACE(borrowed);
      TableSource source;
      auto policy = Policy::create(PolicyKind::kWTinyLfu, cap, cap, borrowed ? &source : nullptr);
      std::vector<Evicted> evicted;
      for (uint64_t i = 0; i < 2 * cap; ++i) {
        policy->record_miss(key(i));
        evicted.clear();
        const Handle h = policy->insert(key(i), 1, evicted);
        for (const Evicted& e : evicted) {
          if (e.handle != kNoHandle) source.erase(e.handle);
        }
        if (h != kNoHandle) source.set(h, key(i), 1);
      }
      const PolicyStats s = policy->stats();
      ASSERT_EQ(s.entries, cap);
      const double per_entry = static_cast<double>(s.metadata_bytes) / static_cast<double>(s.entries);
      EXPECT_GE(per_entry, 8.0 + 7.0 + 0.0);
      EXPECT_LE(per_entry - (borrowed ? 0.0 : 12.0), 16.0);
    }
  }
}

// ---- remove, clear, stale handles ------------------------------------------------------------

TEST(CachePolicyHandles, RemoveAndClear) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    SCOPED_TRACE(policy_name(kind));
    Owner o(kind, 100, 10);
    for (uint64_t i = 0; i < 10; ++i) o.access(key(i), 5);
    const Handle h3 = o.handle(key(3));
    o.remove(key(3));
    EXPECT_EQ(o.policy().stats().entries, 9u);
    EXPECT_EQ(o.policy().stats().weight, 45u);
    EXPECT_EQ(o.policy().stats().evictions, 0u);  // removals are not evictions
    o.policy().remove(h3);                        // stale: ignored
    o.policy().record_hit(h3);
    std::vector<Evicted> evicted;
    o.policy().update_weight(h3, 1000, evicted);
    EXPECT_TRUE(evicted.empty());
    o.check();

    o.policy().clear();
    PolicyStats s = o.policy().stats();
    EXPECT_EQ(s.entries, 0u);
    EXPECT_EQ(s.weight, 0u);
    // Every old handle is stale now.
    for (uint64_t k : o.keys()) o.policy().record_hit(o.handle(k));
    auto policy = Policy::create(kind, 100, 10);
    const Handle h = policy->insert(key(1), 1, evicted);
    policy->clear();
    policy->record_hit(h);
    policy->remove(h);
    EXPECT_EQ(policy->stats().entries, 0u);
    EXPECT_EQ(policy->insert(key(2), 1, evicted), h);  // the slab is reused
  }
}

TEST(CachePolicyHandles, StaleHandlesAreTolerated) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    SCOPED_TRACE(policy_name(kind));
    Owner o(kind, 1000, 20);
    std::vector<Handle> seen;
    std::mt19937_64 rng(7);
    for (int step = 0; step < 5000; ++step) {
      o.access(key(rng() % 100));
      if (o.cached(key(step % 100))) seen.push_back(o.handle(key(step % 100)));
      // Replay an old handle (evicted, free or recycled) and a few impossible ones.
      if (!seen.empty()) o.policy().record_hit(seen[rng() % seen.size()]);
      o.policy().record_hit(kNoHandle);
      o.policy().record_hit(1'000'000);
      o.policy().remove(kNoHandle);
      o.check();
      if (HasFatalFailure()) return;
    }
  }
}

// The L2 drains its read buffer with record_hits(handles, key_hashes): the caller supplies each
// key hash, so the policy does not ask its EntrySource. With the right hashes it must behave
// exactly as record_hit() one by one: the same evictions on a Zipf trace, hits deferred in batches
// as the L2 defers them.
TEST(CachePolicyHandles, BatchedHitsWithKeyHashesMatchSingleHits) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    for (bool borrowed : {false, true}) {
      SCOPED_TRACE(fmt_mode(kind, borrowed));
      Owner single(kind, 200, 200, borrowed), batched(kind, 200, 200, borrowed);
      std::vector<Handle> handles;
      std::vector<uint64_t> hashes;
      auto flush = [&] {
        for (Handle h : handles) single.policy().record_hit(h);
        batched.policy().record_hits(handles.data(), hashes.data(), handles.size());
        handles.clear();
        hashes.clear();
      };
      Zipf zipf(2000, 0.9);
      std::mt19937_64 rng(3);
      uint64_t hits = 0;
      for (int step = 0; step < 50000; ++step) {
        const uint64_t k = key(zipf(rng));
        ASSERT_EQ(single.cached(k), batched.cached(k));
        if (single.cached(k)) {
          ASSERT_EQ(single.handle(k), batched.handle(k));
          handles.push_back(single.handle(k));
          hashes.push_back(k);
          ++hits;
          if (handles.size() == 32) flush();
          continue;
        }
        flush();  // before the next insert, as the L2 drains before it fills
        single.policy().record_miss(k);
        batched.policy().record_miss(k);
        single.put(k);
        batched.put(k);
        ASSERT_EQ(single.last_evicted().size(), batched.last_evicted().size());
        for (size_t i = 0; i < single.last_evicted().size(); ++i) {
          ASSERT_EQ(single.last_evicted()[i].key_hash, batched.last_evicted()[i].key_hash);
          ASSERT_EQ(single.last_evicted()[i].handle, batched.last_evicted()[i].handle);
        }
      }
      EXPECT_GT(hits, 10000u);  // the trace exercised hits, not only misses
      EXPECT_EQ(single.keys(), batched.keys());
    }
  }
}

// Batched hits may carry stale handles (the entry was evicted or removed after the read, its handle
// maybe recycled for another key): free, out-of-range and kNoHandle handles are ignored, recycled
// ones touch a live entry, and the owner's view and the bounds stay exact.
TEST(CachePolicyHandles, BatchedStaleHandlesAreTolerated) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    SCOPED_TRACE(policy_name(kind));
    Owner o(kind, 1000, 20, /*borrowed=*/true);
    std::vector<std::pair<Handle, uint64_t>> seen;
    std::mt19937_64 rng(11);
    for (int step = 0; step < 5000; ++step) {
      const uint64_t k = key(rng() % 100);
      o.access(k);
      if (o.cached(k)) seen.emplace_back(o.handle(k), k);
      if (step % 7 == 0 && o.cached(key(step % 100))) o.remove(key(step % 100));
      Handle handles[4] = {kNoHandle, 1'000'000, kNoHandle, kNoHandle};
      uint64_t hashes[4] = {key(1), key(2), key(3), key(4)};
      if (!seen.empty()) std::tie(handles[2], hashes[2]) = seen[rng() % seen.size()];
      if (!seen.empty()) std::tie(handles[3], hashes[3]) = seen[rng() % seen.size()];
      o.policy().record_hits(handles, hashes, 4);
      o.check();
      if (HasFatalFailure()) return;
    }
  }
}

// An EntrySource that counts how often the policy asks it for a weight.
class CountingSource final : public EntrySource {
 public:
  uint64_t key_hash(Handle h) const noexcept override { return key(h); }
  uint64_t weight(Handle) const noexcept override {
    ++weight_calls;
    return 1;
  }
  mutable uint64_t weight_calls = 0;
};

// A hit that moves an entry within its queue leaves the queue's weight as it was, so it must not
// ask the EntrySource for the weight (in the L2 that is a lookup in the shard's table, a cache miss
// per drained hit: it cost about 5% of the hit's profile).
TEST(CachePolicyHandles, HitWithinAQueueDoesNotAskForTheWeight) {
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    SCOPED_TRACE(policy_name(kind));
    CountingSource source;
    auto policy = Policy::create(kind, 1000, 1000, &source);
    std::vector<Evicted> evicted;
    std::vector<Handle> handles;
    for (uint64_t i = 0; i < 20; ++i) {
      handles.push_back(policy->insert(key(handles.size()), 1, evicted));
      ASSERT_EQ(handles.back(), i);  // CountingSource derives the key from the handle
    }
    ASSERT_TRUE(evicted.empty());
    for (Handle h : handles) policy->record_hit(h);  // W-TinyLFU: probation -> protected
    source.weight_calls = 0;
    for (int round = 0; round < 3; ++round) {
      for (Handle h : handles) policy->record_hit(h);
      std::vector<uint64_t> hashes;
      for (Handle h : handles) hashes.push_back(key(h));
      policy->record_hits(handles.data(), hashes.data(), handles.size());
    }
    EXPECT_EQ(source.weight_calls, 0u);
    EXPECT_EQ(policy->stats().entries, 20u);
    EXPECT_EQ(policy->stats().weight, 20u);
  }
}

// The sketch's table starts on a cache line, so each key's 64-byte block of counters is one line
// (a plain allocation is 16-byte aligned: the blocks straddled two lines and prefetch() loaded
// one of them).
TEST(CachePolicySketch, TableIsCacheLineAligned) {
  for (uint64_t capacity : {1ull, 100ull, 5000ull, 1ull << 20}) {
    FrequencySketch sketch(capacity);
    sketch.increment(key(1));
    ASSERT_NE(sketch.table(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(sketch.table()) % 64, 0u) << capacity;
    EXPECT_EQ(sketch.frequency(key(1)), 1u);
  }
}

// The table is allocated by the first increment, not by the constructor: a database opened for
// one command that caches nothing does not zero a sketch sized for the whole cache (4 MiB for
// the default L2). Until then every estimate is 0, and clear/age/prefetch are harmless.
TEST(CachePolicySketch, TableIsAllocatedAtTheFirstIncrement) {
  FrequencySketch sketch(1u << 20, 10, 32);
  EXPECT_EQ(sketch.memory_bytes(), 0u);
  EXPECT_EQ(sketch.table(), nullptr);
  EXPECT_EQ(sketch.frequency(key(7)), 0u);
  sketch.prefetch(key(7));
  sketch.age();
  sketch.clear();
  EXPECT_EQ(sketch.memory_bytes(), 0u);
  sketch.increment(key(7));
  EXPECT_EQ(sketch.memory_bytes(), (1u << 20) * 32 / 8);
  EXPECT_EQ(sketch.frequency(key(7)), 1u);
  // A policy sized for a million entries holds no sketch before its first access (its sampled
  // ghost, 0.5 bytes per entry, is allocated up front).
  auto policy = Policy::create(PolicyKind::kWTinyLfu, 1u << 30, 1u << 20, nullptr);
  const uint64_t before = policy->stats().metadata_bytes;
  EXPECT_LE(before, (1u << 20) / 2 + 64u * 1024);
  policy->record_miss(key(1));
  EXPECT_GE(policy->stats().metadata_bytes - before, (1u << 20) * 32 / 8);
}

// ---- hill climber ----------------------------------------------------------------------------

// A recency-biased trace: a sliding working set; each access is either a brand-new key (1/4) or
// one of the last `span` keys, uniformly. Frequencies carry no information, recency is all.
uint64_t sliding(std::mt19937_64& rng, uint64_t& newest, uint64_t span) {
  if (rng() % 4 == 0) return ++newest;
  return newest - std::min(newest, rng() % span);
}

TEST(CachePolicyClimber, WindowGrowsOnRecencyTrace) {
  constexpr uint64_t kCap = 1000;
  Owner o(PolicyKind::kWTinyLfu, kCap, kCap);
  const uint64_t initial = o.policy().stats().window_max;
  EXPECT_EQ(initial, 10u);
  std::mt19937_64 rng(1);
  uint64_t newest = 0;
  for (uint64_t i = 0; i < 300 * kCap; ++i) {
    o.access(key(sliding(rng, newest, kCap / 2)));
  }
  EXPECT_GE(o.policy().stats().window_max, kCap / 4);
}

TEST(CachePolicyClimber, WindowGrowsPromptlyFromColdStart) {
  // From a cold start on a recency trace the hit ratio falls when the cache fills up, whatever
  // the window does; that fall must not be blamed on the window's first move (which undid it and
  // banned growing for periods), and a strong regret signal takes a long first step. (Half the
  // cache took 11 sample periods before, 6 now.)
  constexpr uint64_t kCap = 20000;
  Owner o(PolicyKind::kWTinyLfu, kCap, kCap);
  std::mt19937_64 rng(3);
  uint64_t newest = 0, accesses = 0;
  while (o.policy().stats().window_max < kCap / 2 && accesses < 100 * kCap) {
    o.access(key(sliding(rng, newest, kCap / 2)));
    ++accesses;
  }
  RecordProperty("accesses_to_half", std::to_string(accesses));
  EXPECT_LE(accesses, 8 * kCap);
}

TEST(CachePolicyClimber, TinyCacheFollowsLruOnRecencyTrace) {
  // At 20 entries probation is empty and a period is 20 accesses. Candidates were dropped without
  // a duel (so the ghost never learnt anything and the window stayed at 1 entry: 7.5% against
  // LRU's 74.9% in bench/cache_sim --small), and once the window had grown, a single remembered
  // victim coming back read as a 100% regret and shrank it again. W-TinyLFU must stay within a
  // point of LRU here.
  constexpr uint64_t kCap = 20;
  double ratio[2] = {0, 0};
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    Owner o(kind, kCap, kCap, true);
    std::mt19937_64 rng(5);
    uint64_t newest = 0, hits = 0;
    constexpr uint64_t kAccesses = 200'000;
    for (uint64_t i = 0; i < kAccesses; ++i) hits += o.access(key(sliding(rng, newest, kCap / 2))) ? 1 : 0;
    ratio[kind == PolicyKind::kLru] = static_cast<double>(hits) / kAccesses;
    if (kind == PolicyKind::kWTinyLfu) {
      EXPECT_GE(o.policy().stats().window_max, kCap / 2);
    }
  }
  RecordProperty("wtinylfu_vs_lru", std::to_string(ratio[0]) + " vs " + std::to_string(ratio[1]));
  EXPECT_GE(ratio[0], ratio[1] - 0.01);
}

TEST(CachePolicyClimber, WindowShrinksWhenTraceTurnsFrequencyBiased) {
  constexpr uint64_t kCap = 1000;
  Owner o(PolicyKind::kWTinyLfu, kCap, kCap);
  std::mt19937_64 rng(2);
  uint64_t newest = 0;
  for (uint64_t i = 0; i < 200 * kCap; ++i) o.access(key(sliding(rng, newest, kCap / 2)));
  const uint64_t grown = o.policy().stats().window_max;
  EXPECT_GE(grown, kCap / 4);
  // Now a frequency-biased trace: half the accesses go to a fixed hot set that fills 90% of the
  // cache, half to one-hit wonders. A large window only holds one-hit wonders.
  uint64_t sum = 0, samples = 0, fresh = 2'000'000'000;
  for (uint64_t i = 0; i < 600 * kCap; ++i) {
    o.access(key(rng() % 2 == 0 ? 1'000'000'000 + rng() % (kCap * 9 / 10) : fresh++));
    if (i >= 300 * kCap) {
      sum += o.policy().stats().window_max;
      ++samples;
    }
  }
  EXPECT_LE(sum / samples, kCap / 10);
}

TEST(CachePolicyClimber, WindowStaysSmallOnZipf) {
  // On a frequency-biased trace the 1% window is best (the admission filter does the work); the
  // climber must not drift away from it on noise. Before the regret counts were smoothed and
  // growing needed a clear margin, the window wandered up to a third of the cache on Zipf 0.99.
  constexpr uint64_t kCap = 2000;
  const Zipf zipf(200'000, 0.99);
  Owner o(PolicyKind::kWTinyLfu, kCap, kCap);
  std::mt19937_64 rng(7);
  uint64_t sum = 0, samples = 0, largest = 0;
  for (uint64_t i = 0; i < 400 * kCap; ++i) {
    o.access(key(zipf(rng)));
    if (i >= 100 * kCap && i % 100 == 0) {
      const uint64_t w = o.policy().stats().window_max;
      sum += w;
      largest = std::max(largest, w);
      ++samples;
    }
  }
  RecordProperty("mean_window", std::to_string(sum / samples));
  RecordProperty("largest_window", std::to_string(largest));
  EXPECT_LE(sum / samples, kCap * 3 / 100);
}

TEST(CachePolicyClimber, FirstFillDoesNotFallBehindLruOnRecencyTrace) {
  // When a cold cache first fills on a recency trace, its main region is full of keys that were
  // hot and are now dead, with higher sketch counts than every new key: a 1% window rejects
  // nearly every new key until the climber grows it. The first climber period now starts at the
  // fill and is a quarter period long, and its growth step scales its regret gap by 3. Before,
  // the first decision came a whole period after the fill and W-TinyLFU lost 18 points to LRU
  // over the next two periods (bench/cache_sim sliding at 50,000 entries: -0.54 points overall,
  // -0.16 then). Measured here over the 8 periods after the fill: 4.2 points behind LRU before,
  // 0.65 with that; the fill-phase test (FillPhaseHitsOnYoungEntriesStartWindowLarge) now starts
  // the window at 97% at the fill: 74.95% for both policies.
  constexpr uint64_t kCap = 20000;
  uint64_t hits[2] = {0, 0};
  for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
    Owner o(kind, kCap, kCap, true);
    std::mt19937_64 rng(11);
    uint64_t newest = 0, accesses = 0;
    while (o.policy().stats().entries < kCap) {
      o.access(key(sliding(rng, newest, kCap / 2)));
      ++accesses;
    }
    for (uint64_t i = 0; i < 8 * kCap; ++i) hits[kind == PolicyKind::kLru] += o.access(key(sliding(rng, newest, kCap / 2))) ? 1 : 0;
    RecordProperty(std::string(policy_name(kind)) + "_fill_at", std::to_string(accesses));
  }
  const double w = static_cast<double>(hits[0]) / (8 * kCap), l = static_cast<double>(hits[1]) / (8 * kCap);
  RecordProperty("wtinylfu_vs_lru_after_fill", std::to_string(w) + " vs " + std::to_string(l));
  EXPECT_GE(w, l - 0.001);
}

TEST(CachePolicyClimber, FillPhaseHitsOnYoungEntriesStartWindowLarge) {
  // The fill phase says whether the trace is recency-biased: under an independent reference
  // model (Zipf, uniform) the entries hit last are at least as old, relative to the entries
  // inserted so far, as a uniform draw (mean 1/2); on a sliding working set they are young (mean
  // about 0.27). Young hits start the window at the whole protected share the moment the cache
  // first fills (before: 1%, and the climber took periods to grow it, losing 6 points to LRU in
  // the 1/40 of bench/cache_sim's sliding trace after the fill). A loop longer than the cache has
  // no fill-phase hits and Zipf's are old: both keep the 1% window.
  constexpr uint64_t kCap = 5000;
  {
    Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
    std::mt19937_64 rng(4);
    uint64_t newest = 0;
    while (o.policy().stats().evictions == 0) o.access(key(sliding(rng, newest, kCap / 2)));
    EXPECT_GE(o.policy().stats().window_max, kCap * 9 / 10) << "sliding";
  }
  {
    const Zipf zipf(100 * kCap, 0.99);
    Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
    std::mt19937_64 rng(4);
    while (o.policy().stats().evictions == 0) o.access(key(zipf(rng)));
    EXPECT_EQ(o.policy().stats().window_max, kCap / 100) << "zipf";
  }
  {
    Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
    for (uint64_t i = 0; o.policy().stats().evictions == 0; ++i) o.access(key(i % (kCap + kCap / 10)));
    EXPECT_EQ(o.policy().stats().window_max, kCap / 100) << "loop";
  }
}

TEST(CachePolicyClimber, FillPhaseHitsOnUniformKeysKeepSmallWindow) {
  // Uniform popularity is the edge of the fill-phase test among independent-reference traces
  // (the least skew toward old entries): it must not read as recency, over seeds. The entries
  // hit last were promoted from probation, which favours entries cached longer, so the mean
  // relative age here is 0.61-0.66; with the threshold at 0.7 instead of 1/2 (less 3 standard
  // errors) this test fails on 6 of the 8 seeds.
  constexpr uint64_t kCap = 2000;
  for (uint64_t seed : {1, 2, 3, 4, 5, 6, 7, 8}) {
    Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
    std::mt19937_64 rng(seed);
    while (o.policy().stats().evictions == 0) o.access(key(rng() % (4 * kCap)));
    EXPECT_EQ(o.policy().stats().window_max, kCap / 100) << "seed " << seed;
  }
}

TEST(CachePolicyClimber, FewVictimsDoNotGrowWindowOnSkewedZipf) {
  // On Zipf 1.2 almost nothing leaves main, so a period's victim regret rests on a handful of
  // drops. With plain ratios 9 sampled victims none of which came back read as 0% against a 4%
  // rejected regret, and the window grew from 1% to 74% of a 5,000-entry cache (bench/cache_sim
  // zipf-1.2 at 1%: 87.2% instead of 89.0%). The victim rate is now an add-one estimate. The
  // climber still wanders on this trace (the rejected regret, 4-13%, is itself noisy), so one
  // trace seed says little: over four seeds the largest window (after the first 20 periods) was
  // 41%, 22%, 29%, 27% of the cache with per-drop regret rates (median 28%) and is 54%, 1%, 1%,
  // 7% with rates over resolved drops (median 4%); eight seeds: median 30% before, 4% now.
  constexpr uint64_t kCap = 5000;
  const Zipf zipf(500'000, 1.2);
  std::vector<uint64_t> largest;
  for (uint64_t seed : {42, 1, 2, 3}) {
    Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
    std::mt19937_64 rng(seed);
    uint64_t most = 0;
    for (uint64_t i = 0; i < 200 * kCap; ++i) {
      o.access(key(zipf(rng)));
      if (i >= 20 * kCap && i % 1000 == 0) most = std::max(most, o.policy().stats().window_max);
    }
    RecordProperty("largest_window_seed_" + std::to_string(seed), std::to_string(most));
    EXPECT_LE(most, kCap * 3 / 5) << "seed " << seed;
    largest.push_back(most);
  }
  std::sort(largest.begin(), largest.end());
  EXPECT_LE((largest[1] + largest[2]) / 2, kCap / 10);  // the median of the four
}

TEST(CachePolicyClimber, VictimBurstDoesNotGrowWindowOnZipf) {
  // On Zipf 0.99 at 50,000 entries main victims come in bursts: a probation victim that wins
  // every duel for periods, then hundreds of victims in one period. Counted per drop, the burst
  // read as a low victim regret (its ghost hits were still to come) against a steady rejected
  // regret, and the window grew from 1% to 49.5% at about 620,000 accesses into this trace
  // (bench/cache_sim zipf-0.99 at 10%: 78.95% instead of 79.24% on one hash placement). Rates
  // over resolved drops (a ghost hit or an overwrite) keep the window at 1% here.
  constexpr uint64_t kCap = 50'000;
  const Zipf zipf(10 * kCap, 0.99);
  Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
  std::mt19937_64 rng(1);
  uint64_t largest = 0;
  for (uint64_t i = 0; i < 15 * kCap; ++i) {
    o.access(key(zipf(rng)));
    if (i % 1000 == 0) largest = std::max(largest, o.policy().stats().window_max);
  }
  RecordProperty("largest_window", std::to_string(largest));
  EXPECT_LE(largest, kCap / 20);
}

TEST(CachePolicyClimber, ChanceVictimHitDoesNotShrinkWindowOnRecencyTrace) {
  // Once the window has grown to 97% on a recency trace, victims are few and hardly ever come
  // back, and the rejected regret falls to 0.1-0.2%. The add-one victim estimate read one or two
  // victim ghost hits as 1.1-1.4% and shrank the window to 78% of a 50,000-entry cache (here to
  // 39,125 entries), costing hit ratio against LRU. Shrinking now needs victim hits actually
  // seen; the window stays above 90% (45,375 entries at its lowest).
  constexpr uint64_t kCap = 50'000;
  Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
  std::mt19937_64 rng(1);
  uint64_t newest = 0, peak = 0, lowest_after_peak = kCap;
  for (uint64_t i = 0; i < 30 * kCap; ++i) {
    o.access(key(sliding(rng, newest, kCap / 2)));
    const uint64_t w = o.policy().stats().window_max;
    peak = std::max(peak, w);
    if (peak >= kCap * 9 / 10) lowest_after_peak = std::min(lowest_after_peak, w);
  }
  RecordProperty("lowest_window_after_peak", std::to_string(lowest_after_peak));
  EXPECT_GE(peak, kCap * 9 / 10);
  EXPECT_GE(lowest_after_peak, kCap * 9 / 10);
}

TEST(CachePolicyClimber, RecencyShiftAfterZipfStaysNearLru) {
  // After 100 periods of Zipf 0.99 the trace turns recency-biased. Victim rotation (a probation
  // victim that wins goes to the probation MRU) is on during the Zipf phase; if it stayed on, the
  // victims would be the young probation entries, which come back as often as the rejected
  // candidates, and the climber would not see that the window must grow: the recency phase lost
  // 10.2 points against LRU. It is off while rejected candidates come back more often than
  // victims: 3.6 points behind LRU (2.3 with no rotation at all). The shift collapses the hit
  // rate (62% -> 2%), and for three periods after such a collapse the climber grows the window on
  // any clear regret gap instead of a 2x one: 1.88 / 2.06 points behind (seeds 1 / 2); with the
  // sketch aged once when the rejected regret doubles in a collapse, 1.62 / 1.77.
  constexpr uint64_t kCap = 2000;
  const Zipf zipf(kCap * 100, 0.99);
  for (uint64_t seed : {1, 2}) {
    uint64_t hits[2] = {0, 0};
    for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
      Owner o(kind, kCap, kCap, true);
      std::mt19937_64 rng(seed);
      for (uint64_t i = 0; i < 100 * kCap; ++i) o.access(key(zipf(rng)));
      uint64_t newest = 1'000'000'000;
      for (uint64_t i = 0; i < 50 * kCap; ++i) {
        hits[kind == PolicyKind::kLru] += o.access(key(sliding(rng, newest, kCap / 2))) ? 1 : 0;
      }
    }
    const double w = static_cast<double>(hits[0]) / (50 * kCap), l = static_cast<double>(hits[1]) / (50 * kCap);
    RecordProperty("seed_" + std::to_string(seed), std::to_string(w) + " vs " + std::to_string(l));
    EXPECT_GE(w, l - 0.02) << "seed " << seed;
  }
}

TEST(CachePolicyClimber, PopularityShiftStaysAtLru) {
  // After 100 periods of Zipf 0.99 the popularity moves to other keys (Zipf 0.99 again). The
  // protected region is full of keys no one asks for any more, with sketch counts that last for
  // up to 64 periods. The collapse of the hit rate lets the window grow on any clear regret gap,
  // and, while the rejected regret has doubled (the filter turns away keys that come back), grows
  // it whatever the victims' regret says and ages the sketch once. Hit ratio over the 50 periods
  // after the shift, W-TinyLFU vs LRU (seeds 1 / 2 / 3): at 500 entries 50.7 / 49.7 / 50.3%
  // against 45.6 / 45.6 / 44.8%; at 2,000 entries 55.8 / 55.4 / 55.4% against 51.1 / 51.3 /
  // 51.2%; at 5,000 entries 57.8 / 57.9 / 57.7% against 54.3 / 54.2 / 54.2%. Before the
  // stale-filter growth rule, 5,000 entries seed 2 was 52.75% (below LRU): the victims counted
  // there are new keys admitted and evicted again, a handful per period (4 ghost hits against 3
  // expected from the rejected rate), and read as coming back more often than the rejected
  // candidates, so the window stayed at 1%.
  for (uint64_t cap : {500u, 2000u, 5000u}) {
    const Zipf zipf(cap * 100, 0.99);
    for (uint64_t seed : {1, 2, 3}) {
      uint64_t hits[2] = {0, 0};
      for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
        Owner o(kind, cap, cap, true);
        std::mt19937_64 rng(seed);
        for (uint64_t i = 0; i < 100 * cap; ++i) o.access(key(zipf(rng)));
        for (uint64_t i = 0; i < 50 * cap; ++i) {
          hits[kind == PolicyKind::kLru] += o.access(key(1'000'000'000 + zipf(rng))) ? 1 : 0;
        }
      }
      RecordProperty("cap_" + std::to_string(cap) + "_seed_" + std::to_string(seed),
                     std::to_string(hits[0]) + " vs " + std::to_string(hits[1]));
      EXPECT_GE(hits[0], hits[1]) << "cap " << cap << " seed " << seed;
    }
  }
}

TEST(CachePolicyClimber, ScanCollapseDoesNotGrowWindowOnZipf) {
  // A long scan of keys never seen again collapses the hit rate just as a shift to a new working
  // set does, and the climber then grows the window on any clear regret gap. The scan's rejected
  // keys never come back, so the gap points the other way: the window must stay at 1% through
  // the scan and after it.
  constexpr uint64_t kCap = 2000;
  const Zipf zipf(kCap * 100, 0.99);
  Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
  std::mt19937_64 rng(9);
  for (uint64_t i = 0; i < 50 * kCap; ++i) o.access(key(zipf(rng)));
  uint64_t fresh = 1'000'000'000, largest = 0;
  for (int round = 0; round < 3; ++round) {
    for (uint64_t i = 0; i < 10 * kCap; ++i) {
      o.access(key(fresh++));
      largest = std::max(largest, o.policy().stats().window_max);
    }
    for (uint64_t i = 0; i < 20 * kCap; ++i) {
      o.access(key(zipf(rng)));
      largest = std::max(largest, o.policy().stats().window_max);
    }
  }
  EXPECT_EQ(largest, kCap / 100);
}

TEST(CachePolicyHitRatio, VictimRotationOnZipf) {
  // A probation victim that wins its duel moves to the probation MRU, so the next candidate meets
  // the next probation entry instead of the same over-counted one. Zipf 0.6 at 10% of the keys:
  // 34.85% with the victim kept at the probation LRU end (Caffeine), 35.39% with rotation.
  constexpr uint64_t kCap = 20'000;
  const Zipf zipf(10 * kCap, 0.6);
  Owner o(PolicyKind::kWTinyLfu, kCap, kCap, true);
  std::mt19937_64 rng(3);
  uint64_t hits = 0;
  constexpr uint64_t kAccesses = 100 * kCap;
  for (uint64_t i = 0; i < kAccesses; ++i) hits += o.access(key(zipf(rng))) ? 1 : 0;
  const double ratio = static_cast<double>(hits) / kAccesses;
  RecordProperty("hit_ratio", std::to_string(ratio));
  EXPECT_GE(ratio, 0.351);
}

// ---- hit ratio ---------------------------------------------------------------------------------

TEST(CachePolicyHitRatio, WTinyLfuBeatsLruOnZipf) {
  constexpr uint64_t kKeys = 20'000;
  const Zipf zipf(kKeys, 0.99);
  for (uint64_t cap : {20u, 200u, 2000u}) {
    double ratio[2] = {0, 0};
    for (PolicyKind kind : {PolicyKind::kWTinyLfu, PolicyKind::kLru}) {
      Owner o(kind, cap, cap);
      std::mt19937_64 rng(99);
      uint64_t hits = 0;
      constexpr uint64_t kAccesses = 200'000;
      for (uint64_t i = 0; i < kAccesses; ++i) hits += o.access(key(zipf(rng))) ? 1 : 0;
      ratio[kind == PolicyKind::kLru] = static_cast<double>(hits) / kAccesses;
    }
    SCOPED_TRACE(cap);
    EXPECT_GE(ratio[0], ratio[1]);
    RecordProperty("cap_" + std::to_string(cap),
                   std::to_string(ratio[0]) + " vs " + std::to_string(ratio[1]));
  }
}

}  // namespace
}  // namespace eavdb::cache
