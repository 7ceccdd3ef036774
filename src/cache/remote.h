// eavdb::cache — L3: a cache shared across processes, in Redis ("redis://host:port[/db]") or in a
// directory ("file:///abs/dir", survives restarts), plus the cross-process invalidation bus.
//
// Everything is scoped by a namespace string `ns` (eavdb uses "<db-identity>:<tenant_id>") so two
// stores or two tenants never share an entry.
//
// Entity protocol (an old value can never pass for a new one):
//  - a *version pointer* per entity id, `p:<ns>:<id>`, holds the newest version any process has
//    announced: an integer ≥ 1, a negative entry "n<gen>" for "known absent" (short TTL), or the
//    tombstone "-" (deleted; ids are never reused; TTL detail::kTombstoneTtl). Pointers move only
//    forward: every write is max-wins, a number beats a negative entry and a tombstone beats any
//    number. Version pointers carry no TTL, so a Redis running a volatile-* eviction policy never
//    drops them (under allkeys-* eviction a dropped pointer can let a late fill store an older
//    version: run Redis with a volatile-* policy or noeviction);
//  - the record itself (msgpack, TTL with jitter) is stored tagged with its version and `<gen>`
//    and is served only when both match the pointer and the current generation; it is only ever
//    filled with the record the database returned at that version, and only while the
//    generation is the one the filler read *before* its database read (a Redis restart or flush
//    in between loses the generation with the pointers, so a fill of data older than a lost
//    pointer is refused);
//  - a committer whose announce failed records that in the database's invalidation log; other
//    processes, which read that log before serving from a cache, announce the committed versions
//    on its behalf (Invalidation::committed) before they read L3;
//  - a committer announces the versions it is about to commit *before* the database COMMIT
//    (announce()), so a reader that starts after the commit returns can never be handed the
//    older record: it either finds the new record or misses and reads the database;
//  - `<gen>`, the namespace's entity generation (`g:<ns>`, never reset, time-based like a tag
//    version), covers changes announced without ids (Invalidation::Entity::id == 0, a large
//    commit): announce() bumps it, which hides every record and negative entry of the namespace,
//    and opens a *fill quarantine* (`q:<ns>`) during which put_entities stores nothing, because a
//    fill may carry data read before the COMMIT. publish() of the same change (after the COMMIT)
//    ends the quarantine detail::kLargeCommitSettle later (time for reads started before the
//    COMMIT to finish) once no identical change is still pending; an unpublished quarantine ends
//    after detail::kLargeCommitQuarantine.
//
// Query results (L4's shared backing) are stored with the versions of their tags at the time the
// query started; a read returns the blob only if every tag still has that version. Tags are
// bumped twice per change: by announce() before the COMMIT and by publish() after it, so a query
// that read the tag versions between the two (and may have read pre-commit data) is not served.
// A bump sets max(version + 1, time_µs × 1000). Tag versions are never reset: a missing tag key
// (evicted, flushed, Redis restarted) is recreated with the time-based value time_µs × 1000,
// larger than any version it had before, so a lost tag never makes an old entry valid again (the
// Symfony "evicted tag resets to 0" bug). This assumes the clock of the store (Redis TIME, or the
// host clock for file://) does not go backwards and fewer than 1000 bumps hit one tag per µs.
//
// Failures never throw out of a RemoteStore: every call is guarded by a circuit breaker
// (circuit_breaker.h); an error or an open breaker makes reads miss and writes no-ops, and is
// counted in stats(). Calls that must not be lost when Redis is down (announce, publish) return
// false so the caller can keep them pending.
//
// Implementations: redis_store.h (one MGET or Lua script call, one round trip, per call) and
// file_store.h.
//
// Thread-safety: every method may be called from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/circuit_breaker.h"
#include "eavdb/result.h"

namespace eavdb::cache {

/// Settings of an L3 store.
struct RemoteOptions {
  int connect_timeout_ms = 200;  ///< TCP connect timeout (Redis)
  int command_timeout_ms = 100;  ///< per-command read/write timeout (Redis)
  int pool_size = 4;             ///< connections kept for concurrent callers (Redis)
  BreakerOptions breaker;        ///< circuit breaker settings
};

/// What L3 knows about one entity id.
struct RemoteEntity {
  enum class State : uint8_t { kMiss, kAbsent, kPresent };
  State state = State::kMiss;
  EntityRecord record;  ///< kPresent only
};

/// A committed (or about-to-commit) change, as announced to other processes.
struct Invalidation {
  std::string ns;
  struct Entity {
    int64_t type_id = 0;
    int64_t id = 0;       ///< 0: every entity of type_id (a large commit)
    int64_t version = 0;  ///< the new version; 0 for a delete
  };
  std::vector<Entity> entities;
  std::vector<std::string> tags;  ///< L4 tags whose versions this change bumps
  std::string origin;             ///< id of the announcing process (receivers skip their own)
  int64_t sent_at_us = 0;         ///< CLOCK_REALTIME µs when published (propagation delay)
  /// The change is already committed (a catch-up on behalf of a committer whose own announce
  /// failed): announce() of a large change then bumps the generation without a fill quarantine,
  /// since no read can see pre-commit data any more.
  bool committed = false;
};

/// Counters of one L3 store (monotonic since open). hits/misses count ids of get_entities (a
/// kAbsent answer is a hit) and calls of get_result; puts counts entries and results stored;
/// errors counts failed calls (I/O error, timeout, error reply), not corrupt records (misses).
struct RemoteStats {
  uint64_t hits = 0, misses = 0, errors = 0, puts = 0;
  uint64_t breaker_open_skips = 0;        ///< calls bypassed because the breaker was open
  uint64_t load_ns_total = 0, loads = 0;  ///< round-trip time of get calls
  BreakerState breaker = BreakerState::kClosed;
};

/// The invalidation subscription: a background thread receiving other processes' Invalidations.
class Subscription {
 public:
  virtual ~Subscription() = default;  ///< stops the thread
  /// True while the subscription connection is up.
  virtual bool connected() const = 0;
};

/// An L3 store. See the file comment for the protocol.
class RemoteStore {
 public:
  /// Opens "redis://host:port[/db]" or "file:///abs/dir" (the directory is created). Connecting
  /// lazily is allowed: an unreachable Redis does not throw here. Throws Error(kInvalidArgument)
  /// for another scheme or a malformed URL (credentials and query strings are not supported), and
  /// Error(kIo) when the file:// directory cannot be created.
  static std::unique_ptr<RemoteStore> open(std::string_view url, const RemoteOptions& options = {});
  virtual ~RemoteStore() = default;

  /// The URL it was opened with.
  virtual std::string url() const = 0;

  /// Entities by id (one round trip for any count), index-aligned with `ids`. `generation`, when
  /// given, receives the namespace's entity generation as read by the same call (created when it
  /// does not exist yet, one more round trip; "" when the call failed): pass it to the
  /// put_entities of what is then read from the database.
  virtual std::vector<RemoteEntity> get_entities(std::string_view ns, const std::vector<int64_t>& ids,
                                                 std::string* generation = nullptr) = 0;
  /// Fills entries read from the database: kPresent records under their version (and moves the
  /// pointer forward to it, max-wins; nothing is stored when the pointer is newer or a tombstone),
  /// kAbsent as negative entries (`negative_ttl`, only when no pointer of the current generation
  /// exists). kMiss entries are ignored. `ttl` is the record TTL before jitter (±10%). Nothing is
  /// stored during a large-commit quarantine. With `fill_generation` (the generation get_entities
  /// reported before the database read) nothing is stored unless the generation is still that
  /// one: a Redis restart or flush in between may have dropped a version pointer newer than the
  /// data read, and a clear() or a large change may have made it stale (the generation is then
  /// created if missing, so the next fill can succeed). Only tests fill without it.
  virtual void put_entities(std::string_view ns,
                            const std::vector<std::pair<int64_t, RemoteEntity>>& entities,
                            std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl,
                            const std::optional<std::string>& fill_generation = std::nullopt) = 0;
  /// Moves the pointers of the written entities forward (version, or tombstone for version 0 =
  /// delete) and bumps the tags; an entity with id 0 bumps the generation and, unless
  /// inv.committed, opens the fill quarantine (see the file comment). Called before the database
  /// COMMIT (or after it, for a catch-up). One round trip. False on failure.
  virtual bool announce(const Invalidation& inv) = 0;
  /// Called after the COMMIT with the Invalidation given to announce(): bumps inv.tags a second
  /// time, ends the quarantine of a large commit, and publishes `inv` on the invalidation channel
  /// "eavdb:inv:<ns>" (sent_at_us is set to now when 0). One round trip. False on failure. A
  /// store without a bus (file://) does the first two and returns true. When the entity
  /// generation is no longer the one announce() of the same change left (Redis restarted or was
  /// flushed between the announce and the COMMIT, losing the pointers it moved while readers
  /// filled older records under a new generation), the change is first announced again as
  /// committed (one more round trip).
  virtual bool publish(const Invalidation& inv) = 0;
  /// Subscribes to the invalidation channel of `ns`. `on_message` runs on the subscription thread
  /// for every message (own messages included; filter by origin); `on_connection(false)` runs
  /// when the connection is lost and `on_connection(true)` once it is back (the thread reconnects
  /// with backoff). Returns nullptr for a store without a bus (file://).
  virtual std::unique_ptr<Subscription> subscribe(std::string_view ns,
                                                  std::function<void(const Invalidation&)> on_message,
                                                  std::function<void(bool connected)> on_connection) = 0;

  /// Current versions of `tags` (creating missing ones as described above), index-aligned.
  /// Empty vector on failure. One round trip.
  virtual std::vector<uint64_t> tag_versions(std::string_view ns, const std::vector<std::string>& tags) = 0;
  /// A stored query result whose recorded tag versions all still match, else nullopt. One round
  /// trip.
  virtual std::optional<std::string> get_result(std::string_view ns, std::string_view signature) = 0;
  /// Stores a query result with the tag versions read before the query ran (index-aligned). Not
  /// stored when a tag already has another version. `ttl` gets ±10% jitter.
  virtual void put_result(std::string_view ns, std::string_view signature, std::string_view blob,
                          const std::vector<std::string>& tags, const std::vector<uint64_t>& versions,
                          std::chrono::milliseconds ttl) = 0;

  /// Drops every entity record, negative entry and query result of `ns` (the generation is bumped,
  /// then the records are deleted; version pointers, tombstones and tags stay).
  virtual void clear(std::string_view ns) = 0;
  /// Counters since open.
  virtual RemoteStats stats() const = 0;
};

/// Internals shared by the L3 implementations (redis_store.cc, file_store.cc); not an API.
namespace detail {

/// Prefix of every Redis key and channel.
inline constexpr std::string_view kKeyPrefix = "eavdb:";
/// Lifetime of a tombstone pointer (ids are never reused; it only has to outlive in-flight fills).
inline constexpr std::chrono::milliseconds kTombstoneTtl{60 * 60 * 1000};
/// Longest fill quarantine of a large commit whose publish() never came.
inline constexpr std::chrono::milliseconds kLargeCommitQuarantine{60 * 60 * 1000};
/// How long fills stay refused after a large commit's publish().
inline constexpr std::chrono::milliseconds kLargeCommitSettle{10 * 1000};

/// CLOCK_REALTIME in µs since the epoch.
int64_t realtime_us() noexcept;
/// `ttl` scaled by a uniform factor in [0.9, 1.1], at least 1 ms.
std::chrono::milliseconds jitter(std::chrono::milliseconds ttl) noexcept;
/// True when `inv` has an entity with id 0 (a large commit).
bool is_large(const Invalidation& inv) noexcept;
/// A token naming the change of `inv` (ns, entities, tags; not origin or sent_at_us, which a caller
/// may set only for publish()), so announce() and publish() of the same change address the same
/// quarantine entry. Identical concurrent changes share a token: each announce() counts one
/// pending commit under it and each publish() one less, the quarantine settles at zero. 16 hex
/// digits.
std::string commit_token(const Invalidation& inv);
/// The namespace as a key component: "{ns}" when ns only has [A-Za-z0-9._:/@=+-], else "{#hex}".
/// Braces make it a Redis Cluster hash tag and keep glob patterns of one ns from matching another.
std::string ns_key(std::string_view ns);

/// Frames a stored query result as fields "<byte length>:<bytes>": the tag count n, then n
/// (tag, decimal version) pairs; the blob follows unframed. The Redis get script parses it too.
std::string frame_result(const std::vector<std::string>& tags, const std::vector<uint64_t>& versions,
                         std::string_view blob);
/// Parses frame_result's output into (tag, version text) pairs and the blob; false if malformed.
bool unframe_result(std::string_view framed, std::vector<std::pair<std::string, std::string>>& tags,
                    std::string_view& blob);

/// Breaker plus counters of one store. Thread-safe.
class CallGuard {
 public:
  explicit CallGuard(const BreakerOptions& options) : breaker_(options) {}
  /// True when the breaker lets a call through; otherwise counts a skip.
  bool admit();
  /// Records the outcome of an admitted call.
  void done(bool ok);
  /// Counter updates.
  void hit(uint64_t n = 1) { hits_.fetch_add(n, std::memory_order_relaxed); }
  void miss(uint64_t n = 1) { misses_.fetch_add(n, std::memory_order_relaxed); }
  void put(uint64_t n = 1) { puts_.fetch_add(n, std::memory_order_relaxed); }
  void load(uint64_t ns) {
    load_ns_.fetch_add(ns, std::memory_order_relaxed);
    loads_.fetch_add(1, std::memory_order_relaxed);
  }
  /// A snapshot of the counters and the breaker state.
  RemoteStats stats() const;
  CircuitBreaker& breaker() noexcept { return breaker_; }

 private:
  CircuitBreaker breaker_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, errors_{0}, puts_{0}, skips_{0}, load_ns_{0}, loads_{0};
};

}  // namespace detail

}  // namespace eavdb::cache
