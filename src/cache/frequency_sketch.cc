// Count-min sketch with 4-bit counters and periodic halving; see frequency_sketch.h.
#include "cache/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace eavdb::cache {
namespace {

constexpr uint64_t kMaxCapacity = uint64_t{1} << 30;
constexpr uint64_t kWordsPerBlock = 8;                  // 64 bytes: one cache line
constexpr uint64_t kOneMask = 0x1111111111111111ULL;    // the low bit of every nibble
constexpr uint64_t kResetMask = 0x7777777777777777ULL;  // every nibble but its high bit
constexpr uint64_t kCounterMax = 15;

// The owner's key hashes may be weak in some bits (e.g. identity hashes of small integers); a
// full-avalanche mixer (splitmix64's finalizer) makes every output bit depend on every input bit.
uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Where one of a key's four counters lives: a word of the table and a nibble of that word.
struct CounterRef {
  uint64_t word;
  uint32_t shift;  // bit offset of the nibble
};

// The block of a mixed hash: the high half scaled to [0, blocks) (Lemire's multiply-shift range
// reduction, so the block count need not be a power of two).
uint64_t block_of(uint64_t h, uint64_t blocks) noexcept { return ((h >> 32) * blocks >> 32) * kWordsPerBlock; }

// The four counters of a key: block from the high half of the mixed hash, then per counter i one
// byte of the low half: bit 0 picks word 2i or 2i + 1 of the block, bits 1-4 pick the nibble.
void locate(uint64_t key_hash, uint64_t blocks, CounterRef (&out)[4]) noexcept {
  const uint64_t h = mix(key_hash);
  const uint64_t block = block_of(h, blocks);
  for (uint32_t i = 0; i < 4; ++i) {
    const uint32_t byte = static_cast<uint32_t>(h >> (8 * i)) & 0xff;
    out[i].word = block + 2 * i + (byte & 1);
    out[i].shift = ((byte >> 1) & 15) * 4;
  }
}

}  // namespace

FrequencySketch::FrequencySketch(uint64_t capacity, uint32_t sample_factor, uint32_t bits_per_entry) {
  capacity = std::clamp<uint64_t>(capacity, 1, kMaxCapacity);
  bits_per_entry = std::clamp<uint32_t>(bits_per_entry, 16, 64);
  const uint64_t words = (capacity * bits_per_entry + 63) / 64;
  blocks_ = (words + kWordsPerBlock - 1) / kWordsPerBlock;
  sample_size_ = std::max<uint64_t>(1, sample_factor) * capacity;
}

uint32_t FrequencySketch::frequency(uint64_t key_hash) const noexcept {
  if (table_.empty()) [[unlikely]] return 0;  // nothing counted yet
  CounterRef refs[4];
  locate(key_hash, blocks_, refs);
  uint64_t result = kCounterMax;
  for (const CounterRef& r : refs) result = std::min(result, (table_[r.word] >> r.shift) & kCounterMax);
  return static_cast<uint32_t>(result);
}

void FrequencySketch::prefetch(uint64_t key_hash) const noexcept {
  if (table_.empty()) [[unlikely]] return;
  const uint64_t block = block_of(mix(key_hash), blocks_);
  __builtin_prefetch(&table_[block], 1);
}

void FrequencySketch::increment(uint64_t key_hash) noexcept {
  if (table_.empty()) [[unlikely]] {
    // The table is allocated (zeroed) at the first increment, not in the constructor: a process
    // that opens a database for one command and never caches anything does not pay for a sketch
    // sized for the cache's capacity (4 MiB for the default L2, most of a CLI command's start-up
    // page faults). Caffeine sizes its sketch lazily too. Out of memory, this access goes
    // uncounted and the next one tries again.
    try {
      table_.assign(blocks_ * kWordsPerBlock, 0);
    } catch (const std::bad_alloc&) {
      return;
    }
  }
  CounterRef refs[4];
  locate(key_hash, blocks_, refs);
  // Conservative update: only the counters at the key's current minimum (its estimate) grow.
  // The others already over-count because of colliding keys; raising them would only add to the
  // over-estimate of those other keys.
  uint64_t counts[4];
  uint64_t estimate = kCounterMax;
  for (int i = 0; i < 4; ++i) {
    counts[i] = (table_[refs[i].word] >> refs[i].shift) & kCounterMax;
    estimate = std::min(estimate, counts[i]);
  }
  if (estimate == kCounterMax) return;
  for (int i = 0; i < 4; ++i) {
    if (counts[i] == estimate) table_[refs[i].word] += uint64_t{1} << refs[i].shift;
  }
  if (++size_ >= sample_size_) reset();
}

void FrequencySketch::clear() noexcept {
  std::fill(table_.begin(), table_.end(), 0);
  size_ = 0;
}

void FrequencySketch::reset() noexcept {
  uint64_t odd = 0;  // counters whose low bit the halving drops
  for (uint64_t& word : table_) {
    odd += static_cast<uint64_t>(std::popcount(word & kOneMask));
    word = (word >> 1) & kResetMask;
  }
  size_ = (size_ - std::min(size_, odd / 4)) / 2;
  ++resets_;
}

}  // namespace eavdb::cache
