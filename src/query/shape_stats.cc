#include "query/shape_stats.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>

#include "eavdb/error.h"
#include "query/lexer.h"

namespace eavdb::query {

std::string display_shape(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  const std::vector<Token> tokens = tokenize(sql);
  bool last_literal = false;  // the previous emitted token was a '?' placeholder
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (t.kind == Tok::kEnd || t.kind == Tok::kSemicolon) continue;
    const bool literal = t.kind == Tok::kString || t.kind == Tok::kNumber || t.kind == Tok::kParam;
    if (t.kind == Tok::kComma && last_literal && i + 1 < tokens.size()) {
      const Tok next = tokens[i + 1].kind;
      if (next == Tok::kString || next == Tok::kNumber || next == Tok::kParam) {
        ++i;  // ", <literal>" after a literal: a list of values collapses to one '?'
        continue;
      }
    }
    std::string piece;
    switch (t.kind) {
      case Tok::kString:
      case Tok::kNumber:
      case Tok::kParam: piece = "?"; break;
      case Tok::kQuotedIdent: piece = "\"" + t.text + "\""; break;
      case Tok::kComma: piece = ","; break;
      case Tok::kLParen: piece = "("; break;
      case Tok::kRParen: piece = ")"; break;
      case Tok::kStar: piece = "*"; break;
      default: piece = t.text;
    }
    const bool glue_left = t.kind == Tok::kComma || t.kind == Tok::kRParen;
    if (!out.empty() && !glue_left && out.back() != '(') out.push_back(' ');
    out += piece;
    last_literal = literal;
  }
  return out;
}

// ---- LatencyHistogram ----------------------------------------------------------------------

double LatencyHistogram::bucket_upper_ms(int i) noexcept { return std::exp2(i / 4.0) / 1000.0; }

void LatencyHistogram::add(double ms) noexcept {
  const double us = std::max(0.0, ms * 1000.0);
  int i = us <= 1.0 ? 0 : static_cast<int>(std::ceil(std::log2(us) * 4.0 - 1e-9));
  i = std::clamp(i, 0, kBuckets - 1);
  if (buckets_[static_cast<std::size_t>(i)] < UINT32_MAX) ++buckets_[static_cast<std::size_t>(i)];
  ++count_;
}

double LatencyHistogram::quantile_ms(double q) const noexcept {
  if (count_ == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[static_cast<std::size_t>(i)];
    if (seen >= std::max<uint64_t>(rank, 1)) return bucket_upper_ms(i);
  }
  return bucket_upper_ms(kBuckets - 1);
}

// ---- ShapeStatsLog ---------------------------------------------------------------------------

ShapeStatsLog::ShapeStatsLog(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {}

void ShapeStatsLog::record(const std::string& shape, std::string_view plan, double ms, uint64_t rows,
                           std::string_view sql, const std::vector<Value>& params) {
  std::lock_guard lock(mu_);
  auto it = index_.find(shape);
  if (it == index_.end()) {
    if (lru_.size() >= capacity_) {
      index_.erase(lru_.back().shape);
      lru_.pop_back();
    }
    lru_.emplace_front();
    lru_.front().shape = shape;
    lru_.front().sample_sql.assign(sql);
    lru_.front().sample_params = params;
    it = index_.emplace(lru_.front().shape, lru_.begin()).first;
  } else if (it->second != lru_.begin()) {
    lru_.splice(lru_.begin(), lru_, it->second);  // iterators and the key's storage stay valid
  }
  Entry& e = *it->second;
  if (e.plan != plan) e.plan.assign(plan);
  ++e.count;
  e.total_ms += ms;
  e.max_ms = std::max(e.max_ms, ms);
  e.rows += rows;
  e.hist.add(ms);
}

QueryShapeStats ShapeStatsLog::snapshot(const Entry& e) {
  return {e.shape, e.plan, e.count, e.total_ms, std::min(e.hist.quantile_ms(0.99), e.max_ms), e.max_ms, e.rows};
}

std::vector<QueryShapeStats> ShapeStatsLog::all() const {
  std::vector<QueryShapeStats> out;
  std::lock_guard lock(mu_);
  out.reserve(lru_.size());
  for (const Entry& e : lru_) out.push_back(snapshot(e));
  return out;
}

std::vector<QueryShapeStats> ShapeStatsLog::top(std::size_t limit) const {
  std::vector<QueryShapeStats> out = all();
  std::sort(out.begin(), out.end(), [](const QueryShapeStats& a, const QueryShapeStats& b) {
    if (a.p99_ms != b.p99_ms) return a.p99_ms > b.p99_ms;
    if (a.total_ms != b.total_ms) return a.total_ms > b.total_ms;
    return a.shape < b.shape;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::vector<ShapeStatsLog::Sample> ShapeStatsLog::samples() const {
  std::vector<Sample> out;
  std::lock_guard lock(mu_);
  out.reserve(lru_.size());
  for (const Entry& e : lru_) out.push_back({snapshot(e), e.sample_sql, e.sample_params});
  return out;
}

std::size_t ShapeStatsLog::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

// ---- SlowQueryLog ----------------------------------------------------------------------------

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void value_json(Writer& w, const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) w.Null();
        else if constexpr (std::is_same_v<T, int64_t>) w.Int64(x);
        else if constexpr (std::is_same_v<T, Decimal>)
          w.RawValue(x.str().data(), x.str().size(), rapidjson::kNumberType);
        else if constexpr (std::is_same_v<T, DateTime>) str(w, x.to_iso());
        else str(w, x);
      },
      v);
}

std::string rfc3339(int64_t now_us) {
  const std::time_t secs = static_cast<std::time_t>(now_us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>((now_us / 1000) % 1000));
}

}  // namespace

std::string slow_query_line(int64_t now_us, std::string_view sql, const std::vector<Value>& params, bool redact,
                            std::string_view plan, uint64_t rows, double ms) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("time");
  str(w, rfc3339(now_us));
  w.Key("sql");
  str(w, sql);
  w.Key("params");
  w.StartArray();
  for (const Value& p : params) {
    if (redact) str(w, "?");
    else value_json(w, p);
  }
  w.EndArray();
  w.Key("plan");
  str(w, plan);
  w.Key("rows");
  w.Uint64(rows);
  w.Key("duration_ms");
  const std::string d = fmt::format("{:.3f}", ms);
  w.RawValue(d.data(), d.size(), rapidjson::kNumberType);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

SlowQueryLog::SlowQueryLog(const std::string& path, double threshold_ms, bool redact)
    : threshold_ms_(threshold_ms), redact_(redact) {
  file_ = std::fopen(path.c_str(), "a");
  if (!file_)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("slow-query log '{}' cannot be opened for appending: {}", path, std::strerror(errno)));
}

SlowQueryLog::~SlowQueryLog() {
  if (file_) std::fclose(file_);
}

void SlowQueryLog::write(std::string_view sql, const std::vector<Value>& params, std::string_view plan,
                         uint64_t rows, double ms) {
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::string line = slow_query_line(now_us, sql, params, redact_, plan, rows, ms);
  line.push_back('\n');
  std::lock_guard lock(mu_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) ++errors_;
}

uint64_t SlowQueryLog::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

}  // namespace eavdb::query
