"""One real stack for the channel tests (tests/e2e/stack.py: Rasa, action server and
API started the way `make run` starts them), with the Slack and Teams channels turned
on and pointed at the local fakes in tests/channels/fakes.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

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
    teams_keys,
)
from tests.e2e.stack import start_stack, stop_stack


@pytest.fixture(scope="session")
def channel_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelStack]:
    workdir = tmp_path_factory.mktemp("channel-stack")
    slack = FakeSlack()
    slack_server = ServerThread(slack.app).start()
    keys = teams_keys()
    teams = FakeMicrosoft(jwks=keys.jwks())
    teams_server = ServerThread(teams.app).start()
    teams.base = teams_server.url
    extra = {
        "RASA_CREDENTIALS": str(credentials_file(workdir)),
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "SLACK_API_BASE_URL": f"{slack_server.url}/api/",
        "TEAMS_APP_ID": TEAMS_APP_ID,
        "TEAMS_APP_PASSWORD": secrets.token_urlsafe(16),
        "TEAMS_TENANT_ID": TEAMS_TENANT_ID,
        "TEAMS_OPENID_METADATA_URL": f"{teams.base}/openid",
        "TEAMS_LOGIN_BASE_URL": f"{teams.base}/login",
        "TEAMS_SERVICE_URL": teams.service_url,
        # The hand-off worker copies customers' messages to the threads quickly.
        "HANDOFF_POLL_SECONDS": "0.5",
    }
    stack = start_stack(workdir, extra_env=extra)
    try:
        yield ChannelStack(stack, slack, teams, keys, stack.api_url)
    finally:
        stop_stack(stack)
        slack_server.stop()
        teams_server.stop()
