// eavdb::cache — the L2 cache: shared by every thread of a process, sharded, bounded by bytes
// and by entries, W-TinyLFU (or LRU) admission and eviction, TTL with jitter, probabilistic early
// refresh (XFetch) and single-flight loads.
//
// Concurrency (after Caffeine's BoundedLocalCache):
//  - the key space is split into shards by key hash; there is no global lock;
//  - a read takes its shard's map lock in shared mode only (the map: HandleTable, open
//    addressing whose slots hold the entries, also addressed by policy handle), and records the
//    access in the shard's lossy read buffer (a ring of ReadRecord words: policy handle and key
//    tag for a hit, key tag for a miss, so the drain hands the policy the key hash without
//    looking the entry up again, and hits and misses reach the policy in the order they happened)
//    at the index the lock's unlock hands out (ShardLock tickets), so recording costs no atomic
//    read-modify-write beyond the lock's two;
//  - the buffers are drained into the policies, under each shard's policy lock, by one
//    maintenance thread per cache (Caffeine's maintenance task): a reader that finds its shard's
//    buffer a quarter full wakes it (once: a flag, then a condition variable), and it drains every
//    shard; it also wakes once a second. A reader drains inline (try_lock) only when its buffer
//    is 3/4 full, i.e. the maintenance thread is behind, and waits for the policy lock only when
//    the ring would otherwise lap (7/8 full); several readers lapping a ring together lose its
//    oldest records (lossy, as Caffeine's; counted in maintenance_stats().dropped). So the policy
//    work of a hit (sketch increment, LRU move, climber) runs off the reader's thread, and reads
//    wait on the policy only when the maintenance thread is a whole ring behind. With
//    SharedCacheOptions::maintenance_thread = false readers drain inline every kDrainEvery reads
//    instead (the design before the thread);
//  - writes (fill, invalidate) take the policy lock, then the map lock exclusively; a fill first
//    drains the shard's buffer, so the policy sees every buffered access before the insert that
//    follows a miss, as when driven directly (a single-threaded replay gives the policy exactly
//    the calls the simulator makes, test ReplayThroughCacheMatchesPolicyDrivenDirectly).
//
// Coherence: every key maps to one of kStripes invalidation stripes with an epoch counter. A
// loader reads epoch(key) *before* it reads the source; put() stores the value only if the
// stripe's epoch is unchanged, so a value loaded before an invalidation can never be stored after
// it. invalidate() bumps the epoch before erasing. Single-flight followers only join a load that
// started in the current epoch, so a read that begins after an invalidation returned never gets a
// value loaded before it.
//
// Policy metadata: each shard is its policy's EntrySource (policy.h), so the policy keeps links,
// sketch and ghost only (≤ 16 bytes per entry of capacity); the key hash and weight it needs are
// read from the entry's slot, which holds them anyway. The policy's key hash is policy_hash(tag),
// derived from the 32-bit tag the slot already stores, so the slot stays one cache line.
//
// Weights are bytes as charged by the caller (key + value + per-entry overhead); the sum of live
// weights never exceeds max_bytes, and the number of entries never exceeds max_entries.
//
// XFetch (Vattani, Chierichetti, Lowenstein: "Optimal Probabilistic Cache Stampede Prevention",
// PVLDB 8(8), 2015): a hit at time t on an entry that took Δ to load and expires at T asks for an
// early refresh when t − Δ·β·ln(U) ≥ T, U uniform in (0, 1]; one reader (single-flight) reloads
// while the others keep hitting the current value.
//
// Thread-safety: every method may be called from any thread. The maintenance thread is joined
// by the destructor. Not fork-safe: a child forked while a cache with a maintenance thread exists
// must exec or _exit (the thread, and any policy lock it held, are not in the child).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <random>
#include <shared_mutex>
#include <thread>
#include <time.h>
#include <unordered_map>
#include <vector>

#include "cache/policy.h"
#include "eavdb/cache.h"
#include "eavdb/error.h"

namespace eavdb::cache {

/// Settings of one shared cache.
struct SharedCacheOptions {
  uint64_t max_bytes = 64ull << 20;   ///< bound on the sum of entry weights (bytes)
  uint64_t max_entries = 1u << 20;    ///< bound on the number of entries
  PolicyKind policy = PolicyKind::kWTinyLfu;
  int shards = 16;                    ///< rounded up to a power of two
  double ttl_jitter = 0.1;            ///< each TTL is scaled by a uniform factor in [1−j, 1+j]
  double xfetch_beta = 1.0;           ///< XFetch β (> 1 refreshes earlier); 0 disables early refresh
  /// true: a maintenance thread (one per cache) drains the read buffers into the policies; false:
  /// readers drain inline under the shard's policy lock (try_lock) every kDrainEvery reads.
  bool maintenance_thread = true;
};

/// Work of a cache's read-buffer maintenance (SharedCache::maintenance_stats()), so the policy
/// work moved off the readers' threads stays visible. Counters since construction.
struct MaintenanceStats {
  uint64_t wakeups = 0;        ///< drain rounds of the maintenance thread (woken or timed out)
  uint64_t drained = 0;        ///< buffered reads (hits and misses) handed to the policies
  uint64_t inline_drains = 0;  ///< drains run by readers (buffer 3/4 full, or no maintenance thread)
  uint64_t dropped = 0;        ///< buffered reads overwritten before any drain reached them
  int64_t thread_cpu_ns = -1;  ///< CPU time used by the maintenance thread (ns); -1 without one
};

/// Counters of one cache level (see eavdb/cache.h).
using LevelStats = CacheLevelStats;

/// What a loader returns for one key.
template <class V>
struct Loaded {
  std::shared_ptr<const V> value;  ///< handed to the caller (and followers)
  uint64_t weight = 0;             ///< bytes charged
  std::chrono::nanoseconds ttl{0}; ///< 0: no expiry
  bool store = true;               ///< false: return the value but do not cache it (e.g. too large)
};

/// One shard's key -> entry map: open addressing (linear probing, backward-shift deletion, at
/// most half full) whose slots hold the entries themselves, so a hit reads one slot (key, value
/// pointer, expiry: one cache line for small keys) before the value, with no allocation and no
/// modulo. Entries are also addressed by the policy handle they were stored under: pos_[handle]
/// is the slot, kept current when a deletion shifts slots. E must have `K key`, `uint32_t tag`
/// (the upper 32 bits of the key hash, which also choose the home slot) and `uint32_t handle1`
/// (handle + 1; 0 marks an empty slot). Not thread-safe: the shard's lock guards it.
template <class K, class E>
class HandleTable {
 public:
  HandleTable() { slots_.resize(kMinCapacity); }

  /// The entry with `key` (hash `h`), or nullptr.
  const E* find(const K& key, uint64_t h) const noexcept {
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = home(tag);; i = (i + 1) & mask()) {
      const E& e = slots_[i];
      if (e.handle1 == 0) return nullptr;
      if (e.tag == tag && e.key == key) return &e;
    }
  }
  /// The handle whose entry has `key` (hash `h`), or kNoHandle.
  Handle find_handle(const K& key, uint64_t h) const noexcept {
    const E* e = find(key, h);
    return e ? e->handle1 - 1 : kNoHandle;
  }
  /// The entry of a live handle.
  E& at(Handle handle) noexcept { return slots_[pos_[handle]]; }
  const E& at(Handle handle) const noexcept { return slots_[pos_[handle]]; }
  /// True when `handle` holds an entry.
  bool occupied(Handle handle) const noexcept { return handle < pos_.size() && pos_[handle] != kFree; }
  /// Stores `entry` (its key must be absent; entry.tag set) under `handle` (free).
  void insert(Handle handle, E entry) {
    if (2 * (size_ + 1) > slots_.size()) rehash(2 * slots_.size());
    if (pos_.size() <= handle) pos_.resize(static_cast<size_t>(handle) + 1, kFree);
    entry.handle1 = handle + 1;
    size_t i = home(entry.tag);
    while (slots_[i].handle1 != 0) i = (i + 1) & mask();
    slots_[i] = std::move(entry);
    pos_[handle] = static_cast<uint32_t>(i);
    ++size_;
  }
  /// Removes the entry under `handle` (occupied).
  void erase(Handle handle) noexcept {
    size_t i = pos_[handle];
    pos_[handle] = kFree;
    // Backward shift: pull later slots of the probe run into the hole when their home allows.
    for (size_t j = (i + 1) & mask(); slots_[j].handle1 != 0; j = (j + 1) & mask()) {
      const size_t k = home(slots_[j].tag);
      const bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
      if (movable) {
        slots_[i] = std::move(slots_[j]);
        pos_[slots_[i].handle1 - 1] = static_cast<uint32_t>(i);
        i = j;
      }
    }
    slots_[i] = E{};
    --size_;
  }
  /// Removes everything (capacity kept).
  void clear() noexcept {
    for (auto& e : slots_) e = E{};
    std::fill(pos_.begin(), pos_.end(), kFree);
    size_ = 0;
  }
  size_t size() const noexcept { return size_; }

 private:
  static constexpr size_t kMinCapacity = 16;
  static constexpr uint32_t kFree = UINT32_MAX;
  size_t mask() const noexcept { return slots_.size() - 1; }
  size_t home(uint32_t tag) const noexcept {
    return static_cast<size_t>((uint64_t{tag} * 0x9E3779B97F4A7C15ull) >> 32) & mask();
  }
  void rehash(size_t capacity) {
    std::vector<E> old = std::move(slots_);
    slots_ = std::vector<E>(capacity);
    for (E& e : old) {
      if (e.handle1 == 0) continue;
      size_t i = home(e.tag);
      while (slots_[i].handle1 != 0) i = (i + 1) & mask();
      pos_[e.handle1 - 1] = static_cast<uint32_t>(i);
      slots_[i] = std::move(e);
    }
  }

  std::vector<E> slots_;
  std::vector<uint32_t> pos_;  ///< slot of each handle, kFree when none
  size_t size_ = 0;
};

/// One read recorded in a shard's read buffer: for a hit, the entry's policy handle and the
/// 32-bit tag of its key (the upper half of its hash) in one 64-bit word, so draining a read needs
/// neither the entry's slot nor the handle -> slot index; for a miss, the tag and kMissBit; for a
/// read that records nothing (every shared read has a ticket, hence a word), kNothing. The word 0
/// is "empty" (the handle is stored + 1; policy handles are below 2^30, so handle + 1 never
/// reaches kMissBit). Stateless; thread-safe.
struct ReadRecord {
  static constexpr uint64_t kEmpty = 0;
  static constexpr uint32_t kMissBit = 0x80000000u;
  /// The word for a hit on the entry under `handle` (< 2^30) whose key has `tag`.
  static constexpr uint64_t pack(uint32_t tag, Handle handle) noexcept {
    return uint64_t{tag} << 32 | (uint64_t{handle} + 1);
  }
  /// The word for a read that records nothing (it filled its ticket's slot: the drain skips it).
  static constexpr uint64_t kNothing = kMissBit | 1;
  /// The word for a miss on a key with `tag`.
  static constexpr uint64_t miss(uint32_t tag) noexcept { return uint64_t{tag} << 32 | kMissBit; }
  /// True when a non-empty word records a miss.
  static constexpr bool is_miss(uint64_t word) noexcept { return static_cast<uint32_t>(word) == kMissBit; }
  /// True when a non-empty word records a hit (neither a miss nor kNothing).
  static constexpr bool is_hit(uint64_t word) noexcept { return (static_cast<uint32_t>(word) & kMissBit) == 0; }
  /// The tag of a non-empty word.
  static constexpr uint32_t tag(uint64_t word) noexcept { return static_cast<uint32_t>(word >> 32); }
  /// The handle of a non-empty hit word.
  static constexpr Handle handle(uint64_t word) noexcept { return static_cast<Handle>(word) - 1; }
};

/// The shard map's reader-writer lock (Lockable and SharedLockable, for std::unique_lock and
/// std::shared_lock). A reader pays one atomic add to enter and one to leave, inline, where
/// std::shared_mutex costs two calls into pthreads (about 4% of a cached find's profile).
/// Leaving also numbers the read: unlock_shared_ticket() returns how many shared unlocks came
/// before it, which the cache uses as the read's index in its read buffer, so recording a read
/// costs no atomic of its own. Entering counts into one word (with the writer bit), leaving into
/// another; a writer sets the writer bit, which turns arriving readers away, then waits until
/// every reader that entered has left (the counts agree). Writers here are short (fills,
/// invalidations, expiries), so waiting spins and then yields instead of sleeping.
/// Writer-preferring; not recursive. Thread-safe.
class ShardLock {
 public:
  void lock_shared() noexcept {
    for (unsigned spins = 0;;) {
      if (!(entered_.fetch_add(kReader, std::memory_order_acquire) & kWriter)) return;
      entered_.fetch_sub(kReader, std::memory_order_relaxed);  // a writer has it or wants it
      while (entered_.load(std::memory_order_relaxed) & kWriter) backoff(spins);
    }
  }
  /// Leaves shared mode; returns the number of shared unlocks of this lock before this one
  /// (0, 1, 2, ...: each number is returned once).
  uint64_t unlock_shared_ticket() noexcept { return left_.fetch_add(1, std::memory_order_release); }
  void unlock_shared() noexcept { unlock_shared_ticket(); }
  /// Shared unlocks so far (the next ticket).
  uint64_t tickets() const noexcept { return left_.load(std::memory_order_acquire); }
  void lock() noexcept {
    unsigned spins = 0;
    uint64_t s = entered_.load(std::memory_order_relaxed);
    for (;;) {
      if (!(s & kWriter)) {
        if (entered_.compare_exchange_weak(s, s | kWriter, std::memory_order_acquire, std::memory_order_relaxed)) break;
      } else {
        backoff(spins);
        s = entered_.load(std::memory_order_relaxed);
      }
    }
    // Readers inside leave. Entered is read first: every reader it counts entered before the
    // writer bit, so left can only reach it when all of them have left (a reader turned away
    // counts itself out of entered again, never into left).
    for (;;) {
      const uint64_t entered = entered_.load(std::memory_order_acquire) / kReader;
      if (left_.load(std::memory_order_acquire) == entered) return;
      backoff(spins);
    }
  }
  void unlock() noexcept { entered_.fetch_and(~kWriter, std::memory_order_release); }

 private:
  static constexpr uint64_t kWriter = 1, kReader = 2;
  static void backoff(unsigned& spins) noexcept {
    if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
  std::atomic<uint64_t> entered_{0};  ///< writer bit | readers entered (and not turned away) × kReader
  std::atomic<uint64_t> left_{0};     ///< shared unlocks
};

/// A sharded, concurrent, bounded cache from K to immutable V. Hash must be a stateless functor
/// returning a well-mixed 64-bit hash.
template <class K, class V, class Hash>
class SharedCache {
 public:
  using ValuePtr = std::shared_ptr<const V>;
  static constexpr int kStripes = 1024;   ///< invalidation stripes (epochs)
  static constexpr uint32_t kReadBufferSize = 256;  ///< read-buffer words per shard (power of 2)
  /// Readers look at their shard's buffer fill every kDrainEvery reads: they wake the maintenance
  /// thread from 1/4 full, drain inline from 3/4 full (every time without the thread).
  static constexpr uint32_t kDrainEvery = 32;

  /// Starts the maintenance thread unless options.maintenance_thread is false.
  /// Throws Error(kInvalidArgument) when a bound is 0, std::system_error when the thread cannot
  /// be started.
  explicit SharedCache(const SharedCacheOptions& options) : options_(options) {
    if (options.max_bytes == 0 || options.max_entries == 0)
      throw Error(ErrorCode::kInvalidArgument, "cache bounds must be positive");
    size_t n = 1;
    while (n < static_cast<size_t>(std::max(1, options.shards))) n <<= 1;
    // Small caches get fewer shards so each keeps a useful share of the bounds.
    while (n > 1 && (options.max_entries / n < 64 || options.max_bytes / n < 4096)) n >>= 1;
    shard_mask_ = n - 1;
    shards_ = std::vector<std::unique_ptr<Shard>>(n);
    for (auto& s : shards_) {
      s = std::make_unique<Shard>();
      s->policy = Policy::create(options.policy, std::max<uint64_t>(1, options.max_bytes / n),
                                 std::max<uint64_t>(1, options.max_entries / n), s.get());
      for (auto& slot : s->read_buffer) slot.store(ReadRecord::kEmpty, std::memory_order_relaxed);
    }
    if (options.maintenance_thread) {
      maintainer_ = std::thread([this] { maintain(); });
      pthread_setname_np(maintainer_.native_handle(), "eavdb-l2-maint");
      if (pthread_getcpuclockid(maintainer_.native_handle(), &maintainer_clock_) == 0) has_maintainer_clock_ = true;
    }
  }

  /// Stops and joins the maintenance thread. No other call may run concurrently.
  ~SharedCache() {
    if (!maintainer_.joinable()) return;
    {
      std::lock_guard lock(maint_mu_);
      stop_ = true;
    }
    maint_cv_.notify_one();
    maintainer_.join();
  }
  SharedCache(const SharedCache&) = delete;
  SharedCache& operator=(const SharedCache&) = delete;

  /// The value cached for `key`, or nullptr (miss or expired). Records the access.
  ValuePtr get(const K& key) {
    bool refresh = false;
    return lookup(key, hash_of(key), refresh);
  }

  /// The value cached for `key` when present, unexpired and not due for an XFetch early refresh
  /// (counted as a hit, like get()); otherwise nullptr and nothing is recorded, so a caller that
  /// falls back to get_or_load() counts the access once. Never waits for a load.
  ValuePtr get_if_present(const K& key) {
    ValuePtr out;
    if_present(key, [&](const Entry& n) { out = n.value; });
    return out;
  }

  /// Like get_if_present(), but hands the value to `read(const V&)` while the shard's map lock
  /// is held in shared mode instead of sharing ownership: no reference count is touched, so a hit
  /// costs no write to the value's memory (which other threads' hits on the same key would fight
  /// over). `read` must be short and must not call back into this cache (writers of the shard
  /// wait for it). Returns true on a hit (`read` was called), false otherwise (nothing recorded).
  template <class Read>
  bool read_if_present(const K& key, Read&& read) {
    return if_present(key, [&](const Entry& n) { read(static_cast<const V&>(*n.value)); });
  }

  /// The epoch of key's invalidation stripe; read it before loading the value from its source.
  uint64_t epoch(const K& key) const noexcept {
    return stripes_[stripe_of(hash_of(key))].load(std::memory_order_acquire);
  }

  /// Stores `value` unless `key`'s stripe epoch moved past `epoch_before_load` (an invalidation
  /// raced the load), the value does not fit, or it is null. Returns true when stored.
  bool put(const K& key, ValuePtr value, uint64_t weight, std::chrono::nanoseconds ttl,
           uint64_t epoch_before_load, std::chrono::nanoseconds load_time = {}) {
    if (!value) return false;
    const uint64_t h = hash_of(key);
    Shard& s = shard_of(h);
    std::vector<Evicted> evicted;
    std::lock_guard plock(s.policy_mu);
    drain(s);
    std::unique_lock mlock(s.map_mu);
    // Checked under the map lock, which invalidate() also holds while erasing: either it bumped
    // the epoch already (we refuse) or it erases after us.
    if (stripes_[stripe_of(h)].load(std::memory_order_acquire) != epoch_before_load) {
      s.stats.stale_fills.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const int64_t now = now_ns();
    const int64_t expires = ttl.count() > 0 ? now + jittered(ttl.count()) : 0;
    const Handle existing = s.table.find_handle(key, h);
    Handle fresh = kNoHandle;
    if (existing != kNoHandle) {
      Entry& n = s.table.at(existing);
      n.value = std::move(value);
      n.expires_ns = expires;
      n.load_ns = load_time.count();
      s.bytes += weight - n.weight;  // unsigned wrap is intended (a decrease)
      s.policy->update_weight(existing, weight, evicted);
      n.weight = weight;  // after the call: the policy reads the old weight from the slot until then
    } else {
      fresh = s.policy->insert(policy_hash(h), weight, evicted);
    }
    // Victims first: the policy may have recycled a victim's handle for the new entry.
    bool stored = existing != kNoHandle || fresh != kNoHandle;
    for (const Evicted& e : evicted) {
      if (!s.table.occupied(e.handle) || s.key_hash(e.handle) != e.key_hash) continue;  // refused new entry
      if (e.handle == existing) stored = false;
      s.bytes -= s.table.at(e.handle).weight;
      s.table.erase(e.handle);
      s.stats.evictions.fetch_add(1, std::memory_order_relaxed);
    }
    if (fresh != kNoHandle) {
      s.table.insert(fresh, Entry{key, std::move(value), weight, expires, load_time.count(), static_cast<uint32_t>(h >> 32), 0});
      s.bytes += weight;
    }
    return stored;
  }

  /// Drops `key` and moves its stripe epoch forward (fills that loaded before are refused).
  void invalidate(const K& key) {
    const uint64_t h = hash_of(key);
    Shard& s = shard_of(h);
    std::lock_guard plock(s.policy_mu);
    std::unique_lock mlock(s.map_mu);
    stripes_[stripe_of(h)].fetch_add(1, std::memory_order_acq_rel);
    erase_locked(s, key, s.stats.invalidations);
  }

  /// Drops everything and moves every epoch forward.
  void invalidate_all() {
    for (auto& st : stripes_) st.fetch_add(1, std::memory_order_acq_rel);
    for (auto& sp : shards_) {
      Shard& s = *sp;
      std::lock_guard plock(s.policy_mu);
      std::unique_lock mlock(s.map_mu);
      for (auto& slot : s.read_buffer) slot.store(ReadRecord::kEmpty, std::memory_order_relaxed);
      s.read_tail.store(s.map_mu.tickets(), std::memory_order_relaxed);
      s.stats.invalidations.fetch_add(s.table.size(), std::memory_order_relaxed);
      s.table.clear();
      s.bytes = 0;
      s.policy->clear();
    }
    for (auto& st : stripes_) st.fetch_add(1, std::memory_order_acq_rel);
  }

  /// The cached value, or the one `load(key)` returns (Loaded<V>), with single-flight: concurrent
  /// callers missing the same key in the same epoch wait for one load. An XFetch-selected hit
  /// reloads early. Exceptions from `load` propagate to the leader and to every waiting follower.
  /// A follower waits for the leader's load until `deadline` at most (steady clock; none: no
  /// limit), then throws Error(kTimeout) — the leader's load, which may run under a later
  /// deadline or none, goes on and is stored as usual.
  template <class Loader>
  ValuePtr get_or_load(const K& key, Loader&& load,
                       std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
    const uint64_t h = hash_of(key);
    bool refresh = false;
    if (ValuePtr v = lookup(key, h, refresh); v && !refresh) return v;
    else if (v && refresh) {
      // Early refresh: only if nobody is loading this key already; the others keep the old value.
      auto flight = lead(key, h);
      if (!flight.leader) return v;
      shard_of(h).stats.early_refreshes.fetch_add(1, std::memory_order_relaxed);
      return run_flight(key, h, flight, load);
    }
    auto flight = lead(key, h);
    if (flight.leader) return run_flight(key, h, flight, load);
    return wait_flight(*flight.flight, deadline);
  }

  /// Counters summed over the shards.
  LevelStats stats() const {
    LevelStats out;
    for (const auto& sp : shards_) {
      const Shard& s = *sp;
      // Every shared read has a ticket: a hit, a miss or one that records nothing; the last two
      // count themselves after taking their ticket.
      const uint64_t misses = s.stats.misses.load(std::memory_order_acquire);
      const uint64_t other = misses + s.stats.unrecorded.load(std::memory_order_acquire);
      const uint64_t reads = s.map_mu.tickets();
      out.hits += reads > other ? reads - other : 0;
      out.misses += misses;
      out.evictions += s.stats.evictions.load(std::memory_order_relaxed);
      out.expirations += s.stats.expirations.load(std::memory_order_relaxed);
      out.invalidations += s.stats.invalidations.load(std::memory_order_relaxed);
      out.stale_fills += s.stats.stale_fills.load(std::memory_order_relaxed);
      out.early_refreshes += s.stats.early_refreshes.load(std::memory_order_relaxed);
      out.loads += s.stats.loads.load(std::memory_order_relaxed);
      out.load_ns += s.stats.load_ns.load(std::memory_order_relaxed);
      std::lock_guard lock(s.policy_mu);  // every change to the table holds it (no shared read: no ticket)
      out.entries += s.table.size();
      out.bytes += s.bytes;
    }
    return out;
  }

  /// Policy bookkeeping bytes summed over the shards (slots + sketches).
  uint64_t policy_metadata_bytes() const {
    uint64_t total = 0;
    for (const auto& sp : shards_) {
      std::lock_guard lock(sp->policy_mu);
      total += sp->policy->stats().metadata_bytes;
    }
    return total;
  }

  /// The options it was built with.
  const SharedCacheOptions& options() const noexcept { return options_; }

  /// The key hash the policies know `key` by (for replaying a trace into a Policy directly and
  /// comparing). Stateless.
  static uint64_t policy_key_hash(const K& key) noexcept { return policy_hash(hash_of(key)); }

  /// Drains every shard's read buffer into its policy now, on the calling thread (what the
  /// maintenance thread does when woken; tests use it to apply buffered reads at a known point).
  void run_maintenance() {
    for (auto& sp : shards_) {
      std::lock_guard plock(sp->policy_mu);
      drain(*sp);
    }
  }

  /// Counters of the read-buffer maintenance, with the maintenance thread's CPU time.
  MaintenanceStats maintenance_stats() const {
    MaintenanceStats out;
    out.wakeups = wakeups_.load(std::memory_order_relaxed);
    for (const auto& sp : shards_) {
      out.drained += sp->drained.load(std::memory_order_relaxed);
      out.inline_drains += sp->inline_drains.load(std::memory_order_relaxed);
      out.dropped += sp->dropped.load(std::memory_order_relaxed);
    }
    timespec t{};
    if (has_maintainer_clock_ && clock_gettime(maintainer_clock_, &t) == 0)
      out.thread_cpu_ns = static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
    return out;
  }

 private:
  // One slot of the shard's table; 64 bytes (one cache line) for keys of up to 16 bytes.
  struct alignas(64) Entry {
    K key{};
    ValuePtr value;
    uint64_t weight = 0;
    int64_t expires_ns = 0;  ///< steady-clock ns; 0: never
    int64_t load_ns = 0;     ///< how long the load took (XFetch Δ)
    uint32_t tag = 0;        ///< upper 32 bits of Hash{}(key)
    uint32_t handle1 = 0;    ///< policy handle + 1; 0: a free slot (see HandleTable)
  };
  struct Flight {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ValuePtr value;
    std::exception_ptr error;
    uint64_t epoch = 0;
  };
  struct FlightTicket {
    std::shared_ptr<Flight> flight;
    bool leader = false;
  };
  struct Counters {
    std::atomic<uint64_t> misses{0}, unrecorded{0}, evictions{0}, expirations{0}, invalidations{0},
        stale_fills{0}, early_refreshes{0}, loads{0}, load_ns{0};
  };
  // Also the policy's EntrySource: key hash and weight of a live handle from its slot. The policy
  // calls it under policy_mu, which every change to the table holds too.
  struct alignas(64) Shard final : EntrySource {
    uint64_t key_hash(Handle handle) const noexcept override { return policy_hash_of_tag(table.at(handle).tag); }
    uint64_t weight(Handle handle) const noexcept override { return table.at(handle).weight; }

    mutable ShardLock map_mu;
    HandleTable<K, Entry> table;  ///< entries by policy handle (guarded by both locks for writes)
    uint64_t bytes = 0;
    mutable std::mutex policy_mu;
    std::unique_ptr<Policy> policy;
    /// ReadRecord words, at the index of each shared read's ticket (map_mu.tickets() is the head;
    /// with stats.misses and stats.unrecorded it also gives the hit count).
    std::array<std::atomic<uint64_t>, kReadBufferSize> read_buffer;
    /// First buffered read not yet drained: written under policy_mu, read by readers every
    /// kDrainEvery reads to see how full the buffer is. Its own cache line: the drain writes it.
    alignas(64) std::atomic<uint64_t> read_tail{0};
    std::atomic<uint64_t> drained{0}, inline_drains{0}, dropped{0};  ///< MaintenanceStats
    std::mutex flight_mu;
    std::unordered_map<K, std::shared_ptr<Flight>, Hash> flights;
    Counters stats;
  };

  static uint64_t hash_of(const K& key) noexcept { return Hash{}(key); }
  // The key hash the policy knows an entry by: the 32-bit tag (upper half of hash_of) spread over
  // 64 bits by MurmurHash3's fmix64 finalizer, so the sketch's counter indices are well mixed.
  static uint64_t policy_hash_of_tag(uint32_t tag) noexcept {
    uint64_t x = tag;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
  }
  static uint64_t policy_hash(uint64_t h) noexcept { return policy_hash_of_tag(static_cast<uint32_t>(h >> 32)); }
  static size_t stripe_of(uint64_t h) noexcept { return static_cast<size_t>(h >> 20) % kStripes; }
  Shard& shard_of(uint64_t h) const noexcept { return *shards_[h & shard_mask_]; }
  static int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  static double uniform01() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  }
  int64_t jittered(int64_t ttl) const {
    const double j = std::clamp(options_.ttl_jitter, 0.0, 0.9);
    if (j == 0) return ttl;
    return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(ttl) * (1.0 - j + 2.0 * j * uniform01())));
  }

  // XFetch on an unexpired entry with expiry: t − Δ·β·ln(U) ≥ T. U = (k + 1)·2^-53 ≥ 2^-53, so
  // −ln(U) ≤ 53·ln 2 < 36.8: while more than Δ·β·36.8 is left the entry cannot be selected, and
  // the hit skips the random draw and the logarithm (the usual case: TTLs are long against loads).
  bool due_for_refresh(const Entry& n, int64_t now) const {
    if (options_.xfetch_beta <= 0 || n.load_ns <= 0) return false;
    const double scale = static_cast<double>(n.load_ns) * options_.xfetch_beta;
    if (static_cast<double>(n.expires_ns - now) > scale * 36.8) return false;
    return static_cast<double>(now) - scale * std::log(uniform01()) >= static_cast<double>(n.expires_ns);
  }

  // Under the shard's shared lock: calls on_hit(entry) when `key` is present, unexpired and not
  // due for an early refresh, then records the hit. Records nothing otherwise.
  template <class OnHit>
  bool if_present(const K& key, OnHit&& on_hit) {
    const uint64_t h = hash_of(key);
    Shard& s = shard_of(h);
    uint64_t ticket = 0;
    bool hit = false;
    {
      SharedRead read(s, ticket);
      const Entry* n = s.table.find(key, h);
      bool usable = n != nullptr;
      if (usable && n->expires_ns) {
        const int64_t now = now_ns();
        usable = now < n->expires_ns && !due_for_refresh(*n, now);  // the slow path refreshes it
      }
      if (usable) {
        on_hit(*n);
        read.record = ReadRecord::pack(n->tag, n->handle1 - 1);
        hit = true;
      }
    }
    after_read(s, ticket);
    return hit;
  }

  ValuePtr lookup(const K& key, uint64_t h, bool& refresh) {
    Shard& s = shard_of(h);
    ValuePtr out;
    uint64_t ticket = 0;
    bool expired = false;
    {
      SharedRead read(s, ticket);
      read.record = ReadRecord::miss(static_cast<uint32_t>(h >> 32));
      if (const Entry* found = s.table.find(key, h)) {
        const Entry& n = *found;
        const int64_t now = n.expires_ns ? now_ns() : 0;
        if (n.expires_ns && now >= n.expires_ns) {
          expired = true;
        } else {
          out = n.value;
          read.record = ReadRecord::pack(n.tag, n.handle1 - 1);
          if (n.expires_ns) refresh = due_for_refresh(n, now);
        }
      }
    }
    if (!out) {
      s.stats.misses.fetch_add(1, std::memory_order_release);  // after the ticket: see stats()
      if (expired) remove_expired(s, key);
    }
    after_read(s, ticket);
    return out;
  }

  // A read of a shard under its map lock in shared mode: leaving takes the read's ticket and
  // stores `record` in the read buffer at that index. Every shared read must leave a word there
  // (kNothing when it records nothing: it is counted as such), or drains would stop at the hole
  // until the ring laps.
  struct SharedRead {
    SharedRead(Shard& s, uint64_t& ticket) noexcept : s(s), ticket(ticket) { s.map_mu.lock_shared(); }
    ~SharedRead() {
      ticket = s.map_mu.unlock_shared_ticket();
      s.read_buffer[ticket % kReadBufferSize].store(record, std::memory_order_relaxed);
      if (record == ReadRecord::kNothing) s.stats.unrecorded.fetch_add(1, std::memory_order_release);
    }
    SharedRead(const SharedRead&) = delete;
    SharedRead& operator=(const SharedRead&) = delete;
    Shard& s;
    uint64_t& ticket;
    uint64_t record = ReadRecord::kNothing;
  };

  // Every kDrainEvery reads the reader looks at the fill: 1/4 full wakes the maintenance thread,
  // 3/4 full (the thread is behind) drains here if the policy lock is free, and when the next
  // kDrainEvery reads could lap the ring it waits for the lock (whoever holds it, e.g. a
  // preempted maintenance thread, gets the CPU back) rather than lose records. So one reader
  // never loses a record; several may, when they lap the ring together before one of them drains
  // (lossy, as Caffeine's buffer and the inline rule without the thread; counted in dropped).
  void after_read(Shard& s, uint64_t ticket) {
    if ((ticket + 1) % kDrainEvery != 0) return;
    if (options_.maintenance_thread) {
      const uint64_t pending = ticket + 1 - s.read_tail.load(std::memory_order_relaxed);
      if (pending < kReadBufferSize / 4) return;
      if (pending < kReadBufferSize / 4 * 3) return wake_maintainer();
      if (pending >= kReadBufferSize - kDrainEvery) {
        std::lock_guard plock(s.policy_mu);
        s.inline_drains.fetch_add(1, std::memory_order_relaxed);
        return drain(s);
      }
    }
    if (s.policy_mu.try_lock()) {
      std::lock_guard plock(s.policy_mu, std::adopt_lock);
      s.inline_drains.fetch_add(1, std::memory_order_relaxed);
      drain(s);
    }
  }

  // Once per batch: the flag is set until the thread starts its next round, so readers of other
  // shards that find their buffers a quarter full meanwhile neither lock nor signal.
  void wake_maintainer() {
    if (wake_.load(std::memory_order_relaxed) || wake_.exchange(true, std::memory_order_acq_rel)) return;
    std::lock_guard lock(maint_mu_);  // orders the flag with the thread's predicate check
    maint_cv_.notify_one();
  }

  // The maintenance thread: waits for a wake-up (or a second), then drains every shard whose
  // buffer holds records.
  void maintain() {
    std::unique_lock lock(maint_mu_);
    for (;;) {
      maint_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || wake_.load(std::memory_order_acquire); });
      if (stop_) return;
      lock.unlock();
      wake_.store(false, std::memory_order_release);
      wakeups_.fetch_add(1, std::memory_order_relaxed);
      for (auto& sp : shards_) {
        Shard& s = *sp;
        if (s.map_mu.tickets() == s.read_tail.load(std::memory_order_relaxed)) continue;
        std::lock_guard plock(s.policy_mu);
        drain(s);
      }
      lock.lock();
    }
  }

  // Under policy_mu: replays buffered reads into the policy in the order they were recorded:
  // hits in batches, with the key hashes derived from the recorded tags, and each miss between
  // them. Handles may be stale (the entry was evicted since, its handle maybe recycled);
  // Policy::record_hits tolerates that. The drain stops at the first empty word: a reader has
  // taken that index (its ticket) but not stored its record yet, and the next drain starts there,
  // so a drain on another thread never skips a record in flight. A word is read and then cleared
  // with two plain atomic accesses, not an exchange (a locked instruction per read): a reader
  // storing into the same word between the two loses its record, which a lossy buffer allows
  // (only a reader a whole ring ahead of the drain can land there, and its index then stops
  // drains until the ring laps once more: overflow drops records either way, counted in dropped).
  void drain(Shard& s) {
    const uint64_t head = s.map_mu.tickets();
    uint64_t from = s.read_tail.load(std::memory_order_relaxed);
    if (from == head) return;
    if (head - from > kReadBufferSize) {  // older ones were overwritten
      s.dropped.fetch_add(head - from - kReadBufferSize, std::memory_order_relaxed);
      from = head - kReadBufferSize;
    }
    // First copy the records out and free their words, then feed the policy: readers see the
    // room (read_tail) before the slower part, so a drainer preempted there costs them nothing.
    uint64_t words[kReadBufferSize];
    size_t count = 0;
    for (uint64_t i = from; i != head; ++i) {
      std::atomic<uint64_t>& slot = s.read_buffer[i % kReadBufferSize];
      const uint64_t word = slot.load(std::memory_order_relaxed);
      if (word == ReadRecord::kEmpty) break;  // in flight: the next drain starts here
      slot.store(ReadRecord::kEmpty, std::memory_order_relaxed);
      words[count++] = word;
    }
    s.read_tail.store(from + count, std::memory_order_release);
    s.drained.fetch_add(count, std::memory_order_relaxed);
    Handle handles[kReadBufferSize];
    uint64_t hashes[kReadBufferSize];
    size_t n = 0;
    for (size_t k = 0; k < count; ++k) {
      const uint64_t word = words[k];
      if (!ReadRecord::is_hit(word)) {
        if (!ReadRecord::is_miss(word)) continue;  // kNothing
        s.policy->record_hits(handles, hashes, n);
        n = 0;
        s.policy->record_miss(policy_hash_of_tag(ReadRecord::tag(word)));
        continue;
      }
      handles[n] = ReadRecord::handle(word);
      hashes[n++] = policy_hash_of_tag(ReadRecord::tag(word));
    }
    s.policy->record_hits(handles, hashes, n);  // one batch: the policy overlaps its cache misses
  }

  void remove_expired(Shard& s, const K& key) {
    std::lock_guard plock(s.policy_mu);
    std::unique_lock mlock(s.map_mu);
    const Entry* found = s.table.find(key, hash_of(key));
    if (found && found->expires_ns && now_ns() >= found->expires_ns)
      erase_locked(s, key, s.stats.expirations);
  }

  // Under both locks.
  void erase_locked(Shard& s, const K& key, std::atomic<uint64_t>& counter) {
    const Handle found = s.table.find_handle(key, hash_of(key));
    if (found == kNoHandle) return;
    s.policy->remove(found);
    s.bytes -= s.table.at(found).weight;
    s.table.erase(found);
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  FlightTicket lead(const K& key, uint64_t h) {
    Shard& s = shard_of(h);
    const uint64_t ep = stripes_[stripe_of(h)].load(std::memory_order_acquire);
    std::lock_guard lock(s.flight_mu);
    auto it = s.flights.find(key);
    if (it != s.flights.end() && it->second->epoch == ep) return {it->second, false};
    auto f = std::make_shared<Flight>();
    f->epoch = ep;
    s.flights.insert_or_assign(key, f);  // a flight of an older epoch no longer takes followers
    return {std::move(f), true};
  }

  template <class Loader>
  ValuePtr run_flight(const K& key, uint64_t h, FlightTicket& t, Loader& load) {
    Shard& s = shard_of(h);
    Flight& f = *t.flight;
    ValuePtr result;
    std::exception_ptr error;
    const auto start = std::chrono::steady_clock::now();
    try {
      Loaded<V> l = load(key);
      const auto took = std::chrono::steady_clock::now() - start;
      s.stats.loads.fetch_add(1, std::memory_order_relaxed);
      s.stats.load_ns.fetch_add(static_cast<uint64_t>(took.count()), std::memory_order_relaxed);
      result = l.value;
      if (l.value && l.store) put(key, l.value, l.weight, l.ttl, f.epoch, took);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(s.flight_mu);
      auto it = s.flights.find(key);
      if (it != s.flights.end() && it->second == t.flight) s.flights.erase(it);
    }
    {
      std::lock_guard lock(f.mu);
      f.done = true;
      f.value = result;
      f.error = error;
    }
    f.cv.notify_all();
    if (error) std::rethrow_exception(error);
    return result;
  }

  static ValuePtr wait_flight(Flight& f, std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(f.mu);
    if (!deadline) {
      f.cv.wait(lock, [&] { return f.done; });
    } else if (!f.cv.wait_until(lock, *deadline, [&] { return f.done; })) {
      throw Error(ErrorCode::kTimeout,
                  "query interrupted while waiting for a concurrent run of the same query: it ran past its time limit");
    }
    if (f.error) std::rethrow_exception(f.error);
    return f.value;
  }

  SharedCacheOptions options_;
  size_t shard_mask_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::array<std::atomic<uint64_t>, kStripes> stripes_{};
  // Maintenance (see the file comment). wake_ on its own line: readers of every shard test it.
  alignas(64) std::atomic<bool> wake_{false};
  std::atomic<uint64_t> wakeups_{0};
  std::mutex maint_mu_;
  std::condition_variable maint_cv_;
  bool stop_ = false;  ///< maint_mu_
  clockid_t maintainer_clock_{};
  bool has_maintainer_clock_ = false;
  std::thread maintainer_;  ///< last: started when everything it reads exists
};

}  // namespace eavdb::cache
