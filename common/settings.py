"""Every setting of the product: its environment variable, its default and what it
does, defined once.

Two readers use this table. The API, the action server and the operator tools read
it through pydantic-settings (`api/settings.py`, whose fields take their defaults
from here); the code that runs inside Rasa (`bot/`, no pydantic 2 there) reads the
environment with `Setting.get()`. A test checks that the two agree, so a name or a
default can only be changed here.

Standard library only: both virtual environments import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, Optional, TypeVar, cast

T = TypeVar("T", str, int, float, bool)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingError(ValueError):
    """A setting's value cannot be read as its type."""


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: `env` names the environment variable, `default` its value when
    unset (its type is the setting's type)."""

    env: str
    default: T
    help: str
    secret: bool = False

    @property
    def field(self) -> str:
        """The attribute name in `api.settings.Settings`."""
        return self.env.lower()

    def raw(self, env: Optional[Mapping[str, str]] = None) -> str:
        """The variable's text, stripped ("" when unset)."""
        source = os.environ if env is None else env
        return (source.get(self.env) or "").strip()

    def get(self, env: Optional[Mapping[str, str]] = None) -> T:
        """The value from the environment (or `env`), or the default when unset."""
        text = self.raw(env)
        if not text:
            return self.default
        kind = type(self.default)
        try:
            if kind is bool:
                lowered = text.lower()
                if lowered in _TRUE | _FALSE:
                    return cast(T, lowered in _TRUE)
                raise ValueError(text)
            return cast(T, kind(text))
        except ValueError:
            raise SettingError(
                f"{self.env} must be {kind.__name__}, not {text!r}"
            ) from None


LOCAL = "local"
PRODUCTION = "production"
MIN_SECRET_LENGTH = 32  # production mode refuses shorter secrets

# --------------------------------------------------------------------------- mode

APP_MODE = Setting("APP_MODE", LOCAL, "`local` or `production`")

# --------------------------------------------------------------------------- where

DATABASE_URL = Setting("DATABASE_URL", "", "our database; empty: SQLite in var/app.db")
API_HOST = Setting("API_HOST", "127.0.0.1", "where the API listens")
API_PORT = Setting("API_PORT", 8000, "the API's port")
PUBLIC_BASE_URL = Setting(
    "PUBLIC_BASE_URL", "", "the public address links in chat point at"
)
RASA_URL = Setting("RASA_URL", "http://127.0.0.1:5005", "where Rasa listens")
ACTION_SERVER_URL = Setting(
    "ACTION_SERVER_URL", "http://127.0.0.1:5055", "where the action server listens"
)

# --------------------------------------------------------------------------- secrets

RASA_AUTH_TOKEN = Setting(
    "RASA_AUTH_TOKEN", "dev-rasa-token", "token of Rasa's HTTP API", secret=True
)
ACTION_SERVER_TOKEN = Setting(
    "ACTION_SERVER_TOKEN",
    "dev-action-token",
    "token Rasa sends to the action server",
    secret=True,
)
API_SERVICE_TOKEN = Setting(
    "API_SERVICE_TOKEN",
    "dev-service-token",
    "bearer token of the REST API for services",
    secret=True,
)
CHAT_TOKEN_SECRET = Setting(
    "CHAT_TOKEN_SECRET",
    "dev-chat-token-secret-change-me-0123456789",
    "key that signs chat tokens (the partner's site shares it)",
    secret=True,
)
LINK_SIGNING_SECRET = Setting(
    "LINK_SIGNING_SECRET",
    "dev-link-signing-secret-change-me-0123456789",
    "key that signs short-lived download links",
    secret=True,
)
SECRETS: tuple[Setting[str], ...] = (
    RASA_AUTH_TOKEN,
    ACTION_SERVER_TOKEN,
    API_SERVICE_TOKEN,
    CHAT_TOKEN_SECRET,
    LINK_SIGNING_SECRET,
)

CHAT_TOKEN_TTL_SECONDS = Setting(
    "CHAT_TOKEN_TTL_SECONDS", 3600, "lifetime of a customer's signed chat token"
)
PDF_LINK_TTL_SECONDS = Setting(
    "PDF_LINK_TTL_SECONDS", 1800, "lifetime of a signed PDF link"
)
INVOICE_NUMBER_PATTERN = Setting(
    "INVOICE_NUMBER_PATTERN",
    r"[DG]\d{9}",
    "pattern of a Microsoft invoice number (D legacy, G new commerce)",
)

# --------------------------------------------------------------------------- Rasa

RASA_TRACKER_DB = Setting(
    "RASA_TRACKER_DB", "", "the local tracker store; empty: var/rasa-tracker.db"
)
RASA_TRACKER_URL = Setting(
    "RASA_TRACKER_URL", "", "production: Rasa's PostgreSQL tracker store"
)
RASA_TRACKER_RETRY_SECONDS = Setting(
    "RASA_TRACKER_RETRY_SECONDS",
    15.0,
    "how long a tracker read or write is retried while the database is down",
)
RASA_TRACKER_CACHE_SIZE = Setting(
    "RASA_TRACKER_CACHE_SIZE",
    1000,
    "conversations each Rasa process keeps in memory between messages (0: none)",
)
RASA_MAX_CONCURRENT_MESSAGES = Setting(
    "RASA_MAX_CONCURRENT_MESSAGES",
    2,
    "messages each Rasa process works on at once; the rest wait in arrival order",
)
ACTION_SERVER_TIMEOUT_SECONDS = Setting(
    "ACTION_SERVER_TIMEOUT_SECONDS",
    20.0,
    "how long Rasa waits for an action before it says the desk is unavailable",
)
SENTENCE_ENCODER_THREADS = Setting(
    "SENTENCE_ENCODER_THREADS",
    0,
    "threads of the sentence encoder per Rasa process (0: one per core)",
)

# --------------------------------------------------------------------------- production

RASA_REPLICAS = Setting("RASA_REPLICAS", 2, "production: Rasa replicas behind nginx")
RASA_REPLICA_PORTS = Setting(
    "RASA_REPLICA_PORTS", "", "production: the replicas' ports, e.g. 5006,5007"
)
ACTION_WORKERS = Setting(
    "ACTION_WORKERS", 2, "production: worker processes of the action server"
)
REDIS_URL = Setting(
    "REDIS_URL", "", "production: Redis (lock store, shared rate limits, dedupe)"
)
REDIS_KEY_PREFIX = Setting(
    "REDIS_KEY_PREFIX", "cspdesk", "prefix of every Redis key (letters and digits)"
)
RABBITMQ_URL = Setting("RABBITMQ_URL", "", "production: the RabbitMQ event broker")
RABBITMQ_EXCHANGE = Setting("RABBITMQ_EXCHANGE", "csp_desk", "the broker's exchange")
RABBITMQ_QUEUE = Setting(
    "RABBITMQ_QUEUE", "csp_desk_events", "the transcript consumer's queue"
)
TRANSCRIPT_CONSUMER_NICE = Setting(
    "TRANSCRIPT_CONSUMER_NICE", 10, "CPU priority the transcript consumer gives up"
)
TRANSCRIPT_RECONCILE_SECONDS = Setting(
    "TRANSCRIPT_RECONCILE_SECONDS",
    60.0,
    "how often the consumer looks for events the broker never delivered (0: off)",
)
RUN_DIR = Setting("RUN_DIR", "", "generated Procfile and nginx config; empty: var/")
NGINX_USER = Setting("NGINX_USER", "", "nginx's `user` directive when run as root")

# --------------------------------------------------------------------------- limits

MAX_MESSAGE_CHARS = Setting(
    "MAX_MESSAGE_CHARS",
    4000,
    "every channel cuts a chat message to this many characters before Rasa sees it",
)
CHAT_RATE_LIMIT_MESSAGES = Setting(
    "CHAT_RATE_LIMIT_MESSAGES", 20, "messages per chatter per period"
)
CHAT_RATE_LIMIT_PERIOD_SECONDS = Setting(
    "CHAT_RATE_LIMIT_PERIOD_SECONDS", 60.0, "the period of the chat rate limit"
)
CHAT_RATE_LIMIT_BURST = Setting(
    "CHAT_RATE_LIMIT_BURST", 8, "messages a chatter may send at once"
)
PUBLIC_RATE_LIMIT_REQUESTS = Setting(
    "PUBLIC_RATE_LIMIT_REQUESTS",
    30,
    "requests per client address on the API's routes without a token or session",
)
PUBLIC_RATE_LIMIT_PERIOD_SECONDS = Setting(
    "PUBLIC_RATE_LIMIT_PERIOD_SECONDS", 60.0, "the period of the public rate limit"
)
PUBLIC_RATE_LIMIT_BURST = Setting(
    "PUBLIC_RATE_LIMIT_BURST", 10, "requests a client may send at once"
)
TRUSTED_PROXIES = Setting(
    "TRUSTED_PROXIES",
    "",
    "addresses or networks of the proxies whose X-Forwarded-For is believed "
    "(comma-separated; none by default)",
)

# --------------------------------------------------------------------------- dashboard

DASHBOARD_LOW_CONFIDENCE_THRESHOLD = Setting(
    "DASHBOARD_LOW_CONFIDENCE_THRESHOLD",
    0.5,
    "intent confidence below which the dashboard flags a message",
)
DASHBOARD_SESSION_TTL_SECONDS = Setting(
    "DASHBOARD_SESSION_TTL_SECONDS", 8 * 3600, "how long a lead stays signed in"
)
DASHBOARD_INGEST_ON_REQUEST = Setting(
    "DASHBOARD_INGEST_ON_REQUEST", True, "read new events when a dashboard page opens"
)
DASHBOARD_PAGE_SIZE = Setting(
    "DASHBOARD_PAGE_SIZE", 50, "conversations per dashboard page"
)

# --------------------------------------------------------------------------- webhooks

WEBHOOK_DEFAULT_URL = Setting(
    "WEBHOOK_DEFAULT_URL",
    "",
    "a helpdesk endpoint that receives every partner's webhooks (none when empty)",
)
WEBHOOK_DEFAULT_SECRET = Setting(
    "WEBHOOK_DEFAULT_SECRET",
    "",
    "the signing secret (whsec_...) of WEBHOOK_DEFAULT_URL",
    secret=True,
)
WEBHOOK_TIMEOUT_SECONDS = Setting(
    "WEBHOOK_TIMEOUT_SECONDS", 15.0, "how long one delivery attempt may take"
)
WEBHOOK_RETRY_BASE_SECONDS = Setting(
    "WEBHOOK_RETRY_BASE_SECONDS",
    5.0,
    "the wait before the first retry; it doubles with each failure (with jitter)",
)
WEBHOOK_RETRY_MAX_SECONDS = Setting(
    "WEBHOOK_RETRY_MAX_SECONDS", 6 * 3600.0, "the longest wait between two attempts"
)
WEBHOOK_MAX_AGE_SECONDS = Setting(
    "WEBHOOK_MAX_AGE_SECONDS",
    3 * 24 * 3600.0,
    "how long a delivery is retried before it is marked failed (replay it then)",
)
WEBHOOK_POLL_SECONDS = Setting(
    "WEBHOOK_POLL_SECONDS", 1.0, "how often an idle delivery worker looks for work"
)
WEBHOOK_RETENTION_DAYS = Setting(
    "WEBHOOK_RETENTION_DAYS",
    30,
    "days the delivery log keeps finished deliveries (0: forever)",
)

# --------------------------------------------------------------------------- hand-off

HANDOFF_WAIT_TIMEOUT_SECONDS = Setting(
    "HANDOFF_WAIT_TIMEOUT_SECONDS",
    900,
    "a chat waiting this long for a person becomes a ticket, and the customer is told",
)
HANDOFF_POLL_SECONDS = Setting(
    "HANDOFF_POLL_SECONDS",
    2.0,
    "how often the API copies customers' messages to Slack and Teams threads and "
    "checks waiting chats (0: off)",
)
API_INTERNAL_URL = Setting(
    "API_INTERNAL_URL",
    "",
    "where Rasa's channels reach the API (staff replies in hand-off threads); "
    "empty: http://API_HOST:API_PORT",
)

# --------------------------------------------------------------------------- Partner Center

PARTNER_CENTER_API_URL = Setting(
    "PARTNER_CENTER_API_URL",
    "https://api.partnercenter.microsoft.com",
    "the Partner Center REST API (https only)",
)
PARTNER_CENTER_AUTHORITY = Setting(
    "PARTNER_CENTER_AUTHORITY",
    "https://login.microsoftonline.com",
    "the Entra ID authority tokens come from ({authority}/{tenant}/oauth2/v2.0/token)",
)
PARTNER_CENTER_TENANT_ID = Setting(
    "PARTNER_CENTER_TENANT_ID",
    "",
    "the partner's Entra tenant; overrides the profile's partner_center.tenant_id",
)
PARTNER_CENTER_CLIENT_ID = Setting(
    "PARTNER_CENTER_CLIENT_ID",
    "",
    "the app registration's client id; overrides the profile's",
)
PARTNER_CENTER_CLIENT_SECRET = Setting(
    "PARTNER_CENTER_CLIENT_SECRET",
    "",
    "the app registration's client secret; overrides the variable the profile names",
    secret=True,
)
PARTNER_CENTER_TOKEN_KEY = Setting(
    "PARTNER_CENTER_TOKEN_KEY",
    "",
    "key (Fernet, `csp-desk partner-center new-key`) that encrypts the stored app+user "
    "refresh tokens; without it none can be stored",
    secret=True,
)
PARTNER_CENTER_SYNC_INTERVAL_SECONDS = Setting(
    "PARTNER_CENTER_SYNC_INTERVAL_SECONDS",
    6 * 3600,
    "how often the process runner syncs every partner with an app registration (0: off)",
)
PARTNER_CENTER_TIMEOUT_SECONDS = Setting(
    "PARTNER_CENTER_TIMEOUT_SECONDS", 60.0, "how long one Partner Center call may take"
)
PARTNER_CENTER_MAX_RETRIES = Setting(
    "PARTNER_CENTER_MAX_RETRIES",
    5,
    "retries of a call that was throttled (429) or failed on Microsoft's side (5xx)",
)
PARTNER_CENTER_RETRY_MAX_SECONDS = Setting(
    "PARTNER_CENTER_RETRY_MAX_SECONDS",
    300.0,
    "the longest wait before a retry, whatever Retry-After asks",
)
PARTNER_CENTER_PAGE_SIZE = Setting(
    "PARTNER_CENTER_PAGE_SIZE", 100, "items asked for per page of a collection"
)
PARTNER_CENTER_INVOICE_MONTHS = Setting(
    "PARTNER_CENTER_INVOICE_MONTHS",
    13,
    "Microsoft invoices older than this many months are not synced",
)
PARTNER_CENTER_AGENT_LOCALE = Setting(
    "PARTNER_CENTER_AGENT_LOCALE",
    "en-US",
    "the locale of the Microsoft agent a service request asks for",
)
PARTNER_CENTER_SUPPORT_TOPICS_TTL_SECONDS = Setting(
    "PARTNER_CENTER_SUPPORT_TOPICS_TTL_SECONDS",
    3600,
    "how long the list of service request support topics is kept in memory",
)
PARTNER_CENTER_STATUS_TIMEOUT_SECONDS = Setting(
    "PARTNER_CENTER_STATUS_TIMEOUT_SECONDS",
    3.0,
    "how long showing a ticket waits for its service request's status",
)

# --------------------------------------------------------------------------- channels

WIDGET_ALLOWED_ORIGINS = Setting(
    "WIDGET_ALLOWED_ORIGINS",
    "*",
    "the partner's site origins allowed to open the chat, comma-separated "
    "(production refuses *)",
)
WIDGET_ALLOW_ANONYMOUS = Setting(
    "WIDGET_ALLOW_ANONYMOUS", True, "whether the chat answers chatters not signed in"
)
SLACK_BOT_TOKEN = Setting(
    "SLACK_BOT_TOKEN", "", "Slack: the bot's xoxb- token", secret=True
)
SLACK_SIGNING_SECRET = Setting(
    "SLACK_SIGNING_SECRET", "", "Slack: the app's signing secret", secret=True
)
SLACK_API_BASE_URL = Setting(
    "SLACK_API_BASE_URL", "https://slack.com/api/", "Slack's Web API"
)
TEAMS_APP_ID = Setting("TEAMS_APP_ID", "", "Teams: the bot's Microsoft App ID")
TEAMS_APP_PASSWORD = Setting(
    "TEAMS_APP_PASSWORD", "", "Teams: the bot's client secret", secret=True
)
TEAMS_TENANT_ID = Setting(
    "TEAMS_TENANT_ID", "", "Teams: the single tenant of the bot registration"
)
TEAMS_OPENID_METADATA_URL = Setting(
    "TEAMS_OPENID_METADATA_URL",
    "https://login.botframework.com/v1/.well-known/openidconfiguration",
    "Teams: where the Bot Framework's signing keys are published",
)
TEAMS_SERVICE_URL = Setting(
    "TEAMS_SERVICE_URL",
    "https://smba.trafficmanager.net/teams/",
    "Teams: the Bot Connector the bot posts hand-off notices to channels through",
)
TEAMS_LOGIN_BASE_URL = Setting(
    "TEAMS_LOGIN_BASE_URL",
    "https://login.microsoftonline.com",
    "Teams: the Entra ID authority the bot's tokens come from",
)


def all_settings() -> tuple[Setting, ...]:
    """Every setting defined in this module, in definition order."""
    return tuple(value for value in globals().values() if isinstance(value, Setting))


def is_production(env: Optional[Mapping[str, str]] = None) -> bool:
    return APP_MODE.get(env).lower() == PRODUCTION


def weak_secret(setting: Setting[str], value: str) -> bool:
    """Whether production mode must refuse `value` for `setting`."""
    return value == setting.default or len(value) < MIN_SECRET_LENGTH
