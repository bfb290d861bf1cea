"""Conversation benchmark: `make bench-conversations` -> docs/benchmarks/conversations.md.

Holds every conversation of bench/conversations/ (the held-out set, never tuned on)
and of tests/conversations/ (the set the dialogue is developed against) with a stack
started the way `make run` starts it, judges each on facts from the stack's database
(tests/conversations/harness.py) and reports right / weak / wrong per class, with the
transcripts of what was not right.

    .venv/bin/python scripts/bench_conversations.py [--check] [--set bench|tests|both]

`--check` only renders every fact of the files against a freshly seeded database
(no bot): what a conversation writer runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.orm import Session  # noqa: E402

from api.domain.db import make_engine  # noqa: E402
from tests.conversations.harness import (  # noqa: E402
    RIGHT,
    WEAK,
    WRONG,
    Result,
    Runner,
    check_facts,
    load_folder,
)
from tests.e2e.stack import CSP_DESK, start_stack, stop_stack  # noqa: E402

SETS = {
    "bench": ROOT / "bench" / "conversations",
    "tests": ROOT / "tests" / "conversations",
}
REPORT = ROOT / "docs" / "benchmarks" / "conversations.md"
TARGET = 0.90


def table(results: list[Result]) -> list[str]:
    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        by_class[result.script.cls][result.verdict] += 1
    lines = [
        "| class | conversations | right | weak | wrong |",
        "|---|---|---|---|---|",
    ]
    total: Counter[str] = Counter()
    for cls in sorted(by_class):
        counts = by_class[cls]
        total.update(counts)
        lines.append(
            f"| {cls} | {sum(counts.values())} | {counts[RIGHT]} | {counts[WEAK]} "
            f"| {counts[WRONG]} |"
        )
    n = sum(total.values())
    share = total[RIGHT] / n if n else 0.0
    lines.append(
        f"| **all** | **{n}** | **{total[RIGHT]} ({share:.0%})** | **{total[WEAK]}** "
        f"| **{total[WRONG]}** |"
    )
    return lines


def check(chosen: list[str], scripts: dict[str, list]) -> int:
    """Render every fact against a freshly seeded database (no bot)."""
    with tempfile.TemporaryDirectory(prefix="bench-conversations-") as tmp:
        url = f"sqlite:///{tmp}/app.db"
        subprocess.run(
            [CSP_DESK, "init-db"],
            env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
            check=True,
            capture_output=True,
        )
        engine = make_engine(url)
        now = datetime.now(timezone.utc)
        with Session(engine) as session:
            problems = [
                problem
                for name in chosen
                for script in scripts[name]
                for problem in check_facts(session, script, now)
            ]
        engine.dispose()
    print("\n".join(problems) or "every fact renders")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the files")
    parser.add_argument("--set", choices=["bench", "tests", "both"], default="both")
    args = parser.parse_args()
    chosen = ["bench", "tests"] if args.set == "both" else [args.set]
    scripts = {name: load_folder(SETS[name]) for name in chosen}
    if args.check:
        return check(chosen, scripts)
    with tempfile.TemporaryDirectory(prefix="bench-conversations-") as tmp:
        stack = start_stack(Path(tmp))
        engine = make_engine(stack.env["DATABASE_URL"])
        try:
            runner = Runner(stack.rasa_url, stack.env["CHAT_TOKEN_SECRET"], engine)
            started = time.monotonic()
            results = {name: [runner.run(s) for s in scripts[name]] for name in chosen}
            runner.close()
            elapsed = time.monotonic() - started
        finally:
            engine.dispose()
            stop_stack(stack)
    report = [
        "# Conversation benchmark",
        "",
        "Written by `make bench-conversations` (scripts/bench_conversations.py) on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, in {elapsed:.0f} s. Each "
        "conversation is held with the real stack over Rasa's REST channel and judged "
        "on facts read from its database (tests/conversations/harness.py): *wrong* "
        "when a turn misses a fact it must give, says something it must not, or files "
        "(or fails to file) a ticket; *weak* when it only misses a fact it should give.",
        "",
        f"Target: at least {TARGET:.0%} right on the held-out set.",
    ]
    for name in chosen:
        title = {
            "bench": "Held-out set (bench/conversations/, never tuned on)",
            "tests": "Development set (tests/conversations/, run by make test)",
        }[name]
        report += ["", f"## {title}", "", *table(results[name])]
    for name in chosen:
        failed = [r for r in results[name] if r.verdict != RIGHT]
        if failed:
            report += ["", f"## Not right ({name})", ""]
            for result in failed:
                report += ["```", result.transcript(), "```", ""]
    REPORT.write_text("\n".join(report).rstrip() + "\n")
    print("\n".join(table(results[chosen[0]])))
    print(f"report: {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
