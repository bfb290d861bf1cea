"""The hand-off's state payloads (`{"handoff": "waiting" | "ended", ...}`, for the
web chat widget, docs/channels.md) send nothing to Slack or Teams; an agent's
message still goes out under the agent's name."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.channels.slack import SlackOutput
from bot.channels.teams import TeamsOutput

WAITING = {"handoff": "waiting", "desk_open": False, "opens_at": None, "ticket": False}
ENDED = {"handoff": "ended"}
AGENT = {"from": "agent", "name": "Sam Rivera", "text": "I can see it."}


class RecordingSlack:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    async def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self.posts.append(kwargs)
        return {"ok": True}


class RecordingTeams(TeamsOutput):
    def __init__(self) -> None:
        super().__init__(
            tokens=None,  # type: ignore[arg-type]
            session_factory=None,  # type: ignore[arg-type]
            activity={"serviceUrl": "https://smba.example", "id": "1"},
        )
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def test_slack_shows_no_state_and_names_the_agent() -> None:
    client = RecordingSlack()
    output = SlackOutput(client, "D123", "1700000000.0001")  # type: ignore[arg-type]

    async def scenario() -> None:
        await output.send_custom_json("u", WAITING)
        await output.send_custom_json("u", ENDED)
        await output.send_custom_json("u", AGENT)

    asyncio.run(scenario())
    assert [post["text"] for post in client.posts] == ["Sam Rivera: I can see it."]


def test_teams_shows_no_state_and_names_the_agent() -> None:
    output = RecordingTeams()

    async def scenario() -> None:
        await output.send_custom_json("u", WAITING)
        await output.send_custom_json("u", ENDED)
        await output.send_custom_json("u", AGENT)

    asyncio.run(scenario())
    assert output.sent == [{"text": "**Sam Rivera**: I can see it."}]
