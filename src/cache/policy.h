// eavdb::cache — admission and eviction policies: W-TinyLFU (Caffeine's design) and plain LRU.
//
// The policy decides which entries stay; it does not hold keys or values. Entries are named by a
// 64-bit key hash and a Handle (a slot index the policy hands out and recycles), and carry a
// weight (bytes, or 1 for entry-counted caches). The owner keeps its own key -> (handle, value)
// map and removes what the policy reports as evicted.
//
// W-TinyLFU (Einziger, Friedman, Manes: "TinyLFU: A Highly Efficient Cache Admission Policy",
// ACM ToS 2017; Caffeine's implementation notes):
//  - a window LRU (initially 1% of the capacity) takes every new entry;
//  - the main space is a segmented LRU: probation (3% of the capacity) and protected (the rest;
//    Caffeine uses 20/80 of main, see policy.cc for why this differs);
//  - an entry leaving the window competes with the probation LRU victim: the one with the higher
//    estimated frequency stays (ties favour the victim); while frequency is what matters, a
//    victim that wins moves to the probation MRU, so the next candidate meets the next entry;
//  - frequencies come from a count-min sketch of 4-bit counters (4 hash functions, one 64-bit word
//    per group, conservative update), all counters halved every 64 × capacity increments
//    ("aging"; Caffeine: 10 ×, see policy.cc);
//  - the window share adapts each sample period: regret measured on a ghost of dropped keys
//    picks the direction, the hit ratio vetoes moves that cost, and after a collapse of the hit
//    ratio growth needs less evidence for a few periods (and if the filter now rejects keys
//    that come back, the window grows regardless of the victims and the sketch is aged once); when the cache first fills and the
//    entries hit last are young ones (recency, not frequency), the window starts at 97%
//    (details in policy.cc).
// Both bounds (weight and entry count) apply to every region: window and protected maxima are
// shares of each. Details and the data layout: policy.cc; the sketch: frequency_sketch.h.
// LRU is kept for comparison (PolicyKind::kLru): one list, no admission filter.
//
// Frequencies are fed by record_miss() and record_hit() only, not by insert(): an owner calls
// record_miss(h) on a lookup miss and insert(h, ...) when it then stores the value. An entry
// inserted without a recorded miss competes with the frequency its key already has.
//
// Memory: per entry 8 bytes of links and queue tag; the key hash (8) and weight (4) either with the
// owner (an EntrySource passed to create()) or in the policy's own arrays; for W-TinyLFU a count-min
// sketch and a ghost of dropped-key fingerprints sized so that links + sketch + ghost stay within
// 16 bytes per entry of capacity (7 + 0.5 bytes from 4,096 entries up; below, a 2-byte ghost and a
// smaller sketch). stats().metadata_bytes counts everything the policy allocates.
//
// Thread-safety: none. The L2 shared cache (shared_cache.h) calls a policy under its shard's
// policy lock; the simulator uses it from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace eavdb::cache {

/// Which policy a cache runs.
enum class PolicyKind { kWTinyLfu, kLru };

/// "wtinylfu" / "lru".
std::string_view policy_name(PolicyKind kind) noexcept;
/// Parses "wtinylfu" or "lru"; throws Error(kInvalidArgument) otherwise.
PolicyKind parse_policy(std::string_view name);

/// A slot index handed out by Policy::insert; valid until the entry is evicted or removed.
using Handle = uint32_t;
inline constexpr Handle kNoHandle = UINT32_MAX;

/// An entry the policy dropped: its key hash and the (now free) handle it had. The entry being
/// inserted, when it is dropped inside insert(), is reported with handle kNoHandle. A handle
/// reported by a call is never the handle that call returns.
struct Evicted {
  uint64_t key_hash = 0;
  Handle handle = kNoHandle;
};

/// Counters of one policy, for stats and the simulator.
struct PolicyStats {
  uint64_t entries = 0;       ///< live entries
  uint64_t weight = 0;        ///< sum of live weights
  uint64_t evictions = 0;     ///< entries dropped to make room (not explicit removals)
  uint64_t window_max = 0;    ///< current window capacity (weight units); 0 for LRU
  uint64_t metadata_bytes = 0;///< bytes the policy allocates (links, own key hashes and weights if
                              ///< no EntrySource, sketch, ghost)
};

/// The owner's record of the key hash and weight of each live entry, for a policy that should
/// not keep copies of its own (12 bytes per entry less). The policy calls it, under the same
/// serialisation as the policy itself, for live handles only; the owner must answer with what
/// it passed to insert()/update_weight() for that handle:
///  - record the handle insert() returns before the next call into the policy (during insert()
///    the policy does not ask about the new entry);
///  - keep an entry's record until the remove() call, or the call reporting it evicted, returns;
///  - change a record's weight only after update_weight() for it returns.
class EntrySource {
 public:
  /// Key hash the live entry `handle` was inserted with.
  virtual uint64_t key_hash(Handle handle) const noexcept = 0;
  /// Current weight of the live entry `handle` (as passed to insert or update_weight).
  virtual uint64_t weight(Handle handle) const noexcept = 0;

 protected:
  ~EntrySource() = default;
};

/// An admission/eviction policy over weighted entries. See the file comment.
class Policy {
 public:
  /// A policy bounded by `max_weight` (sum of weights) and `max_entries` (count); both ≥ 1.
  /// `max_entries` also sizes the frequency sketch (aging every 64 × max_entries), the ghost and
  /// the climber's sample periods (max_entries accesses).
  /// With `source` (borrowed; must outlive the policy) key hashes and weights are read from the
  /// owner instead of being copied into the policy (see EntrySource); without, the policy keeps
  /// them (12 bytes per entry more).
  /// Throws Error(kInvalidArgument) for 0 or for max_entries > 2^30 − 2.
  static std::unique_ptr<Policy> create(PolicyKind kind, uint64_t max_weight, uint64_t max_entries,
                                        const EntrySource* source = nullptr);
  virtual ~Policy() = default;

  /// Records a lookup of a key that is not cached (feeds the frequency sketch and the hill
  /// climber's hit ratio).
  virtual void record_miss(uint64_t key_hash) = 0;
  /// Records a hit on a live entry (frequency + recency). A stale handle (already evicted or
  /// recycled) must be tolerated: it is ignored (free slot, out of range, kNoHandle) or at worst
  /// touches another live entry's recency and frequency (slot recycled since).
  virtual void record_hit(Handle handle) = 0;
  /// Records hits on `handles[0 .. count)`, in order, where the caller also knows the key hash
  /// of each entry it read (`key_hashes[i]`, as passed to insert() for `handles[i]`), so the policy
  /// need not look it up (no EntrySource call, one cache line less per hit). Implementations
  /// overlap the memory accesses of the batch (prefetching), which is what makes draining a read
  /// buffer cheap. Stale handles are tolerated as by record_hit(): a free or out-of-range handle
  /// (or kNoHandle) is ignored; a handle recycled since the read credits the frequency to
  /// key_hashes[i] (the key that was read) and the recency to the handle's current entry.
  /// The default ignores the hashes and calls record_hit() (LRU needs no frequencies).
  virtual void record_hits(const Handle* handles, const uint64_t* key_hashes, size_t count) {
    (void)key_hashes;
    for (size_t i = 0; i < count; ++i) record_hit(handles[i]);
  }
  /// Adds a new entry of `weight` (the caller guarantees key_hash is not already present) and
  /// evicts until both bounds hold. Every dropped entry is appended to `evicted` — possibly the new
  /// entry itself (weight > max_weight or ≥ 4 GiB, or it lost admission). Returns the new entry's handle, or
  /// kNoHandle when it was dropped at once.
  virtual Handle insert(uint64_t key_hash, uint64_t weight, std::vector<Evicted>& evicted) = 0;
  /// Changes a live entry's weight (a replaced value) and evicts as insert() does; the entry's
  /// recency and frequency are unchanged. If the new weight exceeds max_weight (or 4 GiB) the entry itself
  /// is evicted (reported with its handle). A stale handle to a free slot is ignored.
  virtual void update_weight(Handle handle, uint64_t weight, std::vector<Evicted>& evicted) = 0;
  /// Removes a live entry (explicit invalidation or expiry); not counted as an eviction. A stale
  /// handle to a free slot is ignored.
  virtual void remove(Handle handle) = 0;
  /// Removes everything (counters, frequency sketch and window share kept). Every handle issued
  /// so far becomes stale.
  virtual void clear() = 0;
  /// Current counters.
  virtual PolicyStats stats() const = 0;
};

}  // namespace eavdb::cache
