#!/usr/bin/env bash
# Train the Rasa model when its inputs changed: the NLU/dialogue data, the domain,
# config.yml, the spaCy pipeline sources in bot/ and the Rasa requirements.
# The model lands in models/csp.tar.gz (not in git); a fingerprint beside it
# records what it was trained from, so an unchanged tree trains nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

SPACY_OUT=build/spacy/csp_en
MODEL=models/csp.tar.gz
STAMP=models/csp.fingerprint

fingerprint() {
  local inputs=()
  for path in config.yml domain domain.yml data bot common requirements/rasa.txt; do
    [ -e "$path" ] && inputs+=("$path")
  done
  find "${inputs[@]}" -path bot/channels -prune -o -type f \( -name '*.yml' -o -name '*.yaml' -o -name '*.py' -o -name '*.jsonl' \
    -o -name '*.txt' -o -name '*.json' \) -print \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
}

want=$(fingerprint)
if [ "${FORCE_TRAIN:-0}" != 1 ] && [ -f "$MODEL" ] && [ -f "$STAMP" ] \
    && [ "$(cat "$STAMP")" = "$want" ] && [ -d "$SPACY_OUT" ]; then
  echo "train: model is up to date ($MODEL)"
  exit 0
fi

echo "train: building the spaCy pipeline in $SPACY_OUT"
TF_CPP_MIN_LOG_LEVEL=3 .venv-rasa/bin/python -m bot.spacy_pipeline --out "$SPACY_OUT" 2>&1 \
  | { grep -vE "Warning|^\s|^To enable the following" || true; }

echo "train: training the Rasa model (about 1-2 minutes) ..."
start=$(date +%s)
mkdir -p models
rm -f "$MODEL" "$STAMP"
export SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore \
  RASA_TELEMETRY_ENABLED=false
set +e
.venv-rasa/bin/rasa train --config config.yml --domain domain --data data \
  --out models --fixed-model-name csp --quiet 2>&1 \
  | grep --line-buffered -vE 'Warning|declare_namespace|^Implementing implicit|^\s|^\S*\[0m\S*$|^$'
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ] || [ ! -f "$MODEL" ]; then
  echo "train: ERROR: rasa train failed (exit $status)" >&2
  exit 1
fi
echo "$want" >"$STAMP"
echo "train: done in $(( $(date +%s) - start ))s -> $MODEL"
