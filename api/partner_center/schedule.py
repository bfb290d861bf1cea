"""The scheduled Partner Center sync: the process runner's `partner-center` line
(`csp-desk partner-center schedule`) syncs every partner with an app registration
every PARTNER_CENTER_SYNC_INTERVAL_SECONDS, the first time at start.

With the interval 0 it syncs nothing and waits to be stopped: honcho stops every
process when one of them exits, so the line stays up either way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Optional

from sqlalchemy.exc import SQLAlchemyError

from api.partner_center.sync import SyncReport, sync_partners_with_registration

logger = logging.getLogger(__name__)


def run_schedule(
    interval_seconds: float,
    stop: threading.Event,
    *,
    once: bool = False,
    sync: Optional[Callable[[], list[SyncReport]]] = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Sync on schedule until `stop` is set (or once); the number of runs made."""
    sync_all = sync or sync_partners_with_registration
    if interval_seconds <= 0 and not once:
        echo("partner-center schedule: off (PARTNER_CENTER_SYNC_INTERVAL_SECONDS=0)")
        stop.wait()
        return 0
    runs = 0
    said: set[str] = set()  # a partner that cannot be synced is named once
    while not stop.is_set():
        try:
            reports = sync_all()
        except SQLAlchemyError as exc:  # the database is down: try next time
            logger.error("partner-center schedule: cannot read partners: %s", exc)
            reports = []
        runs += 1
        for report in reports:
            if report.run_id is None:  # never started: no app registration to use
                line = (
                    f"partner-center schedule: {report.partner} skipped: "
                    + "; ".join(failure.error for failure in report.failures)
                )
                if line not in said:
                    said.add(line)
                    echo(line)
                continue
            changed = "changes written" if report.changed else "no changes"
            echo(
                f"partner-center schedule: {report.partner} {report.status}, {changed}"
                + (f", {len(report.failures)} failed" if report.failures else "")
            )
            for failure in report.failures:
                echo(f"partner-center schedule:   {failure.describe()}")
        if once:
            break
        stop.wait(interval_seconds)
    return runs
