"""Start the three servers (Rasa, action server, API) with honcho.

`python -m api.launch` turns the one settings object into the environment that the
Procfile reads, then hands over to honcho, which starts every process, prefixes their
output and stops them all on Ctrl-C. The Procfile's `ready` process
(`python -m api.launch ready`) waits for the three health checks and prints where to go.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import httpx
from dotenv import dotenv_values

from api.settings import ROOT, Settings, get_settings
from bot.channels.config import channel_status

READY_TIMEOUT_SECONDS = 300.0


def process_env(settings: Settings) -> dict[str, str]:
    """The environment for the Procfile, derived from the settings."""
    rasa = urlsplit(settings.rasa_url)
    actions = urlsplit(settings.action_server_url)
    env = {
        "APP_MODE": settings.app_mode,
        "CHAT_TOKEN_SECRET": settings.chat_token_secret,
        "DATABASE_URL": settings.database_url,
        "API_HOST": settings.api_host,
        "API_PORT": str(settings.api_port),
        "RASA_URL": settings.rasa_url,
        "RASA_HOST": rasa.hostname or "127.0.0.1",
        "RASA_PORT": str(rasa.port or 5005),
        "RASA_AUTH_TOKEN": settings.rasa_auth_token,
        "RASA_MODEL": os.environ.get("RASA_MODEL", str(ROOT / "models")),
        "RASA_ENDPOINTS": os.environ.get("RASA_ENDPOINTS", str(ROOT / "endpoints.yml")),
        "RASA_CREDENTIALS": os.environ.get(
            "RASA_CREDENTIALS", str(ROOT / "credentials.yml")
        ),
        "RASA_TRACKER_DB": settings.rasa_tracker_db,
        "ACTION_SERVER_URL": settings.action_server_url,
        "ACTION_HOST": actions.hostname or "127.0.0.1",
        "ACTION_PORT": str(actions.port or 5055),
        "ACTION_SERVER_TOKEN": settings.action_server_token,
        "PYTHONUNBUFFERED": "1",
    }
    return env


def health_checks(settings: Settings) -> dict[str, str]:
    """Name → URL that answers 200 once that server is ready."""
    return {
        "API": f"http://{settings.api_host}:{settings.api_port}/health",
        "action server": f"{settings.action_server_url}/health",
        # /status needs the token and names the loaded model: ready means a model.
        "Rasa": f"{settings.rasa_url}/status?token={settings.rasa_auth_token}",
    }


def wait_until_ready(
    checks: dict[str, str], timeout: float = READY_TIMEOUT_SECONDS
) -> list[str]:
    """Poll every check until all answer 200; return those still failing."""
    pending = dict(checks)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as client:
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                try:
                    if client.get(url).status_code == 200:
                        print(f"ready: {name} is up", flush=True)
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending:
                time.sleep(1.0)
    return sorted(pending)


def ready(settings: Settings) -> int:
    """Wait for the servers, print where to go, then stay up until stopped."""
    failing = wait_until_ready(health_checks(settings))
    if failing:
        print(f"ready: not up after {READY_TIMEOUT_SECONDS:.0f}s: {', '.join(failing)}")
        return 1
    base = f"http://{settings.api_host}:{settings.api_port}"
    channels = "".join(
        f"    {status.line()}\n" for status in channel_status(os.environ)
    )
    print(
        "\n"
        f"  CSP billing desk is running ({settings.app_mode} mode)\n"
        f"    Demo customer site  {base}/demo/portal   (the chat widget)\n"
        f"    Review dashboard .. {base}/dashboard     "
        "(lead@demo.local / demo-lead-password)\n"
        f"    API and docs ...... {base}/docs\n"
        f"    API health ........ {base}/health\n"
        f"    Rasa .............. {settings.rasa_url}  (HTTP API, token required)\n"
        f"    Action server ..... {settings.action_server_url}\n"
        "    Talk to the bot ... .venv/bin/python -m api.chat --tenant contoso.com\n"
        f"{channels}"
        "  Press Ctrl-C to stop everything.\n",
        flush=True,
    )
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    signal.sigwait(stop)
    return 0


def start(settings: Settings) -> int:
    """Replace this process with honcho running the Procfile."""
    model_dir = Path(process_env(settings)["RASA_MODEL"])
    if model_dir.is_dir() and not any(model_dir.glob("*.tar.gz")):
        print(
            f"error: no trained model in {model_dir}; run `make train`", file=sys.stderr
        )
        return 1
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent))
    if honcho is None:
        print("error: honcho is not installed; run `make setup`", file=sys.stderr)
        return 1
    # Channel credentials (Slack, Teams, widget origins) are read by the channels in
    # the Rasa process itself (bot/channels/config.py): hand them the .env file too.
    dotenv = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
    env = {**dotenv, **os.environ, **process_env(settings)}
    Path(env["RASA_TRACKER_DB"]).parent.mkdir(parents=True, exist_ok=True)
    procfile = str(ROOT / "Procfile")
    os.chdir(ROOT)
    # honcho runs the Procfile; nothing user-supplied reaches this command line.
    os.execve(honcho, [honcho, "start", "-f", procfile, "-d", str(ROOT)], env)  # noqa: S606


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Start the CSP billing desk.")
    parser.add_argument(
        "command", nargs="?", default="start", choices=["start", "ready"]
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "ready":
        return ready(settings)
    return start(settings)


if __name__ == "__main__":
    sys.exit(main())
