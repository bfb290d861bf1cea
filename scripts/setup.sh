#!/usr/bin/env bash
# Create or update the two virtual environments, both on Python 3.10:
#   .venv-rasa  Rasa 3.6.21 with spaCy     (requirements/rasa.txt)
#   .venv       our code: API and actions  (requirements/app.txt)
# Each is rebuilt only when its requirements file or interpreter changed, so a
# second run takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
  if [ -n "${PYTHON310:-}" ]; then echo "$PYTHON310"; return 0; fi
  local candidate
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in $(ls -d "$(pyenv root)"/versions/3.10.*/bin/python 2>/dev/null | sort -V -r); do
      [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    done
  fi
  for candidate in python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
    if command -v "$candidate" >/dev/null 2>&1; then command -v "$candidate"; return 0; fi
  done
  return 1
}

if ! PY=$(find_python310); then
  cat >&2 <<'EOF'
ERROR: Python 3.10 was not found, and Rasa 3.6 runs only on Python 3.10.
Install it, then run this again. Any one of these works:
  pyenv install 3.10            (pyenv: https://github.com/pyenv/pyenv)
  apt-get install python3.10 python3.10-venv   (where your distribution has it)
Or point to an interpreter you already have:  PYTHON310=/path/to/python3.10 make run
EOF
  exit 1
fi
if ! "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  echo "ERROR: $PY is not Python 3.10 (it says: $("$PY" --version 2>&1))." >&2
  exit 1
fi

ensure_venv() {  # ensure_venv DIR REQUIREMENTS LABEL
  local dir=$1 req=$2 label=$3
  local stamp="$dir/.installed"
  local want
  want="$("$PY" --version 2>&1) $(sha256sum "$req" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/bin/python" ]; then
    echo "setup: $label environment is up to date ($dir)"
    return 0
  fi
  echo "setup: installing the $label environment into $dir from $req"
  echo "       (a first install downloads ~1.5 GB for Rasa and takes a few minutes) ..."
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip 2>/dev/null
  # Progress shows as a line per package; a first Rasa install takes a few minutes.
  local log="$dir/install.log"
  if ! "$dir/bin/python" -m pip install --progress-bar off -r "$req" >"$log" 2>&1 \
      < /dev/null; then
    grep -E '^(ERROR|error)' "$log" >&2 || tail -n 20 "$log" >&2
    echo "ERROR: installing the $label environment failed; full log: $log" >&2
    exit 1
  fi
  (grep -c '^Collecting' "$log" || true) | xargs printf 'setup: %s packages checked\n'
  "$dir/bin/python" -m pip check >/dev/null || {
    echo "ERROR: $label environment has broken requirements:" >&2
    "$dir/bin/python" -m pip check >&2
    exit 1
  }
  echo "$want" >"$stamp"
  echo "setup: $label environment ready"
}

ensure_venv .venv-rasa requirements/rasa.txt "Rasa"
ensure_venv .venv requirements/app.txt "application"

# The project itself, editable and without dependencies (they are pinned above), for
# its command line `csp-desk` ([project.scripts] in pyproject.toml).
want_cli="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/csp-desk ] || [ "$(cat .venv/.csp-desk 2>/dev/null)" != "$want_cli" ]; then
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e . </dev/null
  echo "$want_cli" >.venv/.csp-desk
  echo "setup: installed the csp-desk command (.venv/bin/csp-desk)"
fi

# The pretrained sentence encoder the intent classifier reads (bot/sentence_encoder.py).
bash scripts/fetch_encoder.sh

# The browser libraries the API serves (frontend/package-lock.json, installed from the
# npm registry by lockfile, never fetched from a CDN at run time).
bash scripts/build_frontend.sh
