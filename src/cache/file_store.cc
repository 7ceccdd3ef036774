// Directory L3 store: checksummed files written by rename, max-wins updates under flock.
#include "cache/file_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <random>

#include "cache/codec.h"
#include "eavdb/error.h"

namespace eavdb::cache {
namespace fs = std::filesystem;

namespace {

constexpr size_t kHeaderSize = 32;
constexpr char kMagic[4] = {'E', 'A', 'V', '3'};
constexpr uint8_t kFileFormat = 1;
constexpr uint64_t kMaxFileSize = uint64_t{1} << 31;

enum class ReadStatus { kOk, kMissing, kExpired, kCorrupt, kError };

void put_le(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// XXH3-64 of the payload, seeded with XXH3-64 of the first 24 header bytes.
uint64_t checksum(const char* header24, std::string_view payload) {
  return XXH3_64bits_withSeed(payload.data(), payload.size(), XXH3_64bits(header24, 24));
}

std::string hex128(std::string_view s) {
  XXH128_hash_t h = XXH3_128bits(s.data(), s.size());
  static const char* hex = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = hex[(h.high64 >> (4 * i)) & 0xf];
    out[31 - i] = hex[(h.low64 >> (4 * i)) & 0xf];
  }
  return out;
}

std::string hex_byte(uint64_t v) {
  static const char* hex = "0123456789abcdef";
  return {hex[(v >> 4) & 0xf], hex[v & 0xf]};
}

// Reads a cache file. kOk fills `payload`; `now_us` decides expiry.
ReadStatus read_file(const fs::path& path, std::string& payload, int64_t now_us) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? ReadStatus::kMissing : ReadStatus::kError;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return ReadStatus::kError;
  }
  auto size = static_cast<uint64_t>(st.st_size);
  if (size < kHeaderSize || size > kMaxFileSize) {
    ::close(fd);
    return ReadStatus::kCorrupt;
  }
  std::string data(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, data.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return ReadStatus::kError;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done != size) return ReadStatus::kCorrupt;
  if (std::memcmp(data.data(), kMagic, 4) != 0 || static_cast<uint8_t>(data[4]) != kFileFormat)
    return ReadStatus::kCorrupt;
  auto expires = static_cast<int64_t>(get_le(data.data() + 8, 8));
  uint64_t len = get_le(data.data() + 16, 4);
  if (len != size - kHeaderSize) return ReadStatus::kCorrupt;
  std::string_view body(data.data() + kHeaderSize, len);
  if (checksum(data.data(), body) != get_le(data.data() + 24, 8)) return ReadStatus::kCorrupt;
  if (expires != 0 && expires <= now_us) return ReadStatus::kExpired;
  payload.assign(body);
  return ReadStatus::kOk;
}

// Writes a cache file atomically (temporary file + rename), creating its directory.
bool write_file(const fs::path& path, std::string_view payload, int64_t expires_us) {
  if (payload.size() > kMaxFileSize - kHeaderSize) return false;
  static std::atomic<uint64_t> counter{0};
  thread_local uint64_t salt = std::random_device{}();
  std::string data(kHeaderSize, '\0');
  std::memcpy(data.data(), kMagic, 4);
  data[4] = static_cast<char>(kFileFormat);
  put_le(data.data() + 8, static_cast<uint64_t>(expires_us), 8);
  put_le(data.data() + 16, payload.size(), 4);
  put_le(data.data() + 24, checksum(data.data(), payload), 8);
  data.append(payload);

  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)) + "." +
         std::to_string(salt & 0xffffff);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0) return false;
  size_t done = 0;
  bool ok = true;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) ok = false;
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) ok = false;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

void remove_file(const fs::path& path) { ::unlink(path.c_str()); }

bool parse_u64(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty() && (s.size() == 1 || s[0] != '0');
}

// Current time-based tag value: µs × 1000.
uint64_t stamp_now() { return static_cast<uint64_t>(detail::realtime_us()) * 1000; }

// A pointer file's meaning.
struct Pointer {
  enum Kind { kNone, kVersion, kNegative, kTombstone, kCorrupt } kind = kNone;
  uint64_t version = 0;  // kVersion
  std::string negative;  // kNegative: the generation it belongs to
};

Pointer read_pointer(const fs::path& path, int64_t now_us, bool& io_ok) {
  std::string text;
  Pointer p;
  switch (read_file(path, text, now_us)) {
    case ReadStatus::kMissing:
    case ReadStatus::kExpired:
      return p;
    case ReadStatus::kError:
      io_ok = false;
      p.kind = Pointer::kCorrupt;
      return p;
    case ReadStatus::kCorrupt:
      p.kind = Pointer::kCorrupt;
      return p;
    case ReadStatus::kOk:
      break;
  }
  if (text == "-") {
    p.kind = Pointer::kTombstone;
  } else if (!text.empty() && text[0] == 'n') {
    p.kind = Pointer::kNegative;
    p.negative = text.substr(1);
  } else if (parse_u64(text, p.version) && p.version > 0) {
    p.kind = Pointer::kVersion;
  } else {
    p.kind = Pointer::kCorrupt;
  }
  return p;
}

// Reads a counter file (tag or generation): its decimal text, or "" when missing or unusable.
std::string read_counter(const fs::path& path, bool& io_ok) {
  std::string text;
  switch (read_file(path, text, detail::realtime_us())) {
    case ReadStatus::kOk: {
      uint64_t v = 0;
      return parse_u64(text, v) ? text : std::string();
    }
    case ReadStatus::kError:
      io_ok = false;
      return {};
    default:
      return {};
  }
}

}  // namespace

// The namespace's exclusive flock, held for the object's lifetime.
class FileStore::NsLock {
 public:
  NsLock(const fs::path& nsdir, std::string_view ns) {
    fs::path path = nsdir / "lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0 && errno == ENOENT) {
      std::error_code ec;
      fs::create_directories(nsdir, ec);
      write_file(nsdir / "ns", ns, 0);
      fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    if (fd_ < 0) return;
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        fd_ = -1;
        return;
      }
    }
  }
  ~NsLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  NsLock(const NsLock&) = delete;
  NsLock& operator=(const NsLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

FileStore::FileStore(std::string url, std::string dir, const RemoteOptions& options)
    : url_(std::move(url)), root_(std::move(dir)), guard_(options.breaker) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec || !fs::is_directory(root_, ec))
    throw Error(ErrorCode::kIo, "cannot create cache directory " + root_.string() + ": " + ec.message());
}

fs::path FileStore::namespace_dir(std::string_view ns) const { return root_ / hex128(ns); }

fs::path FileStore::pointer_path(std::string_view ns, int64_t id) const {
  return namespace_dir(ns) / "p" / hex_byte(static_cast<uint64_t>(id)) / std::to_string(id);
}

fs::path FileStore::record_path(std::string_view ns, int64_t id, int64_t version,
                                std::string_view gen) const {
  return namespace_dir(ns) / "e" / hex_byte(static_cast<uint64_t>(id)) /
         (std::to_string(id) + "." + std::to_string(version) + "." + std::string(gen));
}

fs::path FileStore::tag_path(std::string_view ns, std::string_view tag) const {
  std::string h = hex128(tag);
  return namespace_dir(ns) / "t" / h.substr(0, 2) / h;
}

fs::path FileStore::generation_path(std::string_view ns) const { return namespace_dir(ns) / "g"; }

bool FileStore::bump(const fs::path& path, uint64_t stamp, bool& io_ok) {
  std::string cur = read_counter(path, io_ok);
  uint64_t v = 0;
  uint64_t next = stamp;
  if (!cur.empty() && parse_u64(cur, v) && v + 1 > stamp) next = v + 1;
  if (!write_file(path, std::to_string(next), 0)) io_ok = false;
  return io_ok;
}

bool FileStore::quarantined(const fs::path& nsdir, bool& io_ok) {
  std::error_code ec;
  fs::directory_iterator it(nsdir / "q", ec);
  if (ec) {
    if (ec != std::errc::no_such_file_or_directory) io_ok = false;
    return false;
  }
  bool active = false;
  int64_t now = detail::realtime_us();
  for (const auto& entry : it) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) continue;
    std::string payload;
    switch (read_file(entry.path(), payload, now)) {
      case ReadStatus::kOk:
        active = true;
        break;
      case ReadStatus::kExpired:
      case ReadStatus::kCorrupt:
        remove_file(entry.path());
        break;
      case ReadStatus::kError:
        io_ok = false;
        active = true;
        break;
      case ReadStatus::kMissing:
        break;
    }
  }
  return active;
}

std::vector<RemoteEntity> FileStore::get_entities(std::string_view ns, const std::vector<int64_t>& ids,
                                                  std::string* generation) {
  std::vector<RemoteEntity> out(ids.size());
  if (generation) generation->clear();
  if (ids.empty()) return out;
  auto t0 = std::chrono::steady_clock::now();
  if (!guard_.admit()) {
    guard_.miss(ids.size());
    return out;
  }
  bool io_ok = true;
  int64_t now = detail::realtime_us();
  std::string gen = read_counter(generation_path(ns), io_ok);
  if (generation && gen.empty() && io_ok) {  // first use: create one for the fill to check against
    const std::string created = std::to_string(stamp_now());
    if (write_file(generation_path(ns), created, 0)) *generation = created;
  } else if (generation) {
    *generation = gen;
  }
  uint64_t hits = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    Pointer p = read_pointer(pointer_path(ns, ids[i]), now, io_ok);
    if (p.kind == Pointer::kTombstone ||
        (p.kind == Pointer::kNegative && !gen.empty() && p.negative == gen)) {
      out[i].state = RemoteEntity::State::kAbsent;
      ++hits;
      continue;
    }
    if (p.kind != Pointer::kVersion || gen.empty()) continue;
    fs::path path = record_path(ns, ids[i], static_cast<int64_t>(p.version), gen);
    std::string bytes;
    switch (read_file(path, bytes, now)) {
      case ReadStatus::kOk:
        try {
          EntityRecord record = decode_entity(bytes);
          if (record.id == ids[i] && static_cast<uint64_t>(record.version) == p.version) {
            out[i].record = std::move(record);
            out[i].state = RemoteEntity::State::kPresent;
            ++hits;
          } else {
            remove_file(path);
          }
        } catch (const Error&) {
          remove_file(path);
        }
        break;
      case ReadStatus::kExpired:
      case ReadStatus::kCorrupt:
        remove_file(path);
        break;
      case ReadStatus::kError:
        io_ok = false;
        break;
      case ReadStatus::kMissing:
        break;
    }
  }
  guard_.done(io_ok);
  guard_.hit(hits);
  guard_.miss(ids.size() - hits);
  if (io_ok)
    guard_.load(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
  return out;
}

void FileStore::put_entities(std::string_view ns,
                             const std::vector<std::pair<int64_t, RemoteEntity>>& entities,
                             std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl,
                             const std::optional<std::string>& fill_generation) {
  bool any = false;
  for (const auto& [id, e] : entities) any = any || (id > 0 && e.state != RemoteEntity::State::kMiss);
  if (!any || !guard_.admit()) return;
  fs::path nsdir = namespace_dir(ns);
  NsLock lock(nsdir, ns);
  if (!lock.ok()) {
    guard_.done(false);
    return;
  }
  bool io_ok = true;
  if (quarantined(nsdir, io_ok)) {
    guard_.done(io_ok);
    return;
  }
  fs::path gen_path = generation_path(ns);
  std::string gen = read_counter(gen_path, io_ok);
  if (gen.empty()) {
    gen = std::to_string(stamp_now());
    if (!write_file(gen_path, gen, 0)) {
      guard_.done(false);
      return;
    }
  }
  if (fill_generation && *fill_generation != gen) {  // moved since the filler's read: stale
    guard_.done(io_ok);
    return;
  }
  int64_t now = detail::realtime_us();
  uint64_t stored = 0;
  for (const auto& [id, e] : entities) {
    if (id <= 0) continue;
    fs::path pp = pointer_path(ns, id);
    if (e.state == RemoteEntity::State::kAbsent) {
      Pointer p = read_pointer(pp, now, io_ok);
      if (p.kind == Pointer::kNone || (p.kind == Pointer::kNegative && p.negative != gen)) {
        int64_t expires = now + std::max<int64_t>(negative_ttl.count(), 1) * 1000;
        if (write_file(pp, "n" + gen, expires))
          ++stored;
        else
          io_ok = false;
      }
    } else if (e.state == RemoteEntity::State::kPresent && e.record.version > 0) {
      Pointer p = read_pointer(pp, now, io_ok);
      if (p.kind == Pointer::kTombstone || p.kind == Pointer::kCorrupt) continue;
      auto version = static_cast<uint64_t>(e.record.version);
      bool have = p.kind == Pointer::kVersion;
      if (have && p.version > version) continue;  // a newer version was announced: never store an older one
      int64_t expires = now + detail::jitter(ttl).count() * 1000;
      if (!write_file(record_path(ns, id, e.record.version, gen), encode_entity(e.record), expires)) {
        io_ok = false;
        continue;
      }
      ++stored;
      if (!have || version > p.version) {
        if (!write_file(pp, std::to_string(version), 0)) io_ok = false;
        if (have) remove_file(record_path(ns, id, static_cast<int64_t>(p.version), gen));
      }
    }
  }
  guard_.done(io_ok);
  guard_.put(stored);
}

bool FileStore::announce(const Invalidation& inv) {
  if (!guard_.admit()) return false;
  fs::path nsdir = namespace_dir(inv.ns);
  NsLock lock(nsdir, inv.ns);
  if (!lock.ok()) {
    guard_.done(false);
    return false;
  }
  bool io_ok = true;
  uint64_t stamp = stamp_now();
  for (const auto& tag : inv.tags) bump(tag_path(inv.ns, tag), stamp, io_ok);
  int64_t now = detail::realtime_us();
  std::string gen = read_counter(generation_path(inv.ns), io_ok);
  if (gen.empty() && io_ok) {  // readers need a generation to fill against
    gen = std::to_string(stamp);
    if (!write_file(generation_path(inv.ns), gen, 0)) io_ok = false;
  }
  if (detail::is_large(inv) && inv.committed) {
    bump(generation_path(inv.ns), stamp, io_ok);  // already committed: no fill quarantine
  } else if (detail::is_large(inv)) {  // one more pending commit under the token, quarantined meanwhile
    bump(generation_path(inv.ns), stamp, io_ok);
    fs::path q = nsdir / "q" / detail::commit_token(inv);
    uint64_t pending = 0;
    std::string text;
    if (read_file(q, text, now) != ReadStatus::kOk || !parse_u64(text, pending)) pending = 0;
    int64_t until = now + detail::kLargeCommitQuarantine.count() * 1000;
    if (!write_file(q, std::to_string(pending + 1), until)) io_ok = false;
  }
  for (const auto& e : inv.entities) {
    if (e.id <= 0) continue;
    fs::path pp = pointer_path(inv.ns, e.id);
    if (e.version <= 0) {
      if (!write_file(pp, "-", now + detail::kTombstoneTtl.count() * 1000)) io_ok = false;
      continue;
    }
    Pointer p = read_pointer(pp, now, io_ok);
    auto version = static_cast<uint64_t>(e.version);
    if (p.kind == Pointer::kTombstone || (p.kind == Pointer::kVersion && p.version >= version)) continue;
    if (!write_file(pp, std::to_string(version), 0)) io_ok = false;
    if (p.kind == Pointer::kVersion && !gen.empty())
      remove_file(record_path(inv.ns, e.id, static_cast<int64_t>(p.version), gen));
  }
  guard_.done(io_ok);
  return io_ok;
}

bool FileStore::publish(const Invalidation& inv) {
  bool large = detail::is_large(inv);
  if (inv.tags.empty() && !large) return true;
  if (!guard_.admit()) return false;
  fs::path nsdir = namespace_dir(inv.ns);
  NsLock lock(nsdir, inv.ns);
  if (!lock.ok()) {
    guard_.done(false);
    return false;
  }
  bool io_ok = true;
  uint64_t stamp = stamp_now();
  for (const auto& tag : inv.tags) bump(tag_path(inv.ns, tag), stamp, io_ok);
  if (large) {  // one pending commit less; at zero the quarantine ends after the settle time
    int64_t now = detail::realtime_us();
    fs::path q = nsdir / "q" / detail::commit_token(inv);
    uint64_t pending = 0;
    std::string text;
    if (read_file(q, text, now) != ReadStatus::kOk || !parse_u64(text, pending)) pending = 0;
    pending = pending > 0 ? pending - 1 : 0;
    int64_t until =
        now + (pending > 0 ? detail::kLargeCommitQuarantine : detail::kLargeCommitSettle).count() * 1000;
    if (!write_file(q, std::to_string(pending), until)) io_ok = false;
  }
  guard_.done(io_ok);
  return io_ok;
}

std::unique_ptr<Subscription> FileStore::subscribe(std::string_view, std::function<void(const Invalidation&)>,
                                                   std::function<void(bool)>) {
  return nullptr;
}

std::vector<uint64_t> FileStore::tag_versions(std::string_view ns, const std::vector<std::string>& tags) {
  if (tags.empty() || !guard_.admit()) return {};
  bool io_ok = true;
  std::vector<uint64_t> out(tags.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < tags.size(); ++i) {
    std::string v = read_counter(tag_path(ns, tags[i]), io_ok);
    if (v.empty() || !parse_u64(v, out[i])) missing.push_back(i);
  }
  if (!missing.empty() && io_ok) {
    NsLock lock(namespace_dir(ns), ns);
    if (!lock.ok()) io_ok = false;
    uint64_t stamp = stamp_now();
    for (size_t i : missing) {
      if (!io_ok) break;
      fs::path path = tag_path(ns, tags[i]);
      std::string v = read_counter(path, io_ok);  // another writer may have created it meanwhile
      if (!v.empty() && parse_u64(v, out[i])) continue;
      out[i] = stamp;
      if (!write_file(path, std::to_string(stamp), 0)) io_ok = false;
    }
  }
  guard_.done(io_ok);
  if (!io_ok) return {};
  return out;
}

std::optional<std::string> FileStore::get_result(std::string_view ns, std::string_view signature) {
  auto t0 = std::chrono::steady_clock::now();
  auto finish = [&](std::optional<std::string> r, bool timed) {
    if (r)
      guard_.hit();
    else
      guard_.miss();
    if (timed)
      guard_.load(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
              .count()));
    return r;
  };
  if (!guard_.admit()) return finish(std::nullopt, false);
  std::string h = hex128(signature);
  fs::path path = namespace_dir(ns) / "r" / h.substr(0, 2) / h;
  std::string payload;
  bool io_ok = true;
  std::optional<std::string> result;
  switch (read_file(path, payload, detail::realtime_us())) {
    case ReadStatus::kOk: {
      // payload: "<len>:<signature>" then frame_result(tags, versions, blob)
      auto colon = payload.find(':');
      uint64_t len = 0;
      std::vector<std::pair<std::string, std::string>> tags;
      std::string_view blob;
      if (colon == std::string::npos || !parse_u64(std::string_view(payload).substr(0, colon), len) ||
          len > payload.size() - colon - 1 ||
          !detail::unframe_result(std::string_view(payload).substr(colon + 1 + len), tags, blob)) {
        remove_file(path);
        break;
      }
      if (std::string_view(payload).substr(colon + 1, len) != signature) break;  // hash collision
      bool valid = true;
      for (const auto& [tag, version] : tags) {
        if (read_counter(tag_path(ns, tag), io_ok) != version) {
          valid = false;
          break;
        }
      }
      if (valid) result = std::string(blob);
      break;
    }
    case ReadStatus::kExpired:
    case ReadStatus::kCorrupt:
      remove_file(path);
      break;
    case ReadStatus::kError:
      io_ok = false;
      break;
    case ReadStatus::kMissing:
      break;
  }
  guard_.done(io_ok);
  return finish(std::move(result), io_ok);
}

void FileStore::put_result(std::string_view ns, std::string_view signature, std::string_view blob,
                           const std::vector<std::string>& tags, const std::vector<uint64_t>& versions,
                           std::chrono::milliseconds ttl) {
  if (tags.size() != versions.size() || !guard_.admit()) return;
  bool io_ok = true;
  for (size_t i = 0; i < tags.size(); ++i) {
    if (read_counter(tag_path(ns, tags[i]), io_ok) != std::to_string(versions[i])) {
      guard_.done(io_ok);  // already stale: not stored
      return;
    }
  }
  std::string payload = std::to_string(signature.size()) + ":" + std::string(signature);
  payload += detail::frame_result(tags, versions, blob);
  std::string h = hex128(signature);
  int64_t expires = detail::realtime_us() + detail::jitter(ttl).count() * 1000;
  if (write_file(namespace_dir(ns) / "r" / h.substr(0, 2) / h, payload, expires))
    guard_.put();
  else
    io_ok = false;
  guard_.done(io_ok);
}

void FileStore::clear(std::string_view ns) {
  if (!guard_.admit()) return;
  fs::path nsdir = namespace_dir(ns);
  NsLock lock(nsdir, ns);
  if (!lock.ok()) {
    guard_.done(false);
    return;
  }
  bool io_ok = true;
  bump(generation_path(ns), stamp_now(), io_ok);  // hides every record and negative entry at once
  static std::atomic<uint64_t> counter{0};
  for (const char* kind : {"e", "r"}) {
    std::error_code ec;
    fs::path dir = nsdir / kind;
    fs::path trash = nsdir / (std::string(kind) + ".trash." + std::to_string(::getpid()) + "." +
                              std::to_string(counter.fetch_add(1)));
    fs::rename(dir, trash, ec);  // writers recreate a fresh directory
    if (ec) {
      if (ec != std::errc::no_such_file_or_directory) io_ok = false;
      continue;
    }
    fs::remove_all(trash, ec);
  }
  guard_.done(io_ok);
}

}  // namespace eavdb::cache
