"""One real stack for the channel tests (tests/e2e/stack.py: Rasa, action server and
API started the way `make run` starts them), with the Slack and Teams channels turned
on and pointed at the local fakes in tests/channels/fakes.py."""

from __future__ import annotations

import secrets
import subprocess
import warnings
from collections.abc import Iterator
from typing import Optional

import pytest

from tests.channels.fakes import (
    SLACK_BOT_TOKEN,
    TEAMS_APP_ID,
    TEAMS_TENANT_ID,
    ChannelStack,
    FakeMicrosoft,
    FakeSlack,
    ServerThread,
    credentials_file,
    serves_widget,
    start_widget_api,
    teams_keys,
)
from tests.e2e.stack import start_stack, stop_stack


@pytest.fixture(scope="session")
def channel_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelStack]:
    workdir = tmp_path_factory.mktemp("channel-stack")
    slack = FakeSlack()
    slack_server = ServerThread(slack.app).start()
    keys = teams_keys()
    teams = FakeMicrosoft(jwks=keys.jwks()) if keys else None
    teams_server = ServerThread(teams.app).start() if teams else None
    if teams and teams_server:
        teams.base = teams_server.url
    extra = {
        "RASA_CREDENTIALS": str(credentials_file(workdir)),
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "SLACK_API_BASE_URL": f"{slack_server.url}/api/",
    }
    if teams:
        extra |= {
            "TEAMS_APP_ID": TEAMS_APP_ID,
            "TEAMS_APP_PASSWORD": secrets.token_urlsafe(16),
            "TEAMS_TENANT_ID": TEAMS_TENANT_ID,
            "TEAMS_OPENID_METADATA_URL": f"{teams.base}/openid",
            "TEAMS_LOGIN_BASE_URL": f"{teams.base}/login",
        }
    stack = start_stack(workdir, extra_env=extra)
    widget_api: Optional[subprocess.Popen[bytes]] = None
    api_url = stack.api_url
    try:
        if not serves_widget(api_url):
            warnings.warn(
                "api/main.py does not include api.widget.routes.router yet; the "
                "widget tests use a second API process that does",
                stacklevel=1,
            )
            widget_api, api_url = start_widget_api(stack)
        yield ChannelStack(stack, slack, teams, keys, api_url)
    finally:
        if widget_api is not None:
            widget_api.terminate()
            widget_api.wait(timeout=20)
        stop_stack(stack)
        slack_server.stop()
        if teams_server:
            teams_server.stop()
