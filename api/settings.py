"""The one settings object of the product.

Every port, path and secret is read from the environment (or a `.env` file). Local
mode has working defaults so that `make run` needs nothing; production mode refuses
those defaults and any secret shorter than 32 characters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

# Secrets with a local default, and the default that production mode refuses.
LOCAL_SECRET_DEFAULTS: dict[str, str] = {
    "rasa_auth_token": "dev-rasa-token",
    "action_server_token": "dev-action-token",
    "api_service_token": "dev-service-token",
    "chat_token_secret": "dev-chat-token-secret-change-me-0123456789",
    "link_signing_secret": "dev-link-signing-secret-change-me-0123456789",
}


class Settings(BaseSettings):
    """Configuration, read once from the environment."""

    model_config = SettingsConfigDict(
        env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_mode: Literal["local", "production"] = "local"

    # Our database (SQLite on a laptop, PostgreSQL in production).
    database_url: str = f"sqlite:///{ROOT / 'var' / 'app.db'}"

    # Where the three servers listen.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str = ""  # e.g. https://support.partner.example; defaults to API
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"

    # Secrets.
    rasa_auth_token: str = LOCAL_SECRET_DEFAULTS["rasa_auth_token"]
    action_server_token: str = LOCAL_SECRET_DEFAULTS["action_server_token"]
    api_service_token: str = LOCAL_SECRET_DEFAULTS["api_service_token"]
    chat_token_secret: str = LOCAL_SECRET_DEFAULTS["chat_token_secret"]
    link_signing_secret: str = LOCAL_SECRET_DEFAULTS["link_signing_secret"]

    # Lifetime of a customer's signed chat token and of a signed PDF link.
    chat_token_ttl_seconds: int = 3600
    pdf_link_ttl_seconds: int = 1800

    # Pattern that an invoice number must match (DOMAIN.md: D/G + 9 digits).
    invoice_number_pattern: str = r"[DG]\d{9}"

    # Rasa's tracker store, read by the review dashboard (api/dashboard/). Local mode:
    # the SQLite file named by RASA_TRACKER_DB (relative paths are from the repo
    # root). Production: RASA_TRACKER_URL, e.g. postgresql+psycopg://u:pw@host/rasa.
    rasa_tracker_db: str = str(ROOT / "var" / "rasa-tracker.db")
    rasa_tracker_url: str = ""

    # Production profile (APP_MODE=production, docs/production.md): several Rasa
    # replicas behind nginx (sticky per conversation), a Redis lock store, a RabbitMQ
    # event broker feeding the transcript store. RASA_URL is then nginx's address;
    # the replicas listen on RASA_REPLICA_PORTS (default: the next ports after it).
    rasa_replicas: int = 2
    # Threads of the sentence encoder in each Rasa process (0 = one per core). The
    # production profile uses 1 unless set: several replicas share the cores.
    sentence_encoder_threads: int = 0
    rasa_replica_ports: str = ""  # e.g. "5006,5007"
    action_workers: int = 2  # Sanic worker processes of the action server
    redis_url: str = ""  # e.g. redis://:password@127.0.0.1:6379/1 (lock store)
    redis_key_prefix: str = "cspdesk"  # alphanumeric (Rasa ignores anything else)
    rabbitmq_url: str = ""  # e.g. amqp://user:pw@127.0.0.1:5672/%2F
    rabbitmq_exchange: str = "csp_desk"
    rabbitmq_queue: str = "csp_desk_events"
    # The transcript consumer is background work: it lowers its CPU priority by
    # this much (os.nice) so that, on a host it shares with Rasa, the replies come
    # first. 0 leaves it as started.
    transcript_consumer_nice: int = Field(default=10, ge=0, le=19)
    # How often the consumer checks Rasa's tracker store for events that never came
    # through the broker (api/dashboard/reconcile.py); 0 turns the check off.
    transcript_reconcile_seconds: float = Field(default=60.0, ge=0)
    run_dir: str = str(ROOT / "var")  # generated Procfile and nginx config go here
    nginx_user: str = ""  # nginx's `user` directive when it starts as root

    # Per client address on the routes anyone can call without a token or session
    # (signed PDF links, the dashboard's sign-in form, the demo sign-in): requests
    # per period, bursts of up to `burst`. Per API process. Behind a proxy, tell
    # uvicorn to trust its X-Forwarded-For (FORWARDED_ALLOW_IPS=<proxy address>).
    public_rate_limit_requests: int = Field(default=30, ge=1)
    public_rate_limit_period_seconds: float = Field(default=60.0, gt=0)
    public_rate_limit_burst: int = Field(default=10, ge=1)

    # Review dashboard (api/dashboard/, docs/dashboard.md).
    dashboard_low_confidence_threshold: float = 0.5  # as config.yml's fallback
    dashboard_session_ttl_seconds: int = 8 * 3600
    dashboard_cookie_secure: Optional[bool] = None  # None: secure in production
    dashboard_ingest_on_request: bool = True  # read new events when a page opens
    dashboard_page_size: int = 50

    @property
    def base_url(self) -> str:
        """The public address of the API, used in links the bot sends."""
        return self.public_base_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def production_profile(self) -> bool:
        """Replicas, nginx, Redis, RabbitMQ and PostgreSQL (api/launch.py)."""
        return self.app_mode == "production"

    @property
    def transcripts_from_broker(self) -> bool:
        """Whether the review dashboard reads the events the broker delivered
        (``transcript_events``, api/dashboard/consumer.py) instead of Rasa's tracker
        store: whenever a broker is configured."""
        return bool(self.rabbitmq_url)

    def replica_ports(self) -> list[int]:
        """The ports of the Rasa replicas of the production profile."""
        if self.rasa_replica_ports.strip():
            return [int(p) for p in self.rasa_replica_ports.split(",") if p.strip()]
        public = urlsplit(self.rasa_url).port or 5005
        return [public + 1 + i for i in range(max(1, self.rasa_replicas))]

    def production_services_missing(self) -> list[str]:
        """What the production profile needs and the settings do not name."""
        missing = []
        if not self.rasa_tracker_url.startswith("postgresql"):
            missing.append("RASA_TRACKER_URL (postgresql+psycopg://...)")
        if not self.redis_url.startswith(("redis://", "rediss://")):
            missing.append("REDIS_URL (redis://...)")
        if not self.rabbitmq_url.startswith(("amqp://", "amqps://")):
            missing.append("RABBITMQ_URL (amqp://...)")
        if not self.redis_key_prefix.isalnum():
            missing.append("REDIS_KEY_PREFIX (letters and digits only)")
        return missing

    @model_validator(mode="after")
    def _refuse_defaults_in_production(self) -> Settings:
        if self.app_mode != "production":
            return self
        problems = []
        for field, default in LOCAL_SECRET_DEFAULTS.items():
            value = getattr(self, field)
            if value == default or len(value) < 32:
                problems.append(field.upper())
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL (SQLite is for local mode)")
        if problems:
            raise ValueError(
                "production mode needs real values for: " + ", ".join(problems)
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call `get_settings.cache_clear()`)."""
    return Settings()
