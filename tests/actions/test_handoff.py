"""action_handoff: tells the user what happens, notifies the desk, pauses."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions import handoff as handoff_module
from actions.handoff import (
    ActionHandoff,
    handoff_reason,
    last_informative_message,
)
from api.domain.models import Customer, WebhookEvent
from api.domain.services.notify import HandoffNotice, NotifyResult
from tests.actions.escalation_fixtures import (
    action,
    bot,
    conversation,
    customer_token,
    events_named,
    responses,
    slot_values,
    staff_token,
    user,
)
from tests.actions.helpers import render

CARD = "4111 1111 1111 1111"
# Northwind (Contoso's partner) answers Monday to Friday, 07:00-19:00 Pacific.
TUESDAY_10AM_PACIFIC = datetime(2026, 12, 8, 18, 0, tzinfo=timezone.utc)
SATURDAY_NOON_PACIFIC = datetime(2026, 12, 5, 20, 0, tzinfo=timezone.utc)


def desk_open() -> datetime:
    return TUESDAY_10AM_PACIFIC


def desk_closed() -> datetime:
    return SATURDAY_NOON_PACIFIC


class RecordingNotifier:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, notice: HandoffNotice, **kwargs: Any) -> list[NotifyResult]:
        self.calls.append({"notice": notice, **kwargs})
        if self.fail:
            raise RuntimeError("Teams is down")
        return [NotifyResult("teams", True)]


def contoso(session: Session) -> Customer:
    return session.scalars(
        select(Customer).where(Customer.domain == "contoso.com")
    ).one()


async def run(
    action_obj: ActionHandoff, tracker: Any
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await action_obj.run(dispatcher, tracker, {})
    return events, dispatcher


async def test_the_user_is_told_and_the_bot_pauses(seeded_session: Session) -> None:
    customer = contoso(seeded_session)
    partner = customer.partner
    notifier = RecordingNotifier()
    tracker = conversation(
        [
            user(f"my card {CARD} was charged twice", "explain_charges"),
            bot("Here is what I found"),
            user("I want to talk to a person", "request_human"),
        ],
        token=customer_token(customer.tenant_id),
        sender_id="conv-handoff",
    )
    events, dispatcher = await run(
        ActionHandoff(notifier=notifier, clock=desk_open), tracker
    )

    assert responses(dispatcher) == ["utter_handoff"]
    text = render(dispatcher)[0]
    assert partner.name in text
    assert partner.support_hours in text
    assert partner.support_email in text
    assert events[-1]["event"] == "pause"
    assert slot_values(events)["handoff_partner_id"] == str(partner.id)

    # Northwind has a Slack channel in the demo, no Teams webhook.
    assert len(notifier.calls) == 1
    call = notifier.calls[0]
    assert call["slack_channel"] == partner.slack_channel_id
    assert call["teams_webhook"] is None
    notice = call["notice"]
    assert notice.conversation_id == "conv-handoff"
    assert customer.name in notice.requester
    assert "charged twice" in notice.last_message
    assert CARD not in notice.last_message
    assert notice.reason == "The user asked to talk to a person."
    assert notice.reply_url.endswith("/api/v1/handoff/conv-handoff/messages")
    assert f"partner_id={partner.id}" in notice.dashboard_url


async def test_a_failing_notification_never_breaks_the_chat(
    seeded_session: Session,
) -> None:
    customer = contoso(seeded_session)
    events, dispatcher = await run(
        ActionHandoff(notifier=RecordingNotifier(fail=True), clock=desk_open),
        conversation(
            [user("a person please", "request_human")],
            token=customer_token(customer.tenant_id),
        ),
    )
    assert responses(dispatcher) == ["utter_handoff"]
    assert events[-1]["event"] == "pause"


async def test_no_notification_without_a_channel(seeded_session: Session) -> None:
    proseware = seeded_session.scalars(
        select(Customer).where(Customer.domain == "proseware.com")
    ).one()
    assert proseware.partner.slack_channel_id is None
    notifier = RecordingNotifier()
    events, _ = await run(
        ActionHandoff(notifier=notifier, clock=desk_open),
        conversation(
            [user("human", "request_human")],
            token=customer_token(proseware.tenant_id),
        ),
    )
    assert notifier.calls == []
    assert events[-1]["event"] == "pause"


async def test_an_anonymous_chatter_is_not_paused(seeded_db: object) -> None:
    notifier = RecordingNotifier()
    events, dispatcher = await run(
        ActionHandoff(notifier=notifier, clock=desk_open),
        conversation([user("human", "request_human")]),
    )
    assert responses(dispatcher) == ["utter_handoff_unidentified"]
    assert not events_named(events, "pause")
    assert notifier.calls == []


async def test_staff_are_handed_to_their_own_desk(seeded_session: Session) -> None:
    notifier = RecordingNotifier()
    events, dispatcher = await run(
        ActionHandoff(notifier=notifier, clock=desk_open),
        conversation(
            [user("get me a human", "request_human")],
            token=staff_token("U0NW0HELP1"),
        ),
    )
    assert "Northwind" in render(dispatcher)[0]
    assert "Diego Siciliani (Helpdesk agent" in notifier.calls[0]["notice"].requester
    assert events[-1]["event"] == "pause"


async def test_a_ticket_form_in_progress_is_closed(seeded_session: Session) -> None:
    customer = contoso(seeded_session)
    events, _ = await run(
        ActionHandoff(notifier=RecordingNotifier(), clock=desk_open),
        conversation(
            [user("talk to a person", "request_human")],
            token=customer_token(customer.tenant_id),
            slots={"ticket_description": "Outlook is down", "requested_slot": "x"},
            active_loop="escalation_form",
        ),
    )
    loops = events_named(events, "active_loop")
    assert loops == [{"event": "active_loop", "name": None, "timestamp": None}]
    values = slot_values(events)
    assert values["ticket_description"] is None and values["requested_slot"] is None
    assert events[-1]["event"] == "pause"


@pytest.mark.parametrize(
    ("form", "answered"),
    [
        (
            "cancellation_form",
            {"cancellation_seats": "2", "cancellation_possible": True},
        ),
        ("dispute_form", {"dispute_invoice": "G000024176"}),
    ],
)
async def test_a_person_is_reachable_from_every_form(
    seeded_session: Session, form: str, answered: dict[str, Any]
) -> None:
    """Asking for a person leaves any form as "stop" does: its answers are
    forgotten (a stale `cancellation_possible` would steer the next turn)."""
    customer = contoso(seeded_session)
    events, dispatcher = await run(
        ActionHandoff(notifier=RecordingNotifier(), clock=desk_open),
        conversation(
            [user("I need to talk to a person", "request_human")],
            token=customer_token(customer.tenant_id),
            slots={
                "requested_slot": "x",
                "form_failures": {"x": 1},
                **answered,
            },
            active_loop=form,
        ),
    )
    assert responses(dispatcher) == ["utter_handoff"]
    assert [e["name"] for e in events_named(events, "active_loop")] == [None]
    values = slot_values(events)
    assert all(values[name] is None for name in answered)
    assert values["requested_slot"] is None and values["form_failures"] is None
    assert "ticket_description" not in values  # another form's slots: untouched
    assert events[-1]["event"] == "pause"


async def test_a_database_failure_does_not_pause(
    seeded_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("locked"))

    monkeypatch.setattr(handoff_module, "identify", broken)
    events, dispatcher = await run(
        ActionHandoff(notifier=RecordingNotifier(), clock=desk_open),
        conversation(
            [user("human", "request_human")],
            token=customer_token(contoso(seeded_session).tenant_id),
        ),
    )
    assert responses(dispatcher) == ["utter_handoff_unavailable"]
    assert not events_named(events, "pause")


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        ([], "The user asked to talk to a person."),
        (
            ["action_technical_self_help"],
            "The assistant's answer did not help; the user chose a person.",
        ),
        (
            ["action_fallback", "action_offer_ticket"],
            "The assistant did not understand the user twice; they chose a person.",
        ),
        (
            ["action_fallback"],
            "The assistant did not understand the user; they asked for a person.",
        ),
    ],
)
def test_the_desk_is_told_why(before: list[str], reason: str) -> None:
    events: list[dict[str, Any]] = [user("Outlook is down", "report_technical_issue")]
    events += [action(name) for name in before]
    events += [action("action_listen"), user("a person", "request_human")]
    assert handoff_reason(conversation(events)) == reason


def test_the_last_informative_message_skips_small_talk() -> None:
    tracker = conversation(
        [
            user("Teams has no sound", "report_technical_issue"),
            user("yes", "affirm"),
            user("a person please", "request_human"),
        ]
    )
    assert last_informative_message(tracker) == "Teams has no sound"


async def test_the_partners_helpdesk_hears_of_it_once_per_request(
    seeded_session: Session,
) -> None:
    customer = contoso(seeded_session)
    partner = customer.partner
    partner.webhook_endpoints = [
        {"name": "helpdesk", "url": "https://desk.example/hooks", "secret_env": "K"}
    ]
    seeded_session.commit()
    tracker = conversation(
        [
            user(f"my card {CARD} was charged twice", "explain_charges"),
            user("a person please", "request_human", message_id="m-42"),
        ],
        token=customer_token(customer.tenant_id),
        sender_id="conv-hooked",
    )
    for _ in range(2):  # the same message handled twice (a retried action)
        events, _ = await run(
            ActionHandoff(notifier=RecordingNotifier(), clock=desk_open), tracker
        )
        assert events[-1]["event"] == "pause"
    seeded_session.expire_all()
    rows = seeded_session.scalars(select(WebhookEvent)).all()
    assert [(row.type, row.conversation_id) for row in rows] == [
        ("handoff.started", "conv-hooked")
    ]
    data = json.loads(rows[0].body)["data"]
    assert data["customer"]["tenant_id"] == customer.tenant_id
    assert data["partner"]["id"] == partner.id
    assert "charged twice" in data["last_message"]
    assert CARD not in rows[0].body  # redacted, as in the desk's notice
    assert data["links"]["reply"].endswith("/api/v1/handoff/conv-hooked/messages")


def custom_payloads(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    return [m["custom"] for m in dispatcher.messages if m.get("custom")]


async def test_an_open_desk_the_widget_shows_waiting(seeded_session: Session) -> None:
    customer = contoso(seeded_session)
    _events, dispatcher = await run(
        ActionHandoff(notifier=RecordingNotifier(), clock=desk_open),
        conversation(
            [user("a person please", "request_human", input_channel="socketio")],
            token=customer_token(customer.tenant_id),
        ),
    )
    assert responses(dispatcher) == ["utter_handoff"]
    assert custom_payloads(dispatcher) == [
        {"handoff": "waiting", "desk_open": True, "opens_at": None, "ticket": False}
    ]


async def test_a_closed_desk_says_when_it_opens_and_offers_a_ticket(
    seeded_session: Session,
) -> None:
    customer = contoso(seeded_session)
    events, dispatcher = await run(
        ActionHandoff(notifier=RecordingNotifier(), clock=desk_closed),
        conversation(
            [user("a person please", "request_human", input_channel="socketio")],
            token=customer_token(customer.tenant_id),
        ),
    )
    assert responses(dispatcher) == ["utter_handoff_closed"]
    text = render(dispatcher)[0]
    # Saturday noon in Redmond: the desk opens on Monday at 07:00 Pacific.
    assert "closed now: it opens Monday 7 December 2026 at 07:00 PST" in text
    assert customer.partner.support_email in text
    assert custom_payloads(dispatcher) == [
        {
            "handoff": "waiting",
            "desk_open": False,
            "opens_at": "2026-12-07T15:00:00+00:00",
            "ticket": True,
        }
    ]
    assert events[-1]["event"] == "pause"  # the chat still waits in the queue


async def test_only_the_web_chat_is_offered_the_ticket_button(
    seeded_session: Session,
) -> None:
    customer = contoso(seeded_session)
    _events, dispatcher = await run(
        ActionHandoff(notifier=RecordingNotifier(), clock=desk_closed),
        conversation(
            [user("a person please", "request_human", input_channel="rest")],
            token=customer_token(customer.tenant_id),
        ),
    )
    assert custom_payloads(dispatcher)[0]["ticket"] is False


async def test_a_partner_without_hours_as_data_is_taken_as_open(
    seeded_session: Session,
) -> None:
    customer = contoso(seeded_session)
    customer.partner.support_schedule = None
    seeded_session.commit()
    _events, dispatcher = await run(
        ActionHandoff(notifier=RecordingNotifier(), clock=desk_closed),
        conversation(
            [user("a person please", "request_human", input_channel="socketio")],
            token=customer_token(customer.tenant_id),
        ),
    )
    assert responses(dispatcher) == ["utter_handoff"]
    assert custom_payloads(dispatcher)[0]["desk_open"] is None
