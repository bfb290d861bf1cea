"""The human agent's seat: the live hand-off inbox and one chat's page.

    GET  /dashboard/inbox                        waiting and claimed chats
    GET  /dashboard/inbox/events                 the same, live (server-sent events)
    POST /dashboard/handoffs/{id}/claim          take a waiting chat (one agent wins)
    GET  /dashboard/handoffs/{id}                the chat, the customer's billing
                                                 context, reply / hand back / close
    GET  /dashboard/handoffs/{id}/events         its messages and state, live
    POST /dashboard/handoffs/{id}/messages       answer (the agent holding it)
    POST /dashboard/handoffs/{id}/release        hand back to the assistant
    POST /dashboard/handoffs/{id}/close          end the chat

Every route needs the ``answer_chats`` permission (api/dashboard/auth.py); an agent
who belongs to a partner sees only that partner's chats (another's answer 404, as
if they did not exist). Posts need the session's CSRF token. The live streams read
the database (and Rasa, for a chat's messages) every ``POLL_SECONDS`` with a short
session each time, and end after ``STREAM_SECONDS``; the browser's EventSource
reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from api.dashboard.auth import SignedIn
from api.dashboard.deps import SignedInDep, check_csrf, require
from api.domain.db import get_sessionmaker
from api.domain.models import (
    MAX_DB_ID,
    OPEN_HANDOFF_STATUSES,
    Customer,
    Handoff,
    HandoffStatus,
    Invoice,
    Subscription,
    Ticket,
    TicketStatus,
    utcnow,
)
from api.domain.services.handoff import (
    NotHandedOff,
    RasaConversations,
    RasaUnavailable,
    chat_lines,
    claim_handoff,
    deliver_agent_message,
    end_handoff,
    holds,
    resume_conversation,
)
from api.domain.services.handoff_threads import announce_in_threads
from api.web.deps import SessionDep
from api.web.routes.handoff import RasaDep
from common.taxonomy import load_taxonomy
from common.texts import catalogue

PERMISSION = "answer_chats"
POLL_SECONDS = 1.0
STREAM_SECONDS = 300.0
MAX_LINES = 200
RECENT_INVOICES = 3
NOTICES = {
    "taken": "Someone else took that chat first.",
    "released": "The chat is back with the assistant.",
    "closed": "The chat is closed.",
    "ended": "That chat has ended.",
}
HandoffId = Annotated[int, PathParam(ge=1, le=MAX_DB_ID)]

router = APIRouter()


def _seat(lead: SignedIn) -> None:
    require(PERMISSION, lead)


def _handoff_or_404(session: Session, handoff_id: int, lead: SignedIn) -> Handoff:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None or not lead.sees_partner(handoff.partner_id):
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No hand-off with id {handoff_id}.",
        )
    return handoff


def _rasa_failed() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        detail="The assistant's server is not available; try again shortly.",
    )


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _done(request: Request, location: str, **body: Any) -> Response:
    """A redirect for a form post, JSON for the page's script."""
    from api.dashboard.routes import _redirect, _secure

    if _wants_json(request):
        return _secure(JSONResponse({"ok": True, **body}))
    return _redirect(location)


# --------------------------------------------------------------------------- inbox


def inbox_entries(
    session: Session, *, partner_id: Optional[int], now: Optional[datetime] = None
) -> list[dict[str, Any]]:
    """The open hand-offs, oldest first, as the inbox shows them."""
    now = now or utcnow()
    taxonomy = load_taxonomy()
    query = (
        select(Handoff, Customer.name)
        .outerjoin(Customer, Customer.id == Handoff.customer_id)
        .where(Handoff.status.in_(OPEN_HANDOFF_STATUSES))
        .order_by(Handoff.requested_at, Handoff.id)
    )
    if partner_id is not None:
        query = query.where(Handoff.partner_id == partner_id)
    entries = []
    for handoff, customer_name in session.execute(query):
        entries.append(
            {
                "id": handoff.id,
                "status": handoff.status.value,
                "customer": customer_name or "",
                "requester": handoff.requester,
                "partner": handoff.partner.name,
                "topic": taxonomy.title(handoff.topic) if handoff.topic else "",
                "triage": handoff.triage or "",
                "last_message": handoff.last_message,
                "channel": handoff.channel,
                "requested_at": handoff.requested_at.timestamp(),
                "waiting_seconds": max(
                    0, int((now - handoff.requested_at).total_seconds())
                ),
                "agent": handoff.agent_name or "",
            }
        )
    return entries


def _snapshot(partner_id: Optional[int]) -> list[dict[str, Any]]:
    with get_sessionmaker()() as session:
        entries = inbox_entries(session, partner_id=partner_id)
    for entry in entries:  # changes every second: the page counts it itself
        entry.pop("waiting_seconds")
    return entries


@router.get("/inbox")
def inbox(request: Request, session: SessionDep, lead: SignedInDep) -> Response:
    """The chats waiting for a person, and those being answered."""
    from api.dashboard.routes import _render

    _seat(lead)
    return _render(
        request,
        "inbox.html",
        {
            "lead": lead,
            "nav": "inbox",
            "entries": inbox_entries(session, partner_id=lead.user.partner_id),
            "notice": NOTICES.get(request.query_params.get("notice", "")),
        },
    )


@router.get("/inbox/events")
async def inbox_events(request: Request, lead: SignedInDep) -> Response:
    """The inbox as server-sent events: an ``inbox`` event with every open
    hand-off whenever that list changes, and a ping every 15 seconds."""
    _seat(lead)
    partner_id = lead.user.partner_id

    async def stream() -> AsyncIterator[dict[str, str]]:
        last: Optional[list[dict[str, Any]]] = None
        deadline = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline and not await request.is_disconnected():
            entries = await run_in_threadpool(_snapshot, partner_id)
            if entries != last:
                last = entries
                yield {
                    "event": "inbox",
                    "data": json.dumps({"now": time.time(), "entries": entries}),
                }
            await asyncio.sleep(POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})


# --------------------------------------------------------------------------- one chat


def billing_context(session: Session, customer_id: Optional[int]) -> dict[str, Any]:
    """What the agent sees of the customer: latest invoices, open tickets,
    subscriptions."""
    if customer_id is None:
        return {"invoices": [], "tickets": [], "subscriptions": []}
    invoices = list(
        session.scalars(
            select(Invoice)
            .where(Invoice.customer_id == customer_id)
            .order_by(Invoice.invoice_date.desc(), Invoice.id.desc())
            .limit(RECENT_INVOICES)
        )
    )
    tickets = list(
        session.scalars(
            select(Ticket)
            .where(
                Ticket.customer_id == customer_id,
                Ticket.status.not_in([TicketStatus.RESOLVED, TicketStatus.CLOSED]),
            )
            .order_by(Ticket.created_at.desc())
        )
    )
    subscriptions = list(
        session.scalars(
            select(Subscription)
            .where(Subscription.customer_id == customer_id)
            .order_by(Subscription.product_name)
        )
    )
    return {"invoices": invoices, "tickets": tickets, "subscriptions": subscriptions}


def _lines(rasa: RasaConversations, conversation_id: str) -> list[dict[str, Any]]:
    return [line.as_dict() for line in chat_lines(rasa.events(conversation_id))][
        -MAX_LINES:
    ]


@router.get("/handoffs/{handoff_id}")
def handoff_page(
    request: Request,
    handoff_id: HandoffId,
    session: SessionDep,
    lead: SignedInDep,
    rasa: RasaDep,
) -> Response:
    """One chat: its messages, who the customer is, and what the agent can do."""
    from api.dashboard.routes import _render

    _seat(lead)
    handoff = _handoff_or_404(session, handoff_id, lead)
    try:
        lines = _lines(rasa, handoff.conversation_id)
        error = None
    except RasaUnavailable:
        lines, error = [], "The assistant's server is not available; reload shortly."
    return _render(
        request,
        "handoff.html",
        {
            "lead": lead,
            "nav": "inbox",
            "handoff": handoff,
            "mine": holds(handoff, lead.agent_key),
            "lines": lines,
            "lines_json": json.dumps(lines).replace("<", "\\u003c"),
            "topic": load_taxonomy().title(handoff.topic) if handoff.topic else "",
            "customer": handoff.customer,
            "error": error,
            **billing_context(session, handoff.customer_id),
        },
    )


def _state(handoff_id: int) -> Optional[dict[str, Any]]:
    with get_sessionmaker()() as session:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None:
            return None
        return {
            "status": handoff.status.value,
            "agent": handoff.agent_name or "",
            "conversation_id": handoff.conversation_id,
        }


@router.get("/handoffs/{handoff_id}/events")
async def handoff_events(
    request: Request,
    handoff_id: HandoffId,
    lead: SignedInDep,
    session: SessionDep,
    rasa: RasaDep,
) -> Response:
    """One chat as server-sent events: ``state`` (status, agent) when it changes,
    ``message`` for each message after those the page has (``?after=`` the newest
    timestamp it shows)."""
    _seat(lead)
    handoff = _handoff_or_404(session, handoff_id, lead)
    conversation_id = handoff.conversation_id
    try:
        after = float(request.query_params.get("after") or 0.0)
    except ValueError:
        after = 0.0

    async def stream() -> AsyncIterator[dict[str, str]]:
        nonlocal after
        last_state: Optional[dict[str, Any]] = None
        deadline = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline and not await request.is_disconnected():
            state = await run_in_threadpool(_state, handoff_id)
            if state is None:
                return
            if state != last_state:
                last_state = state
                yield {"event": "state", "data": json.dumps(state)}
            try:
                lines = await run_in_threadpool(_lines, rasa, conversation_id)
            except RasaUnavailable:
                lines = []
            for line in lines:
                if line["timestamp"] > after:
                    after = line["timestamp"]
                    yield {"event": "message", "data": json.dumps(line)}
            await asyncio.sleep(POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})


@router.post("/handoffs/{handoff_id}/claim")
def claim(
    request: Request,
    handoff_id: HandoffId,
    session: SessionDep,
    lead: SignedInDep,
    rasa: RasaDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Take a waiting chat. Of two agents who claim at once, one gets it; the
    other is sent back to the inbox (409 for the page's script)."""
    check_csrf(lead, csrf_token)
    _seat(lead)
    handoff = _handoff_or_404(session, handoff_id, lead)
    agent = lead.user.name or lead.user.email
    if not claim_handoff(
        session, handoff.id, agent_key=lead.agent_key, agent_name=agent
    ):
        session.rollback()
        if _wants_json(request):
            raise HTTPException(
                status_code=status.HTTP_409_CONFLICT, detail=NOTICES["taken"]
            )
        from api.dashboard.routes import _redirect

        return _redirect("/dashboard/inbox?notice=taken")
    session.commit()
    handoff = _handoff_or_404(session, handoff_id, lead)
    joined = catalogue().text(
        "handoff.agent_joined", agent=agent, partner_name=handoff.partner.name
    )
    try:
        deliver_agent_message(
            handoff.conversation_id, joined, agent, client=rasa, event="joined"
        )
    except NotHandedOff:
        # The chat was handed back meanwhile (e.g. the customer's wait ran out).
        end_handoff(session, handoff.id, status=HandoffStatus.RETURNED)
        session.commit()
        from api.dashboard.routes import _redirect

        return _redirect("/dashboard/inbox?notice=ended")
    except RasaUnavailable as exc:
        raise _rasa_failed() from exc
    announce_in_threads(
        session, handoff, catalogue().text("handoff.thread_claimed", agent=agent)
    )
    return _done(request, f"/dashboard/handoffs/{handoff.id}", id=handoff.id)


def _mine(session: Session, handoff_id: int, lead: SignedIn) -> Handoff:
    handoff = _handoff_or_404(session, handoff_id, lead)
    if not holds(handoff, lead.agent_key):
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail="You are not answering this chat: claim it first."
            if handoff.status is HandoffStatus.WAITING
            else "This chat is not yours to answer, or it has ended.",
        )
    return handoff


@router.post("/handoffs/{handoff_id}/messages")
def send_message(
    request: Request,
    handoff_id: HandoffId,
    session: SessionDep,
    lead: SignedInDep,
    rasa: RasaDep,
    text: Annotated[str, Form(min_length=1, max_length=4000)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Answer the customer (only the agent holding the chat)."""
    check_csrf(lead, csrf_token)
    _seat(lead)
    handoff = _mine(session, handoff_id, lead)
    said = text.strip()
    if not said:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="Write a message first.",
        )
    try:
        deliver_agent_message(
            handoff.conversation_id,
            said,
            handoff.agent_name or lead.user.name,
            client=rasa,
        )
    except NotHandedOff as exc:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT, detail=NOTICES["ended"]
        ) from exc
    except RasaUnavailable as exc:
        raise _rasa_failed() from exc
    return _done(request, f"/dashboard/handoffs/{handoff.id}")


def _finish(
    request: Request,
    session: SessionDep,
    lead: SignedIn,
    rasa: RasaConversations,
    handoff_id: int,
    *,
    status_to: HandoffStatus,
    text: Optional[str],
    notice: str,
) -> Response:
    handoff = _mine(session, handoff_id, lead)
    try:
        resume_conversation(handoff.conversation_id, client=rasa, text=text)
    except NotHandedOff:
        pass  # already back with the assistant: the record follows
    except RasaUnavailable as exc:
        raise _rasa_failed() from exc
    end_handoff(session, handoff.id, status=status_to, agent_key=lead.agent_key)
    session.commit()
    handoff = _handoff_or_404(session, handoff_id, lead)
    announce_in_threads(session, handoff, catalogue().text("handoff.thread_ended"))
    return _done(request, f"/dashboard/inbox?notice={notice}")


@router.post("/handoffs/{handoff_id}/release")
def release(
    request: Request,
    handoff_id: HandoffId,
    session: SessionDep,
    lead: SignedInDep,
    rasa: RasaDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Hand the chat back to the assistant; the customer is told."""
    check_csrf(lead, csrf_token)
    _seat(lead)
    return _finish(
        request,
        session,
        lead,
        rasa,
        handoff_id,
        status_to=HandoffStatus.RETURNED,
        text=None,
        notice="released",
    )


@router.post("/handoffs/{handoff_id}/close")
def close(
    request: Request,
    handoff_id: HandoffId,
    session: SessionDep,
    lead: SignedInDep,
    rasa: RasaDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End the chat: the customer is told, and the assistant answers anything
    they write after."""
    check_csrf(lead, csrf_token)
    _seat(lead)
    handoff = _mine(session, handoff_id, lead)
    text = catalogue().text(
        "handoff.closed", agent=handoff.agent_name or lead.user.name
    )
    return _finish(
        request,
        session,
        lead,
        rasa,
        handoff_id,
        status_to=HandoffStatus.CLOSED,
        text=text,
        notice="closed",
    )
