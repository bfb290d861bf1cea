#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/channels/test_widget_browser.py).
# Playwright drives /usr/bin/chromium; it never downloads a browser of its own.
# Does nothing when /usr/bin/chromium is already there.
set -euo pipefail

BROWSER=/usr/bin/chromium

if [ -x "$BROWSER" ]; then
  echo "browser: $("$BROWSER" --version 2>/dev/null | head -n 1 || echo chromium) is installed"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  cat >&2 <<MSG
ERROR: $BROWSER is missing and installing it needs root.
Install Debian's Chromium once, then run this again:
  sudo apt-get update && sudo apt-get install -y chromium
MSG
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: $BROWSER is missing and this system has no apt-get; install Chromium so that $BROWSER exists." >&2
  exit 1
fi

echo "browser: installing Debian's chromium (apt-get) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$BROWSER" ]; then
  echo "ERROR: apt-get install chromium did not produce $BROWSER" >&2
  exit 1
fi
echo "browser: $("$BROWSER" --version 2>/dev/null | head -n 1) installed"
