// Uses the installed library: define a type, write through a session, query it back.
#include <eavdb/database.h>
#include <eavdb/session.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  auto db = eavdb::Database::open(argv[1]);
  eavdb::EntityTypeDef t;
  t.code = "note";
  eavdb::AttributeDef a;
  a.code = "body";
  a.type = eavdb::ValueType::kText;
  t.attributes.push_back(a);
  db->define_type(t);
  eavdb::Session s = db->session();
  s.create("note").set("body", std::string("hello"));
  s.flush();
  auto r = db->query("SELECT body FROM note");
  std::cout << std::get<std::string>(r.rows.at(0).at(0)) << "\n";
  return 0;
}
