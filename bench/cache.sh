#!/usr/bin/env bash
# The cache benchmark: starts a throwaway redis-server on 127.0.0.1 (random port), then runs
#  1. bench/eavdb_cache_bench (Google Benchmark): L1/L2/L3/L4 hits beside their baselines
#     (std::unordered_map under a mutex, raw hiredis GET, uncached find, query execution) and
#     the ratio table;
#  2. the same binary's two-process invalidation test: propagation delay through Redis pub/sub;
#  3. bench/eavdb_cache_sim: hit ratios of W-TinyLFU, LRU and Bélády's optimum on Zipf, scan and
#     loop traces.
# Exits non-zero only when a program fails, never because a target is missed.
#
# usage: bench/cache.sh [--small] [--build DIR]
#   --small      CI size: short benchmark times, a 5,000-entity catalog, the simulator's --small
#   --build DIR  build directory (default build/release)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build/release SMALL=0
while [ $# -gt 0 ]; do
  case $1 in
    --small) SMALL=1 ;;
    --build) BUILD=$2; shift ;;
    *) echo "cache.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
BENCH=$BUILD/bench/eavdb_cache_bench SIM=$BUILD/bench/eavdb_cache_sim
[ -x "$BENCH" ] && [ -x "$SIM" ] || { echo "cache.sh: build $BENCH and $SIM first" >&2; exit 1; }

TMP=$(mktemp -d)
. "$ROOT/scripts/lib/redis.sh"
trap 'stop_redis; rm -rf "$TMP"' EXIT
start_redis "$TMP" || exit 1
export EAVDB_BENCH_REDIS=$REDIS_URL
# movies.json for the Zipf find benchmark (fetched and checksummed once, then cached).
[ -n "${EAVDB_DATA_DIR:-}" ] || EAVDB_DATA_DIR=$("$ROOT/scripts/fetch-data.sh") || EAVDB_DATA_DIR=
export EAVDB_DATA_DIR

if [ "$SMALL" -eq 1 ]; then
  export EAVDB_BENCH_CATALOG=5000
  BENCH_ARGS=(--benchmark_min_time=0.02)
  SIM_ARGS=(--small)
  PROP=100
else
  BENCH_ARGS=(--benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
  SIM_ARGS=()
  PROP=2000
fi
echo "+ $BENCH ${BENCH_ARGS[*]}" >&2
"$BENCH" "${BENCH_ARGS[@]}"
echo "+ $BENCH --propagation $PROP" >&2
"$BENCH" --propagation "$PROP"
echo "+ $SIM ${SIM_ARGS[*]}" >&2
"$SIM" "${SIM_ARGS[@]}"
