"""`python -m api.cli`: the name the command line had before `csp-desk`, kept so that
operators' scripts keep working. The same program as `csp-desk` (api/ops/cli.py)."""

from __future__ import annotations

import sys

from api.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
