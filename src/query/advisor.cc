#include "query/advisor.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "query/planner.h"

namespace eavdb::query {

namespace {

using K = BoundPred::Kind;

// Attribute ids the WHERE filters on with a predicate an index can serve.
void filtered_attributes(const BoundQuery& q, const BoundPred& p, std::set<int64_t>& out) {
  for (const auto& c : p.children) filtered_attributes(q, *c, out);
  if (!p.children.empty() || p.column.system != BoundColumn::System::kNone || p.column.join < 0) return;
  const bool ok = (p.kind == K::kCompare && p.op != CompareOp::kNe) || ((p.kind == K::kIn || p.kind == K::kBetween || p.kind == K::kLike) && !p.negated) ||
                  (p.kind == K::kIsNull && p.negated);
  if (ok) out.insert(q.joins[static_cast<std::size_t>(p.column.join)].attribute->id);
}

// A design: which optional structures exist.
struct Design {
  const flat::FlatTable* flat = nullptr;
  const std::vector<int64_t>* text_indexes = nullptr;
};

double plan_cost(const BoundQuery& q, const TypeStats* stats, const Design& d) {
  PlanContext ctx{stats, d.flat, PlanMode::kAuto};
  ctx.text_indexes = d.text_indexes;
  return choose_plan(q, ctx).estimated_cost;
}

const AttributeDef* attribute_by_id(const EntityTypeDef& t, int64_t id) {
  for (const auto& a : t.attributes)
    if (a.id == id) return &a;
  return nullptr;
}

// Evaluates `after` against `before` over the workload; fills the cost fields of `a`.
void evaluate(const AdvisorInput& in, const Design& before, const Design& after, IndexAdvice& a) {
  for (const WorkloadQuery& w : in.queries) {
    const double b = plan_cost(*w.query, in.stats, before);
    const double c = plan_cost(*w.query, in.stats, after);
    if (c >= b) {
      // Unaffected (or slower) shapes still count: the planner would pick the new design for them.
      a.cost_before += b * w.runs;
      a.cost_after += c * w.runs;
      continue;
    }
    a.cost_before += b * w.runs;
    a.cost_after += c * w.runs;
    a.queries += static_cast<uint64_t>(w.runs);
    a.saved_ms += w.total_ms * (1 - c / b);
    a.shapes.push_back(w.shape);
  }
  a.gain = a.cost_before - a.cost_after - a.maintenance;
}

}  // namespace

flat::FlatTable planned_flat(const EntityTypeDef& type) {
  flat::FlatTable f;
  f.type_id = type.id;
  f.table = flat::table_name(type);
  for (const AttributeDef* a : flat::covered_attributes(type)) {
    f.attribute_ids.push_back(a->id);
    if (a->type != ValueType::kText && (a->filterable || a->sortable)) f.indexed_ids.push_back(a->id);
  }
  std::sort(f.attribute_ids.begin(), f.attribute_ids.end());
  std::sort(f.indexed_ids.begin(), f.indexed_ids.end());
  return f;
}

std::vector<IndexAdvice> advise(const AdvisorInput& in) {
  std::vector<IndexAdvice> out;
  if (!in.type || in.queries.empty()) return out;
  const EntityTypeDef& t = *in.type;
  const double n = in.stats && in.stats->entity_count > 0 ? static_cast<double>(in.stats->entity_count) : 1.0;
  std::set<int64_t> filtered;
  for (const WorkloadQuery& w : in.queries)
    if (w.query->where) filtered_attributes(*w.query, *w.query->where, filtered);
  const Design current{in.flat, &in.text_indexes};
  auto holders = [&](int64_t attribute_id) {  // share of entities holding the attribute
    const AttributeStats* s = in.stats ? in.stats->find(attribute_id) : nullptr;
    return s ? static_cast<double>(s->non_null) / n : 1.0;
  };

  // Partial value indexes on filtered text attributes.
  for (int64_t id : filtered) {
    const AttributeDef* a = attribute_by_id(t, id);
    if (!a || a->type != ValueType::kText ||
        std::binary_search(in.text_indexes.begin(), in.text_indexes.end(), id))
      continue;
    std::vector<int64_t> more = in.text_indexes;
    more.insert(std::upper_bound(more.begin(), more.end(), id), id);
    IndexAdvice adv{"text_index", t.code, a->code, flat::text_index_sql(id), 0, 0, 0, 0, 0, 0, {}};
    adv.maintenance = in.writes * holders(id) * kIndexWrite;
    evaluate(in, current, Design{in.flat, &more}, adv);
    if (!adv.shapes.empty() && adv.gain > 0) out.push_back(std::move(adv));
  }

  if (in.flat) {
    // Indexes on filtered flat-table columns that have none.
    for (int64_t id : filtered) {
      const AttributeDef* a = attribute_by_id(t, id);
      if (!a || !in.flat->covers(id) || in.flat->indexed(id)) continue;
      flat::FlatTable f = *in.flat;
      f.indexed_ids.insert(std::upper_bound(f.indexed_ids.begin(), f.indexed_ids.end(), id), id);
      IndexAdvice adv{"flat_index", t.code, a->code, flat::column_index_sql(in.flat->table, *a), 0, 0, 0, 0, 0, 0, {}};
      adv.maintenance = in.writes * kIndexWrite;
      evaluate(in, current, Design{&f, &in.text_indexes}, adv);
      if (!adv.shapes.empty() && adv.gain > 0) out.push_back(std::move(adv));
    }
  } else {
    // Enabling the flat table.
    const flat::FlatTable f = planned_flat(t);
    IndexAdvice adv{"flat_table", t.code, "", fmt::format("eavdb flat enable {}", t.code), 0, 0, 0, 0, 0, 0, {}};
    adv.maintenance = in.writes * (kFlatRowWrite + static_cast<double>(f.attribute_ids.size()) * kLookup +
                                   static_cast<double>(f.indexed_ids.size()) * kIndexWrite);
    evaluate(in, current, Design{&f, &in.text_indexes}, adv);
    if (!adv.shapes.empty() && adv.gain > 0) out.push_back(std::move(adv));
  }
  std::sort(out.begin(), out.end(), [](const IndexAdvice& a, const IndexAdvice& b) { return a.gain > b.gain; });
  return out;
}

}  // namespace eavdb::query

namespace eavdb {

std::string advice_json(const std::vector<IndexAdvice>& advice) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&](const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); };
  auto num = [&](double v) { w.Double(std::round(v * 1000) / 1000); };
  w.StartArray();
  for (const IndexAdvice& a : advice) {
    w.StartObject();
    w.Key("kind"); str(a.kind);
    w.Key("type"); str(a.type);
    w.Key("attribute"); str(a.attribute);
    w.Key("action"); str(a.action);
    w.Key("queries"); w.Uint64(a.queries);
    w.Key("cost_before"); num(a.cost_before);
    w.Key("cost_after"); num(a.cost_after);
    w.Key("maintenance"); num(a.maintenance);
    w.Key("gain"); num(a.gain);
    w.Key("saved_ms"); num(a.saved_ms);
    w.Key("shapes");
    w.StartArray();
    for (const auto& s : a.shapes) str(s);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace eavdb
