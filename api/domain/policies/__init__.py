"""Policy tables (YAML data) and their loading: what partners or Microsoft may change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

POLICY_DIR = Path(__file__).resolve().parent


def load_policy_file(name: str) -> Any:
    """The parsed YAML of `api/domain/policies/<name>`."""
    with (POLICY_DIR / name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
