"""The transcript review dashboard for support leads (``/dashboard``).

    from api.dashboard import router            # app.include_router(router)
    from api.dashboard import seed_dashboard_demo, create_lead

See docs/dashboard.md. The parts: ``models`` (tables, migration 0002),
``transcripts`` (where events come from), ``ingest`` (events to summaries),
``outcome`` (the one outcome definition), ``queries`` (filters, keyset pages,
metrics), ``corrections`` (correction loop and NLU export), ``privacy`` (deleting a
conversation everywhere), ``auth`` (leads, sessions, CSRF), ``routes`` (the pages),
``demo`` (local demo data) and ``__main__`` (the command line).

The three names above load on first use, so that importing ``api.dashboard.models``
(the migrations do) does not import the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.dashboard.auth import create_lead
    from api.dashboard.routes import router
    from api.demo.dashboard import seed_dashboard_demo

__all__ = ["create_lead", "router", "seed_dashboard_demo"]


def __getattr__(name: str) -> Any:
    if name == "router":
        from api.dashboard.routes import router

        return router
    if name == "create_lead":
        from api.dashboard.auth import create_lead

        return create_lead
    if name == "seed_dashboard_demo":
        from api.demo.dashboard import seed_dashboard_demo

        return seed_dashboard_demo
    raise AttributeError(f"module 'api.dashboard' has no attribute {name!r}")
