"""`/api/v1/handoff/{conversation_id}`: a person answers a conversation the bot
handed over, and hands it back.

The bot pauses a conversation when the user asks for a person (actions/handoff.py)
and records the partner whose desk owns it. Here an agent (a desk tool holding the
service token, optionally `on_behalf_of` a partner user) can:

* `GET` whether it is waiting for a person;
* `POST .../messages` to answer: the message is added to the conversation as the
  agent's (the review dashboard shows it under the agent's name) and sent to the
  user through the channel they last wrote on, when it can push (the web chat over
  socket.io). **The REST channel cannot push**: a REST client sees an agent's
  answer only by reading the conversation from Rasa;
* `POST .../resume` to hand back: the user is told "You're back with the
  assistant" and the bot answers again.

`POST /handoff/threads/{platform}` is for Rasa's Slack and Teams channels: a staff
reply in the thread of a hand-off notice reaches the customer
(api/domain/services/handoff_threads.py).

`POST /handoff/{conversation_id}/ticket` is for Rasa's web chat channel: the
customer of a chat waiting while the desk is closed chose "Open a ticket instead"
in the widget; the ticket is opened at once, the customer told its number and
handed back to the assistant.

With `on_behalf_of`, the partner user must be active, have the `view_tickets`
capability (api/domain/policies/permissions.yml: the roles that work on support), and work
for the partner that owns the conversation; another partner's conversation answers
404 as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.domain.models import Partner, PartnerUser
from api.domain.services.handoff import (
    ConversationState,
    NotHandedOff,
    RasaConversations,
    RasaUnavailable,
    deliver_agent_message,
    resume_conversation,
)
from api.domain.services.handoff_threads import (
    Platform,
    Relayed,
    Threads,
    relay_staff_reply,
    ticket_instead,
)
from api.domain.services.webhooks import actor_for, emit_handoff_ended
from api.web.deps import SessionDep
from api.web.errors import error_responses, unprocessable
from api.web.routes.tickets import OnBehalfOf, acting_user
from api.web.schemas import OneLine, Text

ANSWER_CHATS = "view_tickets"  # the capability that lets a partner user answer chats
NOT_HANDED_OFF = "No conversation with that id was handed to the partner's desk."
NO_RASA = "The assistant's server is not available; try again shortly."

router = APIRouter(prefix="/handoff", tags=["handoff"])


def get_rasa() -> RasaConversations:
    """Rasa's HTTP API (RASA_URL, RASA_AUTH_TOKEN); tests override it."""
    return RasaConversations.from_settings()


RasaDep = Annotated[RasaConversations, Depends(get_rasa)]
ConversationId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="The conversation (Rasa sender) id",
    ),
]


class AgentMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=4000)
    agent: Optional[OneLine] = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The agent's name as the user sees it; defaults to the "
        "on_behalf_of partner user's name.",
    )


class HandoffOut(BaseModel):
    conversation_id: str
    paused: bool = Field(description="True while a person has the conversation")
    partner_id: int = Field(description="The partner whose desk took it over")
    latest_input_channel: Optional[str]
    agent: Optional[str] = None


def _state(rasa: RasaConversations, conversation_id: str) -> ConversationState:
    try:
        return rasa.state(conversation_id)
    except RasaUnavailable as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=NO_RASA,
        ) from exc


def _handed_off(
    session: Session,
    rasa: RasaConversations,
    conversation_id: str,
    on_behalf_of: Optional[int],
) -> tuple[ConversationState, Optional[PartnerUser]]:
    """The conversation's state, if it was handed off and the caller may see it."""
    user = acting_user(session, on_behalf_of, ANSWER_CHATS)
    state = _state(rasa, conversation_id)
    if state.partner_id is None or (
        user is not None and user.partner_id != state.partner_id
    ):
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No handed-off conversation {conversation_id}.",
        )
    return state, user


def _not_paused(conversation_id: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_409_CONFLICT,
        detail=f"Conversation {conversation_id} is back with the assistant.",
    )


def _out(
    state: ConversationState, *, paused: bool, agent: Optional[str] = None
) -> HandoffOut:
    return HandoffOut(
        conversation_id=state.conversation_id,
        paused=paused,
        partner_id=state.partner_id or 0,
        latest_input_channel=state.latest_input_channel,
        agent=agent,
    )


@router.get(
    "/{conversation_id}",
    response_model=HandoffOut,
    responses=error_responses(403, 422, described={404: NOT_HANDED_OFF, 503: NO_RASA}),
)
def get_handoff(
    conversation_id: ConversationId,
    session: SessionDep,
    rasa: RasaDep,
    on_behalf_of: OnBehalfOf = None,
) -> HandoffOut:
    """Whether a handed-off conversation is still waiting for (or with) a person."""
    state, _user = _handed_off(session, rasa, conversation_id, on_behalf_of)
    return _out(state, paused=state.paused)


@router.post(
    "/{conversation_id}/messages",
    response_model=HandoffOut,
    responses=error_responses(
        403,
        described={
            404: NOT_HANDED_OFF,
            409: "The conversation is back with the assistant.",
            422: "The body is not valid, or no agent is named "
            "(send `agent`, or act on_behalf_of a partner user).",
            503: NO_RASA,
        },
    ),
)
def post_agent_message(
    conversation_id: ConversationId,
    body: AgentMessageIn,
    session: SessionDep,
    rasa: RasaDep,
    on_behalf_of: OnBehalfOf = None,
) -> HandoffOut:
    """Answer the user as a person; the bot stays paused."""
    state, user = _handed_off(session, rasa, conversation_id, on_behalf_of)
    if not state.paused:
        raise _not_paused(conversation_id)
    agent = body.agent or (user.name if user is not None else None)
    if not agent:
        raise unprocessable(
            "body.agent",
            "Name the agent: send `agent`, or act on_behalf_of a partner user.",
        )
    try:
        deliver_agent_message(conversation_id, body.text, agent, client=rasa)
    except NotHandedOff as exc:
        raise _not_paused(conversation_id) from exc
    except RasaUnavailable as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=NO_RASA,
        ) from exc
    return _out(state, paused=True, agent=agent)


@router.post(
    "/{conversation_id}/resume",
    response_model=HandoffOut,
    responses=error_responses(
        403,
        422,
        described={
            404: NOT_HANDED_OFF,
            409: "The conversation is not with a person.",
            503: NO_RASA,
        },
    ),
)
def resume(
    conversation_id: ConversationId,
    session: SessionDep,
    rasa: RasaDep,
    on_behalf_of: OnBehalfOf = None,
) -> HandoffOut:
    """Hand the conversation back to the assistant; the user is told, and the
    partner's helpdesk gets `handoff.ended`."""
    state, user = _handed_off(session, rasa, conversation_id, on_behalf_of)
    if not state.paused:
        raise _not_paused(conversation_id)
    try:
        resume_conversation(conversation_id, client=rasa)
    except NotHandedOff as exc:
        raise _not_paused(conversation_id) from exc
    except RasaUnavailable as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=NO_RASA,
        ) from exc
    # The hand-back itself lives in Rasa's tracker, so the event follows it: once
    # Rasa has resumed, never for a resume that failed.
    partner = session.get(Partner, state.partner_id) if state.partner_id else None
    if partner is not None:
        emit_handoff_ended(
            session,
            conversation_id=conversation_id,
            partner=partner,
            ended_by=actor_for(user),
        )
        session.commit()
    return _out(state, paused=False)


class ThreadReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: OneLine = Field(
        default="",
        max_length=200,
        description="Slack: the channel id (Teams: unused)",
    )
    thread: OneLine = Field(
        min_length=1,
        max_length=300,
        description="Slack: the notice's ts; Teams: the thread's conversation id",
    )
    user_id: OneLine = Field(
        min_length=1,
        max_length=100,
        description="Slack user id, or Teams (Entra) object id, of the author",
    )
    text: Text = Field(min_length=1, max_length=4000)


class ThreadReplyOut(BaseModel):
    result: Relayed


RELAY_STATUS = {
    Relayed.NOT_A_HANDOFF: (
        status.HTTP_404_NOT_FOUND,
        "No open hand-off has that thread.",
    ),
    Relayed.NOT_STAFF: (
        status.HTTP_403_FORBIDDEN,
        "The author may not answer this partner's chats.",
    ),
    Relayed.TAKEN: (status.HTTP_409_CONFLICT, "Another agent is answering this chat."),
    Relayed.ENDED: (status.HTTP_409_CONFLICT, "The chat is back with the assistant."),
    Relayed.UNAVAILABLE: (status.HTTP_503_SERVICE_UNAVAILABLE, NO_RASA),
}


@router.post(
    "/threads/{platform}",
    response_model=ThreadReplyOut,
    responses=error_responses(
        422,
        described={
            403: RELAY_STATUS[Relayed.NOT_STAFF][1],
            404: RELAY_STATUS[Relayed.NOT_A_HANDOFF][1],
            409: "Another agent is answering the chat, or it has ended.",
            503: NO_RASA,
        },
    ),
)
def thread_reply(
    platform: Platform,
    body: ThreadReplyIn,
    session: SessionDep,
    rasa: RasaDep,
) -> ThreadReplyOut:
    """A staff member's reply in the thread of a hand-off notice: delivered to the
    customer under their name (the first reply claims the chat)."""
    result = relay_staff_reply(
        session,
        rasa,
        platform,
        channel=body.channel,
        thread=body.thread,
        user_id=body.user_id,
        text=body.text,
    )
    session.commit()
    if result is not Relayed.DELIVERED:
        code, detail = RELAY_STATUS[result]
        raise HTTPException(status_code=code, detail=detail)
    return ThreadReplyOut(result=result)


class TicketInsteadOut(BaseModel):
    conversation_id: str
    ticket: str = Field(description="The public id of the ticket, e.g. CSP-1042")


@router.post(
    "/{conversation_id}/ticket",
    response_model=TicketInsteadOut,
    responses=error_responses(
        422,
        described={404: "The conversation is not waiting for a person."},
    ),
)
def ticket_for_waiting_chat(
    conversation_id: ConversationId,
    session: SessionDep,
    rasa: RasaDep,
) -> TicketInsteadOut:
    """The customer of a chat waiting for a person would rather have a ticket
    (the widget's "Open a ticket instead", passed on by the web chat channel):
    open it, tell them its number, hand the chat back to the assistant. Asking
    again answers 404: the chat no longer waits."""
    ticket = ticket_instead(session, rasa, conversation_id, threads=Threads.from_env())
    if ticket is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"Conversation {conversation_id} is not waiting for a person.",
        )
    return TicketInsteadOut(conversation_id=conversation_id, ticket=ticket)
