#include "eavdb/batch.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <unordered_map>
#include <unordered_set>

#include "io/io.h"
#include "storage/backend.h"

namespace eavdb {
namespace {

constexpr size_t kKeptErrors = 1000;

using Clock = std::chrono::steady_clock;

// ---- sources ----------------------------------------------------------------------------------

class FileRecordSource final : public RecordSource {
 public:
  FileRecordSource(const std::string& path, io::Format format, const EntityTypeDef* type)
      : reader_(io::open_reader(path, format)), type_(type) {}
  FileRecordSource(std::unique_ptr<io::RecordReader> reader, const EntityTypeDef* type)
      : reader_(std::move(reader)), type_(type) {}

  bool next(BatchRecord& out) override {
    io::Record& rec = rec_;  // reused: its field vector keeps its capacity across records
    if (!reader_->next(rec)) return false;
    out = BatchRecord{};
    out.line = rec.line;
    out.typed = type_ != nullptr;
    if (rec.error) {
      out.error = *rec.error;
      return true;
    }
    out.values.reserve(rec.fields.size());
    for (auto& [name, field] : rec.fields) {
      if (name == "id") {
        try {
          Value v = io::convert(field, ValueType::kInt);
          if (auto* id = std::get_if<int64_t>(&v)) out.id = *id;
        } catch (const Error& e) {
          out.error = fmt::format("field 'id': {}", e.what());
        }
        continue;
      }
      const AttributeDef* a = attribute(name);
      if (!a) {
        out.values.emplace_back(std::move(name), raw_value(field));
        continue;
      }
      try {
        out.values.emplace_back(a->code, io::convert(field, a->type));
      } catch (const Error& e) {
        out.error = e.what();
        out.error_field = name;
        out.values.clear();
        return true;
      }
    }
    return true;
  }

 private:
  // A source field as the closest typed value; coerce() later fits it to the attribute.
  static Value raw_value(io::RawField& f) {
    switch (f.kind) {
      case io::RawField::Kind::kNull: return std::monostate{};
      case io::RawField::Kind::kBool: return int64_t{f.text == "true"};
      case io::RawField::Kind::kNumber: {
        if (f.text.find_first_of(".eE") == std::string::npos) {
          if (auto v = io::parse_int_token(f.text)) return *v;
        }
        if (auto d = Decimal::try_parse(f.text)) return *d;
        return std::move(f.text);
      }
      default: return std::move(f.text);
    }
  }
  // The attribute a source name stands for (by code, else by its normalised code), looked up
  // once per distinct name: EntityTypeDef::find is a linear scan and normalize_code allocates.
  const AttributeDef* attribute(const std::string& name) {
    if (!type_) return nullptr;
    auto it = by_name_.find(name);
    if (it != by_name_.end()) return it->second;
    const AttributeDef* a = type_->find(name);
    if (!a) a = type_->find(normalize_code(name));
    if (by_name_.size() < kMaxNames) by_name_.emplace(name, a);  // bounded: names come from the input
    return a;
  }
  static constexpr size_t kMaxNames = 4096;

  std::unique_ptr<io::RecordReader> reader_;
  const EntityTypeDef* type_;
  io::Record rec_;
  std::unordered_map<std::string, const AttributeDef*> by_name_;
};

class StreamIdSource final : public IdSource {
 public:
  explicit StreamIdSource(const std::string& path) {
    if (path != "-" && path != "/dev/stdin") {
      file_.open(path);
      if (!file_) throw Error(ErrorCode::kIo, fmt::format("cannot open '{}'", path));
    }
    in_ = file_.is_open() ? static_cast<std::istream*>(&file_) : &std::cin;
  }
  std::optional<int64_t> next() override {
    std::string line;
    while (std::getline(*in_, line)) {
      ++line_no_;
      auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos) continue;
      auto last = line.find_last_not_of(" \t\r");
      std::string_view text(line.data() + first, last - first + 1);
      if (auto id = io::parse_int_token(text)) return *id;
      throw Error(ErrorCode::kInvalidArgument, fmt::format("line {}: '{}' is not an id", line_no_, text));
    }
    return std::nullopt;
  }

 private:
  std::ifstream file_;
  std::istream* in_;
  int64_t line_no_ = 0;
};

}  // namespace

std::unique_ptr<RecordSource> open_record_source(const std::string& path, const std::string& format,
                                                 const EntityTypeDef* type) {
  const std::string file = path == "-" ? "/dev/stdin" : path;
  const io::Format f = format.empty() ? io::format_from_path(file == "/dev/stdin" ? "stdin.ndjson" : file)
                                      : io::parse_format(format);
  return std::make_unique<FileRecordSource>(file, f, type);
}

std::unique_ptr<RecordSource> open_ndjson_record_source(std::string data, const EntityTypeDef* type,
                                                        std::size_t max_line_bytes) {
  return std::make_unique<FileRecordSource>(io::open_ndjson_memory_reader(std::move(data), max_line_bytes), type);
}

std::unique_ptr<IdSource> open_id_source(const std::string& path) { return std::make_unique<StreamIdSource>(path); }

// ---- rejects file -----------------------------------------------------------------------------

struct RejectsWriter::Impl {
  std::ofstream out;
};

RejectsWriter::RejectsWriter(const std::string& path) : impl_(std::make_unique<Impl>()) {
  if (path.empty()) return;
  impl_->out.open(path, std::ios::out | std::ios::trunc);
  if (!impl_->out) throw Error(ErrorCode::kIo, fmt::format("cannot write rejects file '{}'", path));
}

RejectsWriter::~RejectsWriter() = default;

std::string rejection_json(const BatchError& e) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("record");
  w.Int64(e.index + 1);
  w.Key("line");
  w.Int64(e.line);
  w.Key("field");
  w.String(e.field.c_str(), static_cast<rapidjson::SizeType>(e.field.size()));
  w.Key("reason");
  w.String(e.reason.c_str(), static_cast<rapidjson::SizeType>(e.reason.size()));
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void RejectsWriter::add(const BatchError& e) {
  if (impl_->out.is_open()) impl_->out << rejection_json(e) << '\n';
}

// ---- the processor ----------------------------------------------------------------------------

// One batch run: accumulates writes into a transaction-sized ChangeSet, commits through the
// funnel, maps failures back to input positions and reports progress.
struct BatchProcessor::Impl {
  enum class Mode { kInsert, kUpsert, kUpdate, kDelete };

  Impl(Database& db, const EntityTypeDef& type, const BatchOptions& options, Mode mode, int64_t total)
      : db(db), type(type), options(options), mode(mode), total(total), start(Clock::now()) {
    changes.isolate = options.on_error == OnError::kSkip;
    changes.chunk_size = std::max<int64_t>(1, options.chunk_size);
    if (!options.key.empty()) key = type.find(options.key);
  }

  struct Meta {
    int64_t index;
    int64_t line;
  };
  struct Pending {  // a validated record waiting for key resolution
    EntityWrite write;
    Meta meta;
    Value key_value;
  };

  Database& db;
  const EntityTypeDef& type;
  const BatchOptions& options;
  Mode mode;
  int64_t total;
  Clock::time_point start;
  const AttributeDef* key = nullptr;
  BatchResult result;
  ChangeSet changes;
  std::vector<Meta> metas;        // index-aligned with changes.writes
  std::vector<Pending> pending;   // records awaiting key lookup (upsert / update by key)
  std::unordered_set<std::string> keys_in_transaction;
  bool stop = false;

  void reject(const Meta& m, std::string field, std::string reason) {
    ++result.failed;
    BatchError e{m.index, m.line, std::move(field), std::move(reason)};
    if (options.on_reject) options.on_reject(e);
    if (result.errors.size() < kKeptErrors) result.errors.push_back(std::move(e));
    if (options.on_error == OnError::kAbort) {
      stop = true;
      result.aborted = true;
    }
  }

  void progress() {
    if (!options.on_progress) return;
    BatchProgress p;
    p.done = result.processed;
    p.total = total;
    p.failed = result.failed;
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    p.records_per_second = secs > 0 ? static_cast<double>(p.done) / secs : 0;
    if (total >= 0 && p.records_per_second > 0)
      p.eta_seconds = static_cast<double>(std::max<int64_t>(0, total - p.done)) / p.records_per_second;
    options.on_progress(p);
  }

  // Converts a record's values to attribute writes; false (after reject) when one does not fit.
  // Attribute by code, for the per-value lookups of build().
  std::unordered_map<std::string_view, const AttributeDef*> by_code = [this] {
    std::unordered_map<std::string_view, const AttributeDef*> m;
    for (const AttributeDef& a : type.attributes) m.emplace(a.code, &a);
    return m;
  }();
  const AttributeDef* attribute(const std::string& name) const {
    if (auto it = by_code.find(name); it != by_code.end()) return it->second;
    if (auto it = by_code.find(normalize_code(name)); it != by_code.end()) return it->second;
    return nullptr;
  }

  bool build(BatchRecord& rec, const Meta& m, EntityWrite& w, Value* key_value) {
    std::vector<char> seen(type.attributes.size(), 0);
    w.values.reserve(rec.values.size());
    for (auto& [name, raw] : rec.values) {
      const AttributeDef* a = attribute(name);
      if (!a) {
        std::string hint = type.suggest(name);
        reject(m, name, fmt::format("type '{}' has no attribute '{}'{}", type.code, name,
                                    hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
        return false;
      }
      Value v;
      if (rec.typed) {
        v = std::move(raw);  // the source converted it to this attribute's type
      } else {
        try {
          v = coerce(raw, a->type);
        } catch (const Error& e) {
          reject(m, name, e.what());
          return false;
        }
      }
      if (is_null(v) && w.kind == EntityWrite::Kind::kInsert) continue;
      if (a == key && key_value) *key_value = v;
      const size_t slot = static_cast<size_t>(a - type.attributes.data());
      if (seen[slot]) {
        for (auto& aw : w.values)
          if (aw.attribute_id == a->id) aw.value = std::move(v);
        continue;
      }
      seen[slot] = 1;
      w.values.push_back({a->id, a->type, std::move(v)});
    }
    if (w.kind == EntityWrite::Kind::kInsert) {
      for (size_t i = 0; i < type.attributes.size(); ++i) {
        const AttributeDef& a = type.attributes[i];
        if (seen[i]) continue;
        if (a.default_value && !is_null(*a.default_value)) w.values.push_back({a.id, a.type, *a.default_value});
        else if (a.required) {
          reject(m, a.code, "required attribute has no value");
          return false;
        }
      }
    }
    return true;
  }

  void add(BatchRecord& rec) {
    const Meta m{result.processed, rec.line};
    ++result.processed;
    if (rec.error) return reject(m, rec.error_field, *rec.error);
    EntityWrite w;
    w.type_id = type.id;
    // Upserts are built as updates (NULL removes a value); resolve() turns new keys into inserts.
    w.kind = mode == Mode::kInsert ? EntityWrite::Kind::kInsert : EntityWrite::Kind::kUpdate;
    Value key_value;
    if (!build(rec, m, w, key ? &key_value : nullptr)) return;
    if (mode == Mode::kInsert) return push(std::move(w), m);
    if (key) {
      if (is_null(key_value)) return reject(m, key->code, "the key attribute has no value");
      // A key twice in one transaction would race with itself: keep the first, reject the rest.
      if (!keys_in_transaction.insert(to_string(key_value)).second)
        return reject(m, key->code, fmt::format("duplicate key '{}' within the batch", to_string(key_value)));
      pending.push_back({std::move(w), m, std::move(key_value)});
      if (static_cast<int64_t>(pending.size()) >= changes.chunk_size) resolve();
      return;
    }
    if (rec.id <= 0) return reject(m, "id", "record has no id");
    w.id = rec.id;
    stage(std::move(w), m);
  }

  // Writes by id (updates by id, deletes) are applied in id order within a window of
  // kWindowTransactions transactions: random ids then fall into few, disjoint key ranges per
  // transaction, so each transaction dirties (and writes to the WAL) only its share of the
  // table pages instead of nearly all of them. The sort is stable, so two writes of one id keep
  // their input order; rejections are still reported by input index.
  static constexpr int64_t kWindowTransactions = 8;
  std::vector<std::pair<EntityWrite, Meta>> window;

  void stage(EntityWrite w, const Meta& m) {
    window.emplace_back(std::move(w), m);
    if (static_cast<int64_t>(window.size()) >= kWindowTransactions * std::max(options.transaction_size, changes.chunk_size))
      flush_window();
  }

  void flush_window() {
    std::stable_sort(window.begin(), window.end(), [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
    for (auto& [w, m] : window) {
      if (stop) break;
      push(std::move(w), m);
    }
    window.clear();
  }

  // Looks up the pending records' keys in one statement and turns them into inserts/updates.
  void resolve() {
    if (pending.empty()) return;
    // Taken out first: push() may commit a full transaction, whose commit() resolves again.
    std::vector<Pending> batch;
    batch.swap(pending);
    std::vector<Value> values;
    values.reserve(batch.size());
    for (auto& p : batch) values.push_back(p.key_value);
    auto ids = db.backend().find_by_values(key->id, key->type, values);
    for (size_t i = 0; i < batch.size(); ++i) {
      Pending& p = batch[i];
      if (ids[i]) {
        p.write.kind = EntityWrite::Kind::kUpdate;
        p.write.id = *ids[i];
      } else if (mode == Mode::kUpdate) {
        reject(p.meta, key->code, fmt::format("no {} has {} '{}'", type.code, key->code, to_string(p.key_value)));
        continue;
      } else {
        p.write.kind = EntityWrite::Kind::kInsert;
        if (!check_required(p)) continue;
      }
      push(std::move(p.write), p.meta);
    }
  }

  // An upsert that turned out to be an insert must carry every required attribute.
  bool check_required(Pending& p) {
    for (const AttributeDef& a : type.attributes) {
      bool has = false;
      for (auto& aw : p.write.values) has |= aw.attribute_id == a.id && !is_null(aw.value);
      if (has) continue;
      if (a.default_value && !is_null(*a.default_value)) p.write.values.push_back({a.id, a.type, *a.default_value});
      else if (a.required) {
        reject(p.meta, a.code, "required attribute has no value");
        return false;
      }
    }
    std::erase_if(p.write.values, [](const AttributeWrite& aw) { return is_null(aw.value); });
    return true;
  }

  void push(EntityWrite w, const Meta& m) {
    changes.writes.push_back(std::move(w));
    metas.push_back(m);
    if (static_cast<int64_t>(changes.writes.size()) >= std::max(options.transaction_size, changes.chunk_size)) commit();
  }

  // A submitted transaction whose result has not been accounted for yet.
  struct InFlight {
    std::future<CommitResult> result;
    std::vector<EntityWrite::Kind> kinds;
    std::vector<Meta> metas;
  };
  std::optional<InFlight> inflight;

  // Submits the current transaction. Inserts, deletes and updates by id are pipelined: the
  // transaction commits on a second thread while this one reads and converts the next (one in
  // flight at most, so memory stays at two transactions). Upserts and updates by key commit in
  // line: their key lookups must see every earlier transaction.
  void commit() {
    resolve();
    if (changes.writes.empty() || stop) {
      drain();
      return;
    }
    InFlight next;
    next.kinds.reserve(changes.writes.size());
    for (const EntityWrite& w : changes.writes) next.kinds.push_back(w.kind);
    next.metas = std::move(metas);
    ChangeSet cs = std::move(changes);
    changes = ChangeSet{};
    changes.isolate = cs.isolate;
    changes.chunk_size = cs.chunk_size;
    metas.clear();
    keys_in_transaction.clear();
    drain();  // the previous transaction is accounted for first; under kAbort it may stop us
    if (stop) return;
    const bool pipelined = mode == Mode::kInsert || mode == Mode::kDelete || (mode == Mode::kUpdate && !key);
    const auto policy = pipelined ? std::launch::async : std::launch::deferred;
    next.result = std::async(policy, [this, cs = std::move(cs)]() mutable { return db.commit(std::move(cs)); });
    inflight = std::move(next);
    if (!pipelined) drain();
  }

  // Waits for the in-flight transaction and accounts for it.
  void drain() {
    if (!inflight) return;
    InFlight f = std::move(*inflight);
    inflight.reset();
    CommitResult cr;
    try {
      cr = f.result.get();
    } catch (const Error& e) {
      if (changes.isolate || e.code() == ErrorCode::kStorage || e.code() == ErrorCode::kIo) throw;
      // kAbort: the transaction was rolled back whole; name its first record and the reason.
      reject(f.metas.front(), "", fmt::format("transaction of records {}..{} rolled back: {}", f.metas.front().index,
                                              f.metas.back().index, e.what()));
      return;
    }
    std::vector<char> failed(f.kinds.size(), 0);
    for (const WriteFailure& wf : cr.failures) {
      failed[wf.index] = 1;
      reject(f.metas[wf.index], "", wf.reason);
    }
    for (size_t i = 0; i < f.kinds.size(); ++i) {
      if (failed[i]) continue;
      switch (f.kinds[i]) {
        case EntityWrite::Kind::kInsert:
          ++result.inserted;
          if (result.first_id == 0) result.first_id = cr.ids[i];
          result.last_id = cr.ids[i];
          break;
        case EntityWrite::Kind::kUpdate: ++result.updated; break;
        case EntityWrite::Kind::kDelete: ++result.deleted; break;
      }
    }
    result.values_written += cr.value_rows_written;
    progress();
  }

  BatchResult run(RecordSource& source) {
    BatchRecord rec;
    while (!stop && source.next(rec)) add(rec);
    return finish();
  }

  BatchResult finish() {
    flush_window();
    commit();
    drain();
    progress();  // the final, exact count
    // Validation rejects at once, commits later: report in input order.
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const BatchError& a, const BatchError& b) { return a.index < b.index; });
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(result);
  }
};

namespace {

// One batch of commits on the backend (Backend::begin_batch / end_batch), for the lifetime of a
// bulk operation.
class BackendBatch {
 public:
  explicit BackendBatch(storage::Backend& backend) : backend_(backend) { backend_.begin_batch(); }
  ~BackendBatch() { backend_.end_batch(); }
  BackendBatch(const BackendBatch&) = delete;
  BackendBatch& operator=(const BackendBatch&) = delete;

 private:
  storage::Backend& backend_;
};

}  // namespace

BatchProcessor::BatchProcessor(Database& db, std::string type, BatchOptions options)
    : db_(&db), type_(db.require_type(type)), options_(std::move(options)) {
  if (options_.chunk_size < 1) throw Error(ErrorCode::kInvalidArgument, "chunk size must be at least 1");
  if (options_.transaction_size < 1) throw Error(ErrorCode::kInvalidArgument, "transaction size must be at least 1");
  if (!options_.key.empty()) {
    const AttributeDef* a = type_.find(options_.key);
    if (!a) throw Error(ErrorCode::kNotFound, fmt::format("type '{}' has no attribute '{}'", type_.code, options_.key));
    if (!a->unique)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("attribute '{}' is not unique, so it cannot identify entities", options_.key));
  }
}

BatchResult BatchProcessor::insert(RecordSource& records) {
  Impl impl(*db_, type_, options_, Impl::Mode::kInsert, records.size_hint());
  impl.key = nullptr;  // inserts never look keys up; uniqueness is checked on commit
  // Index strategy: a large load into a small store appends without secondary indexes and
  // rebuilds them once at the end. Not when the type has unique attributes: their checks probe
  // the value index for every row.
  bool has_unique = false;
  for (const AttributeDef& a : type_.attributes) has_unique |= a.unique;
  struct BulkLoad {
    storage::Backend* backend = nullptr;
    ~BulkLoad() {
      if (backend) backend->end_bulk_load();
    }
  };
  // Declared first, ended last: the checkpoint at its end also covers the rebuilt indexes.
  BackendBatch batch(db_->backend());
  BulkLoad bulk;
  if (!has_unique && db_->backend().begin_bulk_load(records.size_hint())) bulk.backend = &db_->backend();
  return impl.run(records);
}

BatchResult BatchProcessor::upsert(RecordSource& records) {
  if (options_.key.empty()) throw Error(ErrorCode::kInvalidArgument, "upsert needs a unique key attribute");
  Impl impl(*db_, type_, options_, Impl::Mode::kUpsert, records.size_hint());
  BackendBatch batch(db_->backend());
  return impl.run(records);
}

BatchResult BatchProcessor::update(RecordSource& records) {
  Impl impl(*db_, type_, options_, Impl::Mode::kUpdate, records.size_hint());
  BackendBatch batch(db_->backend());
  return impl.run(records);
}

BatchResult BatchProcessor::remove(IdSource& ids) {
  Impl impl(*db_, type_, options_, Impl::Mode::kDelete, ids.size_hint());
  BackendBatch batch(db_->backend());
  while (!impl.stop) {
    std::optional<int64_t> id = ids.next();
    if (!id) break;
    const Impl::Meta m{impl.result.processed, 0};
    ++impl.result.processed;
    EntityWrite w;
    w.kind = EntityWrite::Kind::kDelete;
    w.type_id = type_.id;
    w.id = *id;
    impl.stage(std::move(w), m);
  }
  return impl.finish();
}

BatchResult BatchProcessor::remove_where(const std::string& where, const std::vector<Value>& params) {
  // The matching ids are read first (one snapshot), then deleted in chunks through the funnel.
  QueryResult r = db_->query(fmt::format("SELECT id FROM \"{}\" WHERE {}", type_.code, where), params);
  struct VectorIds final : IdSource {
    const QueryResult& r;
    size_t next_row = 0;
    explicit VectorIds(const QueryResult& r) : r(r) {}
    std::optional<int64_t> next() override {
      if (next_row >= r.rows.size()) return std::nullopt;
      return std::get<int64_t>(r.rows[next_row++][0]);
    }
    int64_t size_hint() const override { return static_cast<int64_t>(r.rows.size()); }
  } ids(r);
  return remove(ids);
}

LoadResult BatchProcessor::load(const std::vector<int64_t>& ids) {
  LoadResult out;
  const size_t n = ids.size();
  out.entities.resize(n);
  if (n == 0) return out;
  // The distinct ids ascending, loaded in chunks of chunk_size: each chunk is one contiguous id
  // range, so the chunks walk every B-tree once from left to right (random ids chunked in
  // request order would each seek all over the file), and the backend skips its own sort.
  // Results are moved into their request slots; a repeated id gets a copy.
  if (n > UINT32_MAX) throw Error(ErrorCode::kInvalidArgument, fmt::format("load: {} ids in one request (at most {})", n, UINT32_MAX));
  std::vector<std::pair<int64_t, uint32_t>> sorted(n);  // (id, request position), by id then position
  for (size_t i = 0; i < n; ++i) sorted[i] = {ids[i], static_cast<uint32_t>(i)};
  std::sort(sorted.begin(), sorted.end());
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = sorted[i].second;
  sorted = {};
  std::vector<uint32_t> first;  // request position of each distinct id, by ascending id
  first.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (i == 0 || ids[order[i]] != ids[order[i - 1]]) first.push_back(order[i]);
  const size_t chunk = static_cast<size_t>(options_.chunk_size);
  std::vector<int64_t> part;
  part.reserve(std::min(chunk, first.size()));
  for (size_t begin = 0; begin < first.size(); begin += chunk) {
    const size_t end = std::min(first.size(), begin + chunk);
    part.clear();
    for (size_t k = begin; k < end; ++k) part.push_back(ids[first[k]]);
    auto recs = db_->backend().load(db_->tenant_id(), type_.id, part);
    for (size_t k = begin; k < end; ++k) out.entities[first[k]] = std::move(recs[k - begin]);
  }
  for (size_t i = 1; i < n; ++i)
    if (ids[order[i]] == ids[order[i - 1]]) out.entities[order[i]] = out.entities[order[i - 1]];
  for (size_t i = 0; i < n; ++i)
    if (!out.entities[i]) out.missing.push_back(ids[i]);
  return out;
}

}  // namespace eavdb
