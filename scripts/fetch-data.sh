#!/usr/bin/env bash
# Fetches the real datasets (vega-datasets 3.2.1 from the npm registry), verifies the tarball's
# sha256 and caches it outside git. Prints the data directory on stdout.
set -euo pipefail
VERSION=3.2.1
SHA256=6f72fda460a9863fae5fcb32f85bcd49e1761fdea6dc6cf9f4962472881cc5a3
CACHE=${EAVDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eavdb}
DIR="$CACHE/vega-datasets-$VERSION"
TARBALL="$DIR/vega-datasets-$VERSION.tgz"
if [ ! -f "$DIR/package/data/movies.json" ]; then
  mkdir -p "$DIR"
  if [ ! -f "$TARBALL" ]; then
    echo "fetch-data: npm pack vega-datasets@$VERSION" >&2
    (cd "$DIR" && npm pack --silent "vega-datasets@$VERSION" >/dev/null)
  fi
  echo "$SHA256  $TARBALL" | sha256sum -c --quiet - || { echo "fetch-data: checksum mismatch for $TARBALL" >&2; rm -f "$TARBALL"; exit 1; }
  tar -xzf "$TARBALL" -C "$DIR"
fi
echo "$DIR/package/data"
