"""Duplicate deliveries: the same channel message delivered twice during a
ticket's confirmation files one ticket.

- REST: the same message sent twice at once (a client retrying on a timeout).
- Slack: the Events API redelivers with X-Slack-Retry-Num (after an error, after a
  timeout), with the same event id.
- The web chat (socket.io): the same `user_uttered` emitted twice (a widget
  re-sending after a reconnect). The protocol has no message id, so both are read;
  the second finds the form finished.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any, Optional

import httpx
import pytest
import socketio

from tests.channels.fakes import slack_signature
from tests.faults.conftest import (
    FaultStack,
    new_sender,
    texts,
    to_the_confirmation,
    user_texts,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

FILED = "I've filed ticket"
TURN_TIMEOUT = 60.0


def test_the_same_rest_confirmation_twice_at_once_files_one_ticket(
    faults: FaultStack,
) -> None:
    stack = faults.stack
    sender, metadata = new_sender(), faults.customer_metadata()

    def say(text: str) -> list[dict]:
        return stack.say(sender, text, metadata)

    to_the_confirmation(say)
    answers: list[list[dict]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(say("/affirm")))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TURN_TIMEOUT)
    assert len(answers) == 2
    [ticket] = faults.tickets(sender)
    said = "\n".join(texts(a) for a in answers)
    assert said.count(f"{FILED} {ticket.public_id}") == 1, said


class SlackThread:
    """One Slack DM thread with the bot, from a partner's staff member."""

    def __init__(self, faults: FaultStack, user: str) -> None:
        self.faults = faults
        self.team, self.channel, self.user = "TNORTHWIND", "D0FAULTS", user
        self.thread_ts = f"{time.time():.6f}"
        self.sender = f"slack_{self.team}_{self.channel}_{self.thread_ts}_{self.user}"

    def event(self, text: str) -> bytes:
        first = not self.faults.tracker(self.sender).get("events")
        ts = self.thread_ts if first else f"{time.time():.6f}"
        body = {
            "type": "event_callback",
            "team_id": self.team,
            "event_id": f"Ev{uuid.uuid4().hex[:12]}",
            "event_time": int(time.time()),
            "authorizations": [{"user_id": "UBOT", "is_bot": True}],
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": self.channel,
                "user": self.user,
                "text": text,
                "ts": ts,
                "thread_ts": self.thread_ts,
            },
        }
        return json.dumps(body).encode()

    def post(self, body: bytes, retry: Optional[tuple[int, str]] = None) -> None:
        stamp = str(int(time.time()))
        secret = self.faults.stack.env["SLACK_SIGNING_SECRET"]
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(secret, stamp, body),
        }
        if retry:
            headers["x-slack-retry-num"] = str(retry[0])
            headers["x-slack-retry-reason"] = retry[1]
        response = httpx.post(
            f"{self.faults.stack.rasa_url}/webhooks/slack/webhook",
            content=body,
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def wait_for_turn(self, users: int) -> list[dict[str, Any]]:
        """Wait until `users` user messages are answered; the events."""
        deadline = time.monotonic() + TURN_TIMEOUT
        while time.monotonic() < deadline:
            events = self.faults.tracker(self.sender).get("events") or []
            done = (
                events
                and events[-1].get("event") == "action"
                and (events[-1].get("name") == "action_listen")
            )
            if len(user_texts(events)) >= users and done:
                return list(events)
            time.sleep(0.2)
        raise AssertionError(f"no answer to message {users} in {self.sender}")

    def say(self, text: str) -> list[dict]:
        users = len(user_texts(self.faults.tracker(self.sender).get("events") or []))
        self.post(self.event(text))
        events = self.wait_for_turn(users + 1)
        last_user = max(i for i, e in enumerate(events) if e.get("event") == "user")
        return [e for e in events[last_user:] if e.get("event") == "bot"]


def test_a_slack_retry_of_the_confirmation_files_one_ticket(
    faults: FaultStack,
) -> None:
    slack = SlackThread(faults, user="U0NW0HELP1")  # a helpdesk agent (demo data)
    to_the_confirmation(slack.say)
    users = len(user_texts(faults.tracker(slack.sender)["events"]))

    confirmation = slack.event("yes, file it")
    slack.post(confirmation)
    slack.post(confirmation, retry=(1, "http_error"))  # while the first runs
    events = slack.wait_for_turn(users + 1)
    slack.post(confirmation, retry=(2, "http_timeout"))
    time.sleep(2)  # a redelivery, if it were processed, would be under way

    events = faults.tracker(slack.sender)["events"]
    assert user_texts(events)[users:] == ["yes, file it"], user_texts(events)
    [ticket] = faults.tickets(slack.sender)
    posted = [
        p["body"].get("text", "")
        for p in faults.slack.posts
        if p["body"].get("thread_ts") == slack.thread_ts
    ]
    assert sum(f"{FILED} {ticket.public_id}" in text for text in posted) == 1, posted


async def test_the_same_web_chat_message_twice_files_one_ticket(
    faults: FaultStack,
) -> None:
    stack = faults.stack
    metadata = faults.customer_metadata()
    sio = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    uttered: list[str] = []
    done = asyncio.Semaphore(0)

    @sio.on("session_confirm")
    async def _confirm(session_id: Any) -> None:
        if not confirmed.done():
            confirmed.set_result(str(session_id))

    @sio.on("bot_uttered")
    async def _uttered(message: Any) -> None:
        uttered.append(str((message or {}).get("text") or ""))

    @sio.on("bot_done")
    async def _done(_: Any = None) -> None:
        done.release()

    await sio.connect(
        stack.rasa_url,
        transports=["websocket"],
        socketio_path="/socket.io",
        auth={"token": metadata["chat_token"]},
        wait_timeout=30,
    )
    try:
        await sio.emit("session_request", {"session_id": None})
        session_id = await asyncio.wait_for(confirmed, 30)

        # Up to the confirmation over REST, in the same conversation (the session
        # id is the conversation id; the token in the metadata says who it is).
        def say(text: str) -> list[dict]:
            return stack.say(session_id, text, metadata)

        await asyncio.to_thread(to_the_confirmation, say)
        for _ in range(2):
            await sio.emit("user_uttered", {"message": "/affirm"})
        for _ in range(2):
            await asyncio.wait_for(done.acquire(), TURN_TIMEOUT)
    finally:
        await sio.disconnect()

    [ticket] = faults.tickets(session_id)
    said = "\n".join(uttered)
    assert said.count(f"{FILED} {ticket.public_id}") == 1, said
    assert user_texts(faults.tracker(session_id)["events"])[-2:] == ["/affirm"] * 2
