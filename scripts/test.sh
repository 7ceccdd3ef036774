#!/usr/bin/env bash
# Runs the whole test suite: dependencies, the real datasets, a warnings-as-errors Release build
# and an ASan+UBSan build, each through CTest, then the concurrent tests under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export EAVDB_DATA_DIR=$(scripts/fetch-data.sh)
echo "== ci build (Release, -Werror) =="
scripts/build.sh ci
ctest --preset ci -j "$(nproc)"
echo "== asan build (ASan + UBSan) =="
scripts/build.sh asan
# The sanitizer run looks for memory errors; the full differential query count ran above.
EAVDB_DIFFERENTIAL_QUERIES=200 ctest --preset asan -j "$(nproc)"
echo "== tsan build (ThreadSanitizer: concurrent reads/writes, pipelined bulk inserts) =="
scripts/build.sh tsan
ctest --preset tsan
