"""/docs and /redoc render in a real browser with no internet access.

The finding: both pages loaded Swagger UI and ReDoc from a CDN (and the favicon
from FastAPI's site, ReDoc's fonts from Google), so they were blank on a machine
without internet access. Here headless Chromium opens them with every request to
anything but the API itself aborted, and must see the API's operations drawn, no
script error, and no request leave the machine.

Screenshots go to test-artifacts/docs/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI

from api.frontend import DOCS_ASSETS
from api.settings import ROOT
from tests.web.conftest import TestClient
from tests.web.live import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ensure_frontend_built,
    live_server,
    needs_chromium,
)

ARTIFACTS = ROOT / "test-artifacts" / "docs"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CSP_REFUSAL = re.compile(
    r"^(?:Loading|Refused to load) the \w+ '([^']+)' (?:because it )?violates"
)


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    ensure_frontend_built(*DOCS_ASSETS.values())
    with live_server(app) as url:
        yield url


class Offline:
    """A browser page that cannot reach anything but this machine."""

    def __init__(self, browser: Any) -> None:
        self.outside: list[str] = []  # requests that got past the page's CSP
        self.refused: list[str] = []  # what the CSP stopped before any request
        self.problems: list[str] = []
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on(
            "response",
            lambda r: (
                self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
            ),
        )

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        refused = CSP_REFUSAL.search(message.text)
        if refused and urlsplit(refused.group(1)).hostname not in LOCAL_HOSTS:
            self.refused.append(refused.group(1))
        else:
            self.problems.append(message.text)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort("internetdisconnected")


@needs_chromium
def test_docs_and_redoc_render_offline(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        swagger = Offline(browser)
        swagger.page.goto(f"{server}/docs")
        expect(swagger.page.locator(".swagger-ui .info .title")).to_contain_text(
            "CSP billing desk API"
        )
        operations = swagger.page.locator(".opblock")
        expect(operations.first).to_be_visible()
        assert operations.count() >= 18
        expect(
            swagger.page.locator(".opblock-summary-path", has_text="/api/v1/tickets")
        ).not_to_have_count(0)
        swagger.page.screenshot(path=str(ARTIFACTS / "swagger-ui.png"))

        redoc = Offline(browser)
        redoc.page.goto(f"{server}/redoc")
        expect(redoc.page.locator("h1").first).to_contain_text("CSP billing desk API")
        expect(
            redoc.page.get_by_text("/api/v1/invoices/{number}").first
        ).to_be_attached()
        redoc.page.screenshot(path=str(ARTIFACTS / "redoc.png"))
        browser.close()
    assert swagger.outside == [] and redoc.outside == []
    assert swagger.problems == [] and redoc.problems == []
    # ReDoc's attribution logo is on Redocly's CDN: stopped by the CSP, not fetched.
    assert swagger.refused == []
    assert redoc.refused in ([], ["https://cdn.redoc.ly/redoc/logo-mini.svg"])


def test_the_pages_name_no_outside_address(anonymous: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = anonymous.get(page).text
        assert "http://" not in html and "https://" not in html, page
        assert "/docs/static/" in html
    assert '"validatorUrl": null' in anonymous.get("/docs").text
    for page in ("/docs", "/redoc"):
        policy = anonymous.get(page).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
        assert "https:" not in policy and "http:" not in policy


@pytest.mark.parametrize("name", sorted(DOCS_ASSETS))
def test_the_assets_are_served_from_the_build(anonymous: TestClient, name: str) -> None:
    ensure_frontend_built(DOCS_ASSETS[name])
    reply = anonymous.get(f"/docs/static/{name}")
    assert reply.status_code == 200
    assert reply.content == DOCS_ASSETS[name].read_bytes()
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_only_listed_assets_are_served(anonymous: TestClient) -> None:
    for name in ("index.html", "..%2f..%2fapi%2fsettings.py", "swagger-ui.js"):
        reply = anonymous.get(f"/docs/static/{name}")
        assert reply.status_code == 404
        assert reply.json()["error"] == "not_found"
