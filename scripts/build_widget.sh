#!/usr/bin/env bash
# Build the chat widget's run-time asset: the official Socket.IO browser client,
# installed from npm with the lockfile (widget/package-lock.json) and copied to
# build/widget/socket.io.min.js, which the API serves inside /widget/widget.js.
# The widget never loads anything from a CDN. A second run with an unchanged
# lockfile does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/widget
CLIENT=widget/node_modules/socket.io-client/dist/socket.io.min.js
STAMP=$OUT/.lock-sha256

if ! command -v npm >/dev/null 2>&1; then
  echo "ERROR: npm is needed to build the chat widget (Node.js 18 or newer)." >&2
  echo "       Install Node.js, e.g. 'apt-get install -y nodejs npm', then run again." >&2
  exit 1
fi

want=$(sha256sum widget/package-lock.json | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f "$OUT/socket.io.min.js" ]; then
  echo "widget: up to date ($OUT/socket.io.min.js)"
  exit 0
fi

echo "widget: installing socket.io-client from widget/package-lock.json (npm ci)"
npm ci --prefix widget --ignore-scripts --no-audit --no-fund --loglevel=error
if [ ! -f "$CLIENT" ]; then
  echo "ERROR: npm ci did not produce $CLIENT" >&2
  exit 1
fi
mkdir -p "$OUT"
cp "$CLIENT" "$OUT/socket.io.min.js"
echo "$want" >"$STAMP"
echo "widget: ready ($OUT/socket.io.min.js, $(head -c 40 "$CLIENT" | tr -d '\n/*!' | sed 's/^ *//'))"
