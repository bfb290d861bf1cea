"""A real browser (Debian's headless Chromium, driven by Playwright) signs in,
filters, opens a transcript, corrects a turn and looks at the metrics charts.

Screenshots go to test-artifacts/dashboard/. The API runs in uvicorn on a free port
in a thread, on a copy of the demo database with the dashboard's demo seeded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from api.dashboard import seed_dashboard_demo
from api.dashboard.models import Conversation, Correction
from api.dashboard.routes import STATIC_FILES
from api.demo.dashboard import DEMO_LEAD_EMAIL, DEMO_LEAD_PASSWORD
from api.domain.db import get_sessionmaker
from api.settings import ROOT
from tests.dashboard.conftest import Tracker, dashboard_app
from tests.web.live import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ensure_frontend_built,
    live_server,
    needs_chromium,
)

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"

pytestmark = needs_chromium


@pytest.fixture
def server(seeded_db: object, tracker: Tracker) -> Iterator[str]:
    ensure_frontend_built(STATIC_FILES["vendor/chart.umd.js"])
    with get_sessionmaker()() as session:
        seed_dashboard_demo(session)
        session.commit()
    with live_server(dashboard_app()) as url:
        yield url


def test_lead_reviews_in_a_real_browser(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with get_sessionmaker()() as session:
        low = session.scalar(
            select(func.count()).where(Conversation.has_low_confidence.is_(True))
        )
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on(
            "console", lambda m: problems.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}") if r.status == 404 else None
            ),
        )

        # Signing in, and landing where we were going.
        page.goto(f"{server}/dashboard/conversations")
        expect(page).to_have_url(
            f"{server}/dashboard/login?next=/dashboard/conversations"
        )
        page.fill("input[name=email]", DEMO_LEAD_EMAIL)
        page.fill("input[name=password]", DEMO_LEAD_PASSWORD)
        page.screenshot(path=str(ARTIFACTS / "01-sign-in.png"))
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{server}/dashboard/conversations")
        expect(page.locator("#conversation-list tbody tr")).to_have_count(50)
        page.screenshot(path=str(ARTIFACTS / "02-conversations.png"), full_page=True)

        # Filtering: low-confidence conversations only.
        page.select_option("select[name=low_confidence]", "yes")
        page.click("#filters button[type=submit]")
        expect(page).to_have_url(
            re.compile(r"/dashboard/conversations\?.*low_confidence=yes")
        )
        rows = page.locator("#conversation-list tbody tr[data-conversation]")
        expect(rows).to_have_count(min(low or 0, 50))
        assert low
        page.screenshot(path=str(ARTIFACTS / "03-filtered.png"), full_page=True)

        # A transcript, with the low-confidence turn marked.
        rows.first.locator("a").first.click()
        expect(page.locator("h1")).to_contain_text("Conversation")
        turn = page.locator(".msg.user.low").first
        expect(turn).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "04-transcript.png"), full_page=True)

        # A correction of that turn.
        exchange = page.locator("li.exchange", has=page.locator(".msg.user.low")).first
        exchange.locator("summary").click()
        exchange.locator("select[name=intent]").select_option("ask_invoice")
        exchange.locator("button[type=submit]").click()
        expect(page.locator(".notice")).to_contain_text("Correction saved")
        expect(page.locator(".corrected").first).to_contain_text("ask_invoice")
        page.screenshot(path=str(ARTIFACTS / "05-corrected.png"), full_page=True)
        with get_sessionmaker()() as session:
            assert session.scalar(select(func.count()).select_from(Correction)) == 1

        # Metrics, with the four charts drawn by Chart.js.
        page.click("nav a[href='/dashboard/metrics']")
        expect(page.locator("html")).to_have_attribute("data-charts", "ready")
        for chart in ("rates", "outcomes", "triage", "topics"):
            box = page.locator(f"#chart-{chart}").bounding_box()
            assert box and box["width"] > 100 and box["height"] > 100, chart
        drawn = page.evaluate("window.dashboardCharts.map(c => c.data.datasets.length)")
        assert drawn == [4, 4, 1, 1]
        expect(page.locator("#m-conversations")).not_to_have_text("0")
        page.screenshot(path=str(ARTIFACTS / "06-metrics.png"), full_page=True)
        browser.close()
    assert problems == []  # no script errors, no CSP violations
