#!/usr/bin/env bash
# End-to-end tests of the real `eavdb` binary: import, types, query output formats, put/get/delete,
# rejections and hostile input. Usage: cli.sh EAVDB DATA_DIR
set -uo pipefail
EAVDB=$1
DATA=${2:-}
[ -n "$DATA" ] && [ -f "$DATA/movies.json" ] || DATA=${EAVDB_DATA_DIR:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DB="$TMP/e2e.db"
. "$(dirname "$0")/lib/check.sh"
e() { "$EAVDB" --db "$DB" "$@"; }

# --- import of real data ---------------------------------------------------------------------
if [ -n "$DATA" ] && [ -f "$DATA/movies.json" ]; then
  out=$(e import "$DATA/movies.json" --type movie); rc=$?
  expect_eq "$rc" 0 "movies import exit"
  echo "$out" | grep -q "imported 3201 of 3201 records" && ok || bad "movies summary: $out"
  types=$(e types movie --format json)
  for pair in title:varchar us_gross:int imdb_rating:decimal release_date:datetime; do
    code=${pair%%:*}; want=${pair#*:}
    got=$(echo "$types" | jq -r --arg c "$code" '.attributes[] | select(.code == $c) | .type')
    expect_eq "$got" "$want" "type of $code"
  done
  expect_eq "$(echo "$types" | jq -r '.attributes[] | select(.code == "us_gross") | .label')" "US Gross" "label kept"
  e import "$DATA/zipcodes.csv" --type zipcode >/dev/null; expect_eq $? 0 "zipcodes import exit"
  expect_eq "$(e types zipcode --format json | jq -r '.attributes[] | select(.code == "zip_code") | .type')" varchar "zip_code type"
  expect_eq "$(e query "SELECT zip_code FROM zipcode WHERE city = 'Holtsville' ORDER BY zip_code" --format json | jq -c '[.[].zip_code]')" '["00501","00544","11742"]' "zip codes keep leading zeros"
  e import "$DATA/birdstrikes.csv" --type birdstrike >/dev/null; expect_eq $? 0 "birdstrikes import exit"
  expect_eq "$(e query 'SELECT COUNT(*) FROM birdstrike' --format csv | tail -1)" 10000 "birdstrike count"
  expect_eq "$(e types birdstrike --format json | jq -r '.attributes[] | select(.label == "Cost Total $") | .code')" cost_total "code from 'Cost Total \$'"

  # JSON output shape
  row=$(e query "SELECT title, imdb_rating, release_date, us_dvd_sales FROM movie WHERE title = 'The Land Girls'" --format json)
  expect_eq "$(echo "$row" | jq -c '.')" '[{"title":"The Land Girls","imdb_rating":6.1,"release_date":"1998-06-12T00:00:00Z","us_dvd_sales":null}]' "query json row"
  echo "$row" | grep -q '"imdb_rating":6.1,' && ok || bad "decimal printed exactly: $row"
  star=$(e query "SELECT * FROM movie WHERE title = ?" --param "The Land Girls" --format json)
  expect_eq "$(echo "$star" | jq -r '.[0] | has("us_dvd_sales")')" false "SELECT * omits missing attributes"
  expect_eq "$(echo "$star" | jq -r '.[0].id')" 1 "first record gets the lowest id"
  with_params=$(e query 'SELECT COUNT(*) AS n FROM movie WHERE imdb_rating >= ? AND release_date < ?' -p 8 -p 2000-01-01 --format ndjson | jq -r .n)
  with_literals=$(e query "SELECT COUNT(*) AS n FROM movie WHERE imdb_rating >= 8 AND release_date < '2000-01-01'" --format ndjson | jq -r .n)
  expect_eq "$with_params" "$with_literals" "params equal literals"
  [ "$with_literals" -gt 50 ] && ok || bad "expected many highly rated movies, got $with_literals"

  # hostile queries: clear errors, data intact
  before=$(e query 'SELECT COUNT(*) FROM movie' --format csv | tail -1)
  for q in "'; DROP TABLE eav_entity; --" "SELECT * FROM movie WHERE title = ''; DROP TABLE eav_entity; --'" \
           "SELECT * FROM movie WHERE title = 'unterminated" "SELECT * FROM movie; DELETE FROM eav_entity" \
           "SELECT title FROM movie WHERE title > 5" "SELECT titel FROM movie" "SELECT * FROM movi"; do
    err=$(e query "$q" 2>&1 >/dev/null); rc=$?
    [ "$rc" -ne 0 ] && [ -n "$err" ] && ok || bad "hostile query accepted: $q"
  done
  out=$(e query "SELECT titel FROM movie" 2>&1); echo "$out" | grep -q "did you mean 'title'" && ok || bad "attribute suggestion: $out"
  out=$(e query "SELECT * FORM movie" 2>&1); echo "$out" | grep -q "column 10: expected FROM" && ok || bad "syntax error names the position: $out"
  deep=$(printf '(%.0s' $(seq 1 5000)); err=$(e query "SELECT * FROM movie WHERE $deep" 2>&1); rc=$?
  [ "$rc" -eq 1 ] && ok || bad "deep nesting rc=$rc: ${err:0:200}"
  expect_eq "$(e query 'SELECT COUNT(*) FROM movie' --format csv | tail -1)" "$before" "data intact after hostile queries"
else
  echo "datasets not available: skipping real-data checks" >&2
fi

# --- rejections ------------------------------------------------------------------------------
DB2="$TMP/rej.db"
printf '{"name":"a","n":1}\n{"name":"b","n":\n{"name":"c","n":3}\n' > "$TMP/bad.ndjson"
out=$("$EAVDB" --db "$DB2" import "$TMP/bad.ndjson" --type thing --rejects "$TMP/rej.ndjson" 2>"$TMP/err"); rc=$?
expect_eq "$rc" 3 "import with rejections exits 3"
expect_eq "$(jq -r .record "$TMP/rej.ndjson")" 2 "rejected record number"
expect_eq "$(jq -r .line "$TMP/rej.ndjson")" 2 "rejected line"
grep -q "record 2 (line 2)" "$TMP/err" && ok || bad "rejection on stderr: $(cat "$TMP/err")"
expect_eq "$("$EAVDB" --db "$DB2" query 'SELECT name FROM thing ORDER BY id' --format csv | tr '\n' ' ')" "name a c " "other records imported"
# declared types are respected: n is int, so "x" is rejected
printf 'name,n\nd,4\ne,x\n' > "$TMP/more.csv"
"$EAVDB" --db "$DB2" import "$TMP/more.csv" --type thing --rejects "$TMP/rej2.ndjson" >/dev/null 2>&1; rc=$?
expect_eq "$rc" 3 "type mismatch rejected"
expect_eq "$(jq -r .field "$TMP/rej2.ndjson")" n "rejection names the field"
long=$(head -c 300 /dev/zero | tr '\0' 'x')
printf 'name\n%s\n' "$long" > "$TMP/long.csv"
"$EAVDB" --db "$DB2" import "$TMP/long.csv" --type thing --rejects "$TMP/rej3.ndjson" >/dev/null 2>&1
jq -r .reason "$TMP/rej3.ndjson" | grep -q 255 && ok || bad "over-long varchar rejected: $(cat "$TMP/rej3.ndjson")"

# --- put / get / delete ----------------------------------------------------------------------
id=$("$EAVDB" --db "$DB2" put thing name=zed n=42 --format json | jq -r '.[0].id')
[ -n "$id" ] && [ "$id" != null ] && ok || bad "put returned no id"
expect_eq "$("$EAVDB" --db "$DB2" get thing "$id" --format json | jq -c '.[0] | [.name, .n, .version]')" '["zed",42,1]' "get after put"
expect_eq "$("$EAVDB" --db "$DB2" put thing "$id" n=43 --format json | jq -c '.[0] | [.n, .version]')" '[43,2]' "update bumps version"
"$EAVDB" --db "$DB2" put thing "$id" n=notanumber >/dev/null 2>&1; expect_eq $? 1 "bad put value fails"
out=$("$EAVDB" --db "$DB2" put thing nmae=1 2>&1); echo "$out" | grep -q "did you mean 'name'" && ok || bad "put suggests attribute: $out"
expect_eq "$("$EAVDB" --db "$DB2" get thing "$id" --format json | jq -c '.[0].n')" 43 "failed put changed nothing"
"$EAVDB" --db "$DB2" delete thing "$id" >/dev/null; expect_eq $? 0 "delete"
"$EAVDB" --db "$DB2" get thing "$id" >/dev/null 2>&1; expect_eq $? 1 "get of deleted entity fails"
"$EAVDB" --db "$TMP/nonexistent-dir/x.db" init >/dev/null 2>&1; expect_eq $? 1 "unopenable db fails cleanly"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
