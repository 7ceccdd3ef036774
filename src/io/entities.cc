// Entities and type definitions rendered for the faces (CLI and HTTP server): one shape for both.

#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/writer.h>

#include <ostream>

#include "io/io.h"

namespace eavdb::io {

QueryResult entity_result(const EntityTypeDef& type, const std::vector<std::optional<EntityRecord>>& records) {
  QueryResult r;
  r.select_star = true;
  r.columns = {{"id", ValueType::kInt}, {"version", ValueType::kInt},
               {"created_at", ValueType::kDatetime}, {"updated_at", ValueType::kDatetime}};
  for (const auto& a : type.attributes) r.columns.push_back({a.code, a.type});
  for (const auto& rec : records) {
    if (!rec) continue;
    std::vector<Value> row{rec->id, rec->version, DateTime{rec->created_at}, DateTime{rec->updated_at}};
    row.resize(r.columns.size());
    for (const auto& [attr_id, v] : rec->values)
      for (size_t j = 0; j < type.attributes.size(); ++j)
        if (type.attributes[j].id == attr_id) row[4 + j] = v;
    r.rows.push_back(std::move(row));
  }
  return r;
}

void write_types_json(std::ostream& os, const std::vector<EntityTypeDef>& types, bool single) {
  rapidjson::OStreamWrapper osw(os);
  rapidjson::Writer<rapidjson::OStreamWrapper> w(osw);
  auto str = [&](const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); };
  if (!single) w.StartArray();
  for (const auto& t : types) {
    w.StartObject();
    w.Key("code"); str(t.code);
    w.Key("label"); str(t.label);
    w.Key("attributes");
    w.StartArray();
    for (const auto& a : t.attributes) {
      w.StartObject();
      w.Key("code"); str(a.code);
      w.Key("label"); str(a.label);
      w.Key("type"); str(std::string(value_type_name(a.type)));
      w.Key("required"); w.Bool(a.required);
      w.Key("unique"); w.Bool(a.unique);
      w.Key("filterable"); w.Bool(a.filterable);
      w.Key("sortable"); w.Bool(a.sortable);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  if (!single) w.EndArray();
  osw.Flush();
  os << '\n';
}

}  // namespace eavdb::io
