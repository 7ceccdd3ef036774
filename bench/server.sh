#!/usr/bin/env bash
# The HTTP server benchmark, in one run on this machine:
#  (a) throughput: `eavdb serve` with the movies database (movies.json imported, cache warmed),
#      wrk against GET /v1/entities/movie/{id} beside wrk against nginx (started here with its own
#      prefix and config in a temporary directory, on another loopback port, serving a static file
#      holding the same JSON body); prints both req/s and the ratio (target: eavdb >= 50% of nginx);
#  (b) latency: `eavdb loadtest` at 50% of the eavdb req/s measured in (a), random movie ids,
#      latency from the scheduled send time (target: p99 < 2 ms);
#  (c) soak: `eavdb loadtest` with 1,000 connections for 60 s at that rate; errors and the
#      server's RSS sampled over time (targets: zero errors, RSS at the end within 10% of the RSS
#      after the warm-up).
# Exits non-zero only when a program fails (server, nginx, wrk, loadtest), never because a target
# is missed; --quick (the CI size, ctest bench.server_small) uses tiny durations.
#
# usage: bench/server.sh [--quick] [--build DIR] [--out FILE]
#   --build DIR  build directory (default build/release)
#   --out FILE   also write the figures as JSON here
# EAVDB_SERVE_ARGS (environment): extra `eavdb serve` arguments, e.g. --no-inline-reads to measure
# the worker path alone.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build/release QUICK=0 OUT=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --build) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) echo "server.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
EAVDB=$BUILD/eavdb
[ -x "$EAVDB" ] || { echo "server.sh: build $EAVDB first" >&2; exit 1; }
for tool in wrk curl jq; do
  command -v $tool >/dev/null || { echo "server.sh: $tool is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "server.sh: nginx is missing (scripts/deps.sh installs it)" >&2; exit 1; }
[ -n "${EAVDB_DATA_DIR:-}" ] || EAVDB_DATA_DIR=$("$ROOT/scripts/fetch-data.sh")
MOVIES=$EAVDB_DATA_DIR/movies.json
[ -f "$MOVIES" ] || { echo "server.sh: $MOVIES not found" >&2; exit 1; }

if [ "$QUICK" -eq 1 ]; then
  WRK_SECONDS=1 WRK_CONNS=16 LT_SECONDS=1 LT_WARMUP=0.5 SOAK_SECONDS=2 SOAK_WARMUP=1 SOAK_CONNS=100 SAMPLE=0.5
else
  WRK_SECONDS=10 WRK_CONNS=64 LT_SECONDS=20 LT_WARMUP=3 SOAK_SECONDS=60 SOAK_WARMUP=5 SOAK_CONNS=1000 SAMPLE=5
fi
# 1,000 client connections plus as many server sockets in one machine: raise the open-file limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((2 * SOAK_CONNS + 256)) ] ||
  { echo "server.sh: ulimit -n $(ulimit -n) is too low for $SOAK_CONNS connections" >&2; exit 1; }

TMP=$(mktemp -d)
SERVER_PID= NGINX_PID= SAMPLER_PID=
cleanup() {
  for p in $SAMPLER_PID $NGINX_PID $SERVER_PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
run() { echo "+ $*" >&2; "$@"; }

# --- the eavdb server with the movies ---------------------------------------------------------------
"$EAVDB" --db "$TMP/movies.db" import "$MOVIES" --type movie -q >/dev/null
"$EAVDB" --db "$TMP/movies.db" serve --listen 127.0.0.1:0 --no-auth --rate-limit 0 --max-in-flight 100000 \
  ${EAVDB_SERVE_ARGS:-} 2> "$TMP/serve.err" &
SERVER_PID=$!
PORT=
for _ in $(seq 1 400); do
  PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$TMP/serve.err" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || { echo "server.sh: eavdb serve did not start: $(cat "$TMP/serve.err")" >&2; exit 1; }
U=http://127.0.0.1:$PORT
IDS=1-$(jq length "$MOVIES")
ID=42
# Warm the cache: every movie once, over one keep-alive connection (a curl config of url/output pairs).
seq 1 "${IDS#1-}" | awk -v u="$U" '{printf "url = \"%s/v1/entities/movie/%s\"\noutput = \"/dev/null\"\n", u, $1}' > "$TMP/warm.curl"
curl -s -K "$TMP/warm.curl"
curl -sf "$U/v1/entities/movie/$ID" -o "$TMP/body.json"

# --- nginx serving the same body ------------------------------------------------------------------
# nginx's workers drop root privileges, so the document root must be readable by anyone.
chmod 755 "$TMP"
mkdir -p "$TMP/nginx/www/v1/entities/movie" "$TMP/nginx/logs"
chmod -R a+rX "$TMP/nginx"
install -m 644 "$TMP/body.json" "$TMP/nginx/www/v1/entities/movie/$ID"
# A random port; nginx exits when it is taken, and then another one is tried.
for attempt in 1 2 3 4 5; do
  NPORT=$((20000 + RANDOM % 20000))
  cat > "$TMP/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  server_tokens off;
  keepalive_requests 1000000;
  client_body_temp_path $TMP/nginx/tmp_body;
  proxy_temp_path $TMP/nginx/tmp_proxy;
  fastcgi_temp_path $TMP/nginx/tmp_fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp_uwsgi;
  scgi_temp_path $TMP/nginx/tmp_scgi;
  server {
    listen 127.0.0.1:$NPORT;
    root $TMP/nginx/www;
    default_type application/json;
  }
}
CONF
  "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" &
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    kill -0 "$NGINX_PID" 2>/dev/null || break
    curl -sf "http://127.0.0.1:$NPORT/v1/entities/movie/$ID" -o /dev/null && break
    sleep 0.05
  done
  kill -0 "$NGINX_PID" 2>/dev/null && break
  wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=
done
cmp -s "$TMP/body.json" <(curl -sf "http://127.0.0.1:$NPORT/v1/entities/movie/$ID") ||
  { echo "server.sh: nginx does not serve the body: $(tail -5 "$TMP/nginx/logs/error.log")" >&2; exit 1; }

# --- (a) wrk: eavdb versus nginx --------------------------------------------------------------------
wrk_rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
run wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECONDS}s" --latency "$U/v1/entities/movie/$ID" > "$TMP/wrk-eavdb.txt"
run wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECONDS}s" --latency "http://127.0.0.1:$NPORT/v1/entities/movie/$ID" > "$TMP/wrk-nginx.txt"
E_RPS=$(wrk_rps "$TMP/wrk-eavdb.txt") N_RPS=$(wrk_rps "$TMP/wrk-nginx.txt")
[ -n "$E_RPS" ] && [ -n "$N_RPS" ] || { echo "server.sh: wrk printed no Requests/sec" >&2; cat "$TMP"/wrk-*.txt >&2; exit 1; }
E_NON2XX=$(awk '/Non-2xx/ {print $NF}' "$TMP/wrk-eavdb.txt"); E_NON2XX=${E_NON2XX:-0}
RATIO=$(awk -v e="$E_RPS" -v n="$N_RPS" 'BEGIN {printf "%.3f", (n > 0 ? e / n : 0)}')
echo "== (a) cached GET /v1/entities/movie/$ID, wrk -t2 -c$WRK_CONNS -d${WRK_SECONDS}s, body $(wc -c < "$TMP/body.json") bytes"
printf '   eavdb  %10.0f req/s  (non-2xx %s)\n   nginx  %10.0f req/s\n   ratio  %10s (target >= 0.5)\n' \
  "$E_RPS" "$E_NON2XX" "$N_RPS" "$RATIO"
kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=

# --- (b) loadtest at half the measured maximum -------------------------------------------------------
HALF=$(awk -v e="$E_RPS" 'BEGIN {r = int(e / 2); print (r < 1 ? 1 : r)}')
run "$EAVDB" loadtest "$U" --rate "$HALF" --duration "$LT_SECONDS" --warmup "$LT_WARMUP" --connections 16 \
  --ids "$IDS" --json "$TMP/half.json" > "$TMP/half.txt"
echo "== (b) eavdb loadtest at 50% of max ($HALF req/s, 16 connections, ${LT_SECONDS}s), random ids $IDS"
sed 's/^/   /' "$TMP/half.txt"
P99=$(jq .latency.p99_ms "$TMP/half.json")
echo "   p99 $P99 ms (target < 2 ms)"

# --- (c) soak: many connections, errors and RSS over time --------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
( start=$(date +%s.%N)
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    printf '%s %s\n' "$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')" "$(rss_kb)"
    sleep "$SAMPLE"
  done ) > "$TMP/rss.txt" &
SAMPLER_PID=$!
run "$EAVDB" loadtest "$U" --rate "$HALF" --duration "$SOAK_SECONDS" --warmup "$SOAK_WARMUP" --connections "$SOAK_CONNS" \
  --timeout 10 --ids "$IDS" --json "$TMP/soak.json" > "$TMP/soak.txt"
kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=
RSS_WARM=$(awk -v w="$SOAK_WARMUP" '$1 >= w {print $2; exit}' "$TMP/rss.txt")
RSS_END=$(tail -1 "$TMP/rss.txt" | awk '{print $2}')
RSS_WARM=${RSS_WARM:-$RSS_END}
RSS_GROWTH=$(awk -v a="$RSS_WARM" -v b="$RSS_END" 'BEGIN {printf "%.1f", (a > 0 ? (b - a) * 100 / a : 0)}')
SOAK_ERRORS=$(jq .error_count "$TMP/soak.json")
echo "== (c) soak: $SOAK_CONNS connections, ${SOAK_SECONDS}s at $HALF req/s"
sed 's/^/   /' "$TMP/soak.txt"
echo "   server RSS over time (s, KiB):"
awk '{printf "     %6s %8s\n", $1, $2}' "$TMP/rss.txt"
echo "   errors $SOAK_ERRORS (target 0); RSS after warm-up $RSS_WARM KiB, at end $RSS_END KiB: ${RSS_GROWTH}% (target within 10%)"

if [ -n "$OUT" ]; then
  jq -n --argjson e "$E_RPS" --argjson n "$N_RPS" --argjson ratio "$RATIO" --argjson half "$HALF" \
    --slurpfile b "$TMP/half.json" --slurpfile c "$TMP/soak.json" --argjson rw "$RSS_WARM" --argjson re "$RSS_END" \
    --argjson quick "$QUICK" \
    '{quick: ($quick == 1), wrk: {eavdb_rps: $e, nginx_rps: $n, ratio: $ratio}, half_rate: $half,
      loadtest: $b[0] | del(.histogram_ns), soak: ($c[0] | del(.histogram_ns)), soak_rss_kb: {after_warmup: $rw, end: $re}}' > "$OUT"
fi
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; SERVER_PID=
