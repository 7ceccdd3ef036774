// eavdb::cache — the Redis implementation of the L3 store (remote.h), on hiredis' synchronous API.
//
// Keys (all prefixed "eavdb:", <nsk> = detail::ns_key(ns) = "{ns}"):
//   p:<nsk>:<id>                  version pointer: "<version>", "n<gen>" (negative), "-" (tombstone)
//   e:<nsk>:<id>                  "<version>:<gen>:" + entity record (codec.h), PX ttl ± 10%;
//                                 written only at a version ≥ the pointer, so it moves forward too
//   g:<nsk>                       entity generation (time-based, never reset)
//   q:<nsk>                       fill quarantine: sorted set of commit tokens scored by deadline µs
//   qn:<nsk>                      pending large commits per token (hash of counters)
//   t:<nsk>:<tag>                 tag version (decimal text, time-based, never reset)
//   r:<nsk>:<signature>           query result: detail::frame_result(tags, versions, blob)
// Channel: "eavdb:inv:<ns>" carries codec.h Invalidations.
//
// Every call is ONE round trip. get_entities is a single MGET of the generation, the pointers and
// the records of all ids (atomic, and no Lua: on Redis 7 a Lua loop over 100 ids costs ~7× the
// MGET itself); a record is served only when its "<version>:<gen>" header matches the pointer and
// the current generation. Everything else is a Lua script run with EVALSHA (SCRIPT LOAD when a
// connection is made, EVAL when the server answers NOSCRIPT), which makes the max-wins pointer
// updates, tag bumps and check-then-read of results atomic on the server; large put_entities and
// announce batches are split into script calls of kChunk entities, pipelined (still one round
// trip), so a big fill never blocks Redis for long. Versions and tag values are compared as
// decimal strings in Lua (Lua numbers are doubles and tag values exceed 2^53). Scripts touch keys
// they compute, so they need a standalone Redis (or a cluster where the "{ns}" hash tag puts a
// namespace in one slot, which it does for every key above).
//
// Connections: a pool of RemoteOptions::pool_size connections, each guarded by its own mutex; a
// caller takes a free one (or waits for one). A connection that fails (I/O error, timeout,
// protocol error) is closed and re-opened lazily by the next call that gets it. Every call is
// guarded by the circuit breaker; errors are counted, never thrown. SIGPIPE raised by a write to a
// dead socket is blocked and discarded on the calling thread, never delivered to the process.
//
// Subscriptions run on their own thread and connection: SUBSCRIBE, then poll() with a 100 ms
// tick (a self-pipe wakes it at once on destruction), a PING after 1 s of silence, connection
// considered lost after 3 s without any reply, reconnect with exponential backoff (50 ms doubling
// to 2 s, with jitter).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/remote.h"

struct redisContext;
struct redisReply;

namespace eavdb::cache {

/// A RemoteStore on one Redis server. See the file comment.
class RedisStore final : public RemoteStore {
 public:
  /// A store for host:port, database `db`. Does not connect yet (the first call does). `url` is
  /// what url() reports.
  RedisStore(std::string url, std::string host, int port, int db, const RemoteOptions& options);
  ~RedisStore() override;

  std::string url() const override { return url_; }
  std::vector<RemoteEntity> get_entities(std::string_view ns, const std::vector<int64_t>& ids,
                                         std::string* generation = nullptr) override;
  void put_entities(std::string_view ns, const std::vector<std::pair<int64_t, RemoteEntity>>& entities,
                    std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl,
                    const std::optional<std::string>& fill_generation = std::nullopt) override;
  bool announce(const Invalidation& inv) override;
  bool publish(const Invalidation& inv) override;
  std::unique_ptr<Subscription> subscribe(std::string_view ns,
                                          std::function<void(const Invalidation&)> on_message,
                                          std::function<void(bool connected)> on_connection) override;
  std::vector<uint64_t> tag_versions(std::string_view ns, const std::vector<std::string>& tags) override;
  std::optional<std::string> get_result(std::string_view ns, std::string_view signature) override;
  void put_result(std::string_view ns, std::string_view signature, std::string_view blob,
                  const std::vector<std::string>& tags, const std::vector<uint64_t>& versions,
                  std::chrono::milliseconds ttl) override;
  void clear(std::string_view ns) override;
  RemoteStats stats() const override { return guard_.stats(); }

  /// Key names (see the file comment), for tools and tests.
  static std::string pointer_key(std::string_view ns, int64_t id);
  static std::string record_key(std::string_view ns, int64_t id);
  static std::string tag_key(std::string_view ns, std::string_view tag);
  static std::string generation_key(std::string_view ns);
  /// The invalidation channel of `ns`.
  static std::string channel(std::string_view ns);

 private:
  struct Conn;
  struct Reply;
  enum Script : int {
    kPutEntities,
    kAnnounce,
    kPublish,
    kTagVersions,
    kGetResult,
    kPutResult,
    kBumpGeneration,
    kEnsureGeneration
  };

  /// Runs one command on a pooled connection, guarded by the breaker. nullptr on any failure
  /// (counted); a Redis error reply is a failure too. For an EVALSHA of `script`, a NOSCRIPT
  /// answer is retried once as EVAL.
  std::unique_ptr<redisReply, void (*)(void*)> call(const std::vector<std::string_view>& argv,
                                                    std::optional<Script> script = std::nullopt);
  /// Runs `script` once per element of `calls` (each the ARGV of one call; no KEYS), pipelined on
  /// one connection: one round trip. Returns one reply per call, nullptr for a call that failed
  /// (an error reply, or no reply because the connection broke); a batch with any failure counts
  /// as one failed call for the stats and the breaker.
  std::vector<std::unique_ptr<redisReply, void (*)(void*)>> eval_many(
      Script script, const std::vector<std::vector<std::string>>& calls);
  /// eval_many with a single call.
  std::unique_ptr<redisReply, void (*)(void*)> eval(Script script, const std::vector<std::string>& args);

  /// Entities per script call of put_entities/announce.
  static constexpr size_t kChunk = 256;
  /// Runs one plain command. nullptr on failure (not counted: the caller decides).
  std::unique_ptr<redisReply, void (*)(void*)> command(Conn& conn, const std::vector<std::string_view>& argv);
  bool ensure_connected(Conn& conn);
  /// announce() without remembering: `generation` receives the entity generation after the
  /// call ("!" when chunks saw different ones).
  bool announce_at(const Invalidation& inv, std::string& generation);
  void drop(Conn& conn);
  Conn& acquire(std::unique_lock<std::mutex>& lock);

  std::string url_, host_;
  int port_, db_;
  RemoteOptions options_;
  detail::CallGuard guard_;
  std::vector<std::unique_ptr<Conn>> pool_;
  std::atomic<uint32_t> next_conn_{0};
  std::mutex sha_mu_;
  std::vector<std::string> shas_;  // SHA1 of each script, from SCRIPT LOAD
  /// Generation each announce() saw, by commit token, until publish() of the same change.
  static constexpr size_t kMaxAnnounced = 4096;
  std::mutex announced_mu_;
  std::unordered_map<std::string, std::vector<std::string>> announced_;
};

}  // namespace eavdb::cache
