// Rendering of EXPLAIN results (include/eavdb/explain.h): an indented text tree and JSON.
#include "eavdb/explain.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace eavdb {

namespace {

void node_text(const PlanNode& n, int depth, std::string& out) {
  out += std::string(static_cast<std::size_t>(2 * depth), ' ');
  out += depth ? "-> " : "";
  out += n.op;
  if (!n.detail.empty()) out += " " + n.detail;
  out += n.estimated_rows < 10 ? fmt::format("  (est. {:.1f} rows", n.estimated_rows)
                               : fmt::format("  (est. {:.0f} rows", n.estimated_rows);
  if (n.actual_rows) out += fmt::format("; actual {} rows", *n.actual_rows);
  if (n.actual_ms) out += fmt::format(", {:.3f} ms", *n.actual_ms);
  out += ")\n";
  for (const auto& c : n.children) node_text(c, depth + 1, out);
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); }

void node_json(Writer& w, const PlanNode& n) {
  w.StartObject();
  w.Key("op");
  str(w, n.op);
  w.Key("detail");
  str(w, n.detail);
  w.Key("estimated_rows");
  w.Double(n.estimated_rows);
  if (n.actual_rows) {
    w.Key("actual_rows");
    w.Int64(*n.actual_rows);
  }
  if (n.actual_ms) {
    w.Key("actual_ms");
    w.Double(*n.actual_ms);
  }
  w.Key("children");
  w.StartArray();
  for (const auto& c : n.children) node_json(w, c);
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string explain_text(const ExplainResult& e) {
  std::string out = fmt::format("plan: {} (estimated cost {:.0f}{}{})\n", e.plan, e.estimated_cost,
                                e.rejected_plan.empty() ? ""
                                                        : fmt::format("; rejected {}: estimated cost {:.0f}",
                                                                      e.rejected_plan, e.rejected_cost),
                                e.plan_cache_hit ? ", from the plan cache" : "");
  node_text(e.root, 0, out);
  if (e.analyzed) out += fmt::format("rows: {}, execution: {:.3f} ms\n", e.rows, e.execution_ms);
  out += "sql: " + e.sql + "\n";
  out += "sqlite plan:\n";
  for (const auto& line : e.backend_plan) out += "  " + line + "\n";
  return out;
}

std::string explain_json(const ExplainResult& e) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("plan");
  str(w, e.plan);
  w.Key("estimated_cost");
  w.Double(e.estimated_cost);
  if (!e.rejected_plan.empty()) {
    w.Key("rejected_plan");
    str(w, e.rejected_plan);
    w.Key("rejected_cost");
    w.Double(e.rejected_cost);
  }
  w.Key("plan_cache_hit");
  w.Bool(e.plan_cache_hit);
  w.Key("sql");
  str(w, e.sql);
  w.Key("backend_plan");
  w.StartArray();
  for (const auto& line : e.backend_plan) str(w, line);
  w.EndArray();
  w.Key("analyzed");
  w.Bool(e.analyzed);
  if (e.analyzed) {
    w.Key("rows");
    w.Int64(e.rows);
    w.Key("execution_ms");
    w.Double(e.execution_ms);
  }
  w.Key("root");
  node_json(w, e.root);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace eavdb
