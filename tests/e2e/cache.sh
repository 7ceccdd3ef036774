#!/usr/bin/env bash
# End-to-end tests of the cache levels through the real `eavdb` binary: cache stats/warm/clear,
# repeated queries served from L4, a file:// L3 that survives processes, a redis:// L3 on a
# throwaway redis-server (127.0.0.1, random port), and a dead Redis that fails no command.
# Usage: cache.sh EAVDB DATA_DIR
set -uo pipefail
EAVDB=$1
DATA=${2:-}
[ -n "$DATA" ] && [ -f "$DATA/movies.json" ] || DATA=${EAVDB_DATA_DIR:-}
TMP=$(mktemp -d)
. "$(dirname "$0")/../../scripts/lib/redis.sh"
cleanup() { stop_redis; rm -rf "$TMP"; }
trap cleanup EXIT
DB="$TMP/cache.db"
. "$(dirname "$0")/lib/check.sh"
e() { "$EAVDB" --db "$DB" "$@"; }
stat_of() {  # stat_of JSON LEVEL FIELD
  echo "$1" | jq -r --arg l "$2" --arg f "$3" '.[] | select(.level | startswith($l)) | .[$f]'
}

# movies.json when the datasets are present, else 3,201 synthetic catalog entities.
if [ -n "$DATA" ] && [ -f "$DATA/movies.json" ]; then
  e import "$DATA/movies.json" --type movie -q >/dev/null
  TITLE=title RATING=imdb_rating
else
  "$EAVDB" gen catalog -n 3201 > "$TMP/movies.ndjson"
  e import "$TMP/movies.ndjson" --type movie -q >/dev/null
  TITLE=name RATING=rating
fi
expect_eq $? 0 "import"

# --- in-process levels ------------------------------------------------------------------------
out=$(e cache warm movie --format json 2>"$TMP/warm.err"); rc=$?
expect_eq "$rc" 0 "cache warm exit"
grep -q "warmed 3201 movie entities" "$TMP/warm.err" && ok || bad "warm message: $(cat "$TMP/warm.err")"
expect_eq "$(stat_of "$out" l2 entries)" 3201 "L2 entries after warm"
[ "$(stat_of "$out" l2 bytes)" -gt 0 ] && ok || bad "L2 bytes counted"
expect_eq "$(e cache warm movie --query 'SELECT id FROM movie WHERE id <= 10' --format json 2>/dev/null | jq -r '.[] | select(.level|startswith("l2")) | .entries')" 10 "warm by query"
e cache warm movie --query "SELECT $TITLE FROM movie" >/dev/null 2>"$TMP/err"; expect_eq $? 1 "warm with a non-id query fails"
grep -q "first column must be id" "$TMP/err" && ok || bad "warm error message: $(cat "$TMP/err")"
e cache warm nosuchtype >/dev/null 2>"$TMP/err"; expect_eq $? 1 "warm of an unknown type"
grep -q "unknown entity type" "$TMP/err" && ok || bad "unknown type message"

# Repeated query: the repeats are answered from L4 and give the same rows.
first=$(e query "SELECT count(*) FROM movie WHERE $RATING >= 4" --format csv)
rep=$(e query "SELECT count(*) FROM movie WHERE $RATING >= 4" --format csv --repeat 50 --timing 2>"$TMP/t")
expect_eq "$rep" "$first" "repeated query answer"
grep -q "repeated 49 times" "$TMP/t" && ok || bad "repeat timing line: $(cat "$TMP/t")"
expect_eq "$(e --no-cache query "SELECT count(*) FROM movie WHERE $RATING >= 4" --format csv)" "$first" "--no-cache answer"
stats=$(e cache stats --format json)
expect_eq "$(echo "$stats" | jq 'length')" 4 "four levels reported"
expect_eq "$(stat_of "$stats" l3 level)" l3_none "no L3 configured"

# --- file:// L3: shared by successive processes ----------------------------------------------
L3="file://$TMP/l3"
e --cache-l3 "$L3" get movie 1 2 3 --format json >/dev/null; expect_eq $? 0 "get through file L3"
out=$(e --cache-l3 "$L3" cache warm movie --query 'SELECT id FROM movie WHERE id <= 3' --format json 2>/dev/null)
expect_eq "$(stat_of "$out" l3 hits)" 3 "second process hits the file L3"
e --cache-l3 "$L3" put movie 2 $TITLE=Renamed >/dev/null; expect_eq $? 0 "put through file L3"
expect_eq "$(e --cache-l3 "$L3" get movie 2 --format json | jq -r ".[0].$TITLE")" Renamed "file L3 never serves the old version"
expect_eq "$(e --cache-l3 "$L3" cache clear)" "cache cleared" "cache clear"
out=$(e --cache-l3 "$L3" cache warm movie --query 'SELECT id FROM movie WHERE id <= 3' --format json 2>/dev/null)
expect_eq "$(stat_of "$out" l3 hits)" 0 "clear emptied the file L3"
e --cache-l3 "ftp://x" get movie 1 >/dev/null 2>"$TMP/err"; expect_eq $? 1 "bad L3 URL rejected"

# --- redis:// L3 ------------------------------------------------------------------------------
if redis_available; then
  start_redis "$TMP" || exit 1
  R=$REDIS_URL
  e --cache-l3 "$R" get movie 5 6 --format json >/dev/null; expect_eq $? 0 "get through Redis"
  out=$(e --cache-l3 "$R" cache warm movie --query 'SELECT id FROM movie WHERE id IN (5, 6)' --format json 2>/dev/null)
  expect_eq "$(stat_of "$out" l3 hits)" 2 "second process hits Redis"
  e --cache-l3 "$R" put movie 5 $TITLE=ViaRedis >/dev/null
  expect_eq "$(e --cache-l3 "$R" get movie 5 --format json | jq -r ".[0].$TITLE")" ViaRedis "Redis never serves the old version"
  e --cache-l3 "$R" cache stats >/dev/null 2>"$TMP/st"
  grep -q "breaker closed" "$TMP/st" && ok || bad "breaker state line: $(cat "$TMP/st")"
  # Redis dies: every command still works, from the database.
  stop_redis
  expect_eq "$(e --cache-l3 "$R" get movie 5 --format json | jq -r ".[0].$TITLE")" ViaRedis "get with Redis down"
  e --cache-l3 "$R" put movie 6 $TITLE=WhileDown >/dev/null; expect_eq $? 0 "put with Redis down"
  expect_eq "$(e --cache-l3 "$R" query "SELECT $TITLE FROM movie WHERE id = 6" --format csv | tail -1)" WhileDown "query with Redis down"
else
  echo "redis-server not installed: Redis part skipped" >&2
fi

echo "cache e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
