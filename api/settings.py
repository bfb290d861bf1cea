"""The one settings object of the product.

Every port, path and secret is read from the environment (or a `.env` file). Local
mode has working defaults so that `make run` needs nothing; production mode refuses
those defaults and any secret shorter than 32 characters.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.domain.services.webhook_signing import (
    webhook_secret_problem,
    webhook_url_problem,
)
from common import settings as S

ROOT = Path(__file__).resolve().parent.parent

# Secrets with a local default, and the default that production mode refuses.
LOCAL_SECRET_DEFAULTS: dict[str, str] = {s.field: s.default for s in S.SECRETS}


class Settings(BaseSettings):
    """Configuration, read once from the environment. Every field's name and
    default come from `common/settings.py` (the Rasa side reads the same table)."""

    model_config = SettingsConfigDict(
        env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_mode: Literal["local", "production"] = "local"  # S.APP_MODE

    # Our database (SQLite on a laptop, PostgreSQL in production).
    database_url: str = S.DATABASE_URL.default or f"sqlite:///{ROOT / 'var' / 'app.db'}"

    # Where the three servers listen.
    api_host: str = S.API_HOST.default
    api_port: int = S.API_PORT.default
    public_base_url: str = S.PUBLIC_BASE_URL.default
    rasa_url: str = S.RASA_URL.default
    action_server_url: str = S.ACTION_SERVER_URL.default

    # Secrets.
    rasa_auth_token: str = S.RASA_AUTH_TOKEN.default
    action_server_token: str = S.ACTION_SERVER_TOKEN.default
    api_service_token: str = S.API_SERVICE_TOKEN.default
    chat_token_secret: str = S.CHAT_TOKEN_SECRET.default
    link_signing_secret: str = S.LINK_SIGNING_SECRET.default

    chat_token_ttl_seconds: int = S.CHAT_TOKEN_TTL_SECONDS.default
    pdf_link_ttl_seconds: int = S.PDF_LINK_TTL_SECONDS.default
    invoice_number_pattern: str = S.INVOICE_NUMBER_PATTERN.default

    # Rasa's tracker store, read by the review dashboard (api/dashboard/). Local mode:
    # the SQLite file named by RASA_TRACKER_DB (relative paths are from the repo
    # root). Production: RASA_TRACKER_URL, e.g. postgresql+psycopg://u:pw@host/rasa.
    rasa_tracker_db: str = S.RASA_TRACKER_DB.default or str(
        ROOT / "var" / "rasa-tracker.db"
    )
    rasa_tracker_url: str = S.RASA_TRACKER_URL.default
    rasa_tracker_retry_seconds: float = S.RASA_TRACKER_RETRY_SECONDS.default
    rasa_tracker_cache_size: int = S.RASA_TRACKER_CACHE_SIZE.default
    rasa_max_concurrent_messages: int = Field(
        default=S.RASA_MAX_CONCURRENT_MESSAGES.default, ge=0
    )
    action_server_timeout_seconds: float = Field(
        default=S.ACTION_SERVER_TIMEOUT_SECONDS.default, gt=0
    )
    sentence_encoder_threads: int = S.SENTENCE_ENCODER_THREADS.default

    # Production profile (APP_MODE=production, docs/production.md): several Rasa
    # replicas behind nginx (sticky per conversation), a Redis lock store, a RabbitMQ
    # event broker feeding the transcript store. RASA_URL is then nginx's address;
    # the replicas listen on RASA_REPLICA_PORTS (default: the next ports after it).
    rasa_replicas: int = S.RASA_REPLICAS.default
    rasa_replica_ports: str = S.RASA_REPLICA_PORTS.default
    action_workers: int = S.ACTION_WORKERS.default
    redis_url: str = S.REDIS_URL.default
    redis_key_prefix: str = S.REDIS_KEY_PREFIX.default
    rabbitmq_url: str = S.RABBITMQ_URL.default
    rabbitmq_exchange: str = S.RABBITMQ_EXCHANGE.default
    rabbitmq_queue: str = S.RABBITMQ_QUEUE.default
    transcript_consumer_nice: int = Field(
        default=S.TRANSCRIPT_CONSUMER_NICE.default, ge=0, le=19
    )
    transcript_reconcile_seconds: float = Field(
        default=S.TRANSCRIPT_RECONCILE_SECONDS.default, ge=0
    )
    run_dir: str = S.RUN_DIR.default or str(ROOT / "var")
    nginx_user: str = S.NGINX_USER.default

    # Limits on what reaches the servers (docs/security.md).
    max_message_chars: int = Field(default=S.MAX_MESSAGE_CHARS.default, ge=100)
    chat_rate_limit_messages: int = Field(
        default=S.CHAT_RATE_LIMIT_MESSAGES.default, ge=1
    )
    chat_rate_limit_period_seconds: float = Field(
        default=S.CHAT_RATE_LIMIT_PERIOD_SECONDS.default, gt=0
    )
    chat_rate_limit_burst: int = Field(default=S.CHAT_RATE_LIMIT_BURST.default, ge=1)
    public_rate_limit_requests: int = Field(
        default=S.PUBLIC_RATE_LIMIT_REQUESTS.default, ge=1
    )
    public_rate_limit_period_seconds: float = Field(
        default=S.PUBLIC_RATE_LIMIT_PERIOD_SECONDS.default, gt=0
    )
    public_rate_limit_burst: int = Field(
        default=S.PUBLIC_RATE_LIMIT_BURST.default, ge=1
    )
    # Proxies in front of the API (and Rasa) whose X-Forwarded-For is believed:
    # `csp-desk serve` hands them to uvicorn; nobody by default.
    trusted_proxies: str = S.TRUSTED_PROXIES.default

    # Review dashboard (api/dashboard/, docs/dashboard.md).
    dashboard_low_confidence_threshold: float = (
        S.DASHBOARD_LOW_CONFIDENCE_THRESHOLD.default
    )
    dashboard_session_ttl_seconds: int = S.DASHBOARD_SESSION_TTL_SECONDS.default
    dashboard_cookie_secure: Optional[bool] = None  # None: secure in production
    dashboard_ingest_on_request: bool = S.DASHBOARD_INGEST_ON_REQUEST.default
    dashboard_page_size: int = S.DASHBOARD_PAGE_SIZE.default

    # Outbound webhooks to the partners' helpdesks (docs/helpdesk-webhooks.md):
    # a default endpoint for every partner's events, and the delivery worker's
    # timing. Partners add their own endpoints in their profiles.
    webhook_default_url: str = S.WEBHOOK_DEFAULT_URL.default
    webhook_default_secret: str = S.WEBHOOK_DEFAULT_SECRET.default
    webhook_timeout_seconds: float = Field(
        default=S.WEBHOOK_TIMEOUT_SECONDS.default, gt=0, le=120
    )
    webhook_retry_base_seconds: float = Field(
        default=S.WEBHOOK_RETRY_BASE_SECONDS.default, gt=0
    )
    webhook_retry_max_seconds: float = Field(
        default=S.WEBHOOK_RETRY_MAX_SECONDS.default, gt=0
    )
    webhook_max_age_seconds: float = Field(
        default=S.WEBHOOK_MAX_AGE_SECONDS.default, gt=0
    )
    webhook_poll_seconds: float = Field(default=S.WEBHOOK_POLL_SECONDS.default, gt=0)
    webhook_retention_days: int = Field(default=S.WEBHOOK_RETENTION_DAYS.default, ge=0)
    # Hand-off to a person (api/domain/services/handoff.py, docs/escalation.md).
    handoff_wait_timeout_seconds: int = S.HANDOFF_WAIT_TIMEOUT_SECONDS.default
    handoff_poll_seconds: float = S.HANDOFF_POLL_SECONDS.default
    api_internal_url: str = S.API_INTERNAL_URL.default

    # Partner Center sync (api/partner_center/, docs/onboarding.md).
    partner_center_api_url: str = S.PARTNER_CENTER_API_URL.default
    partner_center_authority: str = S.PARTNER_CENTER_AUTHORITY.default
    partner_center_tenant_id: str = S.PARTNER_CENTER_TENANT_ID.default
    partner_center_client_id: str = S.PARTNER_CENTER_CLIENT_ID.default
    partner_center_client_secret: str = S.PARTNER_CENTER_CLIENT_SECRET.default
    partner_center_token_key: str = S.PARTNER_CENTER_TOKEN_KEY.default
    partner_center_sync_interval_seconds: int = Field(
        default=S.PARTNER_CENTER_SYNC_INTERVAL_SECONDS.default, ge=0
    )
    partner_center_timeout_seconds: float = Field(
        default=S.PARTNER_CENTER_TIMEOUT_SECONDS.default, gt=0
    )
    partner_center_max_retries: int = Field(
        default=S.PARTNER_CENTER_MAX_RETRIES.default, ge=0, le=20
    )
    partner_center_retry_max_seconds: float = Field(
        default=S.PARTNER_CENTER_RETRY_MAX_SECONDS.default, ge=0
    )
    partner_center_page_size: int = Field(
        default=S.PARTNER_CENTER_PAGE_SIZE.default, ge=1, le=2000
    )
    partner_center_invoice_months: int = Field(
        default=S.PARTNER_CENTER_INVOICE_MONTHS.default, ge=1
    )
    partner_center_agent_locale: str = S.PARTNER_CENTER_AGENT_LOCALE.default
    partner_center_support_topics_ttl_seconds: int = Field(
        default=S.PARTNER_CENTER_SUPPORT_TOPICS_TTL_SECONDS.default, ge=0
    )
    partner_center_status_timeout_seconds: float = Field(
        default=S.PARTNER_CENTER_STATUS_TIMEOUT_SECONDS.default, gt=0
    )

    # Channels (bot/channels/, read inside Rasa from the same names).
    widget_allowed_origins: str = S.WIDGET_ALLOWED_ORIGINS.default
    widget_allow_anonymous: bool = S.WIDGET_ALLOW_ANONYMOUS.default
    slack_bot_token: str = S.SLACK_BOT_TOKEN.default
    slack_signing_secret: str = S.SLACK_SIGNING_SECRET.default
    slack_api_base_url: str = S.SLACK_API_BASE_URL.default
    teams_app_id: str = S.TEAMS_APP_ID.default
    teams_app_password: str = S.TEAMS_APP_PASSWORD.default
    teams_tenant_id: str = S.TEAMS_TENANT_ID.default
    teams_openid_metadata_url: str = S.TEAMS_OPENID_METADATA_URL.default
    teams_login_base_url: str = S.TEAMS_LOGIN_BASE_URL.default
    teams_service_url: str = S.TEAMS_SERVICE_URL.default

    @property
    def base_url(self) -> str:
        """The public address of the API, used in links the bot sends."""
        return self.public_base_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def production_profile(self) -> bool:
        """Replicas, nginx, Redis, RabbitMQ and PostgreSQL (api/ops/launch.py)."""
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

    def trusted_proxy_list(self) -> list[str]:
        """TRUSTED_PROXIES as a list of addresses and networks (checked when the
        settings are read), networks written without host bits."""
        return [
            str(ipaddress.ip_network(part, strict=False)) if "/" in part else part
            for part in (p.strip() for p in self.trusted_proxies.split(","))
            if part
        ]

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

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"TRUSTED_PROXIES: {part.strip()!r} is not an address or "
                        "network (e.g. 10.0.0.5 or 10.0.0.0/8)"
                    ) from None
        return value

    @model_validator(mode="after")
    def _default_webhook_endpoint(self) -> Settings:
        if not self.webhook_default_url.strip():
            return self
        problem = webhook_url_problem(
            self.webhook_default_url.strip()
        ) or webhook_secret_problem(self.webhook_default_secret.strip())
        if problem:
            raise ValueError(f"WEBHOOK_DEFAULT_URL / WEBHOOK_DEFAULT_SECRET: {problem}")
        return self

    @field_validator("partner_center_api_url", "partner_center_authority")
    @classmethod
    def _https_only(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if urlsplit(value).scheme != "https" or not urlsplit(value).hostname:
            raise ValueError(
                f"{value!r}: Partner Center and its authority are reached over "
                "https:// only"
            )
        return value

    @model_validator(mode="after")
    def _refuse_defaults_in_production(self) -> Settings:
        if self.app_mode != "production":
            return self
        problems = []
        for secret in S.SECRETS:
            if S.weak_secret(secret, getattr(self, secret.field)):
                problems.append(secret.env)
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
