#!/usr/bin/env bash
# Runs the whole test suite: dependencies, the real datasets, a warnings-as-errors Release build
# and an ASan+UBSan build, each through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export EAVDB_DATA_DIR=$(scripts/fetch-data.sh)
for preset in ci asan; do
  echo "== $preset build =="
  scripts/build.sh "$preset"
  echo "== $preset tests =="
  ctest --preset "$preset" -j "$(nproc)"
done
