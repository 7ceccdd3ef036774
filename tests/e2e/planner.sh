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
. "$(dirname "$0")/lib/check.sh"
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

# Slow-query log: --slow-ms 0 logs every query; parameters are redacted unless asked for.
e query "SELECT zip_code FROM zipcode WHERE state = ?" -p NY --slow-log "$TMP/slow.ndjson" --slow-ms 0 >/dev/null
expect_eq $? 0 "query with --slow-log"
expect_eq "$(jq -r '.params[0]' "$TMP/slow.ndjson")" "?" "slow log redacts parameters"
expect_eq "$(jq -r '.rows' "$TMP/slow.ndjson")" \
  "$(e query "SELECT COUNT(*) FROM zipcode WHERE state = 'NY'" --format csv | tail -1)" "slow log rows"
jq -e '.duration_ms >= 0 and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$")) and .plan == "eav-index"' \
  "$TMP/slow.ndjson" >/dev/null && ok || bad "slow log line: $(cat "$TMP/slow.ndjson")"
e query "SELECT zip_code FROM zipcode WHERE state = ?" -p NY --slow-log "$TMP/slow2.ndjson" --slow-ms 0 \
  --slow-log-params >/dev/null
expect_eq "$(jq -r '.params[0]' "$TMP/slow2.ndjson")" "NY" "slow log with --slow-log-params"
e query "SELECT COUNT(*) FROM zipcode" --slow-log "$TMP/none.ndjson" --slow-ms 100000 >/dev/null
expect_eq "$(wc -c <"$TMP/none.ndjson" | tr -d ' ')" 0 "fast queries stay out of the slow log"
e query "SELECT 1 FROM zipcode" --slow-log "$TMP/no/dir/x.ndjson" >/dev/null 2>"$TMP/err"
expect_eq $? 1 "unwritable slow log fails"
grep -q "no/dir/x.ndjson" "$TMP/err" && ok || bad "slow log error names the file: $(cat "$TMP/err")"

# advise: a workload (the slow-log format) over a wide projection recommends the flat table;
# --apply enables it.
for i in 1 2 3 4 5; do
  echo '{"sql": "SELECT zip_code, latitude, longitude, city, state, county FROM zipcode WHERE latitude > 30 ORDER BY zip_code"}'
done >"$TMP/workload.ndjson"
echo '{"sql": "SELECT zip_code FROM zipcode WHERE state = ?", "params": ["?"]}' >>"$TMP/workload.ndjson"
json=$(e advise zipcode --workload "$TMP/workload.ndjson" --json 2>"$TMP/err"); expect_eq $? 0 "advise exit"
grep -q "ran 5 queries.*1 skipped" "$TMP/err" && ok || bad "advise summary: $(cat "$TMP/err")"
expect_eq "$(echo "$json" | jq -r '.[0].kind')" flat_table "advise recommends the flat table"
echo "$json" | jq -e '.[0].gain > 0 and .[0].cost_after < .[0].cost_before and .[0].queries == 5' >/dev/null \
  && ok || bad "advice estimates: $json"
e advise zipcode --workload "$TMP/workload.ndjson" --apply >/dev/null 2>&1; expect_eq $? 0 "advise --apply"
expect_eq "$(e flat list --format json | jq -r '.[0].sync')" on-commit "advise --apply enabled the flat table"
echo 'not json' >"$TMP/bad.ndjson"
e advise --workload "$TMP/bad.ndjson" >/dev/null 2>"$TMP/err"; expect_eq $? 1 "advise of a bad workload fails"
grep -q "line 1" "$TMP/err" && ok || bad "advise error names the line: $(cat "$TMP/err")"

# Deferred flat sync: lag is visible, queries stay exact, flat sync catches up.
e flat enable zipcode --sync deferred >/dev/null; expect_eq $? 0 "flat enable --sync deferred"
expect_eq "$(e flat list --format json | jq -r '.[0].sync + " " + (.[0].lag | tostring)')" "deferred 0" "deferred and fresh"
e put zipcode 5 city=Laggard >/dev/null
lag=$(e flat list --format json | jq -r '.[0].lag')
[ "$lag" -le 1 ] && ok || bad "lag after one write: $lag"
expect_eq "$(e query "SELECT city FROM zipcode WHERE id = 5" --format csv | tail -1)" Laggard "exact answer while lagging"
out=$(e flat sync zipcode); expect_eq $? 0 "flat sync exit"
echo "$out" | grep -q "deferred, lag 0" && ok || bad "flat sync output: $out"
expect_eq "$(e query "SELECT city FROM zipcode WHERE id = 5" --plan flat --format csv | tail -1)" Laggard "flat after sync"

echo "planner e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
