#!/usr/bin/env bash
# Browser test of the live dashboard: headless Chromium (Debian `chromium`) driven by
# playwright-core (npm, pinned version + sha256, unpacked into the cache dir, never committed)
# opens /dashboard against a server under light load, checks that the tiles and charts change
# between two samples, and saves a screenshot under the build dir (test-artifacts/dashboard.png).
# Usage: dashboard.sh EAVDB [DATA_DIR]
set -euo pipefail
EAVDB=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
PW_VERSION=1.65.1
PW_SHA256=6f5a60be62a4fddfbe7d10c448d8fbd54547da3358f2f8a04211440471ee863e
CACHE=${EAVDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eavdb}
PW_DIR="$CACHE/playwright-core-$PW_VERSION"
ARTIFACTS="$(dirname "$EAVDB")/test-artifacts"

CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
[ -n "$CHROMIUM" ] || { echo "dashboard: the Debian package 'chromium' is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
command -v node >/dev/null || { echo "dashboard: node is not installed" >&2; exit 1; }
if [ ! -f "$PW_DIR/package/package.json" ]; then
  mkdir -p "$PW_DIR"
  TARBALL="$PW_DIR/playwright-core-$PW_VERSION.tgz"
  if [ ! -f "$TARBALL" ]; then
    echo "dashboard: npm pack playwright-core@$PW_VERSION" >&2
    (cd "$PW_DIR" && npm pack --silent "playwright-core@$PW_VERSION" >/dev/null)
  fi
  echo "$PW_SHA256  $TARBALL" | sha256sum -c --quiet - ||
    { echo "dashboard: checksum mismatch for $TARBALL" >&2; rm -f "$TARBALL"; exit 1; }
  tar -xzf "$TARBALL" -C "$PW_DIR"  # playwright-core has no dependencies of its own
fi

TMP=$(mktemp -d)
SERVER_PID="" LOAD_PID=""
cleanup() {
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
  [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
DB="$TMP/d.db"
"$EAVDB" --db "$DB" init >/dev/null
TOKEN=$("$EAVDB" --db "$DB" token create --tenant acme --role admin 2>/dev/null)
"$EAVDB" --db "$DB" serve --listen 127.0.0.1:0 > "$TMP/out" 2> "$TMP/err" &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 200); do
  PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$TMP/err" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || { echo "dashboard: server did not start: $(cat "$TMP/err")" >&2; exit 1; }
U="http://127.0.0.1:$PORT"
A=(-s -o /dev/null -H "Authorization: Bearer $TOKEN")
curl "${A[@]}" -X POST "$U/v1/types" -d '{"code":"item","attributes":[{"code":"name","type":"varchar"},{"code":"n","type":"int"}]}'
seq 1 200 | awk '{printf "{\"name\":\"i%d\",\"n\":%d}\n", $1, $1 % 7}' > "$TMP/items.ndjson"
curl "${A[@]}" -X POST "$U/v1/bulk/item?op=insert" --data-binary @"$TMP/items.ndjson"
# Light load for the whole test (bounded: at most 10 minutes): gets (L2 hits), queries, a bulk.
(
  end=$((SECONDS + 600)); i=0
  while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    curl "${A[@]}" "$U/v1/entities/item/$((i % 200 + 1))"
    curl "${A[@]}" "$U/v1/entities/item/$((i % 50 + 1))"
    curl "${A[@]}" -X POST "$U/v1/query" -d "{\"sql\":\"SELECT COUNT(*) FROM item WHERE n = ?\",\"params\":[$((i % 7))]}"
    [ $((i % 20)) -eq 0 ] && curl "${A[@]}" -X POST "$U/v1/bulk/item?op=insert" --data-binary '{"name":"more","n":1}'
    sleep 0.05
  done
) &
LOAD_PID=$!

mkdir -p "$ARTIFACTS"
EAVDB_DASHBOARD_URL="$U/dashboard" PLAYWRIGHT_CORE="$PW_DIR/package" CHROMIUM="$CHROMIUM" \
  SCREENSHOT="$ARTIFACTS/dashboard.png" node "$HERE/dashboard.cjs"
echo "dashboard: screenshot saved to $ARTIFACTS/dashboard.png"
