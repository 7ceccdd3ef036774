#!/usr/bin/env bash
# The planner benchmark (issue 5): queries Q1–Q8 on zipcodes.csv and on the synthetic product
# catalog, each run by eavdb's automatic plan (statistics + flat table), eavdb's forced EAV plan,
# naive EAV SQL (one LEFT JOIN per attribute, no planner) and raw SQLite on a wide table with an
# index per column, all in this one run. Prints Markdown tables of median latencies and the ratios
# naive/eav and auto/wide (see bench/planner_bench.cc). Never fails on timing; fails when a run
# fails or the runs of one query disagree on the row count.
#
# usage: bench/planner.sh [--small] [--build DIR] [--entities N] [--out DIR]
#   --small       CI size: catalog of 20,000 entities, 5 runs per query
#   --build DIR   build directory holding bench/eavdb_planner_bench (default build/release)
#   --entities N  catalog size (default 200,000; the issue's full size is 1,000,000)
#   --out DIR     where the databases and results JSON go (default DIR/bench/planner)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build/release SMALL=0 ENTITIES=200000 OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --small) SMALL=1 ;;
    --build) BUILD=$2; shift ;;
    --entities) ENTITIES=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '9,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "planner.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-$BUILD/bench/planner}
DATA=${EAVDB_DATA_DIR:-${EAVDB_CACHE_DIR:-$HOME/.cache/eavdb}/vega-datasets-3.2.1/package/data}
REPS=15
if [ "$SMALL" = 1 ]; then ENTITIES=20000 REPS=5; fi
BIN=$BUILD/bench/eavdb_planner_bench
[ -x "$BIN" ] || { echo "planner.sh: $BIN not built" >&2; exit 1; }
mkdir -p "$OUT"
if [ -f "$DATA/zipcodes.csv" ]; then
  echo "+ $BIN --dataset zipcodes" >&2
  "$BIN" --dataset zipcodes --data-dir "$DATA" --work "$OUT" --reps "$REPS" --json "$OUT/zipcodes.json"
else
  echo "planner.sh: $DATA/zipcodes.csv missing (scripts/fetch-data.sh); skipping zipcodes" >&2
fi
echo "+ $BIN --dataset catalog --entities $ENTITIES" >&2
"$BIN" --dataset catalog --entities "$ENTITIES" --work "$OUT" --reps "$REPS" --json "$OUT/catalog.json"
rm -f "$OUT"/*.db "$OUT"/*.db-wal "$OUT"/*.db-shm "$OUT"/catalog.ndjson
