// eavdb::cache — the directory implementation of the L3 store (remote.h): "file:///abs/dir".
//
// Shared by every process that opens the same directory (on one host, or a shared file system
// with working flock), and it survives restarts. Same protocol as Redis (remote.h), one file per
// key under <dir>/<ns-hash>/ (ns-hash = XXH3-128 of the namespace, hex; the namespace itself is
// written to its "ns" file):
//   p/<xx>/<id>                  version pointer: "<version>", "n<gen>" or "-"   (xx = id & 0xff)
//   e/<xx>/<id>.<version>.<gen>  entity record (codec.h)
//   g                            entity generation
//   q/<token>                    fill quarantine of a large commit: pending count, deadline = TTL
//   t/<hh>/<hash(tag)>           tag version                                     (hh = hash prefix)
//   r/<hh>/<hash(signature)>     query result: signature, tags, versions, blob
//   lock                         flock(2) taken by every writer of p/, g, q/, t/
//
// File layout: a 32-byte header — magic "EAV3", format 1, 3 reserved bytes, expiry (µs since the
// epoch, CLOCK_REALTIME, 0 = none; int64 little-endian), payload length (uint32 LE), 4 reserved
// bytes, XXH3-64 of the payload seeded with XXH3-64 of the first 24 header bytes (uint64 LE) —
// then the payload.
// Files are written to a temporary name and renamed, so readers see a whole old or a whole new
// file. A file whose checksum or length does not match (torn write, disk corruption, tampering)
// is a miss: records and results are then removed; a corrupt pointer is left alone until the next
// announce() rewrites it, and fills do not touch it (the entity simply is not cached meanwhile); a
// corrupt tag or generation counts as lost and is recreated with the time-based value. Expired
// files are misses and are removed when read; when a pointer moves forward the record it pointed
// to is removed. Records never read again after clear() or a generation change stay on disk until
// the next clear().
//
// Pointer, tag, generation and quarantine updates are read-modify-write under the namespace's
// flock, so max-wins holds across processes; readers take no lock. The bus does not exist here:
// subscribe() returns nullptr and publish() only does its tag/quarantine part.
//
// Thread-safety: every method may be called from any thread (and any process).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "cache/remote.h"

namespace eavdb::cache {

/// A RemoteStore in a directory. See the file comment.
class FileStore final : public RemoteStore {
 public:
  /// A store in `dir` (created when missing). `url` is what url() reports. Throws Error(kIo) when
  /// the directory cannot be created.
  FileStore(std::string url, std::string dir, const RemoteOptions& options);

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

  /// File paths (see the file comment), for tools and tests.
  std::filesystem::path namespace_dir(std::string_view ns) const;
  std::filesystem::path pointer_path(std::string_view ns, int64_t id) const;
  std::filesystem::path record_path(std::string_view ns, int64_t id, int64_t version,
                                    std::string_view gen) const;
  std::filesystem::path tag_path(std::string_view ns, std::string_view tag) const;
  std::filesystem::path generation_path(std::string_view ns) const;

 private:
  class NsLock;
  bool bump(const std::filesystem::path& path, uint64_t stamp, bool& io_ok);
  bool quarantined(const std::filesystem::path& nsdir, bool& io_ok);

  std::string url_;
  std::filesystem::path root_;
  detail::CallGuard guard_;
};

}  // namespace eavdb::cache
