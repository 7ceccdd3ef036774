// eavdb — schema catalog helpers: code normalization, validation, "did you mean" suggestions.
#include "eavdb/schema.h"

#include <algorithm>
#include <array>

namespace eavdb {
namespace {

constexpr std::size_t kMaxCodeBytes = 63;

bool is_lower_alnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Levenshtein distance of a and b compared ASCII case-insensitively, or `limit + 1` as soon as
// it is known to exceed `limit`.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t limit) {
  const std::size_t diff = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  if (diff > limit) return limit + 1;
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    std::size_t row_min = cur[0];
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > limit) return limit + 1;
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string normalize_code(std::string_view source_name) {
  std::string out;
  out.reserve(source_name.size());
  bool pending_sep = false;  // a run of separators seen since the last kept character
  for (const char raw : source_name) {
    const char c = lower(raw);  // bytes >= 0x80 (non-ASCII) are separators
    if (!is_lower_alnum(c)) {
      pending_sep = true;
      continue;
    }
    if (pending_sep && !out.empty()) out.push_back('_');
    pending_sep = false;
    out.push_back(c);
  }
  return out;
}

bool is_valid_code(std::string_view code) noexcept {
  if (code.empty() || code.size() > kMaxCodeBytes || code[0] < 'a' || code[0] > 'z') return false;
  return std::all_of(code.begin(), code.end(), [](char c) { return is_lower_alnum(c) || c == '_'; });
}

bool is_reserved_column(std::string_view code) noexcept {
  static constexpr std::array<std::string_view, 4> kReserved = {"id", "version", "created_at", "updated_at"};
  return std::find(kReserved.begin(), kReserved.end(), code) != kReserved.end();
}

const AttributeDef* EntityTypeDef::find(std::string_view attr_code) const noexcept {
  for (const AttributeDef& a : attributes) {
    if (a.code == attr_code) return &a;
  }
  return nullptr;
}

const AttributeDef* EntityTypeDef::find_by_id(int64_t attr_id) const noexcept {
  for (const AttributeDef& a : attributes) {
    if (a.id == attr_id) return &a;
  }
  return nullptr;
}

std::string EntityTypeDef::suggest(std::string_view attr_code) const {
  std::vector<std::string> codes;
  codes.reserve(attributes.size());
  for (const AttributeDef& a : attributes) codes.push_back(a.code);
  return nearest_name(attr_code, codes);
}

std::string nearest_name(std::string_view needle, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(2, needle.size() / 3);
  const std::string* best = nullptr;
  std::size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    const std::size_t d = edit_distance(needle, c, limit);
    if (d < best_distance) {  // strict: on ties the earlier candidate wins
      best = &c;
      best_distance = d;
    }
  }
  return best ? *best : std::string();
}

}  // namespace eavdb
