"""The channels take their secrets from the environment only, and production mode
(APP_MODE=production) refuses to start them with the local chat token secret, with
a platform endpoint that is not HTTPS (where our replies, with our bearer tokens,
go, and where Teams' signing keys come from), or with a chat socket any site may
open (WIDGET_ALLOWED_ORIGINS `*`)."""

from __future__ import annotations

import pytest

from bot.channels.rest import SecureRestInput
from bot.channels.slack import SecureSlackInput
from bot.channels.socketio import SecureSocketIOInput
from bot.channels.teams import TeamsInput
from common import channels as config

REAL_SECRET = "a-real-chat-token-secret-0123456789abcdef"
PLATFORM = {
    "SLACK_BOT_TOKEN": "xoxb-test-env",
    "SLACK_SIGNING_SECRET": "slack-signing-secret-from-the-environment",
    "TEAMS_APP_ID": "11111111-2222-3333-4444-555555555555",
    "TEAMS_APP_PASSWORD": "teams-password-from-the-environment",
    "TEAMS_TENANT_ID": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
}
PARTNER_SITE = "https://www.partner.example"
CHANNELS = [SecureSocketIOInput, SecureSlackInput, TeamsInput, SecureRestInput]


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in PLATFORM.items():
        monkeypatch.setenv(name, value)
    for name in config.PLATFORM_URL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_MODE", "production")
    monkeypatch.setenv("CHAT_TOKEN_SECRET", REAL_SECRET)
    monkeypatch.setenv("WIDGET_ALLOWED_ORIGINS", PARTNER_SITE)
    return monkeypatch


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("secret", [None, config.LOCAL_CHAT_TOKEN_SECRET, "short"])
def test_production_refuses_a_default_or_weak_chat_token_secret(
    production: pytest.MonkeyPatch, channel: type, secret: str | None
) -> None:
    if secret is None:
        production.delenv("CHAT_TOKEN_SECRET")
    else:
        production.setenv("CHAT_TOKEN_SECRET", secret)
    with pytest.raises(config.ChannelConfigError, match="CHAT_TOKEN_SECRET"):
        channel.from_credentials({})


@pytest.mark.parametrize(
    ("channel", "name"),
    [
        (SecureSlackInput, "SLACK_API_BASE_URL"),
        (TeamsInput, "TEAMS_OPENID_METADATA_URL"),
        (TeamsInput, "TEAMS_LOGIN_BASE_URL"),
    ],
)
def test_production_refuses_plain_http_platform_endpoints(
    production: pytest.MonkeyPatch, channel: type, name: str
) -> None:
    production.setenv(name, "http://127.0.0.1:8999/")
    with pytest.raises(config.ChannelConfigError, match=name):
        channel.from_credentials({})
    production.setenv("APP_MODE", "local")  # a test's fake is fine locally
    assert channel.from_credentials({}).enabled


def test_production_starts_with_real_values_from_the_environment(
    production: pytest.MonkeyPatch,
) -> None:
    slack = SecureSlackInput.from_credentials({})
    assert (slack.bot_token, slack.signing_secret) == (
        PLATFORM["SLACK_BOT_TOKEN"],
        PLATFORM["SLACK_SIGNING_SECRET"],
    )
    assert slack.chat_token_secret == REAL_SECRET
    assert slack.api_base_url == config.SLACK_API_BASE_URL
    teams = TeamsInput.from_credentials({})
    assert teams.enabled and teams.app_id == PLATFORM["TEAMS_APP_ID"]
    assert teams.tokens.app_password == PLATFORM["TEAMS_APP_PASSWORD"]
    widget = SecureSocketIOInput.from_credentials({})
    assert widget.chat_token_secret == REAL_SECRET
    assert widget.cors_allowed_origins == [PARTNER_SITE]


@pytest.mark.parametrize("origins", ["*", "", " , ", f"{PARTNER_SITE},*", "partner"])
def test_production_refuses_a_chat_any_site_may_open(
    production: pytest.MonkeyPatch, origins: str
) -> None:
    production.setenv("WIDGET_ALLOWED_ORIGINS", origins)
    with pytest.raises(config.ChannelConfigError, match="WIDGET_ALLOWED_ORIGINS"):
        SecureSocketIOInput.from_credentials({})
    # credentials.yml cannot open it up either.
    production.setenv("WIDGET_ALLOWED_ORIGINS", PARTNER_SITE)
    with pytest.raises(config.ChannelConfigError, match="WIDGET_ALLOWED_ORIGINS"):
        SecureSocketIOInput.from_credentials({"cors_allowed_origins": "*"})
    # The start-up summary says why the web chat is off.
    production.setenv("WIDGET_ALLOWED_ORIGINS", origins)
    status = config.widget_status()
    assert not status.on and "WIDGET_ALLOWED_ORIGINS" in status.detail


def test_local_mode_allows_any_origin_and_production_lists_the_partners(
    production: pytest.MonkeyPatch,
) -> None:
    production.setenv("WIDGET_ALLOWED_ORIGINS", f"{PARTNER_SITE}, https://shop.example")
    assert SecureSocketIOInput.from_credentials({}).cors_allowed_origins == [
        PARTNER_SITE,
        "https://shop.example",
    ]
    production.setenv("APP_MODE", "local")
    production.delenv("WIDGET_ALLOWED_ORIGINS")
    assert SecureSocketIOInput.from_credentials({}).cors_allowed_origins == "*"


def test_without_the_environment_slack_and_teams_are_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in PLATFORM:
        monkeypatch.delenv(name, raising=False)
    assert not SecureSlackInput.from_credentials({}).enabled
    assert not TeamsInput.from_credentials({}).enabled
