#!/usr/bin/env bash
# Installs the Debian packages eavdb needs, when missing. Idempotent and non-interactive.
set -euo pipefail
PACKAGES=(build-essential cmake ninja-build pkg-config git ca-certificates sqlite3
  libsqlite3-dev libsimdjson-dev libcsv-dev libcli11-dev libfmt-dev rapidjson-dev
  libgtest-dev libgmock-dev libbenchmark-dev jq time
  redis-server libhiredis-dev libmsgpack-cxx-dev libxxhash-dev
  libboost-dev libssl-dev curl ccache
  postgresql-15 libpq-dev libgoogle-perftools-dev google-perftools wrk nginx
  chromium)  # the dashboard's browser test (tests/e2e/dashboard.sh) drives it headless
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the datasets; a machine may already have Node.js from elsewhere, whose npm the
# Debian package would conflict with.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
