#include "server/tokens.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <stdexcept>

#include <fmt/format.h>

#include "eavdb/error.h"
#include "eavdb/schema.h"
#include "storage/sqlite/connection.h"

namespace eavdb::server {
namespace {

std::string to_hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 0xF];
  }
  return s;
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TokenInfo read_row(storage::sqlite::Statement& st) {
  TokenInfo t;
  t.id = st.column_int(0);
  t.tenant = st.column_text(1);
  t.role = parse_role(st.column_text(2)).value_or(Role::kRead);
  t.created_at = st.column_int(3);
  if (!st.is_null(4)) t.revoked_at = st.column_int(4);
  return t;
}

}  // namespace

std::string_view role_name(Role role) noexcept {
  switch (role) {
    case Role::kRead: return "read";
    case Role::kWrite: return "write";
    case Role::kAdmin: return "admin";
  }
  return "read";
}

std::optional<Role> parse_role(std::string_view name) noexcept {
  if (name == "read") return Role::kRead;
  if (name == "write") return Role::kWrite;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return to_hex(md, len);
}

std::string generate_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("the system random generator failed");
  return "eavdb_" + to_hex(bytes, sizeof bytes);
}

TokenStore::TokenStore(const std::string& path)
    : conn_(std::make_unique<storage::sqlite::Connection>(path, false, 5000, 1024)) {}

TokenStore::~TokenStore() = default;

std::pair<TokenInfo, std::string> TokenStore::create(std::string_view tenant, Role role) {
  if (!is_valid_code(tenant))
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("tenant: '{}' is not a valid code ([a-z][a-z0-9_]*, at most 63 bytes)", tenant));
  std::string token = generate_token();
  TokenInfo info;
  info.tenant = std::string(tenant);
  info.role = role;
  info.created_at = now_us();
  std::lock_guard lock(mu_);
  auto st = conn_->prepare("INSERT INTO eav_api_token(token_hash, tenant, role, created_at) VALUES(?, ?, ?, ?)");
  const std::string hash = sha256_hex(token);
  st.bind(1, std::string_view(hash));
  st.bind(2, std::string_view(info.tenant));
  st.bind(3, role_name(role));
  st.bind(4, info.created_at);
  st.run();
  info.id = sqlite3_last_insert_rowid(conn_->raw());
  return {std::move(info), std::move(token)};
}

std::vector<TokenInfo> TokenStore::list() {
  std::lock_guard lock(mu_);
  auto st = conn_->prepare("SELECT id, tenant, role, created_at, revoked_at FROM eav_api_token ORDER BY id");
  std::vector<TokenInfo> out;
  while (st.step()) out.push_back(read_row(st));
  return out;
}

bool TokenStore::revoke(int64_t id) {
  std::lock_guard lock(mu_);
  auto st = conn_->prepare("UPDATE eav_api_token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
  st.bind(1, now_us());
  st.bind(2, id);
  st.run();
  return conn_->changes() == 1;
}

std::optional<TokenInfo> TokenStore::authenticate(std::string_view token) {
  const std::string hash = sha256_hex(token);
  std::lock_guard lock(mu_);
  auto st = conn_->prepare(
      "SELECT id, tenant, role, created_at, revoked_at FROM eav_api_token WHERE token_hash = ? AND revoked_at IS NULL");
  st.bind(1, std::string_view(hash));
  if (!st.step()) return std::nullopt;
  return read_row(st);
}

}  // namespace eavdb::server
