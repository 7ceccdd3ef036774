// eavdb::cache — the count-min sketch W-TinyLFU uses to estimate how often a key was seen.
//
// Design (Caffeine's FrequencySketch, after Einziger, Friedman, Manes: "TinyLFU: A Highly
// Efficient Cache Admission Policy", ACM ToS 2017):
//  - 4-bit counters, sixteen to a 64-bit word; counters saturate at 15;
//  - the table is split into 64-byte blocks of eight words (one cache line); a key's block is
//    chosen by one half of its mixed hash (multiply-shift range reduction, any block count) and its four counters by the four low bytes of the other
//    half: counter i lives in word 2i or 2i + 1 of the block (one bit of the byte), at one of the
//    16 nibbles (four more bits), so the four counters are in four different words and a lookup
//    touches a single cache line;
//  - the estimate is the minimum of the four counters (count-min);
//  - conservative update: an increment raises only those of the key's four counters that equal
//    its current estimate (the others already over-count through collisions). Caffeine raises all
//    four; in the simulator (bench/cache_sim.cc, Zipf 0.99) the conservative sketch tells the keys
//    at the cache boundary apart better, which is what admission needs;
//  - "aging": after sample_size() successful increments every counter is halved, so the sketch
//    follows a moving window of recent history instead of all of it. The increment count then
//    drops to half of what survives (Caffeine's reset: the odd counters each lose 1/2, counted as a
//    quarter of a key because a key owns four counters).
// Sizing: by default one 64-bit word (16 counters, 8 bytes) per cached entry, rounded up to a
// whole block — what Caffeine's bit_ceil sizing gives at a power of two, without its up-to-2x
// rounding; the owner may ask for fewer bits per entry (W-TinyLFU uses 32, policy.cc says why),
// so the policy stays within its metadata budget (policy.h).
// The sample size is sample_factor × capacity increments: 10 in the paper and Caffeine (the
// default); W-TinyLFU uses a longer history (policy.cc says why).
//
// Thread-safety: none; the owning policy serialises access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace eavdb::cache {

/// A std::allocator that aligns every allocation to a 64-byte cache line (for tables read in
/// 64-byte blocks). Stateless; thread-safe.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};
  CacheLineAllocator() noexcept = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}  // NOLINT: allocator rebind
  /// Storage for `n` objects, 64-byte aligned; throws std::bad_alloc.
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, kAlignment); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
};

/// A count-min sketch of 4-bit counters with periodic halving. See the file comment.
class FrequencySketch {
 public:
  /// A sketch for a cache of `capacity` entries (≥ 1; larger than 2^30 is clamped to 2^30) that
  /// halves its counters every `sample_factor` × capacity increments (a factor of 0 counts as 1),
  /// with `bits_per_entry` bits of counters per entry of capacity (clamped to [16, 64]; 64 is one
  /// word, Caffeine's sizing; 32 is half of that: 8 counters per entry), rounded up to a whole
  /// 64-byte block.
  explicit FrequencySketch(uint64_t capacity, uint32_t sample_factor = 10, uint32_t bits_per_entry = 64);

  /// Estimated number of times `key_hash` was incremented since it was last aged, in [0, 15].
  uint32_t frequency(uint64_t key_hash) const noexcept;
  /// Counts one occurrence of `key_hash` (those of its four counters that equal its estimate grow
  /// by one, unless the estimate is already 15); after sample_size() increments that changed a
  /// counter, all counters are halved.
  void increment(uint64_t key_hash) noexcept;
  /// Hints the CPU to load the cache line holding `key_hash`'s counters (no effect otherwise), so
  /// a batch of increments can overlap its memory accesses.
  void prefetch(uint64_t key_hash) const noexcept;
  /// Forgets everything (all counters and the increment count back to zero).
  void clear() noexcept;
  /// Halves every counter now, as the periodic aging does (the increment count is adjusted the
  /// same way, so the next periodic halving comes correspondingly later). O(table size).
  void age() noexcept { reset(); }

  /// Increments between two halvings: sample_factor × capacity.
  uint64_t sample_size() const noexcept { return sample_size_; }
  /// Increments counted toward the next halving.
  uint64_t size() const noexcept { return size_; }
  /// How many times the counters were halved so far.
  uint64_t resets() const noexcept { return resets_; }
  /// Bytes held by the counter table (0 until the first increment allocates it).
  size_t memory_bytes() const noexcept { return table_.size() * sizeof(uint64_t); }
  /// The counter table (nullptr until the first increment): 64-byte aligned, so a key's block of counters is one cache line (with
  /// the 16-byte alignment of a plain allocation most blocks straddled two lines, and prefetch()
  /// loaded only the first).
  const uint64_t* table() const noexcept { return table_.data(); }

 private:
  // Halves every counter and adjusts size_ (see the file comment).
  void reset() noexcept;

  std::vector<uint64_t, CacheLineAllocator<uint64_t>> table_;  // the counters, blocks of 8 words (a line each)
  uint64_t blocks_;              // number of blocks (table_.size() / 8)
  uint64_t sample_size_;         // increments between halvings
  uint64_t size_ = 0;            // increments since the last halving (adjusted by reset())
  uint64_t resets_ = 0;          // halvings so far
};

}  // namespace eavdb::cache
