"""How the Partner Center sync last went, per partner (the dashboard's section)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.domain.models import Partner, PartnerCenterSyncRun


@dataclass(frozen=True)
class LastRun:
    """A partner's latest sync run."""

    partner: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: Optional[datetime]
    counts: dict[str, dict[str, int]]
    failures: list[dict[str, Any]]

    def count(self, kind: str, what: str) -> int:
        return int((self.counts.get(kind) or {}).get(what, 0))


def last_runs(session: Session) -> list[LastRun]:
    """The latest run of every partner that was ever synced, by partner name."""
    latest = (
        select(
            PartnerCenterSyncRun.partner_id,
            func.max(PartnerCenterSyncRun.id).label("run_id"),
        )
        .group_by(PartnerCenterSyncRun.partner_id)
        .subquery()
    )
    rows = session.execute(
        select(PartnerCenterSyncRun, Partner.name)
        .join(latest, latest.c.run_id == PartnerCenterSyncRun.id)
        .join(Partner, Partner.id == PartnerCenterSyncRun.partner_id)
        .order_by(Partner.name)
    )
    return [
        LastRun(
            partner=name,
            trigger=run.trigger,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            counts=dict(run.counts or {}),
            failures=list(run.failures or []),
        )
        for run, name in rows
    ]
