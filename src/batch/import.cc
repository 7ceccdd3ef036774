#include "eavdb/import.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <fstream>

#include "io/io.h"

namespace eavdb {
namespace {

constexpr size_t kKeptRejections = 1000;

// Collects rejections: keeps the first kKeptRejections in the report, writes all to the
// optional NDJSON rejects file.
class RejectSink {
 public:
  RejectSink(ImportReport& report, const std::string& path) : report_(report) {
    if (path.empty()) return;
    out_.open(path, std::ios::out | std::ios::trunc);
    if (!out_) throw Error(ErrorCode::kIo, fmt::format("cannot write rejects file '{}'", path));
  }
  void add(Rejection r) {
    ++report_.rejected;
    if (out_.is_open()) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.StartObject();
      w.Key("record"); w.Int64(r.record);
      w.Key("line"); w.Int64(r.line);
      w.Key("field"); w.String(r.field.c_str(), static_cast<rapidjson::SizeType>(r.field.size()));
      w.Key("reason"); w.String(r.reason.c_str(), static_cast<rapidjson::SizeType>(r.reason.size()));
      w.EndObject();
      out_ << buf.GetString() << '\n';
    }
    if (report_.rejections.size() < kKeptRejections) report_.rejections.push_back(std::move(r));
  }

 private:
  ImportReport& report_;
  std::ofstream out_;
};

struct Pending {
  EntityWrite write;
  int64_t record;
  int64_t line;
};

// Commits a chunk; when the chunk as a whole violates a constraint, commits its records one by
// one so that only the offending ones are rejected.
void commit_chunk(Database& db, std::vector<Pending>& chunk, ImportReport& report, RejectSink& rejects) {
  if (chunk.empty()) return;
  auto account = [&](const CommitResult& cr) {
    report.imported += static_cast<int64_t>(cr.ids.size());
    report.values_written += cr.value_rows_written;
    if (!cr.ids.empty()) {
      if (report.first_id == 0) report.first_id = cr.ids.front();
      report.last_id = cr.ids.back();
    }
  };
  ChangeSet cs;
  cs.writes.reserve(chunk.size());
  for (auto& p : chunk) cs.writes.push_back(p.write);
  try {
    account(db.commit(std::move(cs)));
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kConstraint) throw;
    for (auto& p : chunk) {
      ChangeSet one;
      one.writes.push_back(p.write);
      try {
        account(db.commit(std::move(one)));
      } catch (const Error& e1) {
        if (e1.code() != ErrorCode::kConstraint) throw;
        rejects.add({p.record, p.line, "", e1.what()});
      }
    }
  }
  chunk.clear();
}

}  // namespace

ImportReport import_file(Database& db, const std::string& path, const ImportOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (!is_valid_code(options.type))
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("invalid type code '{}': use [a-z][a-z0-9_]*", options.type));
  const io::Format format = options.format.empty() ? io::format_from_path(path) : io::parse_format(options.format);
  ImportReport report;

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
  auto existing = db.find_type(options.type);
  EntityTypeDef def;
  def.code = options.type;
  def.label = existing ? existing->label : options.type;
  for (const io::InferredColumn& c : inferrer.columns()) {
    if (existing && existing->find(c.code)) continue;
    if (is_reserved_column(c.code)) continue;  // reported per record in pass 2
    AttributeDef a;
    a.code = c.code;
    a.label = c.label;
    a.type = c.type;
    def.attributes.push_back(std::move(a));
    report.new_attributes.push_back(c.code);
  }
  const EntityTypeDef type = db.define_type(def);

  // Pass 2: convert and write in chunks.
  RejectSink rejects(report, options.rejects_path);
  std::vector<Pending> chunk;
  const size_t chunk_size = static_cast<size_t>(std::max<int64_t>(1, options.chunk_size));
  auto reader = io::open_reader(path, format);
  io::Record rec;
  while (reader->next(rec)) {
    ++report.records_read;
    const int64_t number = rec.index + 1;
    if (rec.error) {
      rejects.add({number, rec.line, "", *rec.error});
      continue;
    }
    Pending p{EntityWrite{}, number, rec.line};
    p.write.kind = EntityWrite::Kind::kInsert;
    p.write.type_id = type.id;
    std::optional<Rejection> bad;
    std::vector<bool> seen(type.attributes.size(), false);
    for (auto& [name, field] : rec.fields) {
      const std::string code = normalize_code(name);
      if (code.empty()) continue;
      if (is_reserved_column(code)) {
        bad = Rejection{number, rec.line, name, fmt::format("'{}' is a reserved column name", code)};
        break;
      }
      const AttributeDef* attr = type.find(code);
      if (!attr) {  // cannot happen: pass 1 declared every column; guards a file changed between passes
        bad = Rejection{number, rec.line, name, "field was not present when the file was first read"};
        break;
      }
      try {
        Value v = io::convert(field, attr->type);
        if (is_null(v)) continue;
        size_t slot = static_cast<size_t>(attr - type.attributes.data());
        if (seen[slot]) {  // two source names with one code: the later wins
          for (auto& w : p.write.values)
            if (w.attribute_id == attr->id) w.value = std::move(v);
          continue;
        }
        seen[slot] = true;
        p.write.values.push_back({attr->id, attr->type, std::move(v)});
      } catch (const Error& e) {
        bad = Rejection{number, rec.line, name, e.what()};
        break;
      }
    }
    if (!bad) {
      for (size_t i = 0; i < type.attributes.size(); ++i) {
        const AttributeDef& a = type.attributes[i];
        if (seen[i]) continue;
        if (a.default_value && !is_null(*a.default_value)) {
          p.write.values.push_back({a.id, a.type, *a.default_value});
        } else if (a.required) {
          bad = Rejection{number, rec.line, a.label, "required attribute has no value"};
          break;
        }
      }
    }
    if (bad) {
      rejects.add(std::move(*bad));
      continue;
    }
    chunk.push_back(std::move(p));
    if (chunk.size() >= chunk_size) {
      commit_chunk(db, chunk, report, rejects);
      if (options.on_progress) options.on_progress({report.records_read, total});
    }
  }
  commit_chunk(db, chunk, report, rejects);
  if (options.on_progress) options.on_progress({report.records_read, total});
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace eavdb
