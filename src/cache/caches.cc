#include "cache/caches.h"

#include <fmt/format.h>
#include <unistd.h>
// Inline xxHash: the L2 key hash runs on every find, and a call into the shared library costs
// more than hashing 16 bytes.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <random>
#include <set>

#include "cache/codec.h"
#include "eavdb/error.h"

namespace eavdb::cache {
namespace {

using Clock = std::chrono::steady_clock;

std::string update_tag(int64_t type_id) { return fmt::format("u{}", type_id); }
std::string attribute_tag(int64_t attribute_id) { return fmt::format("a{}", attribute_id); }

int64_t realtime_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

uint64_t heap_bytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

uint64_t heap_bytes(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return heap_bytes(*s);
  if (auto* d = std::get_if<Decimal>(&v)) return heap_bytes(d->str());
  return 0;
}

// Map node + control block + Node bookkeeping, per entry (libstdc++ on 64-bit).
constexpr uint64_t kEntryOverhead = 96;

SharedCacheOptions l2_options(const CacheOptions& o) {
  SharedCacheOptions s;
  s.max_bytes = o.l2_max_bytes;
  s.max_entries = o.l2_max_entries;
  s.policy = parse_policy(o.policy);
  s.ttl_jitter = o.ttl_jitter;
  s.xfetch_beta = o.xfetch_beta;
  return s;
}

SharedCacheOptions l4_options(const CacheOptions& o) {
  SharedCacheOptions s = l2_options(o);
  s.max_bytes = o.l4_max_bytes;
  s.max_entries = o.l4_max_entries;
  s.shards = 8;
  return s;
}

std::string make_origin() {
  std::random_device rd;
  return fmt::format("{}-{:08x}{:08x}", ::getpid(), rd(), rd());
}

}  // namespace

std::string type_tag(int64_t type_id) { return fmt::format("t{}", type_id); }

uint64_t EntityKeyHash::operator()(const EntityKey& k) const noexcept {
  const int64_t words[2] = {k.type_id, k.id};
  return XXH3_64bits(words, sizeof(words));
}

uint64_t StringHash::operator()(const std::string& s) const noexcept { return XXH3_64bits(s.data(), s.size()); }

TagTable::TagTable() = default;

const std::atomic<uint64_t>* TagTable::get(const std::string& tag) {
  {
    std::shared_lock lock(mu_);
    auto it = tags_.find(tag);
    if (it != tags_.end()) return it->second.get();
  }
  std::unique_lock lock(mu_);
  auto& slot = tags_[tag];
  if (!slot) slot = std::make_unique<std::atomic<uint64_t>>(1);
  return slot.get();
}

void TagTable::bump(const std::string& tag) {
  const_cast<std::atomic<uint64_t>*>(get(tag))->fetch_add(1, std::memory_order_acq_rel);
}

bool CachedResult::valid() const noexcept {
  for (const auto& [counter, version] : tags)
    if (counter->load(std::memory_order_acquire) != version) return false;
  return true;
}

std::vector<std::string> query_tags(int64_t type_id, const std::vector<int64_t>& attributes, bool reads_row_versions) {
  std::vector<std::string> tags{type_tag(type_id)};
  for (int64_t a : std::set<int64_t>(attributes.begin(), attributes.end())) tags.push_back(attribute_tag(a));
  if (reads_row_versions) tags.push_back(update_tag(type_id));
  return tags;
}

Invalidation make_invalidation(std::string ns, const ChangeSet& changes, const CommitResult& result) {
  Invalidation inv;
  inv.ns = std::move(ns);
  inv.entities.reserve(changes.writes.size());
  // Tags as (kind, id) pairs, named once each at the end: a bulk commit of 200,000 creates of
  // one type formatted and set-inserted 200,000 equal strings (about 6% of the commit thread).
  enum Kind : int { kTypeTag, kUpdateTag, kAttributeTag };
  std::vector<std::pair<int, int64_t>> keys;
  auto add = [&keys](int kind, int64_t id) {
    if (keys.empty() || keys.back() != std::pair<int, int64_t>{kind, id}) keys.emplace_back(kind, id);
  };
  for (size_t i = 0; i < changes.writes.size(); ++i) {
    if (i < result.ids.size() && result.ids[i] == 0) continue;  // rejected by an isolating commit
    const EntityWrite& w = changes.writes[i];
    inv.entities.push_back({w.type_id, result.ids[i], result.versions[i]});
    if (w.kind == EntityWrite::Kind::kUpdate) {
      add(kUpdateTag, w.type_id);
      for (const AttributeWrite& a : w.values) add(kAttributeTag, a.attribute_id);
    } else {
      add(kTypeTag, w.type_id);
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  inv.tags.reserve(keys.size());
  for (const auto& [kind, id] : keys)
    inv.tags.push_back(kind == kTypeTag ? type_tag(id) : kind == kUpdateTag ? update_tag(id) : attribute_tag(id));
  std::sort(inv.tags.begin(), inv.tags.end());
  return inv;
}

uint64_t charge(const CachedEntity& e) {
  uint64_t bytes = kEntryOverhead + sizeof(EntityKey) + sizeof(CachedEntity);
  if (e.record) {
    bytes += e.record->values.capacity() * sizeof(std::pair<int64_t, Value>);
    for (const auto& [id, v] : e.record->values) bytes += heap_bytes(v);
  }
  return bytes;
}

uint64_t charge(const QueryResult& r) {
  uint64_t bytes = kEntryOverhead + sizeof(CachedResult);
  bytes += r.columns.capacity() * sizeof(ResultColumn);
  for (const auto& c : r.columns) bytes += heap_bytes(c.name);
  bytes += r.rows.capacity() * sizeof(std::vector<Value>);
  for (const auto& row : r.rows) {
    bytes += row.capacity() * sizeof(Value);
    for (const Value& v : row) bytes += heap_bytes(v);
  }
  return bytes;
}

Caches::Caches(const CacheOptions& options, std::string ns)
    : options_(options), ns_(std::move(ns)), origin_(make_origin()), l2_(l2_options(options)),
      l4_(l4_options(options)) {
  if (options.l4_max_result_bytes == 0)
    throw Error(ErrorCode::kInvalidArgument, "l4_max_result_bytes must be positive");
  if (!options.l3_url.empty()) {
    RemoteOptions ro;
    ro.command_timeout_ms = options.l3_timeout_ms;
    ro.connect_timeout_ms = std::max(options.l3_timeout_ms, 100);
    l3_ = RemoteStore::open(options.l3_url, ro);
    // With a bus, memory levels wait for the subscription: an invalidation published before we
    // subscribed would otherwise be missed.
    bus_down_.store(true, std::memory_order_release);
    subscription_ = l3_->subscribe(
        ns_, [this](const Invalidation& inv) { on_bus_message(inv); },
        [this](bool connected) { on_bus_connection(connected); });
    if (!subscription_) bus_down_.store(false, std::memory_order_release);  // file://: no bus
  }
}

Caches::~Caches() { subscription_.reset(); }

std::optional<EntityRecord> Caches::get_cached_entity(int64_t type_id, int64_t id) {
  if (!l2_usable()) return std::nullopt;
  std::optional<EntityRecord> out;
  l2_.read_if_present(EntityKey{type_id, id}, [&](const CachedEntity& e) { out = e.record; });
  return out;
}

std::vector<std::optional<EntityRecord>> Caches::get_entities(int64_t type_id, std::chrono::milliseconds ttl,
                                                              const std::vector<int64_t>& ids,
                                                              const EntityLoader& load) {
  std::vector<std::optional<EntityRecord>> out(ids.size());
  const bool use_l2 = l2_usable();
  const auto negative_ttl = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.negative_ttl);
  const auto record_ttl = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl);
  auto loaded = [&](std::optional<EntityRecord> rec) {
    auto v = std::make_shared<CachedEntity>(CachedEntity{std::move(rec)});
    return Loaded<CachedEntity>{v, charge(*v), v->record ? record_ttl : negative_ttl};
  };

  // L3 then the database for `missing` ids; fills L3. Returns index-aligned values.
  auto load_below = [&](const std::vector<int64_t>& missing) {
    std::vector<std::optional<EntityRecord>> found(missing.size());
    std::vector<bool> have(missing.size(), false);
    std::vector<int64_t> from_db;
    std::vector<size_t> from_db_pos;
    if (l3_ && announce_pending_.load(std::memory_order_acquire)) retry_pending();
    const bool l3_readable = l3_ && !announce_pending_.load(std::memory_order_acquire);
    // The generation read before the database: a fill of what the database returns is refused
    // when it moved since (see RemoteStore::put_entities).
    std::string generation;
    if (l3_readable) {
      const auto start = Clock::now();
      std::vector<RemoteEntity> remote = l3_->get_entities(ns_, missing, &generation);
      l3_load_ns_.fetch_add(static_cast<uint64_t>((Clock::now() - start).count()), std::memory_order_relaxed);
      l3_loads_.fetch_add(1, std::memory_order_relaxed);
      for (size_t i = 0; i < missing.size() && i < remote.size(); ++i) {
        if (remote[i].state == RemoteEntity::State::kMiss) continue;
        // An L3 record of another type is not this type's entity.
        if (remote[i].state == RemoteEntity::State::kPresent && remote[i].record.type_id != type_id) {
          have[i] = true;
          continue;
        }
        have[i] = true;
        if (remote[i].state == RemoteEntity::State::kPresent) found[i] = std::move(remote[i].record);
      }
    }
    for (size_t i = 0; i < missing.size(); ++i)
      if (!have[i]) {
        from_db.push_back(missing[i]);
        from_db_pos.push_back(i);
      }
    const uint64_t l3_hit = missing.size() - from_db.size();
    if (l3_readable) {
      l3_hits_.fetch_add(l3_hit, std::memory_order_relaxed);
      l3_misses_.fetch_add(from_db.size(), std::memory_order_relaxed);
    }
    if (!from_db.empty()) {
      std::vector<std::optional<EntityRecord>> db = load(from_db);
      std::vector<std::pair<int64_t, RemoteEntity>> fill;
      for (size_t j = 0; j < from_db.size(); ++j) {
        found[from_db_pos[j]] = db[j];
        if (!l3_) continue;
        RemoteEntity r;
        r.state = db[j] ? RemoteEntity::State::kPresent : RemoteEntity::State::kAbsent;
        if (db[j]) r.record = *db[j];
        fill.emplace_back(from_db[j], std::move(r));
      }
      if (l3_readable && !fill.empty()) l3_->put_entities(ns_, fill, ttl, options_.negative_ttl, generation);
    }
    return found;
  };

  if (!use_l2) return load_below(ids);

  if (ids.size() == 1) {
    // The common find. A hit copies the record under the shard's read lock (no reference count
    // touched); anything else (miss, expired, due for early refresh) goes single-flight through
    // get_or_load, which counts it.
    if (l2_.read_if_present(EntityKey{type_id, ids[0]}, [&](const CachedEntity& e) { out[0] = e.record; }))
      return out;
    auto v = l2_.get_or_load(EntityKey{type_id, ids[0]}, [&](const EntityKey&) {
      return loaded(std::move(load_below(ids)[0]));
    });
    if (v && v->record) out[0] = *v->record;
    return out;
  }

  std::vector<int64_t> missing;
  std::vector<size_t> missing_pos;
  std::vector<uint64_t> epochs;
  for (size_t i = 0; i < ids.size(); ++i) {
    const EntityKey key{type_id, ids[i]};
    const uint64_t epoch = l2_.epoch(key);  // before any read below
    if (auto v = l2_.get(key)) {
      if (v->record) out[i] = *v->record;
      continue;
    }
    missing.push_back(ids[i]);
    missing_pos.push_back(i);
    epochs.push_back(epoch);
  }
  if (missing.empty()) return out;
  std::vector<std::optional<EntityRecord>> found = load_below(missing);
  for (size_t j = 0; j < missing.size(); ++j) {
    Loaded<CachedEntity> l = loaded(found[j]);
    l2_.put(EntityKey{type_id, missing[j]}, l.value, l.weight, l.ttl, epochs[j]);
    out[missing_pos[j]] = std::move(found[j]);
  }
  return out;
}

std::string Caches::signature(int64_t tenant_id, std::string_view normalized_sql, const std::vector<Value>& params) {
  std::string sig = fmt::format("{}|{}|", tenant_id, normalized_sql);
  for (const Value& p : params) {
    // Type tag + length-prefixed text: 1 and '1' and 1.0 are different parameters.
    sig.push_back(static_cast<char>('0' + p.index()));
    std::string text = is_null(p) ? std::string() : to_string(p);
    sig.append(std::to_string(text.size()));
    sig.push_back(':');
    sig.append(text);
  }
  return sig;
}

std::shared_ptr<const CachedResult> Caches::cached_result(const std::string& signature) {
  if (!l2_usable()) return nullptr;
  auto v = l4_.get(signature);
  if (v && v->valid()) return v;
  if (v) l4_.invalidate(signature);
  return nullptr;
}

std::shared_ptr<const CachedResult> Caches::query(const std::string& signature, const QueryRunner& run,
                                                  std::optional<std::chrono::steady_clock::time_point> deadline) {
  const bool use_l4 = l2_usable();
  if (use_l4) {
    if (auto v = cached_result(signature)) {
      l4_hits_.fetch_add(1, std::memory_order_relaxed);
      return v;
    }
  }
  l4_misses_.fetch_add(1, std::memory_order_relaxed);
  const auto ttl = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.query_ttl);

  auto execute = [&]() -> Loaded<CachedResult> {
    auto entry = std::make_shared<CachedResult>();
    std::vector<std::string> tag_names;
    std::vector<uint64_t> remote_versions;
    bool from_l3 = false;
    BeforeExecute before = [&](const std::vector<std::string>& tags) -> std::optional<QueryResult> {
      tag_names = tags;
      entry->tags.emplace_back(tags_.global(), tags_.global()->load(std::memory_order_acquire));
      for (const auto& t : tags) {
        const auto* counter = tags_.get(t);
        entry->tags.emplace_back(counter, counter->load(std::memory_order_acquire));
      }
      if (!l3_ || announce_pending_.load(std::memory_order_acquire)) return std::nullopt;
      if (auto blob = l3_->get_result(ns_, signature)) {
        try {
          QueryResult r = decode_result(*blob);
          from_l3 = true;
          l3_hits_.fetch_add(1, std::memory_order_relaxed);
          return r;
        } catch (const Error&) {
          // A corrupt shared entry is a miss.
        }
      }
      l3_misses_.fetch_add(1, std::memory_order_relaxed);
      remote_versions = l3_->tag_versions(ns_, tags);  // before the database read
      return std::nullopt;
    };
    entry->result = run(before);
    const uint64_t bytes = charge(entry->result);
    const bool fits = bytes <= options_.l4_max_result_bytes;
    if (l3_ && fits && !from_l3 && remote_versions.size() == tag_names.size() && !tag_names.empty())
      l3_->put_result(ns_, signature, encode_result(entry->result), tag_names, remote_versions, options_.query_ttl);
    Loaded<CachedResult> l{entry, bytes, ttl, fits && use_l4};
    return l;
  };

  if (!use_l4) return execute().value;
  auto v = l4_.get_or_load(signature, [&](const std::string&) { return execute(); }, deadline);
  // A follower may have joined a load that started before a commit this caller already saw.
  if (v && !v->valid()) v = execute().value;
  return v;
}

bool Caches::before_commit(const Invalidation& inv) {
  if (!l3_ || inv.entities.empty()) return true;
  retry_pending();
  if (l3_->announce(inv)) return true;
  std::lock_guard lock(pending_mu_);
  pending_announce_.push_back(inv);
  announce_pending_.store(true, std::memory_order_release);
  return false;
}

void Caches::catch_up(Invalidation inv) {
  inv.ns = ns_;
  inv.committed = true;
  before_commit(inv);  // the same announce, kept pending (reads go around L3) when it fails
}

void Caches::after_commit(const Invalidation& inv) {
  for (const auto& e : inv.entities) l2_.invalidate(EntityKey{e.type_id, e.id});
  for (const auto& t : inv.tags) tags_.bump(t);
  if (!l3_ || inv.entities.empty()) return;
  Invalidation msg = inv;
  msg.origin = origin_;
  msg.sent_at_us = realtime_us();
  if (!l3_->publish(msg)) {
    std::lock_guard lock(pending_mu_);
    pending_publish_.push_back(std::move(msg));
  }
}

void Caches::retry_pending() {
  std::vector<Invalidation> announce, publish;
  {
    std::lock_guard lock(pending_mu_);
    if (pending_announce_.empty() && pending_publish_.empty()) return;
    announce.swap(pending_announce_);
    publish.swap(pending_publish_);
  }
  std::vector<Invalidation> failed_a, failed_p;
  for (auto& inv : announce)
    if (!l3_->announce(inv)) failed_a.push_back(std::move(inv));
  for (auto& inv : publish)
    if (!l3_->publish(inv)) failed_p.push_back(std::move(inv));
  std::lock_guard lock(pending_mu_);
  pending_announce_.insert(pending_announce_.begin(), failed_a.begin(), failed_a.end());
  pending_publish_.insert(pending_publish_.begin(), failed_p.begin(), failed_p.end());
  announce_pending_.store(!pending_announce_.empty(), std::memory_order_release);
}

void Caches::apply_foreign(const Invalidation& inv) {
  foreign_commits_.fetch_add(1, std::memory_order_relaxed);
  bool whole_type = false;
  for (const auto& e : inv.entities) {
    if (e.id == 0) whole_type = true;
    else l2_.invalidate(EntityKey{e.type_id, e.id});
    tags_.bump(type_tag(e.type_id));
  }
  for (const auto& t : inv.tags) tags_.bump(t);
  if (whole_type) {
    l2_.invalidate_all();
    full_flushes_.fetch_add(1, std::memory_order_relaxed);
  }
}

void Caches::on_bus_message(const Invalidation& inv) {
  if (inv.origin == origin_ || inv.ns != ns_) return;
  for (const auto& e : inv.entities) {
    if (e.id == 0) {
      l2_.invalidate_all();
      full_flushes_.fetch_add(1, std::memory_order_relaxed);
    } else {
      l2_.invalidate(EntityKey{e.type_id, e.id});
    }
  }
  for (const auto& t : inv.tags) tags_.bump(t);
  if (inv.sent_at_us > 0) {
    constexpr size_t kDelaySamples = 4096;
    const double delay = static_cast<double>(realtime_us() - inv.sent_at_us);
    std::lock_guard lock(delay_mu_);
    if (bus_delays_us_.size() < kDelaySamples) bus_delays_us_.push_back(delay);
    else bus_delays_us_[bus_delay_next_++ % kDelaySamples] = delay;
  }
  // Counted last, with release: whoever sees the message counted (stats() loads it with acquire)
  // also sees its invalidations applied and its delay sample recorded. Counting first let a reader
  // that waited for the count read the delays before this message's sample was in (a TSan-slowed
  // CI run saw bus_messages advance with bus_delay_max_us still 0).
  bus_messages_.fetch_add(1, std::memory_order_release);
}

void Caches::on_bus_connection(bool connected) {
  // Lost: we may miss invalidations from now on, so nothing in memory can be trusted; bypass L2
  // and L4 until the subscription is back, then start from empty.
  if (!connected) bus_down_.store(true, std::memory_order_release);
  flush_all();
  if (connected) {
    bus_down_.store(false, std::memory_order_release);
    if (l3_) retry_pending();
  }
}

void Caches::flush_all() {
  l2_.invalidate_all();
  l4_.invalidate_all();
  tags_.bump_global();
  full_flushes_.fetch_add(1, std::memory_order_relaxed);
}

void Caches::clear() {
  flush_all();
  if (l3_) l3_->clear(ns_);
}

void Caches::add_l1(const CacheLevelStats& l1) {
  std::lock_guard lock(l1_mu_);
  l1_ += l1;
}

CacheStats Caches::stats() const {
  CacheStats s;
  {
    std::lock_guard lock(l1_mu_);
    s.l1 = l1_;
  }
  s.l2 = l2_.stats();
  s.l4 = l4_.stats();
  // L4's own map counts every get; the hit/miss figures that matter count validated lookups.
  s.l4.hits = l4_hits_.load(std::memory_order_relaxed);
  s.l4.misses = l4_misses_.load(std::memory_order_relaxed);
  s.policy = options_.policy;
  s.policy_metadata_bytes = l2_.policy_metadata_bytes();
  s.full_flushes = full_flushes_.load(std::memory_order_relaxed);
  s.bus_messages = bus_messages_.load(std::memory_order_acquire);
  s.foreign_commits = foreign_commits_.load(std::memory_order_relaxed);
  if (l3_) {
    RemoteStats r = l3_->stats();
    s.l3_url = l3_->url();
    s.l3_breaker = std::string(breaker_state_name(r.breaker));
    s.l3.hits = l3_hits_.load(std::memory_order_relaxed);
    s.l3.misses = l3_misses_.load(std::memory_order_relaxed);
    s.l3.loads = l3_loads_.load(std::memory_order_relaxed);
    s.l3.load_ns = l3_load_ns_.load(std::memory_order_relaxed);
    s.l3.errors = r.errors + r.breaker_open_skips;
    s.bus_connected = subscription_ && subscription_->connected();
  }
  std::vector<double> delays;
  {
    std::lock_guard lock(delay_mu_);
    delays = bus_delays_us_;
  }
  if (!delays.empty()) {
    std::sort(delays.begin(), delays.end());
    auto at = [&](double q) { return delays[std::min(delays.size() - 1, static_cast<size_t>(q * static_cast<double>(delays.size())))]; };
    s.bus_delay_p50_us = at(0.50);
    s.bus_delay_p99_us = at(0.99);
    s.bus_delay_max_us = delays.back();
  }
  return s;
}

}  // namespace eavdb::cache
