"""Start the real product (honcho running Rasa, the action server and the API via
`csp-desk run`, the same path as `make run`) on free ports, for tests."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CSP_DESK = str(ROOT / ".venv" / "bin" / "csp-desk")  # the command line `make run` uses
# RASA_MODEL (a model file) overrides the trained model of `make train`, e.g. a
# model trained into a scratch directory; api.ops.launch passes it on to Rasa.
MODEL = Path(os.environ.get("RASA_MODEL") or ROOT / "models" / "csp.tar.gz")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A running product, its addresses and secrets."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    metadata: dict[str, dict] = field(default_factory=dict)  # by sender, see `say`

    @property
    def rasa_url(self) -> str:
        return self.env["RASA_URL"]

    @property
    def action_url(self) -> str:
        return self.env["ACTION_SERVER_URL"]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['API_PORT']}"

    @property
    def log(self) -> Path:
        return self.workdir / "stack.log"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def say(self, sender: str, text: str, metadata: dict | None = None) -> list[dict]:
        """Send one message through the REST channel; return the bot's replies.

        Like a real client, the conversation's metadata (its chat token) goes with
        every message: without `metadata`, the last one given for `sender` is sent
        again (identity comes only from the message's own token). Pass `{}` to
        send none."""
        if metadata is None:
            metadata = self.metadata.get(sender)
        else:
            self.metadata[sender] = metadata
        body: dict = {"sender": sender, "message": text}
        if metadata is not None:
            body["metadata"] = metadata
        reply = httpx.post(
            f"{self.rasa_url}/webhooks/rest/webhook", json=body, timeout=60
        )
        reply.raise_for_status()
        return list(reply.json())


def start_stack(
    workdir: Path, timeout: float = 240.0, extra_env: dict[str, str] | None = None
) -> Stack:
    """Migrate and seed a fresh database, start everything, wait for health.

    `extra_env` is added to (and wins over) the environment of every process, e.g.
    the channels' credentials and fake platform URLs in tests/channels/.
    """
    if not MODEL.exists():
        raise RuntimeError(f"no trained model at {MODEL}; run `make train` first")
    env = {
        **os.environ,
        "APP_MODE": "local",
        "DATABASE_URL": f"sqlite:///{workdir / 'app.db'}",
        "RASA_TRACKER_DB": str(workdir / "tracker.db"),
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{free_port()}",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(free_port()),
        # token_urlsafe may start with "-"; a token that does must still reach
        # `rasa run` as a value, not an option (CI once failed on exactly that).
        "RASA_AUTH_TOKEN": "-" + secrets.token_urlsafe(24),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
        "API_SERVICE_TOKEN": secrets.token_urlsafe(24),
        "CHAT_TOKEN_SECRET": secrets.token_urlsafe(32),
        "LINK_SIGNING_SECRET": secrets.token_urlsafe(32),
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONPATH": str(ROOT),  # this checkout's code, also for csp-desk
        "TF_CPP_MIN_LOG_LEVEL": "2",
        # The chat rate limit counts per signed-in customer (and per address for
        # anonymous chatters: every test is 127.0.0.1), across conversations; these
        # stacks test conversations, the limit's own tests set it low.
        "CHAT_RATE_LIMIT_MESSAGES": "1000",
        "CHAT_RATE_LIMIT_BURST": "1000",
        **(extra_env or {}),
    }
    stack = Stack(workdir=workdir, env=env)
    subprocess.run([CSP_DESK, "init-db"], cwd=ROOT, env=env, check=True)
    log = stack.log.open("wb")
    stack.process = subprocess.Popen(  # honcho, like `make run`
        [CSP_DESK, "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return wait_for_stack(stack, timeout)


def wait_for_stack(stack: Stack, timeout: float) -> Stack:
    """Wait for the launcher's banner (every health check passed); stop the stack
    and raise with the end of its log if it exits or is not ready in time."""
    assert stack.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise RuntimeError(f"the stack exited early:\n{stack.log_tail()}")
        if "CSP billing desk is running" in stack.log.read_text(errors="replace"):
            return stack
        time.sleep(1.0)
    stop_stack(stack)
    raise RuntimeError(
        f"the stack was not ready in {timeout:.0f}s:\n{stack.log_tail()}"
    )


def stop_stack(stack: Stack, timeout: float = 30.0) -> int | None:
    """Ctrl-C, as a person would; return honcho's exit code."""
    if stack.process is None or stack.process.poll() is not None:
        return None if stack.process is None else stack.process.returncode
    os.killpg(stack.process.pid, signal.SIGINT)
    try:
        return stack.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(stack.process.pid, signal.SIGKILL)
        stack.process.wait()
        return None
