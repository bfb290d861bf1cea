"""Channel configuration from the environment (common/channels.py, standard
library only, as api/ops/launch.py also calls it)."""

from __future__ import annotations

import pytest

from common import channels as config
from common import settings as S


def test_local_mode_uses_the_apis_default_chat_token_secret() -> None:
    assert config.chat_token_secret({}) == S.CHAT_TOKEN_SECRET.default
    assert config.chat_token_secret({"CHAT_TOKEN_SECRET": "s" * 20}) == "s" * 20


@pytest.mark.parametrize("secret", ["", S.CHAT_TOKEN_SECRET.default, "short", "x" * 31])
def test_production_refuses_a_weak_chat_token_secret(secret: str) -> None:
    env = {"APP_MODE": "production", "CHAT_TOKEN_SECRET": secret}
    with pytest.raises(config.ChannelConfigError, match="CHAT_TOKEN_SECRET"):
        config.chat_token_secret(env)


def test_production_takes_a_real_secret() -> None:
    env = {"APP_MODE": "production", "CHAT_TOKEN_SECRET": "x" * 32}
    assert config.chat_token_secret(env) == "x" * 32


def test_credentials_win_over_the_environment_and_blanks_fall_back() -> None:
    env = {"SLACK_BOT_TOKEN": "from-env"}
    assert (
        config.setting(
            {"slack_token": "from-yml"}, "slack_token", S.SLACK_BOT_TOKEN, env=env
        )
        == "from-yml"
    )
    assert (
        config.setting({"slack_token": ""}, "slack_token", S.SLACK_BOT_TOKEN, env=env)
        == "from-env"
    )
    assert config.setting(None, "origins", S.WIDGET_ALLOWED_ORIGINS, env={}) == "*"


def test_channel_status_says_which_channels_are_on() -> None:
    lines = [status.line() for status in config.channel_status({})]
    assert lines == [
        "Web chat channel on: socket.io at /socket.io, origins *",
        "Slack channel off: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET not set",
        "Teams channel off: TEAMS_APP_ID, TEAMS_APP_PASSWORD, TEAMS_TENANT_ID not set",
    ]
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "TEAMS_APP_ID": "a",
        "TEAMS_APP_PASSWORD": "p",
        "TEAMS_TENANT_ID": "t",
        "WIDGET_ALLOWED_ORIGINS": "https://portal.example",
    }
    assert [s.on for s in config.channel_status(env)] == [True, True, True]
    assert "https://portal.example" in config.channel_status(env)[0].line()


def test_csv() -> None:
    assert config.csv(" a, b,,c ") == ["a", "b", "c"]
