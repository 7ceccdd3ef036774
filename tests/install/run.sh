#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds tests/install as a consumer with
# find_package(eavdb), and runs it with the build's compiler/linker flags (sanitizers).
# Usage: run.sh BUILD_DIR SOURCE_DIR [CXX_FLAGS] [LINKER_FLAGS]
set -euo pipefail
BUILD=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
test -x "$TMP/prefix/bin/eavdb"
test -f "$TMP/prefix/include/eavdb/database.h"
cmake -S "$SRC/tests/install" -B "$TMP/build" -G Ninja -DCMAKE_PREFIX_PATH="$TMP/prefix" \
  -DCMAKE_CXX_FLAGS="${3:-}" -DCMAKE_EXE_LINKER_FLAGS="${4:-}" >/dev/null
cmake --build "$TMP/build" >/dev/null
out=$("$TMP/build/consumer" "$TMP/c.db")
[ "$out" == "hello" ] || { echo "consumer printed '$out'"; exit 1; }
"$TMP/prefix/bin/eavdb" --db "$TMP/c.db" types note --format json | grep -q '"body"'
echo "1 passed, 0 failed"
