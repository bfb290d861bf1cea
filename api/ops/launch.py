"""Start the servers with honcho, in one of two profiles.

`csp-desk run` turns the one settings object into the environment that the
Procfile reads, then hands over to honcho, which starts every process, prefixes their
output and stops them all on Ctrl-C. The Procfile's `ready` process
(`csp-desk run ready`) waits for the health checks and prints where to go.

- Embedded (APP_MODE=local, `make run`): the repository's `Procfile`, one Rasa, one
  action server, the API, the helpdesk webhooks' delivery worker (one: SQLite
  has no row locks) and the scheduled Partner Center sync; SQLite, in-memory lock
  store.
- Production (APP_MODE=production, `make run-prod`, docs/production.md): a Procfile
  generated into RUN_DIR (default var/) with RASA_REPLICAS Rasa replicas on
  RASA_REPLICA_PORTS, nginx on RASA_URL's port routing each conversation to one of them
  (config rendered from deploy/production/nginx.conf.j2), the action server with
  ACTION_WORKERS workers, the API, the transcript consumer, the webhooks'
  delivery worker and the scheduled Partner Center sync; PostgreSQL tracker
  store, Redis lock store and RabbitMQ event broker from deploy/production/endpoints.yml.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

import httpx
import jinja2
from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from api.settings import ROOT, Settings, get_settings
from common.channels import channel_status

READY_TIMEOUT_SECONDS = 300.0
PRODUCTION_DIR = ROOT / "deploy" / "production"
NGINX_TEMPLATE = PRODUCTION_DIR / "nginx.conf.j2"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx")


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
        "ACTION_WORKERS": "1",
        "TRUSTED_PROXIES": ",".join(settings.trusted_proxy_list()),
        "SENTENCE_ENCODER_THREADS": str(settings.sentence_encoder_threads),
        "PYTHONUNBUFFERED": "1",
        # Libraries' deprecation notices (Rasa's dependencies print dozens at start)
        # are not for the operator; every other warning still shows.
        "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::PendingDeprecationWarning",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        # The code of this checkout, also for the csp-desk command the Procfile runs
        # (an editable install points at the checkout it was installed from).
        "PYTHONPATH": str(ROOT),
    }
    if settings.production_profile:
        env.update(production_env(settings))
    return env


def production_env(settings: Settings) -> dict[str, str]:
    """The production profile's part of the environment: the stores and broker
    split into the fields deploy/production/endpoints.yml reads."""
    tracker = make_url(settings.rasa_tracker_url)
    redis = urlsplit(settings.redis_url)
    rabbit = urlsplit(settings.rabbitmq_url)
    return {
        "RASA_ENDPOINTS": os.environ.get(
            "RASA_ENDPOINTS", str(PRODUCTION_DIR / "endpoints.yml")
        ),
        "RASA_CREDENTIALS": os.environ.get(
            "RASA_CREDENTIALS", str(PRODUCTION_DIR / "credentials.yml")
        ),
        "ACTION_WORKERS": str(max(1, settings.action_workers)),
        "SENTENCE_ENCODER_THREADS": str(settings.sentence_encoder_threads or 1),
        "RASA_TRACKER_URL": settings.rasa_tracker_url,
        "RASA_TRACKER_PG_HOST": tracker.host or "127.0.0.1",
        "RASA_TRACKER_PG_PORT": str(tracker.port or 5432),
        "RASA_TRACKER_PG_DB": tracker.database or "",
        "RASA_TRACKER_PG_USER": tracker.username or "",
        "RASA_TRACKER_PG_PASSWORD": tracker.password or "",
        "REDIS_URL": settings.redis_url,
        "REDIS_HOST": redis.hostname or "127.0.0.1",
        "REDIS_PORT": str(redis.port or 6379),
        "REDIS_DB": (redis.path or "/0").strip("/") or "0",
        "REDIS_PASSWORD": unquote(redis.password or ""),
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "RABBITMQ_URL": settings.rabbitmq_url,
        "RABBITMQ_HOST": rabbit.hostname or "127.0.0.1",
        "RABBITMQ_PORT": str(rabbit.port or 5672),
        "RABBITMQ_USER": unquote(rabbit.username or "guest"),
        "RABBITMQ_PASSWORD": unquote(rabbit.password or "guest"),
        "RABBITMQ_EXCHANGE": settings.rabbitmq_exchange,
        "RABBITMQ_QUEUE": settings.rabbitmq_queue,
        "RUN_DIR": settings.run_dir,
    }


def find_nginx() -> Optional[str]:
    """nginx on PATH or where Debian puts it (scripts/install_nginx.sh)."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((path for path in NGINX_CANDIDATES if os.access(path, os.X_OK)), None)


def replica_addresses(settings: Settings) -> list[str]:
    host = urlsplit(settings.rasa_url).hostname or "127.0.0.1"
    return [f"{host}:{port}" for port in settings.replica_ports()]


def render_nginx(settings: Settings, run_dir: Path) -> Path:
    """Write the nginx config of the production profile; return its path."""
    public = urlsplit(settings.rasa_url)
    (run_dir / "nginx" / "tmp").mkdir(parents=True, exist_ok=True)
    template = jinja2.Template(
        NGINX_TEMPLATE.read_text(), undefined=jinja2.StrictUndefined
    )
    conf = run_dir / "nginx" / "nginx.conf"
    conf.write_text(
        template.render(
            listen_host=public.hostname or "127.0.0.1",
            listen_port=public.port or 5005,
            replicas=replica_addresses(settings),
            run_dir=str(run_dir),
            user=settings.nginx_user,
        )
    )
    return conf


def nginx_addresses(settings: Settings) -> list[str]:
    """Where nginx's connections to the replicas come from: the replicas' host
    (nginx and the replicas share the machine), the loopback for `localhost` or a
    wildcard address."""
    host = urlsplit(settings.rasa_url).hostname or "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ["127.0.0.1", "::1"] if host == "localhost" else [host]
    if address.is_unspecified:
        return ["127.0.0.1", "::1"]
    return [str(address)]


def replica_trusted_proxies(settings: Settings) -> str:
    """TRUSTED_PROXIES of the Rasa replicas: nginx in front of them, named here,
    plus whatever the settings name (a load balancer in front of nginx). The API
    is not behind this nginx and keeps the settings' own list."""
    proxies = [*settings.trusted_proxy_list()]
    proxies += [a for a in nginx_addresses(settings) if a not in proxies]
    return ",".join(proxies)


def production_procfile(settings: Settings, run_dir: Path, nginx: str) -> Path:
    """The Procfile of the production profile: one line per Rasa replica, then the
    action server, the API, the transcript consumer, the webhooks' delivery worker,
    the scheduled Partner Center sync, nginx and `ready`."""
    # The replicas believe the client address nginx forwards (anonymous chatters'
    # rate limits count per address); nothing else does.
    trusted = shlex.quote(replica_trusted_proxies(settings))
    rasa = (
        f"env TRUSTED_PROXIES={trusted} "
        '.venv-rasa/bin/rasa run --enable-api --auth-token="$RASA_AUTH_TOKEN" '
        '--interface "$RASA_HOST" --port {port} --model "$RASA_MODEL" '
        '--endpoints "$RASA_ENDPOINTS" --credentials "$RASA_CREDENTIALS"'
    )
    conf = render_nginx(settings, run_dir)
    lines = [
        "# Generated by `csp-desk run` (production profile); do not edit.",
        *(
            f"rasa{i}: {rasa.format(port=port)}"
            for i, port in enumerate(settings.replica_ports(), start=1)
        ),
        'actions: .venv/bin/python -m actions.server --host "$ACTION_HOST" '
        '--port "$ACTION_PORT" --workers "$ACTION_WORKERS"',
        "api: .venv/bin/csp-desk serve",
        "transcripts: .venv/bin/csp-desk transcripts consume",
        "webhooks: .venv/bin/csp-desk webhooks deliver",
        "partner-center: .venv/bin/csp-desk partner-center schedule",
        f"nginx: {shlex.quote(nginx)} -e stderr -p {shlex.quote(str(conf.parent))} "
        f"-c {shlex.quote(str(conf))}",
        "ready: .venv/bin/csp-desk ready",
    ]
    procfile = run_dir / "Procfile.production"
    procfile.write_text("\n".join(lines) + "\n")
    return procfile


def health_checks(settings: Settings) -> dict[str, str]:
    """Name → URL that answers 200 once that server is ready."""
    checks = {
        "API": f"http://{settings.api_host}:{settings.api_port}/health",
        "action server": f"{settings.action_server_url}/health",
        # /status needs the token and names the loaded model: ready means a model.
        "Rasa": f"{settings.rasa_url}/status?token={settings.rasa_auth_token}",
    }
    if settings.production_profile:
        for i, address in enumerate(replica_addresses(settings), start=1):
            checks[f"Rasa replica {i}"] = (
                f"http://{address}/status?token={settings.rasa_auth_token}"
            )
    return checks


def wait_until_ready(
    checks: dict[str, str], timeout: float = READY_TIMEOUT_SECONDS
) -> list[str]:
    """Poll every check, a round a second, until all answer 200 or `timeout` is
    up; return those still failing."""
    pending = dict(checks)
    with httpx.Client(timeout=5.0) as client:

        def poll() -> dict[str, str]:
            for name, url in list(pending.items()):
                try:
                    if client.get(url).status_code == 200:
                        print(f"ready: {name} is up", flush=True)
                        del pending[name]
                except httpx.HTTPError:
                    pass
            return pending

        Retrying(
            retry=retry_if_result(bool),  # some still pending
            wait=wait_fixed(1.0),
            stop=stop_after_delay(timeout),
            retry_error_callback=lambda _state: None,  # the caller reports them
        )(poll)
    return sorted(pending)


def ready(settings: Settings) -> int:
    """Wait for the servers, print where to go, then stay up until stopped."""
    failing = wait_until_ready(health_checks(settings))
    if failing:
        print(f"ready: not up after {READY_TIMEOUT_SECONDS:.0f}s: {', '.join(failing)}")
        return 1
    base = f"http://{settings.api_host}:{settings.api_port}"
    replicas = ""
    if settings.production_profile:
        replicas = (
            f"    Rasa replicas ..... {', '.join(replica_addresses(settings))}"
            "  (behind nginx, sticky per conversation)\n"
        )
    channels = "".join(
        f"    {status.line()}\n" for status in channel_status(os.environ)
    )
    print(
        "\n"
        f"  CSP billing desk is running ({settings.app_mode} mode)\n"
        f"    Demo customer site  {base}/demo/portal   (the chat widget)\n"
        f"    Review dashboard .. {base}/dashboard     "
        "(lead@demo.local / demo-lead-password)\n"
        f"    Hand-off inbox .... {base}/dashboard/inbox "
        "(agent@demo.local / demo-agent-password)\n"
        f"    API and docs ...... {base}/docs\n"
        f"    API health ........ {base}/health\n"
        f"    Rasa .............. {settings.rasa_url}  (HTTP API, token required)\n"
        f"{replicas}"
        f"    Action server ..... {settings.action_server_url}\n"
        "    Talk to the bot ... .venv/bin/csp-desk chat --tenant contoso.com\n"
        f"{channels}"
        "  Press Ctrl-C to stop everything.\n",
        flush=True,
    )
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    signal.sigwait(stop)
    return 0


def start(settings: Settings) -> int:
    """Replace this process with honcho running the profile's Procfile."""
    procfile = ROOT / "Procfile"
    if settings.production_profile:
        missing = settings.production_services_missing()
        if missing:
            print(
                "error: the production profile needs " + ", ".join(missing),
                file=sys.stderr,
            )
            return 1
        nginx = find_nginx()
        if nginx is None:
            print(
                "error: nginx is not installed; run `bash scripts/install_nginx.sh`",
                file=sys.stderr,
            )
            return 1
        run_dir = Path(settings.run_dir)
        run_dir = run_dir if run_dir.is_absolute() else ROOT / run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        procfile = production_procfile(settings, run_dir, nginx)
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
    # the Rasa process itself (common/channels.py): hand them the .env file too.
    dotenv = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
    env = {**dotenv, **os.environ, **process_env(settings)}
    Path(env["RASA_TRACKER_DB"]).parent.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    # honcho runs the Procfile; nothing user-supplied reaches this command line.
    os.execve(honcho, [honcho, "start", "-f", str(procfile), "-d", str(ROOT)], env)  # noqa: S606


def main(argv: Optional[list[str]] = None) -> int:
    """`start` (default) or `ready`; the exit status. `csp-desk run` calls it."""
    command = (argv or ["start"])[0]
    settings = get_settings()
    if command == "ready":
        return ready(settings)
    return start(settings)
