#!/usr/bin/env bash
# End-to-end tests of bulk operations with the real binary: bulk insert/upsert/update/delete/load
# from files and stdin, rejection exit codes, progress output, and an import killed with SIGKILL
# mid-way that leaves only whole transactions and is completed by an upsert rerun (and a bulk
# load, which drops its indexes and checkpoints in the background, killed the same way).
# Usage: bulk.sh EAVDB [DATA_DIR]
set -uo pipefail
EAVDB=$1
TMP=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib/check.sh"
DB="$TMP/b.db"
e() { "$EAVDB" --db "$DB" "$@"; }
count() { e query "SELECT COUNT(*) AS n FROM item${1:+ WHERE $1}" --format csv | tail -1; }

# --- bulk operations on a small type ----------------------------------------------------------
seq 1 1000 | awk '{printf "{\"sku\":\"S%d\",\"qty\":%d,\"price\":%d.%02d}\n", $1, $1, $1 % 50, $1 % 100}' > "$TMP/items.ndjson"
e import "$TMP/items.ndjson" --type item --key sku --quiet >/dev/null; expect_eq $? 0 "import with --key"
expect_eq "$(e types item --format json | jq -r '.attributes[] | select(.code == "sku") | .unique')" true "key declared unique"
expect_eq "$(count)" 1000 "imported count"

# update from stdin by id, one bad record -> exit 3, others applied
printf '{"id":1,"qty":-1}\n{"id":2,"qty":"oops"}\n{"id":3,"qty":-3}\n{"id":999999,"qty":-9}\n' |
  e bulk update item - --quiet --rejects "$TMP/rej.ndjson" > "$TMP/out" 2> "$TMP/err"; rc=$?
expect_eq "$rc" 3 "bulk update with rejections exits 3"
expect_eq "$(count 'qty < 0')" 2 "good updates applied"
expect_eq "$(jq -s -c '[.[].record]' "$TMP/rej.ndjson")" "[2,4]" "rejected records listed in input order"
grep -q "2 updated" "$TMP/out" && ok || bad "summary: $(cat "$TMP/out")"

# upsert by key from a CSV file: one update, one insert
printf 'sku,qty\nS10,1010\nS2000,2000\n' > "$TMP/up.csv"
e bulk upsert item "$TMP/up.csv" --key sku --quiet > "$TMP/out"; expect_eq $? 0 "bulk upsert"
grep -q "1 inserted, 1 updated" "$TMP/out" && ok || bad "upsert summary: $(cat "$TMP/out")"
expect_eq "$(e query "SELECT qty FROM item WHERE sku = 'S10'" --format csv | tail -1)" 1010 "upsert updated"
expect_eq "$(count)" 1001 "upsert inserted one"

# delete by ids and by where; load in request order
printf '5\n6\n7\n' | e bulk delete item --quiet >/dev/null; expect_eq $? 0 "bulk delete ids"
e bulk delete item --where 'qty >= ?' -p 900 --quiet >/dev/null; expect_eq $? 0 "bulk delete where"
expect_eq "$(count 'qty >= 900')" 0 "deleted by where"
expect_eq "$(printf '9\n8\n5\n' | e bulk load item --format json 2>"$TMP/err" | jq -c '[.[].id]')" "[9,8]" "load keeps request order"
grep -q "item 5 does not exist" "$TMP/err" && ok || bad "missing id reported: $(cat "$TMP/err")"

# progress: plain lines when stderr is not a terminal, nothing with --quiet
seq 1 30000 | awk '{printf "{\"sku\":\"P%d\",\"qty\":%d}\n", $1, $1}' > "$TMP/p.ndjson"
e bulk insert item "$TMP/p.ndjson" --transaction-size 5000 2> "$TMP/progress" >/dev/null
grep -q "bulk insert: 30,000" "$TMP/progress" && ok || bad "progress lines: $(head -3 "$TMP/progress")"
e bulk delete item --where "sku LIKE 'P%'" --quiet 2> "$TMP/progress" >/dev/null
expect_eq "$(wc -c < "$TMP/progress")" 0 "--quiet silences progress"

# --- SIGKILL mid-import, integrity, upsert rerun -------------------------------------------
BIG="$TMP/big.ndjson"
N=200000
seq 1 $N | awk '{printf "{\"sku\":\"K%d\",\"n\":%d,\"price\":%d.%02d,\"tag\":\"t%d\"}\n", $1, $1, $1 % 1000, $1 % 100, $1 % 7}' > "$BIG"
KDB="$TMP/kill.db"
# kill_mid_import DB MIN ERRFILE IMPORT-ARGS...: start `eavdb --db DB import IMPORT-ARGS` in the
# background, poll until at least MIN entities are committed (slow under sanitizers: allow
# minutes), then SIGKILL it. The poller opens the file while the importer creates it: both must
# succeed.
kill_mid_import() {
  local db=$1 min=$2 err=$3 pid committed
  shift 3
  "$EAVDB" --db "$db" import "$@" --quiet >/dev/null 2>"$err" &
  pid=$!
  for _ in $(seq 1 3000); do
    sleep 0.05
    kill -0 $pid 2>/dev/null || { bad "the import exited before it was killed: $(head -c 300 "$err")"; break; }
    committed=$("$EAVDB" --db "$db" query 'SELECT COUNT(*) FROM big' --format csv 2>/dev/null | tail -1)
    [[ "$committed" =~ ^[0-9]+$ ]] && [ "$committed" -ge "$min" ] && break
  done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  return 0
}
kill_mid_import "$KDB" 3000 "$TMP/kill.err" "$BIG" --type big --key sku --transaction-size 1000
after=$("$EAVDB" --db "$KDB" query 'SELECT COUNT(*) FROM big' --format csv | tail -1)
[ "$after" -gt 0 ] && [ "$after" -lt $N ] && ok || bad "kill did not land mid-import (count $after of $N)"
expect_eq "$("$EAVDB" --db "$KDB" check)" ok "integrity after SIGKILL"
expect_eq "$((after % 1000))" 0 "only whole transactions remain ($after entities)"
"$EAVDB" --db "$KDB" bulk upsert big "$BIG" --key sku --quiet >/dev/null; expect_eq $? 0 "upsert rerun"
expect_eq "$("$EAVDB" --db "$KDB" query 'SELECT COUNT(*) FROM big' --format csv | tail -1)" $N "complete after rerun"
expect_eq "$("$EAVDB" --db "$KDB" query 'SELECT sku, COUNT(*) AS c FROM big GROUP BY sku ORDER BY c DESC LIMIT 1' --format json | jq '.[0].c')" 1 "no duplicates after rerun"
expect_eq "$("$EAVDB" --db "$KDB" query "SELECT n, price FROM big WHERE sku = 'K123457'" --format json | jq -c '.[0]')" '{"n":123457,"price":457.57}' "values intact"
expect_eq "$("$EAVDB" --db "$KDB" check)" ok "integrity after rerun"

# --- SIGKILL mid bulk load: indexes dropped, WAL checkpointed on a second thread ---------------
# Without a key the import into an empty store is a bulk load: it drops the value indexes and
# checkpoints the WAL in the background while it commits. Killed mid-way, the file must hold only
# whole transactions, pass the integrity check, and get its indexes back on the next open.
LDB="$TMP/load.db"
kill_mid_import "$LDB" 20000 "$TMP/load.err" "$BIG" --type big --transaction-size 1000
after=$("$EAVDB" --db "$LDB" query 'SELECT COUNT(*) FROM big' --format csv | tail -1)
[ "$after" -gt 0 ] && [ "$after" -lt $N ] && ok || bad "kill did not land mid-load (count $after of $N)"
expect_eq "$("$EAVDB" --db "$LDB" check)" ok "integrity after SIGKILL of a bulk load"
expect_eq "$((after % 1000))" 0 "only whole transactions of the bulk load remain ($after entities)"
expect_eq "$("$EAVDB" --db "$LDB" query "SELECT COUNT(*) FROM big WHERE tag = 't3' AND n <= $after" --format csv | tail -1)" \
  "$("$EAVDB" --db "$LDB" query "SELECT COUNT(*) FROM big WHERE tag = 't3'" --format csv | tail -1)" "values of whole records only"
if command -v sqlite3 >/dev/null; then
  expect_eq "$(sqlite3 "$LDB" "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE 'eav_%'")" \
    "$(sqlite3 "$KDB" "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE 'eav_%'")" "indexes rebuilt on open"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
