// L3 cache: circuit breaker state machine, msgpack codec, and the Redis and file stores
// (protocol: pointers, tombstones, negatives, tags, quarantine; pub/sub; failures and restarts).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "cache/caches.h"
#include "cache/circuit_breaker.h"
#include "cache/codec.h"
#include "cache/file_store.h"
#include "cache/redis_store.h"
#include "cache/remote.h"
#include "eavdb/error.h"
#include "redis_server.h"
#include "test_util.h"

namespace eavdb::cache {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using eavdb::testing::RedisServer;
using eavdb::testing::TempDir;
using State = RemoteEntity::State;

// ---------------------------------------------------------------------------------------------
// CircuitBreaker

// A manual clock for the breaker.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  CircuitBreaker::Clock fn() {
    return [this] { return now; };
  }
};

BreakerOptions breaker_options() {
  BreakerOptions o;
  o.failure_ratio = 0.5;
  o.minimum_calls = 10;
  o.window = 10s;
  o.cool_down = 1s;
  o.half_open_probes = 3;
  return o;
}

TEST(CircuitBreaker, StateNames) {
  EXPECT_EQ(breaker_state_name(BreakerState::kClosed), "closed");
  EXPECT_EQ(breaker_state_name(BreakerState::kOpen), "open");
  EXPECT_EQ(breaker_state_name(BreakerState::kHalfOpen), "half_open");
}

TEST(CircuitBreaker, StaysClosedBelowMinimumCallsAndRatio) {
  FakeClock clock;
  CircuitBreaker b(breaker_options(), clock.fn());
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(b.allow());
    b.record(false);
  }
  EXPECT_EQ(b.state(), BreakerState::kClosed) << "9 calls < minimum_calls";
  CircuitBreaker c(breaker_options(), clock.fn());
  for (int i = 0; i < 30; ++i) {  // 1 failure in 3: ratio 0.33 < 0.5
    ASSERT_TRUE(c.allow());
    c.record(i % 3 != 0);
  }
  EXPECT_EQ(c.state(), BreakerState::kClosed);
  EXPECT_EQ(c.counters().failures, 10u);
  EXPECT_EQ(c.counters().successes, 20u);
}

TEST(CircuitBreaker, OpensAtRatioThenRejectsUntilCoolDown) {
  FakeClock clock;
  CircuitBreaker b(breaker_options(), clock.fn());
  for (int i = 0; i < 5; ++i) b.record(true);
  for (int i = 0; i < 4; ++i) b.record(false);
  EXPECT_EQ(b.state(), BreakerState::kClosed);  // 4/9, and 9 < 10 calls
  b.record(false);                              // 5/10 = 0.5
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(b.counters().opened, 1u);
  EXPECT_FALSE(b.allow());
  clock.now += 999ms;
  EXPECT_FALSE(b.allow());
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(b.counters().rejected, 2u);
  b.record(false);  // late result of a call started before opening: ignored
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  clock.now += 1ms;
  EXPECT_TRUE(b.allow());
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
}

TEST(CircuitBreaker, HalfOpenLetsProbesThroughAndClosesWhenAllSucceed) {
  FakeClock clock;
  CircuitBreaker b(breaker_options(), clock.fn());
  for (int i = 0; i < 10; ++i) b.record(false);
  ASSERT_EQ(b.state(), BreakerState::kOpen);
  clock.now += 1s;
  EXPECT_TRUE(b.allow());
  EXPECT_TRUE(b.allow());
  EXPECT_TRUE(b.allow());
  EXPECT_FALSE(b.allow()) << "only half_open_probes calls go through";
  b.record(true);
  b.record(true);
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  b.record(true);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  EXPECT_EQ(b.counters().closed, 1u);
  EXPECT_TRUE(b.allow());
  // The window was reset on closing: 9 new failures do not reopen it.
  for (int i = 0; i < 9; ++i) b.record(false);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

TEST(CircuitBreaker, HalfOpenReopensOnAnyFailureAndRestartsCoolDown) {
  FakeClock clock;
  CircuitBreaker b(breaker_options(), clock.fn());
  for (int i = 0; i < 10; ++i) b.record(false);
  clock.now += 1s;
  ASSERT_TRUE(b.allow());
  ASSERT_TRUE(b.allow());
  b.record(true);
  b.record(false);
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(b.counters().opened, 2u);
  clock.now += 500ms;
  EXPECT_FALSE(b.allow());
  clock.now += 500ms;
  EXPECT_TRUE(b.allow());
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
}

TEST(CircuitBreaker, FailuresAgeOutOfTheRollingWindow) {
  FakeClock clock;
  CircuitBreaker b(breaker_options(), clock.fn());
  for (int i = 0; i < 8; ++i) b.record(false);
  clock.now += 11s;  // older than the window
  for (int i = 0; i < 8; ++i) b.record(false);
  EXPECT_EQ(b.state(), BreakerState::kClosed) << "only 8 calls are in the window";
  clock.now += 5s;  // the last 8 are still inside
  b.record(false);
  b.record(false);
  EXPECT_EQ(b.state(), BreakerState::kOpen);
}

TEST(CircuitBreaker, StuckProbesAreFreedAfterAnotherCoolDown) {
  FakeClock clock;
  CircuitBreaker b(breaker_options(), clock.fn());
  for (int i = 0; i < 10; ++i) b.record(false);
  clock.now += 1s;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.allow());
  EXPECT_FALSE(b.allow());
  clock.now += 1s;  // the probes never reported back
  EXPECT_TRUE(b.allow());
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
}

TEST(CircuitBreaker, ClampsNonsenseOptions) {
  BreakerOptions o;
  o.failure_ratio = 7;
  o.minimum_calls = -3;
  o.half_open_probes = 0;
  o.window = 0ms;
  o.cool_down = -5ms;
  FakeClock clock;
  CircuitBreaker b(o, clock.fn());
  EXPECT_EQ(b.options().failure_ratio, 1.0);
  EXPECT_EQ(b.options().minimum_calls, 1);
  EXPECT_EQ(b.options().half_open_probes, 1);
  b.record(false);
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  clock.now += 1ms;
  EXPECT_TRUE(b.allow());
  b.record(true);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

TEST(CircuitBreaker, ConcurrentUseKeepsCountsConsistent) {
  BreakerOptions o = breaker_options();
  o.minimum_calls = 1000000;  // never opens: every call is admitted and counted
  CircuitBreaker b(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i)
        if (b.allow()) b.record((i + t) % 2 == 0);
    });
  for (auto& th : threads) th.join();
  auto c = b.counters();
  EXPECT_EQ(c.successes + c.failures, 20000u);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

// ---------------------------------------------------------------------------------------------
// Codec

// Exact equality of values: same alternative and same representation (Decimal text, not only
// numeric equality).
void expect_same_value(const Value& a, const Value& b, const std::string& where) {
  ASSERT_EQ(a.index(), b.index()) << where;
  if (auto* d = std::get_if<Decimal>(&a)) {
    EXPECT_EQ(d->str(), std::get<Decimal>(b).str()) << where;
  } else if (auto* t = std::get_if<DateTime>(&a)) {
    EXPECT_EQ(t->micros, std::get<DateTime>(b).micros) << where;
  } else if (auto* i = std::get_if<int64_t>(&a)) {
    EXPECT_EQ(*i, std::get<int64_t>(b)) << where;
  } else if (auto* s = std::get_if<std::string>(&a)) {
    EXPECT_EQ(*s, std::get<std::string>(b)) << where;
  }
}

void expect_same_record(const EntityRecord& a, const EntityRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.type_id, b.type_id);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  ASSERT_EQ(a.values.size(), b.values.size());
  for (size_t i = 0; i < a.values.size(); ++i) {
    EXPECT_EQ(a.values[i].first, b.values[i].first);
    expect_same_value(a.values[i].second, b.values[i].second, "value " + std::to_string(i));
  }
}

EntityRecord sample_record(int64_t id = 42, int64_t version = 7) {
  EntityRecord r;
  r.id = id;
  r.type_id = 3;
  r.version = version;
  r.created_at = 1'700'000'000'000'000;
  r.updated_at = 1'700'000'123'456'789;
  r.values = {{1, int64_t{-5}},
              {2, Decimal::parse("19.990")},
              {3, DateTime{-86'400'000'001}},
              {4, std::string("héllo")},
              {5, std::monostate{}},
              {6, std::string("a\0b", 3)},
              {7, std::numeric_limits<int64_t>::min()},
              {8, std::numeric_limits<int64_t>::max()},
              {9, Decimal::parse("-0.000")},
              {10, std::string(5000, 'x')},
              {11, std::string()}};
  return r;
}

QueryResult sample_result() {
  QueryResult q;
  q.select_star = true;
  q.columns = {{"id", ValueType::kInt},
               {"price", ValueType::kDecimal},
               {"at", ValueType::kDatetime},
               {"name", ValueType::kVarchar},
               {"body", ValueType::kText}};
  q.rows.push_back({int64_t{1}, Decimal::parse("1.50"), DateTime{123}, std::string("a"), std::monostate{}});
  q.rows.push_back({int64_t{2}, std::monostate{}, DateTime{0}, std::string(), std::string(300, 'z')});
  return q;
}

Invalidation sample_invalidation() {
  Invalidation inv;
  inv.ns = "db-1:tenant 7";
  inv.entities = {{3, 42, 8}, {3, 43, 0}, {4, 0, 0}};
  inv.tags = {"type:3", "attr:9", ""};
  inv.origin = "host-a:1234:0001";
  inv.sent_at_us = 1'700'000'000'000'001;
  return inv;
}

// Runs `fn`, which must throw Error(kStorage) naming a corrupt record.
template <class F>
void expect_corrupt(F&& fn, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << what << ": decoded without error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kStorage) << what;
    EXPECT_NE(std::string(e.what()).find("corrupt cache record"), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": unexpected exception " << e.what();
  }
}

// A commit's invalidation: every accepted write's entity, and each tag once, sorted — a create
// or delete bumps its type's tag, an update its type's update tag and each written attribute's.
TEST(CacheInvalidation, OneTagPerTypeAndAttributeWhateverTheWriteCount) {
  ChangeSet cs;
  CommitResult r;
  for (int i = 0; i < 1000; ++i) {  // a bulk create of type 7
    EntityWrite w;
    w.type_id = 7;
    w.values.push_back({3, ValueType::kInt, Value(int64_t{i})});
    cs.writes.push_back(w);
    r.ids.push_back(100 + i);
    r.versions.push_back(1);
  }
  for (int i = 0; i < 3; ++i) {  // updates of type 2 writing attributes 5 and 11
    EntityWrite w;
    w.type_id = 2;
    w.kind = EntityWrite::Kind::kUpdate;
    w.id = 50 + i;
    w.values.push_back({11, ValueType::kInt, Value(int64_t{i})});
    w.values.push_back({5, ValueType::kInt, Value(int64_t{i})});
    cs.writes.push_back(w);
    r.ids.push_back(50 + i);
    r.versions.push_back(2);
  }
  EntityWrite rejected;  // an isolating commit's failed write: no entity, no tag
  rejected.type_id = 9;
  cs.writes.push_back(rejected);
  r.ids.push_back(0);
  r.versions.push_back(0);
  EntityWrite gone;  // a delete of type 7
  gone.type_id = 7;
  gone.kind = EntityWrite::Kind::kDelete;
  gone.id = 100;
  cs.writes.push_back(gone);
  r.ids.push_back(100);
  r.versions.push_back(0);
  const cache::Invalidation inv = cache::make_invalidation("ns", cs, r);
  EXPECT_EQ(inv.ns, "ns");
  ASSERT_EQ(inv.entities.size(), 1004u);
  EXPECT_EQ(inv.entities[1000].type_id, 2);
  EXPECT_EQ(inv.entities[1000].id, 50);
  EXPECT_EQ(inv.entities[1003].id, 100);
  std::vector<std::string> want = {cache::type_tag(7), "u2", "a5", "a11"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(inv.tags, want);
}

TEST(CacheCodec, EntityRoundTripKeepsExactTypes) {
  EntityRecord r = sample_record();
  std::string bytes = encode_entity(r);
  expect_same_record(r, decode_entity(bytes));
  EntityRecord empty;
  expect_same_record(empty, decode_entity(encode_entity(empty)));
}

TEST(CacheCodec, EntityEncodingIsCompact) {
  EntityRecord r;
  r.id = 1000;
  r.type_id = 2;
  r.version = 3;
  r.created_at = r.updated_at = 1'700'000'000'000'000;
  r.values = {{1, int64_t{5}}, {2, std::string("abc")}, {3, Decimal::parse("9.99")}};
  // header 1, format 1, id 3, type 1, version 1, times 9 + 9, values header 1,
  // (1 + 1) int, (1 + 4) "abc", (1 + 6) fixext4 "9.99"  = 40 bytes
  EXPECT_EQ(encode_entity(r).size(), 40u);
}

TEST(CacheCodec, ResultRoundTrip) {
  QueryResult q = sample_result();
  QueryResult d = decode_result(encode_result(q));
  EXPECT_TRUE(d.select_star);
  ASSERT_EQ(d.columns.size(), q.columns.size());
  for (size_t i = 0; i < q.columns.size(); ++i) {
    EXPECT_EQ(d.columns[i].name, q.columns[i].name);
    EXPECT_EQ(d.columns[i].type, q.columns[i].type);
  }
  ASSERT_EQ(d.rows.size(), q.rows.size());
  for (size_t i = 0; i < q.rows.size(); ++i) {
    ASSERT_EQ(d.rows[i].size(), q.rows[i].size());
    for (size_t j = 0; j < q.rows[i].size(); ++j) expect_same_value(q.rows[i][j], d.rows[i][j], "cell");
  }
  QueryResult empty;
  QueryResult e = decode_result(encode_result(empty));
  EXPECT_FALSE(e.select_star);
  EXPECT_TRUE(e.columns.empty());
  EXPECT_TRUE(e.rows.empty());
}

TEST(CacheCodec, InvalidationRoundTrip) {
  Invalidation inv = sample_invalidation();
  Invalidation d = decode_invalidation(encode_invalidation(inv));
  EXPECT_EQ(d.ns, inv.ns);
  ASSERT_EQ(d.entities.size(), inv.entities.size());
  for (size_t i = 0; i < inv.entities.size(); ++i) {
    EXPECT_EQ(d.entities[i].type_id, inv.entities[i].type_id);
    EXPECT_EQ(d.entities[i].id, inv.entities[i].id);
    EXPECT_EQ(d.entities[i].version, inv.entities[i].version);
  }
  EXPECT_EQ(d.tags, inv.tags);
  EXPECT_EQ(d.origin, inv.origin);
  EXPECT_EQ(d.sent_at_us, inv.sent_at_us);
}

TEST(CacheCodec, EveryTruncationIsACorruptRecord) {
  std::string e = encode_entity(sample_record());
  std::string r = encode_result(sample_result());
  std::string i = encode_invalidation(sample_invalidation());
  for (size_t n = 0; n < e.size(); ++n)
    expect_corrupt([&] { decode_entity(std::string_view(e).substr(0, n)); },
                   "entity prefix " + std::to_string(n));
  for (size_t n = 0; n < r.size(); ++n)
    expect_corrupt([&] { decode_result(std::string_view(r).substr(0, n)); },
                   "result prefix " + std::to_string(n));
  for (size_t n = 0; n < i.size(); ++n)
    expect_corrupt([&] { decode_invalidation(std::string_view(i).substr(0, n)); },
                   "inv prefix " + std::to_string(n));
}

TEST(CacheCodec, RejectsStructurallyWrongRecords) {
  std::string e = encode_entity(sample_record());
  expect_corrupt([&] { decode_entity(e + "x"); }, "trailing byte");
  std::string wrong_version = e;
  wrong_version[1] = 2;  // format version (positive fixint after the fixarray header)
  expect_corrupt([&] { decode_entity(wrong_version); }, "format 2");
  expect_corrupt([&] { decode_result(e); }, "entity as result");
  expect_corrupt([&] { decode_entity(encode_invalidation(sample_invalidation())); },
                 "invalidation as entity");
  // A row with a missing cell.
  QueryResult q = sample_result();
  q.rows[1].pop_back();
  expect_corrupt([&] { decode_result(encode_result(q)); }, "short row");
  // A non-canonical decimal: ext 1 holding "01.5".
  std::string bad_dec =
      "\x97\x01\x01\x01\x01\x00\x00\x92\x01\xc7\x04\x01"
      "01.5"s;
  expect_corrupt([&] { decode_entity(bad_dec); }, "non-canonical decimal");
  std::string good_dec =
      "\x97\x01\x01\x01\x01\x00\x00\x92\x01\xc7\x03\x01"
      "1.5"s;
  EXPECT_EQ(std::get<Decimal>(decode_entity(good_dec).values.at(0).second).str(), "1.5");
  // A datetime extension of the wrong size.
  std::string bad_dt = "\x97\x01\x01\x01\x01\x00\x00\x92\x01\xd6\x02\x00\x00\x00\x00"s;
  expect_corrupt([&] { decode_entity(bad_dt); }, "4-byte datetime");
}

TEST(CacheCodec, LyingSizeHeadersDoNotAllocate) {
  // array32 claiming 4 billion elements, map32, str32 and bin32 claiming 4 GiB, with no body.
  for (std::string bytes : {std::string("\xdd\xff\xff\xff\xff", 5), std::string("\xdf\xff\xff\xff\xff", 5),
                            std::string("\xdb\xff\xff\xff\xff", 5), std::string("\xc6\xff\xff\xff\xff", 5),
                            std::string("\x97\x01\x01\x01\x01\x00\x00\xdd\xff\xff\xff\xfe", 12)}) {
    expect_corrupt([&] { decode_entity(bytes); }, "lying header");
    expect_corrupt([&] { decode_result(bytes); }, "lying header");
    expect_corrupt([&] { decode_invalidation(bytes); }, "lying header");
  }
}

TEST(CacheCodec, RandomBytesAndBitFlipsNeverCrash) {
  std::mt19937_64 rng(12345);
  auto try_all = [](std::string_view bytes) {
    for (int k = 0; k < 3; ++k) {
      try {
        if (k == 0) decode_entity(bytes);
        if (k == 1) decode_result(bytes);
        if (k == 2) decode_invalidation(bytes);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kStorage);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "unexpected exception " << e.what();
      }
    }
  };
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    if (!bytes.empty() && i % 2 == 0) bytes[0] = static_cast<char>(0x90 | (rng() % 8));  // plausible start
    try_all(bytes);
  }
  for (const std::string& valid : {encode_entity(sample_record()), encode_result(sample_result()),
                                   encode_invalidation(sample_invalidation())}) {
    for (size_t pos = 0; pos < std::min<size_t>(valid.size(), 400); ++pos) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped = valid;
        flipped[pos] = static_cast<char>(flipped[pos] ^ (1 << bit));
        try_all(flipped);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Stores: the same protocol tests run against Redis and the file store.

std::string unique_ns(const std::string& base) {
  static std::atomic<int> n{0};
  std::random_device rd;
  return base + ":" + std::to_string(rd()) + ":" + std::to_string(n++);
}

RemoteEntity present(const EntityRecord& r) {
  RemoteEntity e;
  e.state = State::kPresent;
  e.record = r;
  return e;
}

RemoteEntity absent() {
  RemoteEntity e;
  e.state = State::kAbsent;
  return e;
}

Invalidation write_of(const std::string& ns, int64_t id, int64_t version,
                      std::vector<std::string> tags = {}) {
  Invalidation inv;
  inv.ns = ns;
  inv.entities = {{3, id, version}};
  inv.tags = std::move(tags);
  inv.origin = "test";
  return inv;
}

// Waits (polling, up to 15 s) for `cond`; true when it held.
template <class F>
bool eventually(F&& cond, std::chrono::milliseconds limit = 15s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

class CacheRemoteStore : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
      server_ = std::make_unique<RedisServer>();
      url_ = server_->url();
    } else {
      dir_ = std::make_unique<TempDir>();
      url_ = "file://" + dir_->file("l3");
    }
    store_ = RemoteStore::open(url_);
    ns_ = unique_ns("db");
  }

  // Simulates the loss of a tag key (eviction, flush).
  void delete_tag(const std::string& tag) {
    if (server_) {
      auto r = server_->command({"DEL", RedisStore::tag_key(ns_, tag)});
      ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    } else {
      auto* fs = dynamic_cast<FileStore*>(store_.get());
      ASSERT_NE(fs, nullptr);
      ASSERT_TRUE(std::filesystem::remove(fs->tag_path(ns_, tag)));
    }
  }

  // The quarantine deadline (µs) of the change `inv`, 0 when there is none.
  int64_t quarantine_deadline_us(const Invalidation& inv) {
    std::string token = detail::commit_token(inv);
    if (server_) {
      auto r = server_->command({"ZSCORE", "eavdb:q:" + detail::ns_key(ns_), token});
      if (!r || r->type != REDIS_REPLY_STRING) return 0;
      return static_cast<int64_t>(std::stod(std::string(r->str, r->len)));
    }
    auto* fs = dynamic_cast<FileStore*>(store_.get());
    std::ifstream in(fs->namespace_dir(ns_) / "q" / token, std::ios::binary);
    char header[16] = {};
    if (!in.read(header, sizeof header)) return 0;
    uint64_t v = 0;
    for (int i = 15; i >= 8; --i) v = (v << 8) | static_cast<uint8_t>(header[i]);  // expiry, LE
    return static_cast<int64_t>(v);
  }

  RemoteEntity get1(int64_t id) { return store_->get_entities(ns_, {id}).at(0); }
  void put1(int64_t id, const RemoteEntity& e, std::chrono::milliseconds ttl = 60s) {
    store_->put_entities(ns_, {{id, e}}, ttl, 60s);
  }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<TempDir> dir_;
  std::string url_;
  std::unique_ptr<RemoteStore> store_;
  std::string ns_;
};

TEST_P(CacheRemoteStore, EntityRoundTripAndMiss) {
  EXPECT_EQ(get1(42).state, State::kMiss);
  put1(42, present(sample_record(42, 7)));
  RemoteEntity e = get1(42);
  ASSERT_EQ(e.state, State::kPresent);
  expect_same_record(sample_record(42, 7), e.record);
  EXPECT_EQ(get1(43).state, State::kMiss);
  // Another namespace never sees it.
  EXPECT_EQ(store_->get_entities(ns_ + "x", {42}).at(0).state, State::kMiss);
  RemoteStats s = store_->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.puts, 1u);
  EXPECT_EQ(s.loads, 4u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(s.breaker, BreakerState::kClosed);
}

TEST_P(CacheRemoteStore, ManyIdsInOneCall) {
  std::vector<std::pair<int64_t, RemoteEntity>> batch;
  std::vector<int64_t> ids;
  for (int64_t id = 1; id <= 100; ++id) {
    ids.push_back(id);
    if (id % 10 == 0)
      batch.emplace_back(id, absent());
    else if (id % 10 != 5)
      batch.emplace_back(id, present(sample_record(id, id % 3 + 1)));
  }
  store_->put_entities(ns_, batch, 60s, 60s);
  auto got = store_->get_entities(ns_, ids);
  ASSERT_EQ(got.size(), ids.size());
  for (int64_t id = 1; id <= 100; ++id) {
    const auto& e = got[static_cast<size_t>(id - 1)];
    if (id % 10 == 0) {
      EXPECT_EQ(e.state, State::kAbsent) << id;
    } else if (id % 10 == 5) {
      EXPECT_EQ(e.state, State::kMiss) << id;
    } else {
      ASSERT_EQ(e.state, State::kPresent) << id;
      EXPECT_EQ(e.record.id, id);
      EXPECT_EQ(e.record.version, id % 3 + 1);
    }
  }
  EXPECT_TRUE(store_->get_entities(ns_, {}).empty());
}

TEST_P(CacheRemoteStore, LargeBatchesRoundTrip) {
  std::vector<std::pair<int64_t, RemoteEntity>> batch;
  std::vector<int64_t> ids;
  Invalidation inv;
  inv.ns = ns_;
  inv.tags = {"type:3"};
  for (int64_t id = 1; id <= 1000; ++id) {
    batch.emplace_back(id, present(sample_record(id, 1)));
    ids.push_back(id);
    inv.entities.push_back({3, id, 2});
  }
  for (auto& [id, e] : batch) e.record.values.resize(3);  // keep the batch small
  store_->put_entities(ns_, batch, 60s, 60s);
  EXPECT_EQ(store_->stats().puts, 1000u);
  auto got = store_->get_entities(ns_, ids);
  ASSERT_EQ(got.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(got[i].state, State::kPresent) << ids[i];
    EXPECT_EQ(got[i].record.id, ids[i]);
  }
  auto tag_before = store_->tag_versions(ns_, {"type:3"});
  ASSERT_TRUE(store_->announce(inv));
  EXPECT_GT(store_->tag_versions(ns_, {"type:3"}).at(0), tag_before.at(0))
      << "tags bumped exactly like small ones";
  store_->put_entities(ns_, batch, 60s, 60s);  // version 1 < announced 2: refused
  got = store_->get_entities(ns_, ids);
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(got[i].state, State::kMiss) << ids[i];
  EXPECT_EQ(store_->stats().errors, 0u);
}

TEST_P(CacheRemoteStore, PointerMaxWinsOverOlderFills) {
  // A fill at v1, then a committer announces v2: the v1 record is never returned again.
  put1(7, present(sample_record(7, 1)));
  ASSERT_EQ(get1(7).state, State::kPresent);
  ASSERT_TRUE(store_->announce(write_of(ns_, 7, 2)));
  EXPECT_EQ(get1(7).state, State::kMiss);
  // A slow reader that read v1 before the commit fills late: ignored.
  put1(7, present(sample_record(7, 1)));
  EXPECT_EQ(get1(7).state, State::kMiss);
  // The v2 fill is served; an older fill afterwards changes nothing.
  put1(7, present(sample_record(7, 2)));
  ASSERT_EQ(get1(7).state, State::kPresent);
  EXPECT_EQ(get1(7).record.version, 2);
  put1(7, present(sample_record(7, 1)));
  EXPECT_EQ(get1(7).record.version, 2);
  // Announcing an older version does not move the pointer back.
  ASSERT_TRUE(store_->announce(write_of(ns_, 7, 1)));
  EXPECT_EQ(get1(7).record.version, 2);
  // A newer fill (another process read v3 after its commit) moves it forward.
  put1(7, present(sample_record(7, 3)));
  EXPECT_EQ(get1(7).record.version, 3);
}

TEST_P(CacheRemoteStore, ConcurrentWritersLeaveTheNewestVersion) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto store = RemoteStore::open(url_);  // one "process" each
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<int64_t> versions(30);
      for (int i = 0; i < 30; ++i) versions[static_cast<size_t>(i)] = i + 1;
      std::shuffle(versions.begin(), versions.end(), rng);
      for (int64_t v : versions) {
        if (v % 2 == 0) store->announce(write_of(ns_, 9, v));
        store->put_entities(ns_, {{9, present(sample_record(9, v))}}, 60s, 60s);
      }
    });
  for (auto& th : threads) th.join();
  RemoteEntity e = get1(9);
  ASSERT_EQ(e.state, State::kPresent);
  EXPECT_EQ(e.record.version, 30);
}

TEST_P(CacheRemoteStore, TombstoneBeatsEveryFill) {
  put1(5, present(sample_record(5, 3)));
  ASSERT_TRUE(store_->announce(write_of(ns_, 5, 0)));  // delete
  EXPECT_EQ(get1(5).state, State::kAbsent);
  put1(5, present(sample_record(5, 3)));
  put1(5, present(sample_record(5, 99)));
  EXPECT_EQ(get1(5).state, State::kAbsent);
  ASSERT_TRUE(store_->announce(write_of(ns_, 5, 100)));
  EXPECT_EQ(get1(5).state, State::kAbsent) << "ids are never reused: a tombstone beats any number";
}

TEST_P(CacheRemoteStore, NegativeEntriesAndCreation) {
  put1(11, absent());
  EXPECT_EQ(get1(11).state, State::kAbsent);
  // The entity is created: announce before COMMIT replaces the negative entry.
  ASSERT_TRUE(store_->announce(write_of(ns_, 11, 1)));
  EXPECT_EQ(get1(11).state, State::kMiss);
  put1(11, absent());  // a late negative fill from a read before the commit
  EXPECT_EQ(get1(11).state, State::kMiss);
  put1(11, present(sample_record(11, 1)));
  EXPECT_EQ(get1(11).state, State::kPresent);
  // A negative fill never replaces a known version.
  put1(11, absent());
  EXPECT_EQ(get1(11).state, State::kPresent);
}

TEST_P(CacheRemoteStore, NegativeEntriesAndRecordsExpire) {
  store_->put_entities(ns_, {{1, absent()}}, 60s, 30ms);
  store_->put_entities(ns_, {{2, present(sample_record(2, 1))}}, 50ms, 60s);
  EXPECT_TRUE(eventually([&] { return get1(1).state == State::kMiss; }));
  EXPECT_TRUE(eventually([&] { return get1(2).state == State::kMiss; }));
  // The pointer of 2 stays (no TTL): an older fill is still refused, the same version refills.
  ASSERT_TRUE(store_->announce(write_of(ns_, 2, 2)));
  put1(2, present(sample_record(2, 1)));
  EXPECT_EQ(get1(2).state, State::kMiss);
  put1(2, present(sample_record(2, 2)));
  EXPECT_EQ(get1(2).state, State::kPresent);
}

TEST_P(CacheRemoteStore, TagVersionsOnlyMoveForward) {
  auto v1 = store_->tag_versions(ns_, {"type:3", "attr:1"});
  ASSERT_EQ(v1.size(), 2u);
  EXPECT_GT(v1[0], 1'600'000'000'000'000'000ull) << "created from the clock (µs × 1000)";
  EXPECT_EQ(store_->tag_versions(ns_, {"type:3", "attr:1"}), v1);
  ASSERT_TRUE(store_->announce(write_of(ns_, 1, 1, {"type:3"})));
  auto v2 = store_->tag_versions(ns_, {"type:3", "attr:1"});
  EXPECT_GT(v2[0], v1[0]);
  EXPECT_EQ(v2[1], v1[1]);
  ASSERT_TRUE(store_->publish(write_of(ns_, 1, 1, {"type:3"})));
  auto v3 = store_->tag_versions(ns_, {"type:3"});
  EXPECT_GT(v3[0], v2[0]) << "publish bumps the tags a second time, after the commit";
  EXPECT_TRUE(store_->tag_versions(ns_, {}).empty());
}

TEST_P(CacheRemoteStore, ResultIsServedUntilATagMoves) {
  std::vector<std::string> tags = {"type:3", "attr:2"};
  auto v = store_->tag_versions(ns_, tags);
  ASSERT_EQ(v.size(), 2u);
  std::string blob = encode_result(sample_result());
  store_->put_result(ns_, "SELECT * FROM t", blob, tags, v, 60s);
  auto got = store_->get_result(ns_, "SELECT * FROM t");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, blob);
  EXPECT_FALSE(store_->get_result(ns_, "SELECT 1").has_value());
  // An empty blob and an empty tag list are fine too.
  store_->put_result(ns_, "empty", "", {}, {}, 60s);
  ASSERT_TRUE(store_->get_result(ns_, "empty").has_value());
  EXPECT_EQ(*store_->get_result(ns_, "empty"), "");
  // A write bumps attr:2: the result is gone, and storing it again with the old versions fails.
  ASSERT_TRUE(store_->announce(write_of(ns_, 1, 1, {"attr:2"})));
  EXPECT_FALSE(store_->get_result(ns_, "SELECT * FROM t").has_value());
  store_->put_result(ns_, "SELECT * FROM t", blob, tags, v, 60s);
  EXPECT_FALSE(store_->get_result(ns_, "SELECT * FROM t").has_value());
  auto v2 = store_->tag_versions(ns_, tags);
  store_->put_result(ns_, "SELECT * FROM t", blob, tags, v2, 60s);
  EXPECT_TRUE(store_->get_result(ns_, "SELECT * FROM t").has_value());
  // Mismatched tag/version lists are ignored.
  store_->put_result(ns_, "bad", blob, tags, {v2[0]}, 60s);
  EXPECT_FALSE(store_->get_result(ns_, "bad").has_value());
}

TEST_P(CacheRemoteStore, LostTagNeverMakesAnOldResultValid) {
  std::vector<std::string> tags = {"type:8"};
  auto v1 = store_->tag_versions(ns_, tags);
  ASSERT_EQ(v1.size(), 1u);
  ASSERT_TRUE(store_->announce(write_of(ns_, 1, 1, tags)));  // v = v1 + something
  auto v2 = store_->tag_versions(ns_, tags);
  store_->put_result(ns_, "q", "blob", tags, v2, 60s);
  ASSERT_TRUE(store_->get_result(ns_, "q").has_value());
  delete_tag("type:8");  // evicted / flushed
  EXPECT_FALSE(store_->get_result(ns_, "q").has_value()) << "a missing tag is not a match";
  auto v3 = store_->tag_versions(ns_, tags);  // recreated from the clock
  ASSERT_EQ(v3.size(), 1u);
  EXPECT_GT(v3[0], v2[0]) << "recreated tag must be newer than anything it had";
  EXPECT_FALSE(store_->get_result(ns_, "q").has_value());
  store_->put_result(ns_, "q", "blob", tags, v1, 60s);
  store_->put_result(ns_, "q", "blob", tags, v2, 60s);
  EXPECT_FALSE(store_->get_result(ns_, "q").has_value());
}

TEST_P(CacheRemoteStore, LargeCommitHidesRecordsAndQuarantinesFills) {
  put1(1, present(sample_record(1, 1)));
  put1(2, absent());
  ASSERT_EQ(get1(1).state, State::kPresent);
  Invalidation large;
  large.ns = ns_;
  large.entities = {{3, 0, 0}};  // every entity of type 3
  large.origin = "bulk";
  ASSERT_TRUE(store_->announce(large));
  EXPECT_EQ(get1(1).state, State::kMiss);
  EXPECT_EQ(get1(2).state, State::kMiss) << "negative entries are hidden too (the commit may create ids)";
  put1(1, present(sample_record(1, 1)));  // may hold pre-commit data: refused
  put1(2, absent());
  EXPECT_EQ(get1(1).state, State::kMiss);
  EXPECT_EQ(get1(2).state, State::kMiss);
  ASSERT_TRUE(store_->publish(large));  // quarantine ends kLargeCommitSettle later
  put1(1, present(sample_record(1, 2)));
  EXPECT_EQ(get1(1).state, State::kMiss);
  // Per-id announcements still work during the quarantine.
  ASSERT_TRUE(store_->announce(write_of(ns_, 3, 0)));
  EXPECT_EQ(get1(3).state, State::kAbsent);
}

TEST_P(CacheRemoteStore, QuarantineSettlesWhenEveryIdenticalLargeCommitIsPublished) {
  Invalidation large;
  large.ns = ns_;
  large.entities = {{3, 0, 0}};
  large.tags = {"type:3"};
  const int64_t hour_us = 3'600'000'000, settle_us = detail::kLargeCommitSettle.count() * 1000;
  ASSERT_TRUE(store_->announce(large));  // two identical changes in flight (two bulk loads)
  ASSERT_TRUE(store_->announce(large));
  EXPECT_GT(quarantine_deadline_us(large), detail::realtime_us() + hour_us / 2);
  // publish() carries what the caller adds after the commit: origin and send time.
  Invalidation published = large;
  published.origin = "process-1";
  published.sent_at_us = detail::realtime_us();
  ASSERT_TRUE(store_->publish(published));
  EXPECT_GT(quarantine_deadline_us(large), detail::realtime_us() + hour_us / 2) << "one is still pending";
  ASSERT_TRUE(store_->publish(published));
  int64_t deadline = quarantine_deadline_us(large);
  EXPECT_GT(deadline, detail::realtime_us());
  EXPECT_LE(deadline, detail::realtime_us() + settle_us) << "settles kLargeCommitSettle after the last";
  put1(1, present(sample_record(1, 1)));
  EXPECT_EQ(get1(1).state, State::kMiss) << "still refused during the settle time";
}

TEST_P(CacheRemoteStore, ClearDropsRecordsButKeepsPointers) {
  put1(1, present(sample_record(1, 2)));
  put1(2, absent());
  store_->put_result(ns_, "q", "blob", {}, {}, 60s);
  store_->clear(ns_);
  EXPECT_EQ(get1(1).state, State::kMiss);
  EXPECT_EQ(get1(2).state, State::kMiss);
  EXPECT_FALSE(store_->get_result(ns_, "q").has_value());
  put1(1, present(sample_record(1, 1)));  // the pointer still says 2
  EXPECT_EQ(get1(1).state, State::kMiss);
  put1(1, present(sample_record(1, 2)));
  EXPECT_EQ(get1(1).state, State::kPresent);
}

// A fill carries the generation read before its database read; when the generation moved or was
// lost in between (clear, large change, Redis restart or flush) the data may be older than a
// version pointer that is gone, so nothing is stored.
TEST_P(CacheRemoteStore, FillIsRefusedWhenTheGenerationMovedSinceTheRead) {
  std::string gen;
  EXPECT_EQ(store_->get_entities(ns_, {1}, &gen).at(0).state, State::kMiss);
  ASSERT_NE(gen, "");  // a fresh namespace gets one, so the first fill can be checked and stored
  store_->put_entities(ns_, {{1, present(sample_record(1, 1))}}, 60s, 60s, gen);
  EXPECT_EQ(get1(1).state, State::kPresent);
  store_->put_entities(ns_, {{5, present(sample_record(5, 1))}}, 60s, 60s, "");  // a failed read
  EXPECT_EQ(get1(5).state, State::kMiss);

  store_->get_entities(ns_, {2}, &gen);
  store_->clear(ns_);  // the generation moves between the read and the fill
  store_->put_entities(ns_, {{2, present(sample_record(2, 1))}, {3, absent()}}, 60s, 60s, gen);
  EXPECT_EQ(get1(2).state, State::kMiss);
  EXPECT_EQ(get1(3).state, State::kMiss);

  if (server_) {  // Redis loses everything, a newer version pointer included
    Invalidation inv;
    inv.ns = ns_;
    inv.entities.push_back({1, 4, 2});
    ASSERT_TRUE(store_->announce(inv));  // version 2 of entity 4 is about to commit
    store_->get_entities(ns_, {4}, &gen);
    auto r = server_->command({"FLUSHALL"});
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS);
    store_->put_entities(ns_, {{4, present(sample_record(4, 1))}}, 60s, 60s, gen);  // read before it
    EXPECT_EQ(get1(4).state, State::kMiss);
  }
}

INSTANTIATE_TEST_SUITE_P(CacheRemote, CacheRemoteStore, ::testing::Values("redis", "file"),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------------------------
// Redis specifics

void expect_invalid_url(const std::string& url) {
  try {
    RemoteStore::open(url);
    ADD_FAILURE() << url << " accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << url;
  }
}

TEST(CacheRemoteOpen, ParsesUrls) {
  for (const char* bad : {"http://localhost", "redis://", "redis://:6379", "redis://h:0", "redis://h:99999",
                          "redis://h:", "redis://h:12x", "redis://h:1/x", "redis://user:pw@h:1",
                          "redis://[::1", "file://relative/dir", "file://", "", "memory"})
    expect_invalid_url(bad);
  EXPECT_EQ(RemoteStore::open("redis://127.0.0.1:1/2")->url(), "redis://127.0.0.1:1/2");
  EXPECT_NE(RemoteStore::open("redis://localhost"), nullptr);
  EXPECT_NE(RemoteStore::open("redis://[::1]:6380"), nullptr);
  TempDir dir;
  auto store = RemoteStore::open("file://" + dir.file("a/b"));
  EXPECT_TRUE(std::filesystem::is_directory(dir.file("a/b")));
  TempDir blocker;
  std::string file = blocker.write("plain", "x");
  try {
    RemoteStore::open("file://" + file + "/sub");
    ADD_FAILURE() << "a directory under a regular file was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

TEST(CacheRemoteRedis, UnreachableServerMissesWithoutThrowing) {
  RemoteOptions o;
  o.breaker.minimum_calls = 3;
  auto store = RemoteStore::open("redis://127.0.0.1:1", o);  // nothing listens on port 1
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(store->get_entities("ns", {1, 2}).at(1).state, State::kMiss);
    store->put_entities("ns", {{1, present(sample_record(1, 1))}}, 1s, 1s);
    EXPECT_FALSE(store->announce(write_of("ns", 1, 1)));
    EXPECT_FALSE(store->publish(write_of("ns", 1, 1)));
    EXPECT_TRUE(store->tag_versions("ns", {"t"}).empty());
    EXPECT_FALSE(store->get_result("ns", "q").has_value());
    store->put_result("ns", "q", "b", {}, {}, 1s);
    store->clear("ns");
  }
  RemoteStats s = store->stats();
  EXPECT_EQ(s.breaker, BreakerState::kOpen);
  EXPECT_GE(s.errors, 3u);
  EXPECT_GT(s.breaker_open_skips, 0u);
  EXPECT_EQ(s.hits, 0u);
}

TEST(CacheRemoteRedis, SelectsTheDatabaseOfTheUrl) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  auto db3 = RemoteStore::open(server.url("/3"));
  auto db0 = RemoteStore::open(server.url());
  db3->put_entities("ns", {{1, present(sample_record(1, 1))}}, 60s, 60s);
  EXPECT_EQ(db3->get_entities("ns", {1}).at(0).state, State::kPresent);
  EXPECT_EQ(db0->get_entities("ns", {1}).at(0).state, State::kMiss);
  auto keys = server.command({"DBSIZE"});
  ASSERT_TRUE(keys && keys->type == REDIS_REPLY_INTEGER);
  EXPECT_EQ(keys->integer, 0) << "nothing was written to db 0";
}

TEST(CacheRemoteRedis, FallsBackToEvalAfterScriptFlush) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  auto store = RemoteStore::open(server.url());
  store->put_entities("ns", {{1, present(sample_record(1, 1))}}, 60s, 60s);
  ASSERT_EQ(store->get_entities("ns", {1}).at(0).state, State::kPresent);
  auto r = server.command({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS);
  EXPECT_EQ(store->get_entities("ns", {1}).at(0).state, State::kPresent);
  EXPECT_EQ(store->stats().errors, 0u);
}

TEST(CacheRemoteRedis, PointersHaveNoTtlAndRecordsHaveJitteredTtl) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  auto store = RemoteStore::open(server.url());
  std::vector<std::pair<int64_t, RemoteEntity>> batch;
  for (int64_t id = 1; id <= 50; ++id) batch.emplace_back(id, present(sample_record(id, 1)));
  store->put_entities("ns", batch, 100s, 60s);
  auto pttl = server.command({"PTTL", RedisStore::pointer_key("ns", 1)});
  ASSERT_TRUE(pttl && pttl->type == REDIS_REPLY_INTEGER);
  EXPECT_EQ(pttl->integer, -1) << "version pointers never expire";
  long long lo = INT64_MAX, hi = 0;
  for (int64_t id = 1; id <= 50; ++id) {
    auto t = server.command({"PTTL", RedisStore::record_key("ns", id)});
    ASSERT_TRUE(t && t->type == REDIS_REPLY_INTEGER);
    ASSERT_GT(t->integer, 0);
    lo = std::min(lo, t->integer);
    hi = std::max(hi, t->integer);
  }
  EXPECT_GE(lo, 85'000);   // 100 s − 10 % (minus the elapsed test time)
  EXPECT_LE(hi, 110'000);  // 100 s + 10 %
  EXPECT_GT(hi - lo, 1000) << "50 TTLs drawn from ±10 % are not all equal";
}

TEST(CacheRemoteRedis, KeysOfOddNamespacesStayApart) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  auto store = RemoteStore::open(server.url());
  std::vector<std::string> spaces = {"a", "a:b", "a}", "a*", "{a}", "with space", std::string("nul\0x", 5)};
  for (size_t i = 0; i < spaces.size(); ++i)
    store->put_entities(spaces[i], {{1, present(sample_record(1, static_cast<int64_t>(i) + 1))}}, 60s, 60s);
  store->clear("a");
  EXPECT_EQ(store->get_entities("a", {1}).at(0).state, State::kMiss);
  for (size_t i = 1; i < spaces.size(); ++i) {
    auto e = store->get_entities(spaces[i], {1}).at(0);
    ASSERT_EQ(e.state, State::kPresent) << i;
    EXPECT_EQ(e.record.version, static_cast<int64_t>(i) + 1);
  }
}

// Collects what a subscription reports.
struct Inbox {
  std::mutex mu;
  std::vector<Invalidation> messages;
  std::vector<int64_t> received_at_us;
  std::vector<bool> connection;
  std::function<void(const Invalidation&)> on_message() {
    return [this](const Invalidation& inv) {
      std::lock_guard l(mu);
      messages.push_back(inv);
      received_at_us.push_back(detail::realtime_us());
    };
  }
  std::function<void(bool)> on_connection() {
    return [this](bool up) {
      std::lock_guard l(mu);
      connection.push_back(up);
    };
  }
  size_t message_count() {
    std::lock_guard l(mu);
    return messages.size();
  }
  std::vector<bool> connections() {
    std::lock_guard l(mu);
    return connection;
  }
};

TEST(CacheRemoteRedis, PubSubDeliversBetweenProcessesAndSurvivesRestart) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  auto a = RemoteStore::open(server.url());
  auto b = RemoteStore::open(server.url());
  Inbox inbox;
  auto sub = b->subscribe("ns1", inbox.on_message(), inbox.on_connection());
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(eventually([&] { return sub->connected(); }));
  EXPECT_EQ(inbox.connections(), std::vector<bool>{true});

  Invalidation inv = sample_invalidation();
  inv.ns = "ns1";
  inv.sent_at_us = 0;
  int64_t before = detail::realtime_us();
  ASSERT_TRUE(a->publish(inv));
  ASSERT_TRUE(eventually([&] { return inbox.message_count() == 1; }));
  {
    std::lock_guard l(inbox.mu);
    const Invalidation& got = inbox.messages[0];
    EXPECT_EQ(got.ns, "ns1");
    EXPECT_EQ(got.origin, inv.origin);
    EXPECT_EQ(got.tags, inv.tags);
    ASSERT_EQ(got.entities.size(), 3u);
    EXPECT_EQ(got.entities[0].id, 42);
    EXPECT_GE(got.sent_at_us, before) << "publish stamps sent_at_us";
  }
  // Other namespaces' channels are not delivered.
  Invalidation other = inv;
  other.ns = "ns2";
  ASSERT_TRUE(a->publish(other));
  ASSERT_TRUE(a->publish(inv));
  ASSERT_TRUE(eventually([&] { return inbox.message_count() == 2; }));
  {
    std::lock_guard l(inbox.mu);
    for (const auto& m : inbox.messages) EXPECT_EQ(m.ns, "ns1");
    // The first publish also connected and loaded the scripts; the second shows the bus itself.
    std::printf("[ pubsub   ] propagation delay (publish call to callback) %.3f ms\n",
                static_cast<double>(inbox.received_at_us[1] - inbox.messages[1].sent_at_us) / 1000.0);
  }

  // The server crashes: the subscription reports the loss, then the return.
  server.stop();
  ASSERT_TRUE(eventually([&] { return !sub->connected(); }));
  EXPECT_EQ(inbox.connections(), (std::vector<bool>{true, false}));
  EXPECT_FALSE(a->publish(inv)) << "a lost publish is reported so the caller can keep it pending";
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(eventually([&] { return sub->connected(); }));
  EXPECT_EQ(inbox.connections(), (std::vector<bool>{true, false, true}));
  ASSERT_TRUE(eventually([&] { return a->publish(inv); }));
  ASSERT_TRUE(eventually([&] { return inbox.message_count() >= 3; }));

  auto t0 = std::chrono::steady_clock::now();
  sub.reset();
  std::printf("[ pubsub   ] subscription stopped in %.1f ms\n",
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
}

TEST(CacheRemoteRedis, SubscriptionToADownServerReportsAndRecovers) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  server.stop();
  auto store = RemoteStore::open(server.url());
  Inbox inbox;
  auto sub = store->subscribe("ns", inbox.on_message(), inbox.on_connection());
  ASSERT_TRUE(eventually([&] { return !inbox.connections().empty(); }));
  EXPECT_EQ(inbox.connections(), std::vector<bool>{false});
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(eventually([&] { return sub->connected(); }));
  EXPECT_EQ(inbox.connections(), (std::vector<bool>{false, true}));
}

TEST(CacheRemoteRedis, ServerKilledMidRunOpensTheBreakerAndRecovers) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  RemoteOptions o;
  o.breaker.minimum_calls = 5;
  o.breaker.cool_down = 50ms;
  o.pool_size = 2;
  auto store = RemoteStore::open(server.url(), o);
  store->put_entities("ns", {{1, present(sample_record(1, 1))}}, 60s, 60s);
  ASSERT_EQ(store->get_entities("ns", {1}).at(0).state, State::kPresent);

  server.stop();
  std::chrono::nanoseconds spent{0};
  int calls = 0;
  bool threw = false;
  ASSERT_TRUE(eventually([&] {
    auto t0 = std::chrono::steady_clock::now();
    try {
      EXPECT_EQ(store->get_entities("ns", {1}).at(0).state, State::kMiss);
      EXPECT_FALSE(store->announce(write_of("ns", 1, 2)));
      EXPECT_TRUE(store->tag_versions("ns", {"t"}).empty());
      EXPECT_FALSE(store->get_result("ns", "q").has_value());
    } catch (...) {
      threw = true;
    }
    spent += std::chrono::steady_clock::now() - t0;
    calls += 4;
    return calls >= 80 && store->stats().breaker_open_skips > 0;
  }));
  EXPECT_FALSE(threw);
  std::printf("[ breaker  ] %d calls against a dead server: %.1f us per call\n", calls,
              std::chrono::duration<double, std::micro>(spent).count() / calls);
  RemoteStats down = store->stats();
  EXPECT_EQ(down.breaker, BreakerState::kOpen);
  EXPECT_GE(down.errors, 5u);
  EXPECT_GT(down.breaker_open_skips, 0u);

  ASSERT_TRUE(server.start());  // empty again: refill, then hits resume
  ASSERT_TRUE(eventually([&] {
    store->put_entities("ns", {{1, present(sample_record(1, 3))}}, 60s, 60s);
    return store->get_entities("ns", {1}).at(0).state == State::kPresent;
  }));
  ASSERT_TRUE(eventually([&] {
    store->get_entities("ns", {1});
    return store->stats().breaker == BreakerState::kClosed;
  }));
  EXPECT_EQ(store->get_entities("ns", {1}).at(0).record.version, 3);
  EXPECT_TRUE(store->announce(write_of("ns", 1, 4)));
}

// Regression: Redis restarted between a committer's announce and its COMMIT loses the version
// pointer the announce moved; a reader then misses, reads the database (still the old version:
// the COMMIT has not happened) and fills the old record under the new generation. publish()
// after the COMMIT must notice that the generation moved and announce again, or L3 would serve
// the old record to every process (the committer's own included) from then on.
TEST(CacheRemoteRedis, RestartBetweenAnnounceAndCommitIsRepairedByPublish) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  RemoteOptions o;
  o.breaker.cool_down = 20ms;
  auto committer = RemoteStore::open(server.url(), o);
  auto reader = RemoteStore::open(server.url(), o);
  std::string gen;
  reader->get_entities("ns", {5}, &gen);
  reader->put_entities("ns", {{5, present(sample_record(5, 1))}}, 60s, 60s, gen);
  ASSERT_EQ(reader->get_entities("ns", {5}).at(0).record.version, 1);

  const Invalidation inv = write_of("ns", 5, 2);
  ASSERT_TRUE(committer->announce(inv));  // before the COMMIT
  server.stop();
  ASSERT_TRUE(server.start());  // empty: pointer and generation are gone
  // The reader, before the COMMIT: misses, reads version 1 from the database, fills it.
  ASSERT_TRUE(eventually([&] {
    std::string g;
    if (reader->get_entities("ns", {5}, &g).at(0).state == State::kPresent) return true;
    if (!g.empty()) reader->put_entities("ns", {{5, present(sample_record(5, 1))}}, 60s, 60s, g);
    return false;
  }));
  // The COMMIT, then publish.
  ASSERT_TRUE(eventually([&] { return committer->publish(inv); }));
  EXPECT_EQ(reader->get_entities("ns", {5}).at(0).state, State::kMiss);
  // A fill at version 2 (read after the COMMIT) is served; version 1 can no longer be stored.
  std::string g;
  reader->get_entities("ns", {5}, &g);
  reader->put_entities("ns", {{5, present(sample_record(5, 1))}}, 60s, 60s, g);
  EXPECT_EQ(reader->get_entities("ns", {5}).at(0).state, State::kMiss);
  reader->put_entities("ns", {{5, present(sample_record(5, 2))}}, 60s, 60s, g);
  EXPECT_EQ(reader->get_entities("ns", {5}).at(0).record.version, 2);
}

TEST(CacheRemoteRedis, ConcurrentCallersSharePoolAndTolerateRestart) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  RemoteOptions o;
  o.pool_size = 3;
  o.breaker.cool_down = 20ms;
  auto store = RemoteStore::open(server.url(), o);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> present_seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      int64_t id = t + 1;
      while (!stop.load()) {
        store->put_entities("ns", {{id, present(sample_record(id, 1))}}, 60s, 60s);
        auto e = store->get_entities("ns", {id, id + 100}).at(0);
        if (e.state == State::kPresent) {
          EXPECT_EQ(e.record.id, id);
          ++present_seen;
        }
      }
    });
  ASSERT_TRUE(eventually([&] { return present_seen.load() > 100; }));
  server.stop();
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(server.start());
  uint64_t before = present_seen.load();
  EXPECT_TRUE(eventually([&] { return present_seen.load() > before + 100; }));
  stop = true;
  for (auto& th : threads) th.join();
}

// A typical record: 12 attributes, ~250 bytes encoded.
EntityRecord bench_record(int64_t id) {
  EntityRecord r;
  r.id = id;
  r.type_id = 2;
  r.version = 1;
  r.created_at = r.updated_at = 1'700'000'000'000'000 + id;
  for (int64_t a = 1; a <= 4; ++a) r.values.emplace_back(a, int64_t{id * a});
  for (int64_t a = 5; a <= 7; ++a) r.values.emplace_back(a, Decimal::parse(std::to_string(id) + ".25"));
  r.values.emplace_back(8, DateTime{1'700'000'000'000'000});
  for (int64_t a = 9; a <= 12; ++a)
    r.values.emplace_back(a, "value " + std::to_string(id) + std::string(30, 'v'));
  return r;
}

TEST(CacheRemoteRedis, LoopbackRoundTrip) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  auto store = RemoteStore::open(server.url());
  std::vector<std::pair<int64_t, RemoteEntity>> batch;
  std::vector<int64_t> ids;
  for (int64_t id = 1; id <= 100; ++id) {
    batch.emplace_back(id, present(bench_record(id)));
    ids.push_back(id);
  }
  store->put_entities("bench", batch, 600s, 60s);
  auto measure = [&](const std::vector<int64_t>& which, int rounds) {
    std::vector<double> us;
    for (int i = 0; i < rounds; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto got = store->get_entities("bench", which);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      EXPECT_EQ(got.back().state, State::kPresent);
    }
    std::sort(us.begin(), us.end());
    return std::pair{us[us.size() / 2], us[us.size() * 99 / 100]};
  };
  measure(ids, 50);  // warm up
  auto [p50_1, p99_1] = measure({ids[0]}, 2000);
  auto [p50_100, p99_100] = measure(ids, 500);
  std::printf(
      "[ loopback ] record %zu bytes; get_entities 1 id: p50 %.1f us, p99 %.1f us; "
      "100 ids: p50 %.1f us, p99 %.1f us\n",
      encode_entity(bench_record(50)).size(), p50_1, p99_1, p50_100, p99_100);
}

// ---------------------------------------------------------------------------------------------
// File store specifics

TEST(CacheRemoteFile, SurvivesReopen) {
  TempDir dir;
  std::string url = "file://" + dir.file("l3");
  std::vector<uint64_t> versions;
  {
    auto store = RemoteStore::open(url);
    store->put_entities("ns", {{1, present(sample_record(1, 4))}, {2, absent()}}, 600s, 600s);
    versions = store->tag_versions("ns", {"t"});
    store->put_result("ns", "q", "blob", {"t"}, versions, 600s);
    ASSERT_TRUE(store->announce(write_of("ns", 3, 0)));
  }
  auto store = RemoteStore::open(url);  // a new process
  auto got = store->get_entities("ns", {1, 2, 3});
  ASSERT_EQ(got[0].state, State::kPresent);
  expect_same_record(sample_record(1, 4), got[0].record);
  EXPECT_EQ(got[1].state, State::kAbsent);
  EXPECT_EQ(got[2].state, State::kAbsent);
  EXPECT_EQ(store->tag_versions("ns", {"t"}), versions);
  EXPECT_EQ(store->get_result("ns", "q"), std::optional<std::string>("blob"));
  EXPECT_EQ(store->subscribe("ns", {}, {}), nullptr);
  EXPECT_TRUE(store->publish(write_of("ns", 1, 5)));
}

// Flips the lowest bit of the byte at `offset` of a file, in place.
void flip(const std::filesystem::path& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  ASSERT_TRUE(f.get(c)) << path << " has no byte " << offset;
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 1));
}

std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); ++it)
    if (it->is_regular_file()) out.push_back(it->path());
  return out;
}

TEST(CacheRemoteFile, CorruptOrTornFilesAreMisses) {
  TempDir dir;
  FileStore store("file://x", dir.file("l3"), {});
  store.put_entities("ns",
                     {{1, present(sample_record(1, 1))},
                      {2, present(sample_record(2, 1))},
                      {3, present(sample_record(3, 1))}},
                     600s, 600s);
  auto records = files_under(store.namespace_dir("ns") / "e");
  ASSERT_EQ(records.size(), 3u);
  std::sort(records.begin(), records.end());
  // A flipped payload byte, a torn (truncated) file and garbage.
  flip(records[0], std::filesystem::file_size(records[0]) - 3);
  std::filesystem::resize_file(records[1], std::filesystem::file_size(records[1]) / 2);
  std::ofstream(records[2], std::ios::binary | std::ios::trunc) << "not a cache file";
  auto got = store.get_entities("ns", {1, 2, 3});
  for (const auto& e : got) EXPECT_EQ(e.state, State::kMiss);
  for (const auto& p : records) EXPECT_FALSE(std::filesystem::exists(p)) << "corrupt record removed: " << p;
  EXPECT_EQ(store.stats().errors, 0u) << "corruption is a miss, not an I/O failure";
  // Refills work again.
  store.put_entities("ns", {{1, present(sample_record(1, 1))}}, 600s, 600s);
  EXPECT_EQ(store.get_entities("ns", {1}).at(0).state, State::kPresent);

  // A corrupt pointer: a miss, and fills leave it alone until an announce rewrites it.
  flip(store.pointer_path("ns", 1), 32);
  EXPECT_EQ(store.get_entities("ns", {1}).at(0).state, State::kMiss);
  store.put_entities("ns", {{1, present(sample_record(1, 1))}}, 600s, 600s);
  EXPECT_EQ(store.get_entities("ns", {1}).at(0).state, State::kMiss);
  ASSERT_TRUE(store.announce(write_of("ns", 1, 2)));
  store.put_entities("ns", {{1, present(sample_record(1, 2))}}, 600s, 600s);
  EXPECT_EQ(store.get_entities("ns", {1}).at(0).record.version, 2);

  // A corrupt tag counts as lost: recreated newer, results stored under it are not served.
  auto v = store.tag_versions("ns", {"t"});
  store.put_result("ns", "q", "blob", {"t"}, v, 600s);
  ASSERT_TRUE(store.get_result("ns", "q").has_value());
  flip(store.tag_path("ns", "t"), 33);
  EXPECT_FALSE(store.get_result("ns", "q").has_value());
  auto v2 = store.tag_versions("ns", {"t"});
  ASSERT_EQ(v2.size(), 1u);
  EXPECT_GT(v2[0], v[0]);
}

TEST(CacheRemoteFile, PutMovesPointerAndRemovesTheOldRecord) {
  TempDir dir;
  FileStore store("file://x", dir.file("l3"), {});
  store.put_entities("ns", {{1, present(sample_record(1, 1))}}, 600s, 600s);
  store.put_entities("ns", {{1, present(sample_record(1, 2))}}, 600s, 600s);
  auto records = files_under(store.namespace_dir("ns") / "e");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_NE(records[0].filename().string().find("1.2."), std::string::npos) << records[0];
}

}  // namespace
}  // namespace eavdb::cache
