#!/usr/bin/env bash
# End-to-end tests of `eavdb loadtest` against a real `eavdb serve` on a free loopback port, and
# of `eavdb serve --cpu-profile/--heap-profile` (profiles written and non-empty after SIGTERM).
# Counts only, never timing: the server answers every request well inside the generous timeout.
# Usage: loadtest.sh EAVDB [DATA_DIR]
set -uo pipefail
EAVDB=$1
TMP=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib/check.sh"
DB="$TMP/l.db"
e() { "$EAVDB" --db "$DB" "$@"; }

e init >/dev/null || { echo "init failed" >&2; exit 1; }
printf '{"title":"t%d","year":%d}\n' $(for i in $(seq 1 50); do echo "$i $((1950 + i))"; done) > "$TMP/items.ndjson"
e import "$TMP/items.ndjson" --type item -q >/dev/null || { echo "import failed" >&2; exit 1; }
WRITER=$(e token create --tenant default --role write 2>/dev/null)

# start_server NAME ARGS...: starts a server on a free port, sets PORT and PID; returns 1 (the
# error in $TMP/NAME.err) when the server exits instead of listening.
start_server() {
  local name=$1; shift
  "$EAVDB" --db "$DB" serve --listen 127.0.0.1:0 "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" &
  PID=$! PORT=""
  for _ in $(seq 1 400); do
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$TMP/$name.err" 2>/dev/null | grep -o '[0-9]*$')
    [ -n "$PORT" ] && return 0
    kill -0 "$PID" 2>/dev/null || return 1
    sleep 0.05
  done
  echo "server $name did not start: $(cat "$TMP/$name.err")" >&2
  exit 1
}

# --- a mixed run against the real server ---------------------------------------------------------
start_server main --rate-limit 0 || { echo "server main failed: $(cat "$TMP/main.err")" >&2; exit 1; }
U="http://127.0.0.1:$PORT"
"$EAVDB" loadtest "$U" --rate 200 --duration 1 --warmup 0.2 --connections 4 --timeout 60 --type item --ids 1-50 \
  --mix get=80,query=15,put=5 --put-body '{"year":2000}' --token "$WRITER" --json "$TMP/r.json" > "$TMP/r.txt" 2>&1
expect_eq $? 0 "loadtest exit status"
grep -q 'latency (ms, from the scheduled send time)' "$TMP/r.txt" && ok || bad "text report: $(cat "$TMP/r.txt")"
expect_eq "$(jq .scheduled "$TMP/r.json")" 200 "scheduled = rate x duration"
expect_eq "$(jq .warmup_requests "$TMP/r.json")" 40 "warm-up requests"
expect_eq "$(jq .completed "$TMP/r.json")" 200 "every request answered"
expect_eq "$(jq .ok "$TMP/r.json")" 200 "every answer 2xx"
expect_eq "$(jq .error_count "$TMP/r.json")" 0 "no errors"
expect_eq "$(jq .latency.count "$TMP/r.json")" 200 "latencies recorded"
expect_eq "$(jq '[.sent.get, .sent.query, .sent.put] | add' "$TMP/r.json")" 200 "sent by kind adds up"
expect_eq "$(jq '.sent.get > .sent.put and .sent.query > 0' "$TMP/r.json")" true "mix respected"
expect_eq "$(jq '.latency.p50_ms <= .latency.p99_ms and .latency.p99_ms <= .latency.max_ms and .latency.max_ms > 0' "$TMP/r.json")" true "percentiles ordered"
expect_eq "$(jq '[.histogram_ns[][1]] | add' "$TMP/r.json")" 200 "histogram buckets hold every request"
# The server saw them: its request counter for the entity route grew by the GETs and PATCHes.
curl -s "$U/metrics" > "$TMP/metrics"
served=$(grep '^eavdb_http_requests_total{' "$TMP/metrics" | grep -v 'route="/metrics"' | awk '{s += $2} END {print s}')
[ "${served:-0}" -ge 240 ] && ok || bad "server counted ${served:-0} requests, expected >= 240"

# Status errors are counted by code: a read-only token's PATCHes get 403, unknown ids 404.
READER=$(e token create --tenant default --role read 2>/dev/null)
"$EAVDB" loadtest "$U" --rate 100 --duration 0.5 --warmup 0 --connections 2 --timeout 60 --type item --ids 51-60 \
  --mix get=1 --token "$READER" --json "$TMP/r404.json" > /dev/null 2>&1
expect_eq "$(jq '.errors.status_404' "$TMP/r404.json")" 50 "404s counted by status"
"$EAVDB" loadtest "$U" --rate 100 --duration 0.5 --warmup 0 --connections 2 --timeout 60 --type item --ids 1-50 \
  --mix put=1 --put-body '{"year":1}' --token "$READER" --json "$TMP/r403.json" > /dev/null 2>&1
expect_eq "$(jq '.errors.status_403' "$TMP/r403.json")" 50 "403s counted by status"
"$EAVDB" loadtest "$U" --rate 100 --duration 0.5 --warmup 0 --connections 2 --timeout 60 --type item --ids 1-50 \
  --json "$TMP/r401.json" --token "" > /dev/null 2>&1
expect_eq "$(jq '.errors.status_401' "$TMP/r401.json")" 50 "no token: 401s"
kill -TERM "$PID"; wait "$PID"; expect_eq $? 0 "server exits 0 on SIGTERM"

# Connection refused: nothing listens on that port any more.
"$EAVDB" loadtest "$U" --rate 50 --duration 0.2 --warmup 0 --connections 1 --json "$TMP/rc.json" > /dev/null 2>&1
expect_eq "$(jq '.errors.connect' "$TMP/rc.json")" 10 "connect errors counted"

# --- refusals and bounds ----------------------------------------------------------------------------
out=$("$EAVDB" loadtest http://192.0.2.7:8080 --duration 1 2>&1); rc=$?
expect_eq $rc 1 "non-loopback target refused"
grep -q -- '--allow-remote' <<< "$out" && ok || bad "refusal names --allow-remote: $out"
out=$("$EAVDB" loadtest "$U" --duration 700 2>&1); rc=$?
expect_eq $rc 1 "over --max-duration refused"
grep -q -- '--max-duration' <<< "$out" && ok || bad "names --max-duration: $out"
out=$("$EAVDB" loadtest "$U" --mix get=1,bogus=2 2>&1); rc=$?
expect_eq $rc 1 "bad mix refused"
grep -q "unknown kind 'bogus'" <<< "$out" && ok || bad "names the bad kind: $out"
out=$("$EAVDB" loadtest "$U" --ids 9-3 2>&1); rc=$?
expect_eq $rc 1 "bad id range refused"
out=$("$EAVDB" loadtest https://127.0.0.1:1 2>&1); rc=$?
expect_eq $rc 1 "https refused"

# --- profiling ------------------------------------------------------------------------------------
if ! start_server prof --rate-limit 0 --cpu-profile "$TMP/cpu.prof" --heap-profile "$TMP/heap"; then
  # Sanitizer builds leave gperftools out; then the options must say so, and nothing else fails.
  grep -q 'built without gperftools' "$TMP/prof.err" && ok || bad "profiled server failed: $(cat "$TMP/prof.err")"
  echo "loadtest.sh: this build has no gperftools; profile checks skipped" >&2
else
  "$EAVDB" loadtest "http://127.0.0.1:$PORT" --rate 50 --duration 1 --warmup 0 --connections 2 --timeout 60 \
    --type item --ids 1-50 --token "$WRITER" --json "$TMP/rp.json" > /dev/null 2>&1
  expect_eq "$(jq .completed "$TMP/rp.json")" 50 "requests answered while profiling"
  kill -TERM "$PID"; wait "$PID"; expect_eq $? 0 "profiled server exits 0"
  [ -s "$TMP/cpu.prof" ] && ok || bad "CPU profile missing or empty"
  heap=$(ls "$TMP"/heap.*.heap 2>/dev/null | tail -1)
  [ -n "$heap" ] && [ -s "$heap" ] && ok || bad "heap profile missing or empty"
  grep -q 'heap profile' "$heap" && ok || bad "heap profile header"
  if command -v google-pprof >/dev/null; then
    google-pprof --text "$EAVDB" "$TMP/cpu.prof" > "$TMP/pprof.txt" 2>/dev/null
    grep -q 'Total:' "$TMP/pprof.txt" && ok || bad "google-pprof reads the CPU profile: $(head -5 "$TMP/pprof.txt")"
  fi
fi

echo "loadtest.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
