"""X-Forwarded-For is believed only from the proxies named in TRUSTED_PROXIES.

The finding: `csp-desk serve` ran uvicorn with its defaults, which trust the header
from 127.0.0.1, so once an address was over the public limit (the one the dashboard
sign-in shares) a new made-up X-Forwarded-For on each request walked past it. Here
the real `csp-desk serve` is started twice on a scratch database: with nothing
trusted (the default) the header changes nothing; with the proxy named, its header
is what the limit counts.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.ops.cli import forwarded_headers
from api.ops.launch import process_env, production_procfile
from api.settings import Settings
from tests.e2e.stack import CSP_DESK, ROOT, free_port

LIMIT = 3


def serve(workdir: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environ = {
        **os.environ,
        "APP_MODE": "local",
        "DATABASE_URL": f"sqlite:///{workdir / 'app.db'}",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "PUBLIC_RATE_LIMIT_REQUESTS": str(LIMIT),
        "PUBLIC_RATE_LIMIT_PERIOD_SECONDS": "600",
        "PUBLIC_RATE_LIMIT_BURST": str(LIMIT),
        "PYTHONPATH": str(ROOT),
        **env,
    }
    environ.pop("REDIS_URL", None)
    environ.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own variable: not ours
    process = subprocess.Popen(
        [CSP_DESK, "serve"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError("csp-desk serve did not start")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("forwarded")
    subprocess.run(
        [CSP_DESK, "init-db"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{workdir / 'app.db'}",
            "PYTHONPATH": str(ROOT),
        },
        check=True,
        capture_output=True,
    )
    return workdir


@pytest.fixture
def server(database: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    process, url = serve(database, **getattr(request, "param", {}))
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def sign_in(url: str, forwarded_for: str | None = None) -> int:
    """A failed dashboard sign-in (the public limit counts it), as a status code."""
    headers = {"Cookie": "csp_dashboard_login_csrf=t"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    form = {"email": "nobody@example.com", "password": "wrong", "csrf_token": "t"}
    reply = httpx.post(f"{url}/dashboard/login", data=form, headers=headers, timeout=30)
    return reply.status_code


def test_a_made_up_forwarded_address_does_not_pass_the_limit(server: str) -> None:
    assert [sign_in(server) for _ in range(LIMIT)] == [401] * LIMIT
    assert sign_in(server) == 429
    # The bypass: a new address in the header for every try. Nobody is trusted.
    assert [sign_in(server, f"203.0.113.{i}") for i in range(1, 6)] == [429] * 5


@pytest.mark.parametrize("server", [{"TRUSTED_PROXIES": "127.0.0.1"}], indirect=True)
def test_a_named_proxy_forwards_its_clients_address(server: str) -> None:
    # Through the trusted proxy each client has its own count...
    assert [sign_in(server, "198.51.100.1") for _ in range(LIMIT + 1)] == [401] * (
        LIMIT
    ) + [429]
    assert sign_in(server, "198.51.100.2") == 401
    # ... and what a client wrote to the left of the proxy's entry is ignored.
    assert sign_in(server, "203.0.113.9, 198.51.100.1") == 429


def test_serve_trusts_nobody_unless_told() -> None:
    assert forwarded_headers(Settings(trusted_proxies="")) == {
        "proxy_headers": False,
        "forwarded_allow_ips": [],
    }
    named = forwarded_headers(Settings(trusted_proxies="10.0.0.5, 10.1.2.3/16"))
    assert named == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.5", "10.1.0.0/16"],
    }
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="nginx")


def test_the_production_profile_names_nginx_for_the_replicas_only(
    tmp_path: Path,
) -> None:
    """Behind the profile's nginx the replicas believe its X-Forwarded-For (and
    whatever TRUSTED_PROXIES adds); the API, not behind it, keeps the setting."""
    from tests.ops.test_launch import production

    settings = production(tmp_path, trusted_proxies="10.9.0.0/16")
    lines = production_procfile(settings, tmp_path, "/usr/sbin/nginx").read_text()
    rasa = [line for line in lines.splitlines() if line.startswith("rasa")]
    assert rasa and all(
        "env TRUSTED_PROXIES=10.9.0.0/16,127.0.0.1 " in line for line in rasa
    )
    assert "TRUSTED_PROXIES" not in next(
        line for line in lines.splitlines() if line.startswith("api:")
    )
    assert process_env(settings)["TRUSTED_PROXIES"] == "10.9.0.0/16"
    plain = production(tmp_path)
    assert process_env(plain)["TRUSTED_PROXIES"] == ""
