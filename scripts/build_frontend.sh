#!/usr/bin/env bash
# Build the browser libraries the API serves, all from one lockfile
# (frontend/package-lock.json), into build/frontend/ (api/frontend.py names them):
#   socket.io.min.js         the chat widget's Socket.IO client (/widget/widget.js)
#   chart.umd.js             the review dashboard's charts (/dashboard/static/vendor/)
#   swagger-ui-bundle.js,    the API docs at /docs (/docs/static/)
#   swagger-ui.css, favicon.png
#   redoc.standalone.js      the API docs at /redoc (/docs/static/)
# Nothing is ever loaded from a CDN at run time. A second run with an unchanged
# lockfile does nothing (no network), so it is safe to call from every `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/frontend
MODULES=frontend/node_modules
STAMP=$OUT/.lock-sha256
INSTALLED=$MODULES/.lock-sha256  # what node_modules was last installed from
# build/frontend/<name> <- frontend/node_modules/<path>
ASSETS=(
  "socket.io.min.js socket.io-client/dist/socket.io.min.js"
  "chart.umd.js chart.js/dist/chart.umd.js"
  "swagger-ui-bundle.js swagger-ui-dist/swagger-ui-bundle.js"
  "swagger-ui.css swagger-ui-dist/swagger-ui.css"
  "favicon.png swagger-ui-dist/favicon-32x32.png"
  "redoc.standalone.js redoc/bundles/redoc.standalone.js"
)

want=$(sha256sum frontend/package-lock.json | cut -d' ' -f1)
built=yes
for asset in "${ASSETS[@]}"; do
  [ -f "$OUT/${asset%% *}" ] || built=no
done
if [ "$built" = yes ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  echo "frontend: up to date ($OUT/)"
  exit 0
fi

# Already installed from this very lockfile: no npm ci, so an offline machine that
# has node_modules still builds.
if [ "$(cat "$INSTALLED" 2>/dev/null)" = "$want" ]; then
  echo "frontend: node_modules already installed from frontend/package-lock.json"
else
  if ! command -v npm >/dev/null 2>&1; then
    echo "ERROR: npm is needed to build the browser libraries (Node.js 18 or newer)." >&2
    echo "       Install Node.js, e.g. 'apt-get install -y nodejs npm', then run again." >&2
    exit 1
  fi
  echo "frontend: installing from frontend/package-lock.json (npm ci)"
  # Peer dependencies are left out: redoc's standalone bundle already contains React.
  # No install scripts run (@scarf/scarf, under swagger-ui-dist, would report the
  # install to an analytics service).
  npm ci --prefix frontend --omit=peer --ignore-scripts --no-audit --no-fund \
    --loglevel=error
  echo "$want" >"$INSTALLED"
fi

mkdir -p "$OUT"
for asset in "${ASSETS[@]}"; do
  name=${asset%% *}
  source=$MODULES/${asset#* }
  if [ ! -f "$source" ]; then
    echo "ERROR: npm ci did not produce $source" >&2
    exit 1
  fi
  # The source maps are not shipped, so drop the comments that point at them.
  case "$name" in
    *.js | *.css) grep -v '^/[/*]# sourceMappingURL=' "$source" >"$OUT/$name" ;;
    *) cp "$source" "$OUT/$name" ;;
  esac
done
echo "$want" >"$STAMP"
versions=$(node -p 'const l = require("./frontend/package-lock.json").packages;
  Object.keys(require("./frontend/package.json").dependencies)
    .map(n => n + " " + l["node_modules/" + n].version).join(", ")' 2>/dev/null || true)
echo "frontend: ready ($OUT/: ${versions:-see frontend/package-lock.json})"
