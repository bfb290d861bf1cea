#!/usr/bin/env bash
# The Rasa test stories (`make rasa-test`): tests/test_stories.yml and
# tests/test_stories_escalation.yml against the trained model, failing on any wrong
# prediction. Prints one line per file; the reports land in results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore \
  RASA_TELEMETRY_ENABLED=false

run() {  # run STORIES OUT
  local stories=$1 out=$2 log
  log=$(mktemp)
  if ! .venv-rasa/bin/rasa test core --model models/csp.tar.gz --stories "$stories" \
      --e2e --fail-on-prediction-errors --out "$out" --quiet >"$log" 2>&1; then
    grep -vE 'Warning|declare_namespace|^Implementing implicit|^\s' "$log" | tail -n 40 >&2
    echo "rasa-test: $stories FAILED (stories: $out/failed_test_stories.yml)" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  .venv-rasa/bin/python - "$stories" "$out" <<'PY'
import json, sys
stories, out = sys.argv[1], sys.argv[2]
report = json.load(open(f"{out}/story_report.json"))
conversations = report.get("conversation_accuracy") or {}
print(f"rasa-test: {stories}: {conversations.get('correct', '?')}/{conversations.get('total', '?')} stories right")
PY
}

run tests/test_stories.yml results/core
run tests/test_stories_escalation.yml results/core-escalation
