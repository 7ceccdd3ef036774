#include "eavdb/import.h"

#include <fmt/format.h>

#include <chrono>

#include "io/io.h"

namespace eavdb {
namespace {

// The file's records, with the count from the inference pass as the size hint for progress.
class CountedSource final : public RecordSource {
 public:
  CountedSource(std::unique_ptr<RecordSource> inner, int64_t total) : inner_(std::move(inner)), total_(total) {}
  bool next(BatchRecord& out) override { return inner_->next(out); }
  int64_t size_hint() const override { return total_; }

 private:
  std::unique_ptr<RecordSource> inner_;
  int64_t total_;
};

}  // namespace

ImportReport import_file(Database& db, const std::string& path, const ImportOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (!is_valid_code(options.type))
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("invalid type code '{}': use [a-z][a-z0-9_]*", options.type));
  const io::Format format = options.format.empty() ? io::format_from_path(path) : io::parse_format(options.format);

  // Pass 1: infer column types and count records.
  io::TypeInferrer inferrer;
  int64_t total = 0;
  {
    auto reader = io::open_reader(path, format);
    io::Record rec;
    while (reader->next(rec)) {
      ++total;
      if (!rec.error) inferrer.observe(rec);
    }
  }

  // Declare the columns the type lacks; existing attributes keep their declared types.
  ImportReport report;
  auto existing = db.find_type(options.type);
  EntityTypeDef def;
  def.code = options.type;
  def.label = existing ? existing->label : options.type;
  for (const io::InferredColumn& c : inferrer.columns()) {
    if ((existing && existing->find(c.code)) || is_reserved_column(c.code)) continue;
    AttributeDef& a = def.attributes.emplace_back();
    a.code = c.code;
    a.label = c.label;
    a.type = c.type;
    a.unique = a.code == options.key;
    report.new_attributes.push_back(c.code);
  }
  const EntityTypeDef type = db.define_type(def);
  if (!options.key.empty()) {
    const AttributeDef* k = type.find(options.key);
    if (!k || !k->unique)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("key '{}' is {} of type '{}'", options.key, k ? "not a unique attribute" : "not an attribute",
                              options.type));
  }

  // Pass 2: convert with the declared types and insert through the bulk path.
  BatchOptions bo;
  bo.chunk_size = options.chunk_size;
  bo.transaction_size = options.transaction_size;
  bo.on_error = options.on_error;
  bo.on_progress = options.on_progress;
  RejectsWriter rejects(options.rejects_path);
  bo.on_reject = [&](const BatchError& e) { rejects.add(e); };
  CountedSource source(open_record_source(path, options.format, &type), total);
  BatchResult r = BatchProcessor(db, options.type, bo).insert(source);

  report.records_read = r.processed;
  report.imported = r.inserted;
  report.rejected = r.failed;
  report.aborted = r.aborted;
  report.values_written = r.values_written;
  report.first_id = r.first_id;
  report.last_id = r.last_id;
  for (const BatchError& e : r.errors) report.rejections.push_back({e.index + 1, e.line, e.field, e.reason});
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace eavdb
