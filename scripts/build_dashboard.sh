#!/usr/bin/env bash
# Build the review dashboard's run-time asset: Chart.js, installed from npm with the
# lockfile (dashboard/package-lock.json) and copied to build/static/chart.umd.js,
# which the API serves at /dashboard/static/vendor/chart.umd.js. The dashboard never
# loads anything from a CDN. A second run with an unchanged lockfile does nothing
# (no network), so it is safe to call from every `make run` / `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/static
BUNDLE=dashboard/node_modules/chart.js/dist/chart.umd.js
STAMP=$OUT/.chartjs-lock-sha256

want=$(sha256sum dashboard/package-lock.json | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f "$OUT/chart.umd.js" ]; then
  echo "dashboard: up to date ($OUT/chart.umd.js)"
  exit 0
fi

# Already installed from this very lockfile (npm writes its own copy): no npm ci,
# so an offline machine that has node_modules still builds.
installed=dashboard/node_modules/.package-lock.json
if [ -f "$BUNDLE" ] && [ -f "$installed" ] \
    && grep -q '"node_modules/chart.js"' "$installed" \
    && [ "$(node -p 'require("./dashboard/node_modules/chart.js/package.json").version' 2>/dev/null)" \
         = "$(node -p 'require("./dashboard/package-lock.json").packages["node_modules/chart.js"].version' 2>/dev/null)" ]; then
  echo "dashboard: chart.js already installed from dashboard/package-lock.json"
else
  if ! command -v npm >/dev/null 2>&1; then
    echo "ERROR: npm is needed to build the review dashboard (Node.js 18 or newer)." >&2
    echo "       Install Node.js, e.g. 'apt-get install -y nodejs npm', then run again." >&2
    exit 1
  fi
  echo "dashboard: installing chart.js from dashboard/package-lock.json (npm ci)"
  npm ci --prefix dashboard --ignore-scripts --no-audit --no-fund --loglevel=error
fi
if [ ! -f "$BUNDLE" ]; then
  echo "ERROR: npm ci did not produce $BUNDLE" >&2
  exit 1
fi
mkdir -p "$OUT"
cp "$BUNDLE" "$OUT/chart.umd.js"
echo "$want" >"$STAMP"
echo "dashboard: ready ($OUT/chart.umd.js, $(sed -n 2p "$BUNDLE" | tr -d '*' | sed 's/^ *//'))"
