#!/usr/bin/env bash
# One command on a fresh Debian machine: install dependencies, build (Release), fetch the real
# datasets and run the main job (import + example queries) on the embedded SQLite default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh release
DATA=$(scripts/fetch-data.sh)
exec scripts/demo.sh build/release/eavdb "$DATA"
