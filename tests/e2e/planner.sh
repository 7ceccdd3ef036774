#!/usr/bin/env bash
# End-to-end tests of the planner commands of the real `eavdb` binary: analyze, explain (text,
# JSON, --analyze), query --plan, flat enable/list/rebuild/disable, and that writes through the
# CLI reach the flat table. Usage: planner.sh EAVDB DATA_DIR
set -uo pipefail
EAVDB=$1
DATA=${2:-}
[ -n "$DATA" ] && [ -f "$DATA/zipcodes.csv" ] || DATA=${EAVDB_DATA_DIR:-}
if [ -z "$DATA" ] || [ ! -f "$DATA/zipcodes.csv" ]; then
  echo "planner.sh: zipcodes.csv not available (scripts/fetch-data.sh); skipping" >&2
  exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DB="$TMP/planner.db"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_eq() { [ "$1" == "$2" ] && ok || bad "$3: expected '$2', got '$1'"; }
e() { "$EAVDB" --db "$DB" "$@"; }

e import "$DATA/zipcodes.csv" --type zipcode --quiet >/dev/null; expect_eq $? 0 "import"
out=$(e analyze zipcode --format json); expect_eq $? 0 "analyze exit"
expect_eq "$(echo "$out" | jq -r '.[0].entities')" 42049 "analyze entity count"
expect_eq "$(e analyze --format json | jq -r 'length')" 1 "analyze of every type"
e analyze zipcod >/dev/null 2>"$TMP/err"; expect_eq $? 1 "analyze of an unknown type fails"
grep -q "did you mean 'zipcode'" "$TMP/err" && ok || bad "analyze suggests: $(cat "$TMP/err")"

Q="SELECT zip_code FROM zipcode WHERE state = 'NY' AND city = 'Holtsville' ORDER BY zip_code"
text=$(e explain "$Q"); expect_eq $? 0 "explain exit"
echo "$text" | grep -q "IndexScan city = 'Holtsville'" && ok || bad "explain drives from the city index: $text"
echo "$text" | grep -q "^sql: SELECT" && ok || bad "explain prints the SQL: $text"
echo "$text" | grep -q "SEARCH" && ok || bad "explain prints SQLite's plan: $text"
json=$(e explain --analyze --format json "$Q"); expect_eq $? 0 "explain --analyze exit"
expect_eq "$(echo "$json" | jq -r '.root.actual_rows')" 3 "explain analyze actual rows"
expect_eq "$(echo "$json" | jq -r '.plan')" eav "explain plan kind"
expect_eq "$(echo "$json" | jq -r '[.. | objects | select(.op == "IndexScan") | .actual_rows][0]')" 3 "driver actual rows"
e explain "SELECT zip_cod FROM zipcode" >/dev/null 2>"$TMP/err"; expect_eq $? 1 "explain of a bad column fails"
grep -q "did you mean 'zip_code'" "$TMP/err" && ok || bad "explain error suggests: $(cat "$TMP/err")"

e query "$Q" --plan flat >/dev/null 2>"$TMP/err"; expect_eq $? 1 "forced flat without a flat table fails"
grep -q "flat enable" "$TMP/err" && ok || bad "forced flat error says what to do: $(cat "$TMP/err")"
out=$(e flat enable zipcode); expect_eq $? 0 "flat enable exit"
echo "$out" | grep -q "6 columns" && ok || bad "flat enable summary: $out"
expect_eq "$(e flat list --format json | jq -r '.[0].table')" "eav_flat_zipcode_1" "flat list"
expect_eq "$(e explain --format json "$Q" | jq -r '.plan')" flat "auto plan uses the flat table"
want='["00501","00544","11742"]'
for plan in auto eav flat; do
  expect_eq "$(e query "$Q" --plan $plan --format json | jq -c '[.[].zip_code]')" "$want" "query --plan $plan"
done
# A write through the CLI reaches the flat table in the same commit.
e put zipcode 1 city=Nowhere >/dev/null; expect_eq $? 0 "put"
expect_eq "$(e query "SELECT city FROM zipcode WHERE id = 1" --plan flat --format csv | tail -1)" Nowhere "flat sees the update"
e delete zipcode 2 >/dev/null
expect_eq "$(e query "SELECT COUNT(*) FROM zipcode" --plan flat --format csv | tail -1)" 42048 "flat sees the delete"
e flat rebuild zipcode >/dev/null; expect_eq $? 0 "flat rebuild"
expect_eq "$(e query "SELECT city FROM zipcode WHERE id = 1" --plan flat --format csv | tail -1)" Nowhere "rebuild keeps data"
expect_eq "$(e flat disable zipcode)" "flat table of 'zipcode' dropped" "flat disable"
expect_eq "$(e explain --format json "$Q" | jq -r '.plan')" eav "back to EAV"
expect_eq "$(e check)" ok "integrity after flat tables"

echo "planner e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
