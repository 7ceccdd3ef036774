// RemoteStore::open (URL parsing) and the helpers both L3 implementations share.
#include "cache/remote.h"

#include <xxhash.h>

#include <charconv>
#include <random>

#include "cache/file_store.h"
#include "cache/redis_store.h"
#include "eavdb/error.h"

namespace eavdb::cache {
namespace {

[[noreturn]] void bad_url(std::string_view url, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "invalid cache URL '" + std::string(url) + "': " + why);
}

bool parse_uint(std::string_view s, int64_t max, int64_t& out) {
  if (s.empty() || s.size() > 10) return false;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0 || v > max) return false;
  out = v;
  return true;
}

std::unique_ptr<RemoteStore> open_redis(std::string_view url, const RemoteOptions& options) {
  std::string_view rest = url.substr(std::string_view("redis://").size());
  int64_t db = 0;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db_text = rest.substr(slash + 1);
    if (!db_text.empty() && !parse_uint(db_text, 1 << 20, db)) bad_url(url, "database must be a number");
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos) bad_url(url, "credentials are not supported");
  std::string host;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) bad_url(url, "unterminated '['");
    host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad_url(url, "expected ':' after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) bad_url(url, "empty port");
    }
  } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
    host = std::string(rest.substr(0, colon));
    port_text = rest.substr(colon + 1);
    if (port_text.empty()) bad_url(url, "empty port");
  } else {
    host = std::string(rest);
  }
  if (host.empty()) bad_url(url, "missing host");
  bool bracketed = !rest.empty() && rest.front() == '[';
  for (char c : host)
    if (c == '?' || c == '#' || c == ' ' || c == '[' || c == ']' || (c == ':' && !bracketed))
      bad_url(url, "malformed host");
  int64_t port = 6379;
  if (!port_text.empty() && (!parse_uint(port_text, 65535, port) || port == 0))
    bad_url(url, "port must be 1-65535");
  return std::make_unique<RedisStore>(std::string(url), host, static_cast<int>(port), static_cast<int>(db),
                                      options);
}

std::unique_ptr<RemoteStore> open_file(std::string_view url, const RemoteOptions& options) {
  std::string_view path = url.substr(std::string_view("file://").size());
  if (path.empty() || path.front() != '/') bad_url(url, "expected file:///absolute/dir");
  if (path.find('\0') != std::string_view::npos) bad_url(url, "NUL in path");
  return std::make_unique<FileStore>(std::string(url), std::string(path), options);
}

}  // namespace

std::unique_ptr<RemoteStore> RemoteStore::open(std::string_view url, const RemoteOptions& options) {
  if (url.starts_with("redis://")) return open_redis(url, options);
  if (url.starts_with("file://")) return open_file(url, options);
  bad_url(url, "expected redis://host:port[/db] or file:///dir");
}

namespace detail {

int64_t realtime_us() noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::milliseconds jitter(std::chrono::milliseconds ttl) noexcept {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.9, 1.1);
  auto ms = static_cast<int64_t>(static_cast<double>(ttl.count()) * factor(rng));
  return std::chrono::milliseconds(std::max<int64_t>(ms, 1));
}

bool is_large(const Invalidation& inv) noexcept {
  for (const auto& e : inv.entities)
    if (e.id == 0) return true;
  return false;
}

std::string commit_token(const Invalidation& inv) {
  XXH3_state_t* st = XXH3_createState();
  if (!st) throw std::bad_alloc();
  XXH3_64bits_reset(st);
  auto add_str = [&](std::string_view s) {
    uint64_t n = s.size();
    XXH3_64bits_update(st, &n, sizeof n);
    XXH3_64bits_update(st, s.data(), s.size());
  };
  add_str(inv.ns);
  for (const auto& e : inv.entities) {
    int64_t v[3] = {e.type_id, e.id, e.version};
    XXH3_64bits_update(st, v, sizeof v);
  }
  for (const auto& t : inv.tags) add_str(t);
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  char buf[17];
  static const char* hex = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, h >>= 4) buf[i] = hex[h & 0xf];
  return std::string(buf, 16);
}

std::string ns_key(std::string_view ns) {
  auto safe = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '/' || c == '@' || c == '=' || c == '+' || c == '-';
  };
  bool all_safe = true;
  for (char c : ns) all_safe = all_safe && safe(c);
  std::string out = "{";
  if (all_safe) {
    out += ns;
  } else {
    static const char* hex = "0123456789abcdef";
    out += '#';
    for (unsigned char c : ns) {
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  out += '}';
  return out;
}

std::string frame_result(const std::vector<std::string>& tags, const std::vector<uint64_t>& versions,
                         std::string_view blob) {
  std::string out;
  auto field = [&](std::string_view s) {
    out += std::to_string(s.size());
    out += ':';
    out += s;
  };
  size_t n = std::min(tags.size(), versions.size());
  size_t reserve = 8 + blob.size();
  for (size_t i = 0; i < n; ++i) reserve += tags[i].size() + 32;
  out.reserve(reserve);
  field(std::to_string(n));
  for (size_t i = 0; i < n; ++i) {
    field(tags[i]);
    field(std::to_string(versions[i]));
  }
  out += blob;
  return out;
}

bool unframe_result(std::string_view framed, std::vector<std::pair<std::string, std::string>>& tags,
                    std::string_view& blob) {
  size_t pos = 0;
  auto field = [&](std::string_view& out) {
    auto colon = framed.find(':', pos);
    if (colon == std::string_view::npos) return false;
    int64_t len = 0;
    if (!parse_uint(framed.substr(pos, colon - pos), INT32_MAX, len)) return false;
    if (static_cast<size_t>(len) > framed.size() - colon - 1) return false;
    out = framed.substr(colon + 1, static_cast<size_t>(len));
    pos = colon + 1 + static_cast<size_t>(len);
    return true;
  };
  std::string_view count_text;
  int64_t count = 0;
  if (!field(count_text) || !parse_uint(count_text, INT32_MAX, count)) return false;
  if (static_cast<size_t>(count) > framed.size()) return false;
  tags.clear();
  tags.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    std::string_view tag, version;
    if (!field(tag) || !field(version)) return false;
    tags.emplace_back(std::string(tag), std::string(version));
  }
  blob = framed.substr(pos);
  return true;
}

bool CallGuard::admit() {
  if (breaker_.allow()) return true;
  skips_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void CallGuard::done(bool ok) {
  breaker_.record(ok);
  if (!ok) errors_.fetch_add(1, std::memory_order_relaxed);
}

RemoteStats CallGuard::stats() const {
  RemoteStats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.puts = puts_.load(std::memory_order_relaxed);
  s.breaker_open_skips = skips_.load(std::memory_order_relaxed);
  s.load_ns_total = load_ns_.load(std::memory_order_relaxed);
  s.loads = loads_.load(std::memory_order_relaxed);
  s.breaker = breaker_.state();
  return s;
}

}  // namespace detail
}  // namespace eavdb::cache
