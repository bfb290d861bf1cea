"""Hand-offs beyond the dashboard: the Slack and Teams threads of the hand-off
notice, and chats that wait too long.

* **Staff replies in a thread** (`relay_staff_reply`): Rasa's Slack and Teams
  channels pass a reply in a thread they did not start a conversation in to the API
  (`POST /api/v1/handoff/threads/{platform}`); if the thread is an open hand-off's
  and the author is active staff of that partner whose role may work on support
  (`view_tickets` in api/domain/policies/permissions.yml), the reply reaches the
  customer under the staff member's name. The first reply claims the chat as any
  agent's claim does (one conditional UPDATE); a chat someone else holds refuses.
* **The customer's next messages** (`forward_customer_messages`): the API's
  hand-off worker (api/web/handoff_worker.py) copies each new message of a
  customer into the threads. It moves the hand-off's `forwarded_until` first, with
  a conditional UPDATE, so two API processes never post the same message twice.
* **Waiting too long** (`expire_waiting`): a chat nobody has claimed after
  `HANDOFF_WAIT_TIMEOUT_SECONDS` becomes a ticket (idempotent per hand-off), and
  the customer is told its number and handed back to the assistant.
* **A ticket instead** (`ticket_instead`): a customer waiting while the desk is
  closed chose "Open a ticket instead" in the widget (the web chat channel passes
  it on, `POST /api/v1/handoff/{conversation_id}/ticket`): the same, at once.

A failure to reach Slack, Teams or Rasa is logged and retried on the next round;
it never raises into a request that did its own work.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta
from typing import Any, Optional, cast

import httpx
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from api.domain.models import (
    OPEN_HANDOFF_STATUSES,
    Handoff,
    HandoffStatus,
    PartnerUser,
    TicketCategory,
    utcnow,
)
from api.domain.services.handoff import (
    NotHandedOff,
    RasaConversations,
    RasaUnavailable,
    claim_handoff,
    deliver_agent_message,
    end_handoff,
    resume_conversation,
)
from api.domain.services.notify import (
    SlackConfig,
    TeamsBot,
    post_to_slack_thread,
    post_to_teams_thread,
)
from api.domain.services.permissions import permission_table
from api.domain.services.tickets import NewTicket, TicketError, create_ticket
from common.texts import catalogue

logger = logging.getLogger(__name__)

ANSWER_CHATS = "view_tickets"  # as api/web/routes/handoff.py
TIMEOUT_SECONDS = 10.0
MAX_FORWARDED = 20  # messages copied per hand-off and round


class Platform(str, enum.Enum):
    SLACK = "slack"
    TEAMS = "teams"


class Relayed(str, enum.Enum):
    """What became of a reply in a thread."""

    DELIVERED = "delivered"
    NOT_A_HANDOFF = "not_a_handoff"  # no open hand-off has this thread
    NOT_STAFF = "not_staff"  # the author may not answer this partner's chats
    TAKEN = "taken"  # another agent holds the chat
    ENDED = "ended"  # the chat is back with the assistant
    UNAVAILABLE = "unavailable"  # Rasa did not answer


def handoff_for_thread(
    session: Session, platform: Platform, *, channel: str, thread: str
) -> Optional[Handoff]:
    """The open hand-off whose notice started this thread."""
    query = select(Handoff).where(Handoff.status.in_(OPEN_HANDOFF_STATUSES))
    if platform is Platform.SLACK:
        query = query.where(
            Handoff.slack_channel == channel, Handoff.slack_thread_ts == thread
        )
    else:
        query = query.where(Handoff.teams_thread_id == thread)
    return session.scalars(query.order_by(Handoff.id.desc())).first()


def staff_member(
    session: Session, platform: Platform, user_id: str, partner_id: int
) -> Optional[PartnerUser]:
    """The active partner user behind a Slack or Teams id, if they may answer
    this partner's chats."""
    column = (
        PartnerUser.slack_user_id
        if platform is Platform.SLACK
        else PartnerUser.aad_object_id
    )
    user = session.scalars(select(PartnerUser).where(column == user_id)).first()
    if (
        user is None
        or not user.active
        or user.partner_id != partner_id
        or not permission_table().can(user.role.value, ANSWER_CHATS)
    ):
        return None
    return user


def relay_staff_reply(
    session: Session,
    rasa: RasaConversations,
    platform: Platform,
    *,
    channel: str,
    thread: str,
    user_id: str,
    text: str,
) -> Relayed:
    """Deliver a staff member's reply in a hand-off thread to the customer; the
    caller commits."""
    handoff = handoff_for_thread(session, platform, channel=channel, thread=thread)
    if handoff is None:
        return Relayed.NOT_A_HANDOFF
    staff = staff_member(session, platform, user_id, handoff.partner_id)
    if staff is None:
        return Relayed.NOT_STAFF
    key = f"{platform.value}:{user_id}"
    try:
        if handoff.status is HandoffStatus.WAITING:
            if not claim_handoff(
                session, handoff.id, agent_key=key, agent_name=staff.name
            ):
                return Relayed.TAKEN
            session.commit()
            joined = catalogue().text(
                "handoff.agent_joined",
                agent=staff.name,
                partner_name=handoff.partner.name,
            )
            deliver_agent_message(
                handoff.conversation_id, joined, staff.name, client=rasa, event="joined"
            )
        elif handoff.agent_key != key:
            return Relayed.TAKEN
        deliver_agent_message(handoff.conversation_id, text, staff.name, client=rasa)
    except NotHandedOff:
        end_handoff(session, handoff.id, status=HandoffStatus.RETURNED)
        return Relayed.ENDED
    except RasaUnavailable:
        logger.warning("A %s reply to %s waits for Rasa", platform.value, handoff.id)
        return Relayed.UNAVAILABLE
    return Relayed.DELIVERED


# --------------------------------------------------------------------------- posting


class Threads:
    """Posts into the hand-off threads, with the platforms configured here."""

    def __init__(
        self,
        *,
        slack: Optional[SlackConfig] = None,
        teams: Optional[TeamsBot] = None,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self.slack = slack
        self.teams = teams
        self.transport = transport

    @classmethod
    def from_env(cls) -> Threads:
        return cls(slack=SlackConfig.from_env(), teams=TeamsBot.from_env())

    def post(self, handoff: Handoff, text: str) -> bool:
        """Post `text` in every thread of the hand-off; True unless one failed."""
        ok = True
        with httpx.Client(timeout=TIMEOUT_SECONDS, transport=self.transport) as client:
            if handoff.slack_channel and handoff.slack_thread_ts and self.slack:
                result = post_to_slack_thread(
                    client,
                    self.slack,
                    handoff.slack_channel,
                    handoff.slack_thread_ts,
                    text,
                )
                ok = ok and result.ok
            if handoff.teams_thread_id and self.teams:
                result = post_to_teams_thread(
                    client, self.teams, handoff.teams_thread_id, text
                )
                ok = ok and result.ok
        return ok


def announce_in_threads(
    session: Session, handoff: Handoff, text: str, threads: Optional[Threads] = None
) -> None:
    """Tell the staff in the hand-off's threads what happened (claimed, ended);
    never raises."""
    if not (handoff.slack_thread_ts or handoff.teams_thread_id):
        return
    try:
        (threads or Threads.from_env()).post(handoff, text)
    except Exception:
        logger.exception("Could not post in the threads of hand-off %s", handoff.id)


def forward_customer_messages(
    session: Session, rasa: RasaConversations, handoff: Handoff, threads: Threads
) -> int:
    """Copy the customer's messages since the last round into the hand-off's
    threads; return how many. The caller commits."""
    if not (handoff.slack_thread_ts or handoff.teams_thread_id):
        return 0
    since = handoff.forwarded_until
    new = [
        event
        for event in rasa.events(handoff.conversation_id)
        if event.get("event") == "user"
        and event.get("text")
        and float(event.get("timestamp") or 0.0) > since
    ][:MAX_FORWARDED]
    if not new:
        return 0
    until = max(float(e.get("timestamp") or 0.0) for e in new)
    moved = cast(
        "CursorResult[Any]",
        session.execute(
            update(Handoff)
            .where(Handoff.id == handoff.id, Handoff.forwarded_until == since)
            .values(forwarded_until=until)
            .execution_options(synchronize_session=False)
        ),
    )
    if moved.rowcount != 1:
        return 0  # another worker is copying them
    session.commit()
    texts = catalogue()
    for event in new:
        threads.post(
            handoff,
            texts.text(
                "handoff.thread_customer",
                requester=handoff.requester,
                text=str(event["text"]),
            ),
        )
    return len(new)


# --------------------------------------------------------------------------- waiting


def ticket_for(
    handoff: Handoff, *, minutes: int = 0, chosen: bool = False
) -> NewTicket:
    """The ticket of a chat nobody took within `minutes`, or (`chosen`) whose
    customer chose a ticket instead of waiting for the desk to open."""
    texts = catalogue()
    last = handoff.last_message or "-"
    if chosen:
        description = texts.text(
            "handoff.ticket_chosen_description",
            requester=handoff.requester,
            reason=handoff.reason or "-",
            last_message=last,
        )
    else:
        description = texts.text(
            "handoff.ticket_description",
            requester=handoff.requester,
            reason=handoff.reason or "-",
            minutes=minutes,
            last_message=last,
        )
    return NewTicket(
        partner_id=handoff.partner_id,
        customer_id=handoff.customer_id,
        requester=handoff.requester_key,
        conversation_id=handoff.conversation_id,
        category=(
            TicketCategory.TECHNICAL
            if handoff.triage == "technical"
            else TicketCategory.COMMERCIAL
        ),
        topic=handoff.topic or "human_agent",
        summary=texts.text("handoff.ticket_summary", last_message=last)[:300],
        description=description,
        # One ticket per hand-off, however it came about and however often asked.
        idempotency_key=f"handoff-timeout:{handoff.id}",
    )


def _ticket_and_resume(
    session: Session,
    rasa: RasaConversations,
    handoff: Handoff,
    new: NewTicket,
    *,
    text_key: str,
    now: datetime,
    threads: Optional[Threads],
) -> Optional[str]:
    """Turn a waiting hand-off into the ticket `new`, hand the chat back with the
    text `text_key`, tell the threads; the ticket's id, or None when the hand-off
    was claimed meanwhile (or the ticket could not be made). Commits."""
    try:
        ticket, _created = create_ticket(session, new=new)
    except TicketError:
        logger.exception("No ticket for the hand-off %s", handoff.id)
        session.rollback()
        return None
    if not end_handoff(
        session,
        handoff.id,
        status=HandoffStatus.TICKETED,
        from_statuses=[HandoffStatus.WAITING],
        ticket_id=ticket.id,
        now=now,
    ):
        session.rollback()  # claimed meanwhile: no ticket after all
        return None
    session.commit()
    handoff = session.get(Handoff, handoff.id) or handoff
    text = catalogue().text(
        text_key, partner_name=handoff.partner.name, ticket=ticket.public_id
    )
    try:
        resume_conversation(handoff.conversation_id, client=rasa, text=text)
    except NotHandedOff:
        pass
    except RasaUnavailable:
        logger.warning("Hand-off %s: the customer could not be told", handoff.id)
    announce_in_threads(
        session, handoff, catalogue().text("handoff.thread_ended"), threads
    )
    return ticket.public_id


def ticket_instead(
    session: Session,
    rasa: RasaConversations,
    conversation_id: str,
    *,
    now: Optional[datetime] = None,
    threads: Optional[Threads] = None,
) -> Optional[str]:
    """The customer of a waiting chat would rather have a ticket: open it, hand
    the chat back and tell them its number. The ticket's id; None when the chat
    is not waiting (nobody asked for a person, an agent took it, it ended)."""
    handoff = session.scalars(
        select(Handoff)
        .where(
            Handoff.conversation_id == conversation_id,
            Handoff.status == HandoffStatus.WAITING,
        )
        .order_by(Handoff.id.desc())
    ).first()
    if handoff is None:
        return None
    return _ticket_and_resume(
        session,
        rasa,
        handoff,
        ticket_for(handoff, chosen=True),
        text_key="handoff.ticket_chosen",
        now=now or utcnow(),
        threads=threads,
    )


def expire_waiting(
    session: Session,
    rasa: RasaConversations,
    *,
    timeout_seconds: int,
    now: Optional[datetime] = None,
    threads: Optional[Threads] = None,
) -> list[Handoff]:
    """Turn every chat waiting longer than `timeout_seconds` into a ticket, and
    tell its customer; return those done. Commits as it goes."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=timeout_seconds)
    done: list[Handoff] = []
    waiting = list(
        session.scalars(
            select(Handoff).where(
                Handoff.status == HandoffStatus.WAITING,
                Handoff.requested_at <= cutoff,
            )
        )
    )
    for handoff in waiting:
        ticketed = _ticket_and_resume(
            session,
            rasa,
            handoff,
            ticket_for(handoff, minutes=max(1, timeout_seconds // 60)),
            text_key="handoff.timed_out",
            now=now,
            threads=threads,
        )
        if ticketed is not None:
            done.append(session.get(Handoff, handoff.id) or handoff)
    return done
