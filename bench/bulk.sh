#!/usr/bin/env bash
# The bulk benchmark: eavdb's bulk paths against naive per-entity loops (bench/peers.cc) and
# against the floor of a plain `sqlite3 .import`, all measured in this one run on this machine.
# Prints a Markdown table (benchmark | eavdb | peer | ratio | target) on stdout; every command is
# echoed to stderr before it runs. Writes the rows and raw numbers as JSON to --out.
#
# usage: bench/bulk.sh [--small] [--build DIR] [--peers FILE] [--out FILE] [--skip-missing] [--keep]
#   --small         CI size: flights-20k.json, naive slices of 500, catalog 20,000 vs 5,000
#   --build DIR     build directory with `eavdb` and bench/eavdb_bench_peers (default build/release)
#   --peers FILE    the peers binary (default DIR/bench/eavdb_bench_peers)
#   --out FILE      results JSON (default build/bench/bulk-results.json)
#   --skip-missing  report rows whose eavdb command does not exist yet as "not run" instead of failing
#   --keep          keep the work directory (databases, inputs, command outputs)
#
# Timings are wall times of whole processes (startup, open, input and output included), except
# the in-process load rows (the peers' own timing of the load call; CPU times beside). Naive loops
# run on a slice: their process time is scaled as (wall - loop) + loop x full / slice, where
# "loop" is the peers' own timing of the per-entity loop. Exits non-zero only when a command
# fails or its output cannot be parsed, never because a target is missed.
# Needs bash >= 5, coreutils, jq, sqlite3 and /usr/bin/time (Debian package `time`).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMALL=0 SKIP_MISSING=0 KEEP=0
BUILD=$ROOT/build/release PEERS="" OUT=$ROOT/build/bench/bulk-results.json

die() { echo "bulk.sh: $*" >&2; exit 1; }
usage() { sed -n '7,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
  case $1 in
    --small) SMALL=1 ;;
    --build) [ $# -ge 2 ] || usage; BUILD=$2; shift ;;
    --peers) [ $# -ge 2 ] || usage; PEERS=$2; shift ;;
    --out) [ $# -ge 2 ] || usage; OUT=$2; shift ;;
    --skip-missing) SKIP_MISSING=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) usage 0 ;;
    *) echo "bulk.sh: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done

# ---- tools and binaries ----------------------------------------------------------------------
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash >= 5 (EPOCHREALTIME)"
for tool in jq sqlite3 shuf head cp mktemp; do
  command -v "$tool" >/dev/null || die "'$tool' is missing (Debian: apt-get install jq sqlite3 coreutils)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian: apt-get install time)"
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || die "build directory '$BUILD' not found (use --build DIR)"
EAVDB=$BUILD/eavdb
PEERS=${PEERS:-$BUILD/bench/eavdb_bench_peers}
[ -x "$EAVDB" ] || die "$EAVDB not found: cmake --build $BUILD --target eavdb_cli"
[ -x "$PEERS" ] || die "$PEERS not found: cmake --build $BUILD --target eavdb_bench_peers"
DATA=$("$ROOT/scripts/fetch-data.sh") || die "scripts/fetch-data.sh failed"

if [ "$SMALL" = 1 ]; then
  FLIGHTS=flights-20k.json NAIVE_INSERT=500 NAIVE_MOD=500 LOAD_IDS=10000 CAT_BIG=20000 CAT_SMALL=5000
else
  FLIGHTS=flights-200k.json NAIVE_INSERT=10000 NAIVE_MOD=2000 LOAD_IDS=10000 CAT_BIG=1000000 CAT_SMALL=200000
fi
FLIGHTS_PATH=$DATA/$FLIGHTS
[ -f "$FLIGHTS_PATH" ] || die "$FLIGHTS_PATH not found"
UPDATE_ATTR=delay UPDATE_VALUE=99999  # a value no flight has, so every naive set() is a real change
# shuf's random source: a fixed compressed file of the data set, so id samples repeat run to run.
RANDOM_SOURCE=$DATA/flights-3m.parquet
[ -f "$RANDOM_SOURCE" ] || RANDOM_SOURCE=/dev/urandom

WORK=$(mktemp -d "${TMPDIR:-/tmp}/eavdb-bulk.XXXXXX")
if [ "$KEEP" = 1 ]; then echo "bulk.sh: work directory $WORK" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
RAW=$WORK/raw.ndjson
: > "$RAW"

# ---- helpers ---------------------------------------------------------------------------------
# run_timed NAME CMD...: echoes CMD, runs it with stdout to $WORK/NAME.out and stderr to
# $WORK/NAME.err; sets SECS (wall seconds), CPU_SECS (user + system seconds) and RSS_KB (peak
# resident set). Dies when CMD fails.
run_timed() {
  local name=$1; shift
  printf '+' >&2; printf ' %q' "$@" >&2; echo >&2
  local t0=$EPOCHREALTIME status=0
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || status=$?
  local t1=$EPOCHREALTIME
  if [ "$status" != 0 ]; then
    head -c 4000 "$WORK/$name.err" >&2
    die "command failed (exit $status): $*"
  fi
  local us=$(( ${t1/./} - ${t0/./} ))
  SECS=$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))
  RSS_KB=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *\([0-9][0-9]*\)$/\1/p' "$WORK/$name.time")
  [[ $RSS_KB =~ ^[0-9]+$ ]] || die "cannot read the peak RSS of '$name' from /usr/bin/time"
  local user sys
  user=$(sed -n 's/^[[:space:]]*User time (seconds): *\([0-9.]*\)$/\1/p' "$WORK/$name.time")
  sys=$(sed -n 's/^[[:space:]]*System time (seconds): *\([0-9.]*\)$/\1/p' "$WORK/$name.time")
  [[ $user =~ ^[0-9]+\.[0-9]+$ && $sys =~ ^[0-9]+\.[0-9]+$ ]] || die "cannot read the CPU time of '$name' from /usr/bin/time"
  CPU_SECS=$(jq -n "$user + $sys")
}

# record KEY JSON: keeps one raw result.
record() { jq -cn --arg k "$1" --argjson v "$2" '{key: $k, value: $v}' >>"$RAW" || die "bad raw value for $1: $2"; }

# copy_db SRC DST: copies a database with its -wal/-shm files (and drops stale ones at DST).
copy_db() {
  cp "$1" "$2"
  local ext
  for ext in -wal -shm; do
    if [ -e "$1$ext" ]; then cp "$1$ext" "$2$ext"; else rm -f "$2$ext"; fi
  done
}

# parse_import NAME EXPECTED: checks an `eavdb import` summary; sets IMPORTED and VALUES.
parse_import() {
  local line
  line=$(grep -m1 '^imported ' "$WORK/$1.out") || die "no summary line in the output of '$1'"
  [[ $line =~ ^imported\ ([0-9]+)\ of\ ([0-9]+)\ records.*\ ([0-9]+)\ rejected,.*\ ([0-9]+)\ values, ]] ||
    die "cannot parse the import summary: $line"
  IMPORTED=${BASH_REMATCH[1]} VALUES=${BASH_REMATCH[4]}
  if [ "$IMPORTED" != "$2" ] || [ "${BASH_REMATCH[3]}" != 0 ]; then die "'$1' imported $IMPORTED of $2 records: $line"; fi
}

# parse_bulk NAME OP EXPECTED: checks an `eavdb bulk` summary; sets BULK_VALUES and BULK_SECONDS.
parse_bulk() {
  local line count
  line=$(grep -m1 "^bulk $2: " "$WORK/$1.out") || die "no summary line in the output of '$1'"
  [[ $line =~ ^bulk\ $2:\ ([0-9]+)\ processed,\ ([0-9]+)\ inserted,\ ([0-9]+)\ updated,\ ([0-9]+)\ deleted,\ ([0-9]+)\ rejected.*\ ([0-9]+)\ values,\ ([0-9.]+)\ s ]] ||
    die "cannot parse the bulk summary: $line"
  case $2 in update) count=${BASH_REMATCH[3]} ;; delete) count=${BASH_REMATCH[4]} ;; *) count=${BASH_REMATCH[1]} ;; esac
  if [ "$count" != "$3" ] || [ "${BASH_REMATCH[5]}" != 0 ]; then die "'$1' did $count of $3 records: $line"; fi
  BULK_VALUES=${BASH_REMATCH[6]} BULK_SECONDS=${BASH_REMATCH[7]}
}

# peer NAME EXPECTED ARGS...: runs the peers binary; sets PEER to its JSON line (checked).
peer() {
  local name=$1 expected=$2; shift 2
  run_timed "$name" "$PEERS" "$@"
  PEER=$(head -n1 "$WORK/$name.out" | jq -c --argjson wall "$SECS" '. + {wall_seconds: $wall}' 2>/dev/null) ||
    die "unexpected output of '$name': $(head -c 500 "$WORK/$name.out")"
  jq -e --argjson n "$expected" '.records == $n and .missing == 0 and (.seconds | type) == "number" and .seconds > 0' \
    <<<"$PEER" >/dev/null 2>&1 || die "unexpected output of '$name': $PEER"
}

# have_bulk / have_gen: whether this eavdb has the commands (or die unless --skip-missing).
missing() {
  [ "$SKIP_MISSING" = 1 ] || die "$1 (use --skip-missing to run the other rows)"
  echo "bulk.sh: $1: its rows are not run" >&2
  return 1
}
have_bulk() { "$EAVDB" bulk --help >/dev/null 2>&1 || missing "this eavdb has no 'bulk' command"; }
have_gen() {
  [ "$("$EAVDB" gen catalog --entities 2 --seed 1 2>/dev/null | grep -c .)" = 2 ] ||
    missing "'eavdb gen catalog' does not produce records"
}

HAVE_BULK=0 HAVE_GEN=0
if have_bulk; then HAVE_BULK=1; fi
if have_gen; then HAVE_GEN=1; fi

record config "$(jq -cn --argjson small "$SMALL" --arg dataset "$FLIGHTS" --argjson ni "$NAIVE_INSERT" \
  --argjson nm "$NAIVE_MOD" --argjson li "$LOAD_IDS" --argjson cb "$CAT_BIG" --argjson cs "$CAT_SMALL" \
  --arg attr "$UPDATE_ATTR" --argjson value "$UPDATE_VALUE" --arg eavdb "$EAVDB" \
  '{small: ($small == 1), dataset: $dataset, naive_insert_slice: $ni, naive_modify_slice: $nm, load_ids: $li,
    catalog_big: $cb, catalog_small: $cs, update: {attribute: $attr, value: $value}, eavdb: $eavdb,
    timing: "wall seconds of whole processes; naive slices scaled as (wall - loop) + loop * full / slice"}')"

# ---- 1. import: eavdb vs a naive loop vs the sqlite3 .import floor ---------------------------
echo "== import $FLIGHTS" >&2
TOTAL=$(jq length "$FLIGHTS_PATH") || die "cannot read $FLIGHTS_PATH"
if ! [[ $TOTAL =~ ^[1-9][0-9]*$ ]]; then die "$FLIGHTS_PATH is not a JSON array of records"; fi
run_timed import "$EAVDB" --db "$WORK/flights.db" import "$FLIGHTS_PATH" --type flight --quiet
parse_import import "$TOTAL"
record import "{\"records\":$TOTAL,\"values\":$VALUES,\"seconds\":$SECS,\"cpu_seconds\":$CPU_SECS,\"rss_kb\":$RSS_KB}"

# The naive loop: the type is created by importing the first 1,000 records, then every record is
# one session and one commit.
jq '.[0:1000]' "$FLIGHTS_PATH" >"$WORK/head.json"
run_timed naive-setup "$EAVDB" --db "$WORK/naive.db" import "$WORK/head.json" --type flight --quiet
parse_import naive-setup "$(jq length "$WORK/head.json")"
peer naive-insert "$NAIVE_INSERT" naive-insert "$WORK/naive.db" "$FLIGHTS_PATH" flight "$NAIVE_INSERT"
record naive_insert "$PEER"

# The floor: the same rows as CSV (columns of the first record) in a plain wide SQLite table.
jq -r '(.[0] | keys_unsorted) as $k | ($k | @csv), (.[] | [.[$k[]]] | @csv)' "$FLIGHTS_PATH" >"$WORK/flights.csv"
COLUMNS_SQL=$(jq -r '.[0] | to_entries | map("\"\(.key)\" \(if (.value | type) == "number" then "NUMERIC" else "TEXT" end)") | join(", ")' "$FLIGHTS_PATH")
run_timed floor sqlite3 "$WORK/floor.db" "CREATE TABLE flights($COLUMNS_SQL)" ".import --csv --skip 1 $WORK/flights.csv flights"
FLOOR_ROWS=$(sqlite3 "$WORK/floor.db" 'SELECT count(*) FROM flights')
[ "$FLOOR_ROWS" = "$TOTAL" ] || die "sqlite3 .import loaded $FLOOR_ROWS of $TOTAL rows"
record floor "{\"records\":$TOTAL,\"seconds\":$SECS,\"cpu_seconds\":$CPU_SECS}"

# The EAV storage floor: exactly the rows the import wrote (eav_entity and the value tables,
# read back from flights.db), written raw into a new eavdb file as fast as SQLite takes them
# (one transaction, cached 256-row INSERTs in key order, indexes dropped and rebuilt). Timed
# inside the process (no start, open or reading of the rows), so it flatters the floor a little.
peer floor-eav "$TOTAL" floor-insert "$WORK/flights.db" "$WORK/floor-eav.db" rebuild
record floor_eav "$PEER"

# ---- 2. bulk update / delete / load on copies of the imported database -----------------------
if [ "$HAVE_BULK" = 1 ]; then
  TENTH=$((TOTAL / 10))
  echo "== bulk update, delete and load ($TENTH ids = 10%, $LOAD_IDS random ids)" >&2
  shuf -i "1-$TOTAL" -n "$TENTH" --random-source="$RANDOM_SOURCE" >"$WORK/tenth.ids"
  head -n "$NAIVE_MOD" "$WORK/tenth.ids" >"$WORK/slice.ids"
  jq -cR --arg a "$UPDATE_ATTR" --argjson v "$UPDATE_VALUE" '{id: tonumber, ($a): $v}' "$WORK/tenth.ids" >"$WORK/update.ndjson"

  copy_db "$WORK/flights.db" "$WORK/update.db"
  run_timed update "$EAVDB" --db "$WORK/update.db" bulk update flight "$WORK/update.ndjson" --quiet
  parse_bulk update update "$TENTH"
  CHANGED=$("$EAVDB" --db "$WORK/update.db" query "SELECT COUNT(*) FROM flight WHERE $UPDATE_ATTR = ?" \
    -p "$UPDATE_VALUE" --format csv | tail -n1) || die "cannot count the updated entities"
  [ "$CHANGED" = "$TENTH" ] || die "bulk update: $CHANGED of $TENTH entities have $UPDATE_ATTR = $UPDATE_VALUE"
  record update "{\"records\":$TENTH,\"values\":$BULK_VALUES,\"seconds\":$SECS,\"engine_seconds\":$BULK_SECONDS}"
  copy_db "$WORK/flights.db" "$WORK/naive-update.db"
  peer naive-update "$NAIVE_MOD" naive-update "$WORK/naive-update.db" flight "$WORK/slice.ids" "$UPDATE_ATTR" "$UPDATE_VALUE"
  record naive_update "$PEER"

  copy_db "$WORK/flights.db" "$WORK/delete.db"
  run_timed delete "$EAVDB" --db "$WORK/delete.db" bulk delete flight "$WORK/tenth.ids" --quiet
  parse_bulk delete delete "$TENTH"
  record delete "{\"records\":$TENTH,\"values\":$BULK_VALUES,\"seconds\":$SECS,\"engine_seconds\":$BULK_SECONDS}"
  copy_db "$WORK/flights.db" "$WORK/naive-delete.db"
  peer naive-delete "$NAIVE_MOD" naive-delete "$WORK/naive-delete.db" flight "$WORK/slice.ids"
  record naive_delete "$PEER"

  [ "$LOAD_IDS" -le "$TOTAL" ] || LOAD_IDS=$TOTAL
  shuf -i "1-$TOTAL" -n "$LOAD_IDS" --random-source="$RANDOM_SOURCE" >"$WORK/load.ids"
  # Both sides with caches off (the issue's comparison): eavdb --no-cache, naive-find opens so.
  run_timed load "$EAVDB" --db "$WORK/flights.db" --no-cache bulk load flight "$WORK/load.ids" --format ndjson
  jq -r .id "$WORK/load.out" 2>/dev/null | cmp -s - "$WORK/load.ids" ||
    die "bulk load did not return the $LOAD_IDS requested entities in request order"
  record load "{\"records\":$LOAD_IDS,\"seconds\":$SECS}"
  peer naive-find "$LOAD_IDS" naive-find "$WORK/flights.db" flight "$WORK/load.ids"
  record naive_find "$PEER"
  # The load itself, timed inside the process (no start, open, catalog or output), and the
  # storage floor: a raw sqlite3 loop doing only the B-tree seeks those ids need.
  peer bulk-load "$LOAD_IDS" bulk-load "$WORK/flights.db" flight "$WORK/load.ids"
  record bulk_load "$PEER"
  peer floor-load "$LOAD_IDS" floor-load "$WORK/flights.db" flight "$WORK/load.ids"
  record floor_load "$PEER"
  # The same ids when the type has a flat table kept in step on commit: a load then reads it
  # alone (one seek per id); the per-id loop on that store reads it too.
  copy_db "$WORK/flights.db" "$WORK/flat.db"
  run_timed flat-enable "$EAVDB" --db "$WORK/flat.db" flat enable flight
  peer bulk-load-flat "$LOAD_IDS" bulk-load "$WORK/flat.db" flight "$WORK/load.ids"
  record bulk_load_flat "$PEER"
  peer naive-find-flat "$LOAD_IDS" naive-find "$WORK/flat.db" flight "$WORK/load.ids"
  record naive_find_flat "$PEER"
fi

# ---- 3. catalog imports: throughput and peak memory at two sizes ------------------------------
if [ "$HAVE_GEN" = 1 ]; then
  for size in "$CAT_SMALL" "$CAT_BIG"; do
    echo "== catalog of $size entities" >&2
    run_timed "gen-$size" "$EAVDB" gen catalog --entities "$size" --seed 1
    GEN_SECS=$SECS
    mv "$WORK/gen-$size.out" "$WORK/catalog-$size.ndjson"
    LINES=$(grep -c . "$WORK/catalog-$size.ndjson" || true)
    [ "$LINES" = "$size" ] || die "eavdb gen catalog --entities $size wrote $LINES records"
    run_timed "catalog-$size" "$EAVDB" --db "$WORK/catalog-$size.db" import "$WORK/catalog-$size.ndjson" --type product --quiet
    parse_import "catalog-$size" "$size"
    record "catalog_$size" "{\"records\":$size,\"values\":$VALUES,\"seconds\":$SECS,\"rss_kb\":$RSS_KB,\"gen_seconds\":$GEN_SECS}"
    rm -f "$WORK/catalog-$size.ndjson" "$WORK/catalog-$size.db"
  done
fi

# ---- table and results -----------------------------------------------------------------------
RESULTS=$(jq -s --arg big "catalog_$CAT_BIG" --arg small "catalog_$CAT_SMALL" '
  (map({(.key): .value}) | add) as $r
  | def r2: (. * 100 | round) / 100;
    def commas: tostring | if length > 3 then (.[:-3] | commas) + "," + .[-3:] else . end;
    def int: round | if . < 0 then "-" + (-. | commas) else commas end;
    def secs: if . >= 10 then "\(. * 10 | round / 10) s" else "\(r2) s" end;
    def x: "\(if . >= 10 then (. * 10 | round / 10) else r2 end)x";
    def mb: "\(. / 1024 | round) MB";
    def notrun($why; $target): {eavdb: "not run: \($why)", peer: "", ratio: "", target: $target, met: null};
    def naive($p; $full): ($p.wall_seconds - $p.seconds + $p.seconds * $full / $p.records) as $scaled
      | {scaled: $scaled, text: "\($p.mode): \($p.records_per_second | int) rec/s (\($p.records | int)-record slice, \($scaled | secs) scaled to \($full | int))"};
    $r.config as $c
  | [ ($r.import as $i | naive($r.naive_insert; $i.records) as $n
       | {benchmark: "import \($c.dataset) (\($i.records | int) records)",
          eavdb: "\($i.seconds | secs), \($i.records / $i.seconds | int) rec/s",
          peer: $n.text, value: ($n.scaled / $i.seconds), target: ">= 30x", min: 30}),
      ($r.import as $i
       | {benchmark: "import \($c.dataset) vs the sqlite3 floor",
          eavdb: "\($i.seconds | secs) (CPU \($i.cpu_seconds | r2) s)",
          peer: "sqlite3 .import --csv into a wide table: \($r.floor.seconds | secs) (CPU \($r.floor.cpu_seconds | r2) s); CPU-time ratio \(if $r.floor.cpu_seconds > 0 then ($i.cpu_seconds / $r.floor.cpu_seconds | x) else "-" end)",
          value: ($i.seconds / $r.floor.seconds), target: "<= 3x (eavdb time / floor time)", max: 3}),
      ($r.import as $i | $r.floor_eav as $f
       | {benchmark: "import \($c.dataset) vs the EAV storage floor",
          eavdb: "\($i.seconds | secs) (CPU \($i.cpu_seconds | r2) s)",
          peer: "eavdb'"'"'s own rows written raw (one transaction, 256-row INSERTs, indexes rebuilt): \($f.seconds | secs) (CPU \($f.cpu_seconds | r2) s, of which CREATE INDEX \([$f.phases | to_entries[] | select(.key | startswith("create_")) | .value] | add | r2) s wall); floor / sqlite3 .import = \($f.seconds / $r.floor.seconds | x)",
          value: ($i.seconds / $f.seconds), target: "info (eavdb time / floor time; CPU \(if $f.cpu_seconds > 0 then ($i.cpu_seconds / $f.cpu_seconds | x) else "-" end))"}),
      ($r.import as $i | ($i.values / $i.seconds) as $v
       | {benchmark: "import \($c.dataset): attribute values/s",
          eavdb: "\($v | int) values/s (\($i.values | int) values)",
          peer: "naive loop: \($r.naive_insert.values / $r.naive_insert.seconds | int) values/s (loop only)",
          value: $v, target: ">= 1,000,000 values/s", min: 1000000, raw_value: true}),
      (if $r.update then naive($r.naive_update; $r.update.records) as $n
       | {benchmark: "bulk update 10% (\($r.update.records | int) ids, \($c.update.attribute) = \($c.update.value))",
          eavdb: "\($r.update.seconds | secs), \($r.update.records / $r.update.seconds | int) rec/s",
          peer: $n.text, value: ($n.scaled / $r.update.seconds), target: ">= 20x", min: 20}
       else {benchmark: "bulk update 10%"} + notrun("no eavdb bulk command"; ">= 20x") end),
      (if $r.delete then naive($r.naive_delete; $r.delete.records) as $n
       | {benchmark: "bulk delete 10% (\($r.delete.records | int) ids)",
          eavdb: "\($r.delete.seconds | secs), \($r.delete.records / $r.delete.seconds | int) rec/s",
          peer: $n.text, value: ($n.scaled / $r.delete.seconds), target: ">= 20x", min: 20}
       else {benchmark: "bulk delete 10%"} + notrun("no eavdb bulk command"; ">= 20x") end),
      (if $r.load then
         {benchmark: "bulk load \($r.load.records | int) random ids",
          eavdb: "\($r.load.seconds | secs), \($r.load.records / $r.load.seconds | int) rec/s",
          peer: "naive-find of the same ids: \($r.naive_find.wall_seconds | secs) (loop \($r.naive_find.records_per_second | int) rec/s)",
          value: ($r.naive_find.wall_seconds / $r.load.seconds), target: ">= 50x", min: 50}
       else {benchmark: "bulk load random ids"} + notrun("no eavdb bulk command"; ">= 50x") end),
      (if $r.bulk_load then ($r.bulk_load.seconds * 1e6 / $r.bulk_load.records) as $b
         | ($r.naive_find.seconds * 1e6 / $r.naive_find.records) as $n
       | {benchmark: "bulk load \($r.bulk_load.records | int) random ids, in process (load only)",
          eavdb: "BatchProcessor::load: \($r.bulk_load.seconds | secs) = \($b | r2) us/id (CPU \($r.bulk_load.cpu_seconds * 1e6 / $r.bulk_load.records | r2) us/id)",
          peer: "naive-find loop: \($n | r2) us/id (CPU \($r.naive_find.cpu_seconds * 1e6 / $r.naive_find.records | r2) us/id); CPU-time ratio \($r.naive_find.cpu_seconds / $r.bulk_load.cpu_seconds | x)",
          value: ($r.naive_find.seconds / $r.bulk_load.seconds), target: ">= 50x", min: 50}
       else {benchmark: "bulk load random ids, in process"} + notrun("no eavdb bulk command"; ">= 50x") end),
      (if $r.bulk_load_flat then
         {benchmark: "bulk load \($r.bulk_load_flat.records | int) random ids, in process, type with a flat table",
          eavdb: "\($r.bulk_load_flat.seconds * 1e6 / $r.bulk_load_flat.records | r2) us/id (CPU \($r.bulk_load_flat.cpu_seconds * 1e6 / $r.bulk_load_flat.records | r2))",
          peer: "naive-find on that store: \($r.naive_find_flat.seconds * 1e6 / $r.naive_find_flat.records | r2) us/id (CPU \($r.naive_find_flat.cpu_seconds * 1e6 / $r.naive_find_flat.records | r2)); CPU-time ratio \($r.naive_find_flat.cpu_seconds / $r.bulk_load_flat.cpu_seconds | x)",
          value: ($r.naive_find_flat.seconds / $r.bulk_load_flat.seconds), target: "info (flat table enabled on both sides)"}
       else {benchmark: "bulk load, type with a flat table"} + notrun("no eavdb bulk command"; "info") end),
      (if $r.floor_load then ($r.floor_load.seconds * 1e6 / $r.floor_load.records) as $f
       | {benchmark: "bulk load vs the storage floor (raw sqlite3 sorted seeks, same ids)",
          eavdb: "\($r.bulk_load.seconds * 1e6 / $r.bulk_load.records | r2) us/id",
          peer: "floor \($f | r2) us/id (CPU \($r.floor_load.cpu_seconds * 1e6 / $r.floor_load.records | r2)); naive-find / floor = \($r.naive_find.seconds / $r.floor_load.seconds | x) (CPU \($r.naive_find.cpu_seconds / $r.floor_load.cpu_seconds | x)): the most an EAV load can reach",
          value: ($r.bulk_load.seconds / $r.floor_load.seconds), target: "info (eavdb time / floor time)"}
       else {benchmark: "bulk load vs the storage floor"} + notrun("no eavdb bulk command"; "info") end),
      ($small, $big | . as $k
       | if $r[$k] then $r[$k] as $g
         | {benchmark: "import gen catalog (\($g.records | int) entities): attribute values/s",
            eavdb: "\($g.values / $g.seconds | int) values/s (\($g.values | int) values, \($g.seconds | secs), peak RSS \($g.rss_kb | mb))",
            peer: "", value: ($g.values / $g.seconds), target: ">= 1,000,000 values/s", min: 1000000, raw_value: true}
         else {benchmark: "import gen catalog (\($k | ltrimstr("catalog_")) entities)"} + notrun("eavdb gen catalog missing"; ">= 1,000,000 values/s") end),
      (if $r[$big] and $r[$small] then
         {benchmark: "import peak RSS, \($r[$big].records | int) vs \($r[$small].records | int) entities",
          eavdb: "\($r[$big].rss_kb | mb) vs \($r[$small].rss_kb | mb)",
          peer: "", value: ($r[$big].rss_kb / $r[$small].rss_kb), target: "<= 1.2x", max: 1.2}
       else {benchmark: "import peak RSS, big vs small catalog"} + notrun("eavdb gen catalog missing"; "<= 1.2x") end)
    ]
  | map(if has("value") then
          . + {ratio: (if .raw_value then "-" else (.value | x) end),
               met: (if .min then .value >= .min elif .max then .value <= .max else null end)}
        else . end)
  | {rows: map({benchmark, eavdb, peer, ratio, target: (.target // ""), value, met}), raw: $r}' "$RAW") ||
  die "cannot compute the results from $RAW"

mkdir -p "$(dirname "$OUT")"
jq . <<<"$RESULTS" >"$OUT"
echo "bulk.sh: results written to $OUT" >&2
echo
jq -r '"| benchmark | eavdb | peer | ratio | target |", "|---|---|---|---|---|",
  (.rows[] | "| \(.benchmark) | \(.eavdb) | \(.peer) | \(.ratio) | \(.target)\(if .met == true then " (met)" elif .met == false then " (NOT met)" else "" end) |")' <<<"$RESULTS"
