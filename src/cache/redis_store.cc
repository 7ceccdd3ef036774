// Redis L3 store: Lua scripts for every call, a small connection pool, the pub/sub thread.
#include "cache/redis_store.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <random>
#include <thread>

#include "cache/codec.h"
#include "eavdb/error.h"

namespace eavdb::cache {
namespace {

using ReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;
ReplyPtr null_reply() { return ReplyPtr(nullptr, freeReplyObject); }

// ---------------------------------------------------------------------------------------------
// Lua scripts. ARGV[1] is always the key prefix "eavdb:", ARGV[2] the namespace key "{ns}".

// Helpers prepended to every script: gt() compares non-negative decimal strings exactly, clock()
// returns the server time in µs as a string and as a number, bump() moves a counter key to
// max(value + 1, stamp), ensure() creates a missing key with stamp.
constexpr const char* kLuaPrelude = R"LUA(
if redis.replicate_commands then redis.replicate_commands() end
local function gt(a, b)
  if #a ~= #b then return #a > #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return false
end
local function clock()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2])), tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function bump(key, stamp)
  redis.call('INCR', key)
  local v = redis.call('GET', key)
  if gt(stamp, v) then redis.call('SET', key, stamp); v = stamp end
  return v
end
local function ensure(key, stamp)
  local v = redis.call('GET', key)
  if not v then redis.call('SET', key, stamp); v = stamp end
  return v
end
local base, nsk = ARGV[1], ARGV[2]
)LUA";

// ARGV[3]: negative TTL ms, [4]: the generation the filler read before its database read ("*":
// unchecked); then groups (id, version, ttl ms, record); version "0" = absent. Nothing is stored
// when the generation moved (or was lost) since. A record is stored (as
// "<version>:<gen>:<record>") only when its version is not older than the pointer, so the record
// key only moves forward too. Returns the number of entries stored, -1 during a quarantine.
constexpr const char* kLuaPutEntities = R"LUA(
local us, now = clock()
local q = base .. 'q:' .. nsk
if redis.call('EXISTS', q) == 1 then
  redis.call('ZREMRANGEBYSCORE', q, '-inf', '(' .. string.format('%.0f', now))
  if redis.call('ZCARD', q) > 0 then return -1 end
end
local gen = ensure(base .. 'g:' .. nsk, us .. '000')
if ARGV[4] ~= '*' and ARGV[4] ~= gen then return 0 end
local neg = 'n' .. gen
local pp, ep = base .. 'p:' .. nsk .. ':', base .. 'e:' .. nsk .. ':'
local stored = 0
for i = 5, #ARGV, 4 do
  local id, ver, ttl, rec = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local pk = pp .. id
  local p = redis.call('GET', pk)
  if ver == '0' then
    if not p or (string.byte(p, 1) == 110 and p ~= neg) then
      redis.call('SET', pk, neg, 'PX', ARGV[3])
      stored = stored + 1
    end
  elseif p ~= '-' then
    local cur = p
    if cur and string.byte(cur, 1) == 110 then cur = nil end
    if not cur or not gt(cur, ver) then
      if not cur or gt(ver, cur) then redis.call('SET', pk, ver) end
      redis.call('SET', ep .. id, ver .. ':' .. gen .. ':' .. rec, 'PX', ttl)
      stored = stored + 1
    end
  end
end
return stored
)LUA";

// ARGV[3]: tombstone TTL ms, [4]: quarantine ms, [5]: commit token, [6]: '1' for a large commit,
// '2' for a large change already committed (first chunk only), [7]: tag count n, [8 .. 7+n]:
// tags, then pairs (id > 0, version). A large commit bumps the generation and counts one more
// pending commit under its token (qn:), whose quarantine deadline (q:) is now + quarantine; an
// already committed one only bumps the generation. Returns the generation after the call (the
// one publish() checks: see RedisStore::publish).
constexpr const char* kLuaAnnounce = R"LUA(
local us, now = clock()
local stamp = us .. '000'
local ntags = tonumber(ARGV[7])
ensure(base .. 'g:' .. nsk, stamp)  -- readers need a generation to fill against
for i = 8, 7 + ntags do bump(base .. 't:' .. nsk .. ':' .. ARGV[i], stamp) end
local pp = base .. 'p:' .. nsk .. ':'
for i = 8 + ntags, #ARGV, 2 do
  local id, ver = ARGV[i], ARGV[i + 1]
  if ver == '0' then
    redis.call('SET', pp .. id, '-', 'PX', ARGV[3])
  else
    local p = redis.call('GET', pp .. id)
    if p ~= '-' and (not p or string.byte(p, 1) == 110 or gt(ver, p)) then
      redis.call('SET', pp .. id, ver)
    end
  end
end
if ARGV[6] == '2' then bump(base .. 'g:' .. nsk, stamp) end
if ARGV[6] == '1' then
  bump(base .. 'g:' .. nsk, stamp)
  local q, qn = base .. 'q:' .. nsk, base .. 'qn:' .. nsk
  redis.call('HINCRBY', qn, ARGV[5], 1)
  redis.call('ZADD', q, string.format('%.0f', now + tonumber(ARGV[4]) * 1000), ARGV[5])
  redis.call('PEXPIRE', q, ARGV[4])
  redis.call('PEXPIRE', qn, ARGV[4])
end
return redis.call('GET', base .. 'g:' .. nsk)
)LUA";

// ARGV[3]: settle ms, [4]: commit token, [5]: channel, [6]: message, [7]: '1' for a large
// commit, [8]: tag count n, [9 .. 8+n]: tags, [9+n]: the generation announce() returned ("*":
// unchecked). When the generation is no longer that one (Redis restarted or flushed after the
// announce, and the pointers it moved may be gone) nothing is done and -1 is returned, so the
// caller re-announces first. A large commit counts one pending commit less under its token; at
// zero its quarantine deadline becomes now + settle. Returns PUBLISH's receiver count.
constexpr const char* kLuaPublish = R"LUA(
local ntags = tonumber(ARGV[8])
local expected = ARGV[9 + ntags]
if expected ~= '*' and redis.call('GET', base .. 'g:' .. nsk) ~= expected then return -1 end
local us, now = clock()
local stamp = us .. '000'
for i = 9, 8 + ntags do bump(base .. 't:' .. nsk .. ':' .. ARGV[i], stamp) end
if ARGV[7] == '1' then
  local q, qn = base .. 'q:' .. nsk, base .. 'qn:' .. nsk
  if redis.call('HINCRBY', qn, ARGV[4], -1) <= 0 then
    redis.call('HDEL', qn, ARGV[4])
    redis.call('ZADD', q, string.format('%.0f', now + tonumber(ARGV[3]) * 1000), ARGV[4])
    if redis.call('PTTL', q) < tonumber(ARGV[3]) then redis.call('PEXPIRE', q, ARGV[3]) end
  end
end
return redis.call('PUBLISH', ARGV[5], ARGV[6])
)LUA";

// ARGV[3..]: tags. Returns their versions (strings), creating missing ones.
constexpr const char* kLuaTagVersions = R"LUA(
local stamp = clock() .. '000'
local out = {}
for i = 3, #ARGV do out[#out + 1] = ensure(base .. 't:' .. nsk .. ':' .. ARGV[i], stamp) end
return out
)LUA";

// ARGV[3]: signature. Returns the blob when every recorded tag still has its version, else nil.
constexpr const char* kLuaGetResult = R"LUA(
local v = redis.call('GET', base .. 'r:' .. nsk .. ':' .. ARGV[3])
if not v then return false end
local pos = 1
local function field()
  local c = string.find(v, ':', pos, true)
  if not c then return nil end
  local n = tonumber(string.sub(v, pos, c - 1))
  if not n or c + n > #v then return nil end
  pos = c + n + 1
  return string.sub(v, c + 1, c + n)
end
local n = tonumber(field() or '')
if not n then return false end
local tp = base .. 't:' .. nsk .. ':'
for i = 1, n do
  local tag = field()
  local ver = field()
  if not tag or not ver then return false end
  if redis.call('GET', tp .. tag) ~= ver then return false end
end
return string.sub(v, pos)
)LUA";

// ARGV[3]: signature, [4]: ttl ms, [5]: framed value, then pairs (tag, version). Stores only
// when every tag still has the version given. Returns 1 when stored.
constexpr const char* kLuaPutResult = R"LUA(
local tp = base .. 't:' .. nsk .. ':'
for i = 6, #ARGV, 2 do
  if redis.call('GET', tp .. ARGV[i]) ~= ARGV[i + 1] then return 0 end
end
redis.call('SET', base .. 'r:' .. nsk .. ':' .. ARGV[3], ARGV[5], 'PX', ARGV[4])
return 1
)LUA";

// Bumps the entity generation (clear()).
constexpr const char* kLuaBumpGeneration = R"LUA(
return bump(base .. 'g:' .. nsk, clock() .. '000')
)LUA";

// Returns the entity generation, creating it (time-based) when missing.
constexpr const char* kLuaEnsureGeneration = R"LUA(
return ensure(base .. 'g:' .. nsk, clock() .. '000')
)LUA";

const std::vector<std::string>& scripts() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v;
    for (const char* body : {kLuaPutEntities, kLuaAnnounce, kLuaPublish, kLuaTagVersions, kLuaGetResult,
                             kLuaPutResult, kLuaBumpGeneration, kLuaEnsureGeneration})
      v.push_back(std::string(kLuaPrelude) + body);
    return v;
  }();
  return all;
}

// Blocks SIGPIPE on this thread for the guard's lifetime and discards a SIGPIPE raised meanwhile
// (a write to a socket the server closed), so it never reaches the process.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{}, old_{};
  bool was_pending_ = false;
};

timeval to_timeval(int ms) {
  ms = std::max(ms, 1);
  return timeval{ms / 1000, static_cast<suseconds_t>((ms % 1000) * 1000)};
}

std::string_view reply_text(const redisReply* r) {
  return r && r->str ? std::string_view(r->str, r->len) : std::string_view();
}

bool parse_u64(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::string base_key() { return std::string(detail::kKeyPrefix); }

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------------
// The subscription thread.

class RedisSubscription final : public Subscription {
 public:
  RedisSubscription(std::string host, int port, std::string channel, const RemoteOptions& options,
                    std::function<void(const Invalidation&)> on_message,
                    std::function<void(bool)> on_connection)
      : host_(std::move(host)),
        port_(port),
        channel_(std::move(channel)),
        options_(options),
        on_message_(std::move(on_message)),
        on_connection_(std::move(on_connection)) {
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
      throw Error(ErrorCode::kIo, std::string("cannot create a pipe: ") + std::strerror(errno));
    thread_ = std::thread([this] { run(); });
  }

  ~RedisSubscription() override {
    stop_.store(true);
    char c = 1;
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
    thread_.join();
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  bool connected() const override { return connected_.load(); }

 private:
  static constexpr auto kTick = std::chrono::milliseconds(100);
  static constexpr auto kPingAfter = std::chrono::milliseconds(1000);
  static constexpr auto kDeadAfter = std::chrono::milliseconds(3000);

  void run() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);  // this thread only
    std::mt19937 rng{std::random_device{}()};
    auto backoff = std::chrono::milliseconds(50);
    while (!stop_.load()) {
      redisContext* c = connect_and_subscribe();
      if (!c) {
        report(false);
        std::uniform_int_distribution<int64_t> extra(0, backoff.count() / 2);
        sleep_for(backoff + std::chrono::milliseconds(extra(rng)));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      backoff = std::chrono::milliseconds(50);
      report(true);
      serve(c);
      redisFree(c);
      if (!stop_.load()) report(false);
    }
    connected_.store(false);
  }

  redisContext* connect_and_subscribe() {
    redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(options_.connect_timeout_ms));
    if (!c) return nullptr;
    if (c->err || redisSetTimeout(c, to_timeval(std::max(options_.command_timeout_ms, 1000))) != REDIS_OK) {
      redisFree(c);
      return nullptr;
    }
    const char* argv[2] = {"SUBSCRIBE", channel_.data()};
    size_t lens[2] = {9, channel_.size()};
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, 2, argv, lens));
    bool ok =
        r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 && reply_text(r->element[0]) == "subscribe";
    if (r) freeReplyObject(r);
    if (!ok) {
      redisFree(c);
      return nullptr;
    }
    return c;
  }

  // Reads messages until the connection is lost or stop_ is set.
  void serve(redisContext* c) {
    using clock = std::chrono::steady_clock;
    auto last_rx = clock::now(), last_ping = clock::now();
    while (!stop_.load()) {
      void* raw = nullptr;
      for (;;) {
        if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return;
        if (!raw) break;
        handle(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
      }
      pollfd fds[2] = {{c->fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(kTick.count()));
      if (stop_.load()) return;
      auto now = clock::now();
      if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (redisBufferRead(c) != REDIS_OK) return;
        last_rx = now;
        continue;
      }
      if (now - last_rx > kDeadAfter) return;
      if (now - last_rx >= kPingAfter && now - last_ping >= kPingAfter) {
        if (redisAppendCommand(c, "PING") != REDIS_OK) return;
        int done = 0;
        do {
          if (redisBufferWrite(c, &done) != REDIS_OK) return;
        } while (!done);
        last_ping = now;
      }
    }
  }

  void handle(const redisReply* r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || reply_text(r->element[0]) != "message") return;
    Invalidation inv;
    try {
      inv = decode_invalidation(reply_text(r->element[2]));
    } catch (const Error&) {
      return;  // not ours or corrupt: ignore
    }
    try {
      if (on_message_) on_message_(inv);
    } catch (...) {
      // A throwing callback must not kill the subscription.
    }
  }

  void report(bool up) {
    connected_.store(up);
    if (reported_ == (up ? 1 : 0)) return;
    reported_ = up ? 1 : 0;
    try {
      if (on_connection_) on_connection_(up);
    } catch (...) {
    }
  }

  void sleep_for(std::chrono::milliseconds d) {
    pollfd fd{wake_[0], POLLIN, 0};
    ::poll(&fd, 1, static_cast<int>(d.count()));
  }

  std::string host_;
  int port_;
  std::string channel_;
  RemoteOptions options_;
  std::function<void(const Invalidation&)> on_message_;
  std::function<void(bool)> on_connection_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  int reported_ = -1;  // last state given to on_connection (-1: none yet); subscription thread only
  std::thread thread_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// RedisStore

struct RedisStore::Conn {
  std::mutex mu;
  redisContext* ctx = nullptr;
};

RedisStore::RedisStore(std::string url, std::string host, int port, int db, const RemoteOptions& options)
    : url_(std::move(url)),
      host_(std::move(host)),
      port_(port),
      db_(db),
      options_(options),
      guard_(options.breaker) {
  int n = std::max(options_.pool_size, 1);
  for (int i = 0; i < n; ++i) pool_.push_back(std::make_unique<Conn>());
}

RedisStore::~RedisStore() {
  for (auto& c : pool_) {
    std::lock_guard lock(c->mu);
    if (c->ctx) redisFree(c->ctx);
    c->ctx = nullptr;
  }
}

std::string RedisStore::pointer_key(std::string_view ns, int64_t id) {
  return base_key() + "p:" + detail::ns_key(ns) + ":" + std::to_string(id);
}

std::string RedisStore::tag_key(std::string_view ns, std::string_view tag) {
  return base_key() + "t:" + detail::ns_key(ns) + ":" + std::string(tag);
}

std::string RedisStore::record_key(std::string_view ns, int64_t id) {
  return base_key() + "e:" + detail::ns_key(ns) + ":" + std::to_string(id);
}

std::string RedisStore::generation_key(std::string_view ns) { return base_key() + "g:" + detail::ns_key(ns); }

std::string RedisStore::channel(std::string_view ns) { return base_key() + "inv:" + std::string(ns); }

RedisStore::Conn& RedisStore::acquire(std::unique_lock<std::mutex>& lock) {
  size_t n = pool_.size();
  size_t start = next_conn_.fetch_add(1, std::memory_order_relaxed) % n;
  for (size_t i = 0; i < n; ++i) {
    Conn& c = *pool_[(start + i) % n];
    std::unique_lock l(c.mu, std::try_to_lock);
    if (l.owns_lock()) {
      lock = std::move(l);
      return c;
    }
  }
  lock = std::unique_lock(pool_[start]->mu);
  return *pool_[start];
}

void RedisStore::drop(Conn& conn) {
  if (conn.ctx) redisFree(conn.ctx);
  conn.ctx = nullptr;
}

ReplyPtr RedisStore::command(Conn& conn, const std::vector<std::string_view>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (auto a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  SigpipeGuard sigpipe;
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(conn.ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
  if (!r) {  // I/O error or timeout: the connection is unusable (a late reply would desynchronize it)
    drop(conn);
    return null_reply();
  }
  return ReplyPtr(r, freeReplyObject);
}

bool RedisStore::ensure_connected(Conn& conn) {
  if (conn.ctx) return true;
  redisContext* c = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(options_.connect_timeout_ms));
  if (!c) return false;
  if (c->err || redisSetTimeout(c, to_timeval(options_.command_timeout_ms)) != REDIS_OK) {
    redisFree(c);
    return false;
  }
  conn.ctx = c;
  if (db_ != 0) {
    std::string db = std::to_string(db_);
    auto r = command(conn, {"SELECT", db});
    if (!r || r->type == REDIS_REPLY_ERROR) {
      drop(conn);
      return false;
    }
  }
  std::lock_guard lock(sha_mu_);
  if (shas_.empty()) {  // learn the script SHAs once; NOSCRIPT later falls back to EVAL
    std::vector<std::string> shas;
    for (const auto& body : scripts()) {
      auto r = command(conn, {"SCRIPT", "LOAD", body});
      if (!r) return false;
      if (r->type != REDIS_REPLY_STRING) break;
      shas.emplace_back(reply_text(r.get()));
    }
    if (shas.size() == scripts().size()) shas_ = std::move(shas);
  }
  return true;
}

ReplyPtr RedisStore::call(const std::vector<std::string_view>& argv, std::optional<Script> script) {
  if (!guard_.admit()) return null_reply();
  std::unique_lock<std::mutex> lock;
  Conn& conn = acquire(lock);
  ReplyPtr reply = null_reply();
  if (ensure_connected(conn)) {
    reply = command(conn, argv);
    if (script && reply && reply->type == REDIS_REPLY_ERROR &&
        reply_text(reply.get()).starts_with("NOSCRIPT")) {
      std::vector<std::string_view> again = argv;  // the server lost its script cache: send the body
      again[0] = "EVAL";
      again[1] = scripts()[*script];
      reply = command(conn, again);
    }
  }
  bool ok = reply && reply->type != REDIS_REPLY_ERROR;
  guard_.done(ok);
  return ok ? std::move(reply) : null_reply();
}

std::vector<ReplyPtr> RedisStore::eval_many(Script script,
                                            const std::vector<std::vector<std::string>>& calls) {
  std::vector<ReplyPtr> out;
  out.reserve(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) out.push_back(null_reply());
  if (calls.empty() || !guard_.admit()) return out;
  std::unique_lock<std::mutex> lock;
  Conn& conn = acquire(lock);
  bool ok = ensure_connected(conn);
  std::string sha;
  {
    std::lock_guard l(sha_mu_);
    if (!shas_.empty()) sha = shas_[script];
  }
  auto argv_of = [&](const std::vector<std::string>& args, bool with_body) {
    std::vector<std::string_view> argv;
    argv.reserve(args.size() + 3);
    argv.push_back(with_body ? "EVAL" : "EVALSHA");
    argv.push_back(with_body ? std::string_view(scripts()[script]) : std::string_view(sha));
    argv.push_back("0");
    for (const auto& a : args) argv.push_back(a);
    return argv;
  };
  if (ok) {  // pipeline: every call written, then every reply read (one round trip)
    SigpipeGuard sigpipe;
    for (const auto& args : calls) {
      auto argv = argv_of(args, sha.empty());
      std::vector<const char*> ptrs;
      std::vector<size_t> lens;
      for (auto a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAppendCommandArgv(conn.ctx, static_cast<int>(argv.size()), ptrs.data(), lens.data()) !=
          REDIS_OK) {
        ok = false;
        break;
      }
    }
    for (size_t i = 0; ok && i < calls.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(conn.ctx, &raw) != REDIS_OK || !raw)
        ok = false;
      else
        out[i] = ReplyPtr(static_cast<redisReply*>(raw), freeReplyObject);
    }
    if (!ok) drop(conn);  // replies may be left unread: the connection cannot be reused
  }
  for (size_t i = 0; ok && i < calls.size(); ++i) {
    if (out[i]->type == REDIS_REPLY_ERROR && reply_text(out[i].get()).starts_with("NOSCRIPT")) {
      out[i] = command(conn, argv_of(calls[i], true));  // the server lost its script cache
      if (!out[i]) ok = false;
    }
    if (ok && out[i]->type == REDIS_REPLY_ERROR) ok = false;
  }
  guard_.done(ok);
  if (!ok)
    for (auto& r : out)
      if (r && r->type == REDIS_REPLY_ERROR) r.reset();
  return out;
}

ReplyPtr RedisStore::eval(Script script, const std::vector<std::string>& args) {
  auto replies = eval_many(script, {args});
  return std::move(replies[0]);
}

std::vector<RemoteEntity> RedisStore::get_entities(std::string_view ns, const std::vector<int64_t>& ids,
                                                   std::string* generation) {
  std::vector<RemoteEntity> out(ids.size());
  if (generation) generation->clear();
  if (ids.empty()) return out;
  // One MGET (atomic, one round trip): the generation, every pointer, every record.
  const size_t n = ids.size();
  std::string nsk = detail::ns_key(ns);
  std::vector<std::string> keys;
  keys.reserve(2 * n + 1);
  keys.push_back(base_key() + "g:" + nsk);
  for (int64_t id : ids) keys.push_back(base_key() + "p:" + nsk + ":" + std::to_string(id));
  for (int64_t id : ids) keys.push_back(base_key() + "e:" + nsk + ":" + std::to_string(id));
  std::vector<std::string_view> argv;
  argv.reserve(keys.size() + 1);
  argv.push_back("MGET");
  for (const auto& k : keys) argv.push_back(k);
  int64_t t0 = steady_ns();
  auto r = call(argv);
  if (r) guard_.load(static_cast<uint64_t>(steady_ns() - t0));
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 * n + 1) {
    guard_.miss(n);
    return out;
  }
  std::string_view gen =
      r->element[0]->type == REDIS_REPLY_STRING ? reply_text(r->element[0]) : std::string_view();
  if (generation) {
    generation->assign(gen);
    if (gen.empty()) {  // first use, or Redis lost it: create one for the fill to check against
      auto g = eval(kEnsureGeneration, {base_key(), nsk});
      if (g && g->type == REDIS_REPLY_STRING) generation->assign(reply_text(g.get()));
    }
  }
  uint64_t hits = 0;
  for (size_t i = 0; i < n; ++i) {
    const redisReply* p = r->element[1 + i];
    const redisReply* rec = r->element[1 + n + i];
    if (p->type != REDIS_REPLY_STRING) continue;  // no pointer: a miss
    std::string_view ptr = reply_text(p);
    if (ptr == "-" || (!ptr.empty() && ptr[0] == 'n' && !gen.empty() && ptr.substr(1) == gen)) {
      out[i].state = RemoteEntity::State::kAbsent;
      ++hits;
      continue;
    }
    if (gen.empty() || ptr.empty() || ptr[0] == 'n' || rec->type != REDIS_REPLY_STRING) continue;
    // The record is "<version>:<gen>:<msgpack>": served only at the pointer's version and the
    // current generation.
    std::string_view value = reply_text(rec);
    if (value.size() < ptr.size() + gen.size() + 2 || value.substr(0, ptr.size()) != ptr ||
        value[ptr.size()] != ':' || value.substr(ptr.size() + 1, gen.size()) != gen ||
        value[ptr.size() + 1 + gen.size()] != ':')
      continue;
    try {
      EntityRecord record = decode_entity(value.substr(ptr.size() + gen.size() + 2));
      if (record.id != ids[i]) continue;  // not the record this key should hold: a miss
      out[i].record = std::move(record);
      out[i].state = RemoteEntity::State::kPresent;
      ++hits;
    } catch (const Error&) {
      // corrupt record: a miss (the database is read instead)
    }
  }
  guard_.hit(hits);
  guard_.miss(n - hits);
  return out;
}

void RedisStore::put_entities(std::string_view ns,
                              const std::vector<std::pair<int64_t, RemoteEntity>>& entities,
                              std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl,
                              const std::optional<std::string>& fill_generation) {
  // One script call per kChunk entities, pipelined: one round trip, and Redis serves other
  // clients between the chunks of a large fill.
  std::vector<std::vector<std::string>> calls;
  std::string nsk = detail::ns_key(ns);
  std::string negative = std::to_string(std::max<int64_t>(negative_ttl.count(), 1));
  for (const auto& [id, e] : entities) {
    bool is_present = e.state == RemoteEntity::State::kPresent && e.record.version > 0;
    if (id <= 0 || (!is_present && e.state != RemoteEntity::State::kAbsent)) continue;
    if (calls.empty() || calls.back().size() >= 4 + 4 * kChunk) {
      calls.emplace_back();
      calls.back().reserve(4 + 4 * kChunk);
      calls.back().insert(calls.back().end(), {base_key(), nsk, negative, fill_generation.value_or("*")});
    }
    auto& args = calls.back();
    args.push_back(std::to_string(id));
    if (is_present) {
      args.push_back(std::to_string(e.record.version));
      args.push_back(std::to_string(detail::jitter(ttl).count()));
      args.push_back(encode_entity(e.record));
    } else {
      args.insert(args.end(), {"0", "0", ""});
    }
  }
  for (const auto& r : eval_many(kPutEntities, calls))
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) guard_.put(static_cast<uint64_t>(r->integer));
}

bool RedisStore::announce(const Invalidation& inv) {
  std::string generation;
  if (!announce_at(inv, generation)) return false;
  // Remembered for publish() of the same change (not for a catch-up: no publish follows it).
  if (!inv.committed) {
    std::lock_guard lock(announced_mu_);
    if (announced_.size() >= kMaxAnnounced) announced_.clear();  // commits rolled back after announce
    announced_[detail::commit_token(inv)].push_back(std::move(generation));
  }
  return true;
}

bool RedisStore::announce_at(const Invalidation& inv, std::string& generation) {
  generation.clear();
  // Tags and the large-commit part go with the first chunk; entities kChunk per script call,
  // pipelined.
  std::vector<std::vector<std::string>> calls;
  std::string nsk = detail::ns_key(inv.ns);
  std::string token = detail::commit_token(inv);
  auto start_call = [&](bool first) {
    calls.emplace_back();
    auto& args = calls.back();
    args.insert(args.end(), {base_key(), nsk, std::to_string(detail::kTombstoneTtl.count()),
                             std::to_string(detail::kLargeCommitQuarantine.count()), token,
                             !first || !detail::is_large(inv) ? "0" : inv.committed ? "2" : "1"});
    args.push_back(std::to_string(first ? inv.tags.size() : 0));
    if (first) args.insert(args.end(), inv.tags.begin(), inv.tags.end());
  };
  start_call(true);
  size_t in_call = 0;
  for (const auto& e : inv.entities) {
    if (e.id <= 0) continue;
    if (in_call == kChunk) {
      start_call(false);
      in_call = 0;
    }
    calls.back().push_back(std::to_string(e.id));
    calls.back().push_back(std::to_string(std::max<int64_t>(e.version, 0)));
    ++in_call;
  }
  // Every chunk reports the generation after it ran; they differ only when something bumped it
  // in between, and then publish() must re-announce ("!" never matches a generation).
  for (const auto& r : eval_many(kAnnounce, calls)) {
    if (!r) return false;
    std::string gen = r->type == REDIS_REPLY_STRING ? std::string(reply_text(r.get())) : "!";
    if (generation.empty()) generation = std::move(gen);
    else if (generation != gen) generation = "!";
  }
  return true;
}

bool RedisStore::publish(const Invalidation& inv) {
  Invalidation msg = inv;
  if (msg.sent_at_us == 0) msg.sent_at_us = detail::realtime_us();
  std::vector<std::string> args;
  args.reserve(8 + inv.tags.size());
  args.push_back(base_key());
  args.push_back(detail::ns_key(inv.ns));
  args.push_back(std::to_string(detail::kLargeCommitSettle.count()));
  args.push_back(detail::commit_token(inv));
  args.push_back(channel(inv.ns));
  args.push_back(encode_invalidation(msg));
  args.push_back(detail::is_large(inv) ? "1" : "0");
  args.push_back(std::to_string(inv.tags.size()));
  for (const auto& t : inv.tags) args.push_back(t);
  // The generation announce() saw: a Redis restarted (or flushed) between the announce and the
  // COMMIT lost the version pointers it moved, and a reader may since have filled the old record
  // under a new generation. Then the change is announced again (as committed) before it is
  // published, so L3 never points at the old version after this returns.
  const std::string token = detail::commit_token(inv);
  std::string expected = "*";
  {
    std::lock_guard lock(announced_mu_);
    if (auto it = announced_.find(token); it != announced_.end()) {
      expected = std::move(it->second.back());
      it->second.pop_back();
      if (it->second.empty()) announced_.erase(it);
    }
  }
  auto keep_for_retry = [&] {  // the caller retries publish() later: check the same generation
    if (expected == "*") return;
    std::lock_guard lock(announced_mu_);
    announced_[token].push_back(expected);
  };
  args.push_back(expected);
  for (int attempt = 0;; ++attempt) {
    auto r = eval(kPublish, args);
    if (!r) {
      keep_for_retry();
      return false;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != -1) return true;
    Invalidation again = inv;
    again.committed = true;
    std::string generation;
    if (!announce_at(again, generation)) {
      keep_for_retry();
      return false;
    }
    // Generations keep moving (a flood of large commits or clears): the last re-announce was
    // made under the newest one, publish without the check.
    expected = attempt >= 2 || generation.empty() ? "*" : generation;
    args.back() = expected;
  }
}

std::unique_ptr<Subscription> RedisStore::subscribe(std::string_view ns,
                                                    std::function<void(const Invalidation&)> on_message,
                                                    std::function<void(bool connected)> on_connection) {
  return std::make_unique<RedisSubscription>(host_, port_, channel(ns), options_, std::move(on_message),
                                             std::move(on_connection));
}

std::vector<uint64_t> RedisStore::tag_versions(std::string_view ns, const std::vector<std::string>& tags) {
  if (tags.empty()) return {};
  std::vector<std::string> args;
  args.reserve(2 + tags.size());
  args.push_back(base_key());
  args.push_back(detail::ns_key(ns));
  for (const auto& t : tags) args.push_back(t);
  auto r = eval(kTagVersions, args);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != tags.size()) return {};
  std::vector<uint64_t> out(tags.size());
  for (size_t i = 0; i < tags.size(); ++i) {
    if (r->element[i]->type != REDIS_REPLY_STRING || !parse_u64(reply_text(r->element[i]), out[i])) return {};
  }
  return out;
}

std::optional<std::string> RedisStore::get_result(std::string_view ns, std::string_view signature) {
  std::vector<std::string> args{base_key(), detail::ns_key(ns), std::string(signature)};
  int64_t t0 = steady_ns();
  auto r = eval(kGetResult, args);
  if (r) guard_.load(static_cast<uint64_t>(steady_ns() - t0));
  if (!r || r->type != REDIS_REPLY_STRING) {
    guard_.miss();
    return std::nullopt;
  }
  guard_.hit();
  return std::string(reply_text(r.get()));
}

void RedisStore::put_result(std::string_view ns, std::string_view signature, std::string_view blob,
                            const std::vector<std::string>& tags, const std::vector<uint64_t>& versions,
                            std::chrono::milliseconds ttl) {
  if (tags.size() != versions.size()) return;
  std::vector<std::string> args;
  args.reserve(5 + 2 * tags.size());
  args.push_back(base_key());
  args.push_back(detail::ns_key(ns));
  args.push_back(std::string(signature));
  args.push_back(std::to_string(detail::jitter(ttl).count()));
  args.push_back(detail::frame_result(tags, versions, blob));
  for (size_t i = 0; i < tags.size(); ++i) {
    args.push_back(tags[i]);
    args.push_back(std::to_string(versions[i]));
  }
  auto r = eval(kPutResult, args);
  if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) guard_.put();
}

void RedisStore::clear(std::string_view ns) {
  std::string nsk = detail::ns_key(ns);
  if (!eval(kBumpGeneration, {base_key(), nsk})) return;  // records are now invisible
  if (!guard_.admit()) return;
  std::unique_lock<std::mutex> lock;
  Conn& conn = acquire(lock);
  bool ok = ensure_connected(conn);
  for (const char* kind : {"e:", "r:"}) {
    std::string pattern = base_key() + kind + nsk + ":*";
    std::string cursor = "0";
    while (ok) {
      auto r = command(conn, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
          r->element[1]->type != REDIS_REPLY_ARRAY) {
        ok = false;
        break;
      }
      cursor = std::string(reply_text(r->element[0]));
      const redisReply* keys = r->element[1];
      if (keys->elements > 0) {
        std::vector<std::string_view> argv{"UNLINK"};
        for (size_t i = 0; i < keys->elements; ++i) argv.push_back(reply_text(keys->element[i]));
        auto d = command(conn, argv);
        if (!d || d->type == REDIS_REPLY_ERROR) {
          ok = false;
          break;
        }
      }
      if (cursor == "0") break;
    }
  }
  guard_.done(ok);
}

}  // namespace eavdb::cache
