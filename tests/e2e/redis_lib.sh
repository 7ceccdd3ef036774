#!/usr/bin/env bash
# Tests of scripts/lib/redis.sh, the throwaway redis-server that bench/cache.sh and e2e/cache.sh
# run against. Regression: bench.cache_small once ran its benchmarks against a Redis that never
# answered (a random port, no check) and failed with unrelated-looking errors; and its EXIT trap
# turned a killed server's status 137 into the script's exit status under `set -e`.
# Usage: redis_lib.sh EAVDB DATA_DIR (both unused)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib/check.sh"
. "$ROOT/scripts/lib/redis.sh"
TMP=$(mktemp -d)
trap 'stop_redis; rm -rf "$TMP"' EXIT
if ! redis_available; then
  echo "redis-server not installed: skipped"
  exit 0
fi

start_redis "$TMP"; expect_eq $? 0 "start_redis"
expect_eq "$(redis-cli -p "$REDIS_PORT" ping)" PONG "server answers on REDIS_PORT"
expect_eq "$REDIS_URL" "redis://127.0.0.1:$REDIS_PORT" "REDIS_URL"
[ "$REDIS_PORT" -ge 20000 ] && [ "$REDIS_PORT" -lt 32768 ] && ok || bad "port $REDIS_PORT outside 20000-32767"
port_listening "$REDIS_PORT" && ok || bad "port_listening misses a live server"
port=$REDIS_PORT
stop_redis
port_listening "$port" && bad "port_listening after stop_redis" || ok
expect_eq "$REDIS_PID" "" "stop_redis clears REDIS_PID"

# A server that cannot start: start_redis gives up with status 1 and says so.
out=$(REDIS_SERVER=/bin/false; start_redis "$TMP" 2>&1); rc=$?
expect_eq "$rc" 1 "start_redis with a failing binary"
echo "$out" | grep -q "no redis-server answered" && ok || bad "failure message: $out"

# A caller under set -e whose EXIT trap stops the server exits 0.
bash -c "set -euo pipefail; . '$ROOT/scripts/lib/redis.sh'; trap stop_redis EXIT; start_redis '$TMP'" \
  >/dev/null 2>&1
expect_eq $? 0 "set -e caller with stop_redis in its EXIT trap"

echo "redis_lib e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
