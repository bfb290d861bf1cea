"""Configuration of the chat channels, read from the environment.

Standard library only (and `api.ratelimit`, which is too), so that both virtual
environments can import it: the channels run inside Rasa (`.venv-rasa`, which has no
pydantic 2 and so cannot use `api/settings.py`), and `api/launch.py` (`.venv`) can call `channel_status()` to print
which channels are on. Values given in credentials.yml win over the environment; a
channel whose credentials are missing is off, and says so in the start-up output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from api.ratelimit import RateLimit

LOCAL_CHAT_TOKEN_SECRET = "dev-chat-token-secret-change-me-0123456789"  # noqa: S105 (local default, refused in production)
CHAT_TOKEN_KEY = "chat_token"  # noqa: S105 (the metadata key, not a secret)
MIN_SECRET_LENGTH = 32  # as api/settings.py requires in production

SLACK_API_BASE_URL = "https://slack.com/api/"
TEAMS_OPENID_METADATA_URL = (
    "https://login.botframework.com/v1/.well-known/openidconfiguration"
)
TEAMS_LOGIN_BASE_URL = "https://login.microsoftonline.com"
TEAMS_TOKEN_ISSUER = "https://api.botframework.com"  # noqa: S105 (a URL)
TEAMS_TOKEN_SCOPE = "https://api.botframework.com/.default"  # noqa: S105 (a URL)

# Messages per chatter (token bucket, per Rasa process; docs/channels.md).
DEFAULT_RATE_LIMIT_MESSAGES = 20
DEFAULT_RATE_LIMIT_PERIOD_SECONDS = 60.0
DEFAULT_RATE_LIMIT_BURST = 8
# Messages one Rasa process works on at once; the rest wait their turn in arrival
# order (bot/channels/inbound.py, MessageGate; docs/production.md).
DEFAULT_MAX_CONCURRENT_MESSAGES = 2
RATE_LIMITED_TEXT = (
    "You're sending messages faster than I can answer; wait a few seconds and "
    "send your message again."
)
# Platform endpoints that production mode insists are HTTPS: our replies and the
# Teams signing keys travel there (a plain-HTTP override is a test's fake).
PLATFORM_URL_SETTINGS = (
    "SLACK_API_BASE_URL",
    "TEAMS_OPENID_METADATA_URL",
    "TEAMS_LOGIN_BASE_URL",
)


class ChannelConfigError(Exception):
    """A channel is configured in a way that must not start (e.g. a default secret
    in production mode)."""


def _env(name: str, env: Optional[Mapping[str, str]] = None) -> str:
    source = os.environ if env is None else env
    return (source.get(name) or "").strip()


def setting(
    credentials: Optional[Mapping[str, Any]],
    key: str,
    env_name: str,
    default: str = "",
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """A value from credentials.yml (`key`), else the environment, else `default`.

    Empty strings count as unset, so `${VAR}` placeholders of unset variables in
    credentials.yml fall back cleanly.
    """
    if credentials:
        value = credentials.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return _env(env_name, env) or default


def is_production(env: Optional[Mapping[str, str]] = None) -> bool:
    return _env("APP_MODE", env).lower() == "production"


def chat_token_secret(env: Optional[Mapping[str, str]] = None) -> str:
    """The key that signs chat tokens (CHAT_TOKEN_SECRET), as api/settings.py reads it.

    Local mode falls back to the same default as the API; production mode refuses the
    default and anything shorter than 32 characters (as api/settings.py does).
    """
    secret = _env("CHAT_TOKEN_SECRET", env) or LOCAL_CHAT_TOKEN_SECRET
    if is_production(env) and (
        secret == LOCAL_CHAT_TOKEN_SECRET or len(secret) < MIN_SECRET_LENGTH
    ):
        raise ChannelConfigError(
            "production mode needs a real CHAT_TOKEN_SECRET (32+ characters, not "
            "the local default) for the chat channels"
        )
    return secret


def platform_url(
    credentials: Optional[Mapping[str, Any]],
    key: str,
    env_name: str,
    default: str,
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """A platform endpoint (`setting`), which production mode requires to be HTTPS:
    Slack's Web API and the Bot Framework's token and key endpoints receive our
    secrets or decide which tokens we trust."""
    value = setting(credentials, key, env_name, default, env)
    if is_production(env) and not value.lower().startswith("https://"):
        raise ChannelConfigError(
            f"production mode needs an https:// {env_name}, not {value!r}"
        )
    return value


def _number(name: str, default: float, env: Optional[Mapping[str, str]]) -> float:
    raw = _env(name, env)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ChannelConfigError(f"{name} must be a number, not {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ChannelConfigError(f"{name} must be a positive number, not {raw!r}")
    return value


def chat_rate_limit(env: Optional[Mapping[str, str]] = None) -> RateLimit:
    """Messages per chatter that the channels pass on to Rasa.

    CHAT_RATE_LIMIT_MESSAGES per CHAT_RATE_LIMIT_PERIOD_SECONDS (default 20 per
    60 s), with bursts of up to CHAT_RATE_LIMIT_BURST (default 8) at once.
    """
    messages = _number("CHAT_RATE_LIMIT_MESSAGES", DEFAULT_RATE_LIMIT_MESSAGES, env)
    period = _number(
        "CHAT_RATE_LIMIT_PERIOD_SECONDS", DEFAULT_RATE_LIMIT_PERIOD_SECONDS, env
    )
    burst = _number("CHAT_RATE_LIMIT_BURST", DEFAULT_RATE_LIMIT_BURST, env)
    if messages != int(messages) or burst != int(burst):
        raise ChannelConfigError(
            "CHAT_RATE_LIMIT_MESSAGES and CHAT_RATE_LIMIT_BURST must be whole numbers"
        )
    return RateLimit(messages=int(messages), period_seconds=period, burst=int(burst))


def max_concurrent_messages(env: Optional[Mapping[str, str]] = None) -> int:
    """RASA_MAX_CONCURRENT_MESSAGES (default 2): how many messages one Rasa process
    works on at once; 0 lets every message in as it arrives."""
    raw = _env("RASA_MAX_CONCURRENT_MESSAGES", env)
    if not raw:
        return DEFAULT_MAX_CONCURRENT_MESSAGES
    if not raw.isdigit():
        raise ChannelConfigError(
            f"RASA_MAX_CONCURRENT_MESSAGES must be a whole number >= 0, not {raw!r}"
        )
    return int(raw)


def shared_redis(env: Optional[Mapping[str, str]] = None) -> tuple[str, str]:
    """REDIS_URL ("" when unset) and REDIS_KEY_PREFIX (default `cspdesk`): the Redis
    the Rasa replicas share in the production profile, as api/launch.py passes them."""
    return _env("REDIS_URL", env), _env("REDIS_KEY_PREFIX", env) or "cspdesk"


def csv(value: str) -> list[str]:
    """`"a, b,,c"` -> `["a", "b", "c"]`."""
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass(frozen=True)
class ChannelStatus:
    name: str
    on: bool
    detail: str

    def line(self) -> str:
        return f"{self.name} channel {'on' if self.on else 'off'}: {self.detail}"


def slack_status(env: Optional[Mapping[str, str]] = None) -> ChannelStatus:
    missing = [
        name
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
        if not _env(name, env)
    ]
    if missing:
        return ChannelStatus("Slack", False, f"{' and '.join(missing)} not set")
    return ChannelStatus("Slack", True, "events at /webhooks/slack/webhook")


def teams_status(env: Optional[Mapping[str, str]] = None) -> ChannelStatus:
    missing = [
        name
        for name in ("TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID")
        if not _env(name, env)
    ]
    if missing:
        return ChannelStatus("Teams", False, f"{', '.join(missing)} not set")
    return ChannelStatus("Teams", True, "messages at /webhooks/teams/webhook")


def widget_status(env: Optional[Mapping[str, str]] = None) -> ChannelStatus:
    origins = _env("WIDGET_ALLOWED_ORIGINS", env) or "*"
    return ChannelStatus(
        "Web chat", True, f"socket.io at /socket.io, origins {origins}"
    )


def channel_status(env: Optional[Mapping[str, str]] = None) -> list[ChannelStatus]:
    """Which channels the environment turns on (for the start-up output)."""
    return [widget_status(env), slack_status(env), teams_status(env)]
