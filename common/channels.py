"""Configuration of the chat channels, read from the environment.

Names and defaults come from `common/settings.py`, the table `api/settings.py` reads
too; this module adds what only the channels check (a production secret that is
still the default, a plain-HTTP platform URL). Pure (no Rasa, no app), so that both
virtual environments can import it: the channels run inside Rasa, and
`api/ops/launch.py` calls `channel_status()` to print which channels are on.
Values given in credentials.yml win over the environment; a channel whose
credentials are missing is off, and says so in the start-up output.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from common import settings as S
from common.ratelimit import RateLimit
from common.settings import SettingError

LOCAL_CHAT_TOKEN_SECRET = S.CHAT_TOKEN_SECRET.default
CHAT_TOKEN_KEY = "chat_token"  # noqa: S105 (the metadata key, not a secret)
MIN_SECRET_LENGTH = S.MIN_SECRET_LENGTH

SLACK_API_BASE_URL = S.SLACK_API_BASE_URL.default
TEAMS_OPENID_METADATA_URL = S.TEAMS_OPENID_METADATA_URL.default
TEAMS_LOGIN_BASE_URL = S.TEAMS_LOGIN_BASE_URL.default
TEAMS_TOKEN_ISSUER = "https://api.botframework.com"  # noqa: S105 (a URL)
TEAMS_TOKEN_SCOPE = "https://api.botframework.com/.default"  # noqa: S105 (a URL)

RATE_LIMITED_TEXT = (
    "You're sending messages faster than I can answer; wait a few seconds and "
    "send your message again."
)
# Platform endpoints that production mode insists are HTTPS: our replies and the
# Teams signing keys travel there (a plain-HTTP override is a test's fake).
PLATFORM_URL_SETTINGS = (
    S.SLACK_API_BASE_URL.env,
    S.TEAMS_OPENID_METADATA_URL.env,
    S.TEAMS_LOGIN_BASE_URL.env,
)


class ChannelConfigError(Exception):
    """A channel is configured in a way that must not start (e.g. a default secret
    in production mode)."""


def setting(
    credentials: Optional[Mapping[str, Any]],
    key: str,
    name: S.Setting[Any],
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """A value from credentials.yml (`key`), else the environment, else the
    setting's default.

    Empty strings count as unset, so `${VAR}` placeholders of unset variables in
    credentials.yml fall back cleanly.
    """
    if credentials:
        value = credentials.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return str(read(name, env))


def read(name: S.Setting[Any], env: Optional[Mapping[str, str]] = None) -> Any:
    """`name.get(env)`, with a bad value reported as a `ChannelConfigError`."""
    try:
        return name.get(env)
    except SettingError as exc:
        raise ChannelConfigError(str(exc)) from None


def is_production(env: Optional[Mapping[str, str]] = None) -> bool:
    return S.is_production(env)


def chat_token_secret(env: Optional[Mapping[str, str]] = None) -> str:
    """The key that signs chat tokens (CHAT_TOKEN_SECRET), as api/settings.py reads it.

    Local mode falls back to the same default as the API; production mode refuses the
    default and anything shorter than 32 characters (as api/settings.py does).
    """
    secret = S.CHAT_TOKEN_SECRET.get(env)
    if is_production(env) and S.weak_secret(S.CHAT_TOKEN_SECRET, secret):
        raise ChannelConfigError(
            "production mode needs a real CHAT_TOKEN_SECRET (32+ characters, not "
            "the local default) for the chat channels"
        )
    return secret


def platform_url(
    credentials: Optional[Mapping[str, Any]],
    key: str,
    name: S.Setting[str],
    env: Optional[Mapping[str, str]] = None,
) -> str:
    """A platform endpoint (`setting`), which production mode requires to be HTTPS:
    Slack's Web API and the Bot Framework's token and key endpoints receive our
    secrets or decide which tokens we trust."""
    value = setting(credentials, key, name, env)
    if is_production(env) and not value.lower().startswith("https://"):
        raise ChannelConfigError(
            f"production mode needs an https:// {name.env}, not {value!r}"
        )
    return value


def widget_origins(
    credentials: Optional[Mapping[str, Any]] = None,
    env: Optional[Mapping[str, str]] = None,
) -> list[str]:
    """The partner sites allowed to open the chat socket (WIDGET_ALLOWED_ORIGINS,
    or `cors_allowed_origins` in credentials.yml), comma-separated.

    Local mode takes `*` (any site: the demo portal and tests run on changing
    ports). Production mode refuses `*` and an empty list: the socket carries the
    customer's chat token, so only the partner's own pages may open it.
    """
    origins = csv(
        setting(credentials, "cors_allowed_origins", S.WIDGET_ALLOWED_ORIGINS, env)
    )
    if is_production(env):
        if not origins or "*" in origins:
            raise ChannelConfigError(
                "production mode needs WIDGET_ALLOWED_ORIGINS set to the partner's "
                "site origins (e.g. https://www.partner.example), not "
                f"{','.join(origins) or 'nothing'!r}: any site could open the chat"
            )
        for origin in origins:
            if not origin.lower().startswith(("https://", "http://")):
                raise ChannelConfigError(
                    f"WIDGET_ALLOWED_ORIGINS: {origin!r} is not an origin "
                    "(scheme://host[:port])"
                )
    return origins or ["*"]


Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def trusted_proxies(env: Optional[Mapping[str, str]] = None) -> list[Network]:
    """TRUSTED_PROXIES: the addresses (or networks) of the proxies in front of this
    server whose X-Forwarded-For is believed; none by default."""
    try:
        return parse_networks(S.TRUSTED_PROXIES.get(env))
    except ValueError as exc:
        raise ChannelConfigError(f"TRUSTED_PROXIES: {exc}") from None


def parse_networks(value: str) -> list[Network]:
    """`"127.0.0.1, 10.0.0.0/8"` -> networks; raises ValueError on anything else."""
    return [ipaddress.ip_network(part, strict=False) for part in csv(value)]


def _positive(name: S.Setting[Any], env: Optional[Mapping[str, str]]) -> Any:
    value = read(name, env)
    if not 0 < value < float("inf"):
        raise ChannelConfigError(f"{name.env} must be a positive number, not {value!r}")
    return value


def chat_rate_limit(env: Optional[Mapping[str, str]] = None) -> RateLimit:
    """Messages per chatter that the channels pass on to Rasa.

    CHAT_RATE_LIMIT_MESSAGES per CHAT_RATE_LIMIT_PERIOD_SECONDS (default 20 per
    60 s), with bursts of up to CHAT_RATE_LIMIT_BURST (default 8) at once.
    """
    return RateLimit(
        messages=_positive(S.CHAT_RATE_LIMIT_MESSAGES, env),
        period_seconds=_positive(S.CHAT_RATE_LIMIT_PERIOD_SECONDS, env),
        burst=_positive(S.CHAT_RATE_LIMIT_BURST, env),
    )


def max_message_chars(env: Optional[Mapping[str, str]] = None) -> int:
    """MAX_MESSAGE_CHARS (default 4000): every channel, REST included, cuts a
    message to this many characters before anything else reads it (redaction,
    Rasa's NLU, the tracker store)."""
    return int(_positive(S.MAX_MESSAGE_CHARS, env))


def max_concurrent_messages(env: Optional[Mapping[str, str]] = None) -> int:
    """RASA_MAX_CONCURRENT_MESSAGES (default 2): how many messages one Rasa process
    works on at once; 0 lets every message in as it arrives."""
    value = read(S.RASA_MAX_CONCURRENT_MESSAGES, env)
    if value < 0:
        raise ChannelConfigError(
            f"RASA_MAX_CONCURRENT_MESSAGES must be a whole number >= 0, not {value}"
        )
    return int(value)


def shared_redis(env: Optional[Mapping[str, str]] = None) -> tuple[str, str]:
    """REDIS_URL ("" when unset) and REDIS_KEY_PREFIX (default `cspdesk`): the Redis
    the Rasa replicas share in the production profile."""
    return S.REDIS_URL.get(env), S.REDIS_KEY_PREFIX.get(env)


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


def _missing(
    names: tuple[S.Setting[str], ...], env: Optional[Mapping[str, str]]
) -> list[str]:
    return [name.env for name in names if not name.get(env)]


def slack_status(env: Optional[Mapping[str, str]] = None) -> ChannelStatus:
    missing = _missing((S.SLACK_BOT_TOKEN, S.SLACK_SIGNING_SECRET), env)
    if missing:
        return ChannelStatus("Slack", False, f"{' and '.join(missing)} not set")
    return ChannelStatus("Slack", True, "events at /webhooks/slack/webhook")


def teams_status(env: Optional[Mapping[str, str]] = None) -> ChannelStatus:
    missing = _missing((S.TEAMS_APP_ID, S.TEAMS_APP_PASSWORD, S.TEAMS_TENANT_ID), env)
    if missing:
        return ChannelStatus("Teams", False, f"{', '.join(missing)} not set")
    return ChannelStatus("Teams", True, "messages at /webhooks/teams/webhook")


def widget_status(env: Optional[Mapping[str, str]] = None) -> ChannelStatus:
    try:
        origins = ", ".join(widget_origins(None, env))
    except ChannelConfigError as exc:
        return ChannelStatus("Web chat", False, str(exc))
    return ChannelStatus(
        "Web chat", True, f"socket.io at /socket.io, origins {origins}"
    )


def channel_status(env: Optional[Mapping[str, str]] = None) -> list[ChannelStatus]:
    """Which channels the environment turns on (for the start-up output)."""
    return [widget_status(env), slack_status(env), teams_status(env)]
