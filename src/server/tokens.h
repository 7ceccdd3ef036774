// eavdb::server — API tokens: generation, hashing and the token table of a database file.
//
// A token is "eavdb_" followed by 64 hex digits (32 bytes from OpenSSL's RAND_bytes). Only its
// SHA-256 (hex) is stored, in table eav_api_token (SQLite migration 4), with the tenant code and
// role it grants; the plaintext is shown once, by `eavdb token create`.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eavdb::storage::sqlite { class Connection; }

namespace eavdb::server {

/// What a token may do: read < write (entities, bulk) < admin (also schema).
enum class Role { kRead, kWrite, kAdmin };

/// "read", "write", "admin".
std::string_view role_name(Role role) noexcept;
/// The role named `name`, or std::nullopt.
std::optional<Role> parse_role(std::string_view name) noexcept;

/// Lower-case hex SHA-256 of `data` (OpenSSL EVP). Thread-safe.
std::string sha256_hex(std::string_view data);
/// A new random token ("eavdb_" + 64 hex digits). Throws std::runtime_error when the system
/// random generator fails. Thread-safe.
std::string generate_token();

/// A stored token (never the plaintext).
struct TokenInfo {
  int64_t id = 0;
  std::string tenant;
  Role role = Role::kRead;
  int64_t created_at = 0;                ///< µs since epoch, UTC
  std::optional<int64_t> revoked_at;     ///< µs since epoch, UTC; set once revoked
};

/// The token table of one SQLite database file. Thread-safe (one connection behind a mutex).
class TokenStore {
 public:
  /// Opens the file at `path` (a plain path: see storage::sqlite::path_from_url). The file must
  /// already hold eavdb's schema (open it with Database::open first). Throws Error(kStorage).
  explicit TokenStore(const std::string& path);
  ~TokenStore();
  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  /// Creates a token for `tenant` (a valid code, else Error(kInvalidArgument)) with `role`;
  /// returns the stored row and the plaintext token, which is not kept anywhere.
  std::pair<TokenInfo, std::string> create(std::string_view tenant, Role role);
  /// Every token, by id.
  std::vector<TokenInfo> list();
  /// Revokes token `id`; false when there is no such token or it was already revoked.
  bool revoke(int64_t id);
  /// The live (not revoked) token whose hash matches `token`, or std::nullopt.
  std::optional<TokenInfo> authenticate(std::string_view token);

 private:
  std::mutex mu_;
  std::unique_ptr<storage::sqlite::Connection> conn_;
};

}  // namespace eavdb::server
