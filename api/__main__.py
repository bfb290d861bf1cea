"""`python -m api`: the `csp-desk` command line (api/ops/cli.py)."""

from __future__ import annotations

import sys

from api.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
