"""``/dashboard``: the transcript review dashboard for support leads (HTML pages).

    GET  /dashboard/login, POST /dashboard/login, POST /dashboard/logout
    GET  /dashboard/conversations                 list, filters, keyset pages
    GET  /dashboard/conversations/{id}            transcript
    POST /dashboard/conversations/{id}/turns/{event_id}/correction
    POST /dashboard/conversations/{id}/delete     privacy request (admin)
    GET  /dashboard/corrections                   current corrections and history
    GET  /dashboard/corrections/export.yml        Rasa NLU YAML
    GET  /dashboard/metrics, GET /dashboard/metrics.csv
    GET  /dashboard/webhooks                      helpdesk webhooks' delivery log
    POST /dashboard/webhooks/{id}/replay          send a delivery again (admin)
    GET  /dashboard/static/{name}                 CSS, JS, Chart.js (from build/)
    /dashboard/inbox, /dashboard/handoffs/...     the agent's seat (seat.py)

Wire it into the API with ``app.include_router(dashboard.router)``.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.dashboard import queries, seat
from api.dashboard.auth import (
    HOME_PAGE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AuthError,
    authenticate,
    end_session,
    session_for_token,
    start_session,
    tokens_match,
)
from api.dashboard.corrections import (
    CorrectionError,
    annotate,
    correctable_intents,
    corrections_history,
    current_corrections_all,
    domain_entities,
    export_nlu_yaml,
    record_correction,
)
from api.dashboard.deps import (
    SignedInDep,
    SourceDep,
    check_csrf,
    require,
    safe_next,
)
from api.dashboard.ingest import (
    current_corrections,
    handoff_periods,
    tickets_of,
    try_ingest,
)
from api.dashboard.models import (
    Conversation,
    ConversationTurn,
    Correction,
    Outcome,
    Triage,
    TurnKind,
)
from api.dashboard.privacy import delete_conversation
from api.domain.db import get_sessionmaker
from api.domain.models import MAX_DB_ID, Customer, DeliveryStatus, Partner, utcnow
from api.domain.services.webhook_signing import display_url
from api.domain.services.webhooks import (
    ALL_EVENTS,
    LogFilters,
    ReplayError,
    delivery_log,
    replay_delivery,
)
from api.frontend import BUILD_COMMAND, CHART_JS, static_file
from api.partner_center.status import last_runs
from api.settings import Settings, get_settings
from api.web.deps import PublicRateLimit, SessionDep
from common.taxonomy import load_taxonomy

HERE = Path(__file__).resolve().parent
STATIC_FILES: dict[str, Path] = {
    "dashboard.css": HERE / "static" / "dashboard.css",
    "dashboard.js": HERE / "static" / "dashboard.js",
    "seat.js": HERE / "static" / "seat.js",
    "vendor/chart.umd.js": CHART_JS,
}
INGEST_PER_REQUEST = 5000
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NOTICES = {
    "correction-saved": "Correction saved. The export now uses it.",
    "replayed": "The delivery is queued again; the worker sends it within seconds.",
    "deleted": "The conversation was deleted from every store.",
    "signed-out": "You are signed out.",
}

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
DashboardId = Annotated[int, PathParam(ge=0, le=MAX_DB_ID)]


# --------------------------------------------------------------------------- helpers


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    env.filters["pct"] = lambda value: f"{float(value) * 100:.1f}%"
    env.filters["duration"] = _duration
    env.filters["bidi_safe"] = bidi_safe
    env.filters["display_url"] = display_url
    env.filters["topic"] = lambda topic: load_taxonomy().title(topic)
    return env


# Unicode's invisible text-direction controls: embeddings and overrides (U+202A-E),
# isolates (U+2066-9) and the marks (U+200E/F, U+061C). Shown raw, an override in a
# chatter's message reverses what follows it on the page ("Trojan Source"): a
# reviewer would read text that is not what was sent.
BIDI_CONTROLS = re.compile("([\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069])")
BIDI_MARKER = Markup(
    '<span class="bidi-control" title="A hidden text-direction character, shown '
    'here instead of applied">[{code}]</span>'
)


def bidi_safe(value: object) -> object:
    """Text with every bidi control character replaced by a visible `[U+202E]`
    marker (the rest escaped as usual); anything but a string is left as it is.
    For every user-supplied text the dashboard shows: ``{{ turn.text|bidi_safe }}``.
    """
    if not isinstance(value, str) or not BIDI_CONTROLS.search(value):
        return value
    # split() with a group: the controls at the odd places, the text around them.
    pieces = BIDI_CONTROLS.split(value)
    return Markup("").join(
        BIDI_MARKER.format(code=f"U+{ord(piece):04X}") if odd % 2 else escape(piece)
        for odd, piece in enumerate(pieces)
    )


def _when(value: Optional[datetime]) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _duration(seconds: Optional[int]) -> str:
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


TEMPLATES = Jinja2Templates(env=_environment())


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    context.setdefault("lead", None)
    context.setdefault("notice", NOTICES.get(request.query_params.get("notice", "")))
    context.setdefault("error", None)
    context.setdefault("nav", "")
    response = TEMPLATES.TemplateResponse(
        request, name, context, status_code=status_code
    )
    return _secure(response)


def _redirect(location: str) -> Response:
    return _secure(RedirectResponse(location, status_code=status.HTTP_303_SEE_OTHER))


def _cookie_secure(settings: Settings) -> bool:
    if settings.dashboard_cookie_secure is not None:
        return settings.dashboard_cookie_secure
    return settings.app_mode == "production"


def _ingest_new_events(source: SourceDep) -> None:
    settings = get_settings()
    if settings.dashboard_ingest_on_request:
        try_ingest(
            get_sessionmaker(), source, settings=settings, max_events=INGEST_PER_REQUEST
        )


def _conversation_or_404(session: Session, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"No conversation with id {conversation_id}.",
        )
    return conversation


def _filter_options(session: Session) -> dict[str, Any]:
    taxonomy = load_taxonomy()
    return {
        "channels": queries.distinct_channels(session),
        "partners": list(session.scalars(select(Partner).order_by(Partner.name))),
        "customers": list(
            session.scalars(select(Customer).order_by(Customer.name).limit(500))
        ),
        "topics": list(taxonomy.topics),
        "triages": [t.value for t in Triage],
        "outcomes": [o.value for o in Outcome],
    }


def _names(session: Session, conversations: list[Conversation]) -> dict[str, Any]:
    partner_ids = {c.partner_id for c in conversations if c.partner_id}
    customer_ids = {c.customer_id for c in conversations if c.customer_id}
    partners = {
        p.id: p.name
        for p in session.scalars(select(Partner).where(Partner.id.in_(partner_ids)))
    }
    customers = {
        c.id: c.name
        for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
    }
    return {"partner_names": partners, "customer_names": customers}


# --------------------------------------------------------------------------- sign-in


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
def home(request: Request, session: SessionDep) -> Response:
    """Where the signed-in user starts (an agent: the hand-off inbox)."""
    found = session_for_token(session, request.cookies.get(SESSION_COOKIE))
    return _redirect(found.home if found else "/dashboard/conversations")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, next: str = "") -> Response:
    """The sign-in form (with a double-submit CSRF cookie)."""
    target = safe_next(next) if next else ""
    found = session_for_token(session, request.cookies.get(SESSION_COOKIE))
    if found:
        return _redirect(target or found.home)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _render(
        request, "login.html", {"login_csrf": token, "next": target, "email": ""}
    )
    _set_login_csrf(response, token)
    return response


def _set_login_csrf(response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_cookie_secure(get_settings()),
        path="/dashboard",
        max_age=3600,
    )


@router.post("/login", dependencies=[PublicRateLimit])
def login(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the credentials, start a session, go where the lead was going."""
    settings = get_settings()
    target = safe_next(next) if next else ""
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not tokens_match(cookie_token, csrf_token):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="The sign-in form has expired; reload it and try again.",
        )
    try:
        user = authenticate(session, email, password)
    except AuthError as exc:
        session.commit()  # keep the failed-attempt count
        fresh = secrets.token_urlsafe(32)
        response = _render(
            request,
            "login.html",
            {"login_csrf": fresh, "next": target, "email": email, "error": str(exc)},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
        _set_login_csrf(response, fresh)
        return response
    token = start_session(
        session,
        user,
        settings=settings,
        replace_token=request.cookies.get(SESSION_COOKIE),
    )
    session.commit()
    response = _redirect(target or HOME_PAGE[user.role])
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_cookie_secure(settings),
        path="/dashboard",
        max_age=settings.dashboard_session_ttl_seconds,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/dashboard")
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    lead: SignedInDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End this session (the row is deleted, the cookie cleared)."""
    check_csrf(lead, csrf_token)
    end_session(session, request.cookies.get(SESSION_COOKIE))
    session.commit()
    response = _redirect("/dashboard/login?notice=signed-out")
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


# --------------------------------------------------------------------------- list


@router.get("/conversations", response_class=HTMLResponse)
def conversations(
    request: Request, session: SessionDep, lead: SignedInDep, source: SourceDep
) -> Response:
    """Conversations, newest first, filtered, 50 per keyset page."""
    require("review", lead)
    _ingest_new_events(source)
    params = request.query_params
    filters, errors = queries.ConversationFilters.from_params(params)
    after = queries.Cursor.decode(params.get("after"))
    before = queries.Cursor.decode(params.get("before"))
    page = queries.list_conversations(
        session,
        filters,
        after=after,
        before=before,
        limit=get_settings().dashboard_page_size,
    )
    base = filters.as_params()
    links = {
        "older": (
            "?" + urlencode({**base, "after": page.older.encode()})
            if page.older and page.items
            else None
        ),
        "newer": (
            "?" + urlencode({**base, "before": page.newer.encode()})
            if page.newer
            else None
        ),
        "first": "?" + urlencode(base) if (after or before) else None,
    }
    return _render(
        request,
        "conversations.html",
        {
            "lead": lead,
            "nav": "conversations",
            "filters": filters,
            "params": base,
            "page": page,
            "links": links,
            "errors": errors,
            "taxonomy": load_taxonomy(),
            **_filter_options(session),
            **_names(session, page.items),
        },
    )


# --------------------------------------------------------------------------- transcript


def _transcript_context(session: Session, conversation: Conversation) -> dict[str, Any]:
    taxonomy = load_taxonomy()
    turns = list(
        session.scalars(
            select(ConversationTurn)
            .where(ConversationTurn.conversation_id == conversation.id)
            .order_by(ConversationTurn.event_id)
        )
    )
    corrections = current_corrections(session, conversation.id)
    history: dict[int, int] = {}
    for row in session.scalars(
        select(Correction).where(Correction.conversation_id == conversation.id)
    ):
        history[row.event_id] = history.get(row.event_id, 0) + 1
    exchanges: list[dict[str, Any]] = []
    current: Optional[dict[str, Any]] = None
    for turn in turns:
        if turn.kind is TurnKind.USER:
            correction = corrections.get(turn.event_id)
            intent = correction.intent if correction else turn.intent
            topic = taxonomy.intent_topic.get(turn.intent or "")
            current = {
                "kind": "exchange",
                "user": turn,
                "topic": topic,
                "triage": taxonomy.topic_triage.get(topic) if topic else None,
                "correction": correction,
                "corrected_topic": (
                    taxonomy.intent_topic.get(correction.intent) if correction else None
                ),
                "corrections_count": history.get(turn.event_id, 0),
                "form_intent": intent,
                "form_text": annotate(
                    turn.text or "",
                    correction.entities if correction else turn.entities,
                ),
                "actions": [],
                "replies": [],
            }
            exchanges.append(current)
        elif turn.kind is TurnKind.ACTION:
            if current is None:
                current = {"kind": "bot_only", "actions": [], "replies": []}
                exchanges.append(current)
            current["actions"].append(turn)
        elif turn.kind in (TurnKind.BOT, TurnKind.AGENT):
            if current is None:
                current = {"kind": "bot_only", "actions": [], "replies": []}
                exchanges.append(current)
            current["replies"].append(turn)
        else:
            exchanges.append({"kind": "marker", "turn": turn})
            current = None
    partner = (
        session.get(Partner, conversation.partner_id)
        if conversation.partner_id
        else None
    )
    customer = (
        session.get(Customer, conversation.customer_id)
        if conversation.customer_id
        else None
    )
    return {
        "conversation": conversation,
        "exchanges": exchanges,
        "tickets": tickets_of(session, conversation.sender_id),
        "handoffs": handoff_periods(turns),
        "partner": partner,
        "customer": customer,
        "topics": [t.topic for t in conversation.topics],
        "intents": correctable_intents(),
        "entity_names": domain_entities(),
    }


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def transcript(
    request: Request,
    conversation_id: DashboardId,
    session: SessionDep,
    lead: SignedInDep,
    source: SourceDep,
) -> Response:
    """Every turn of one conversation, with what the bot understood and did."""
    require("review", lead)
    _ingest_new_events(source)
    conversation = _conversation_or_404(session, conversation_id)
    context = _transcript_context(session, conversation)
    return _render(
        request,
        "transcript.html",
        {"lead": lead, "nav": "conversations", **context},
    )


@router.post("/conversations/{conversation_id}/turns/{event_id}/correction")
def correct_turn(
    request: Request,
    conversation_id: DashboardId,
    event_id: DashboardId,
    session: SessionDep,
    lead: SignedInDep,
    intent: Annotated[str, Form(max_length=100)] = "",
    annotated_text: Annotated[str, Form(max_length=5000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Store a correction of one user turn (a new row; the old one stays)."""
    check_csrf(lead, csrf_token)
    require("correct", lead)
    conversation = _conversation_or_404(session, conversation_id)
    try:
        record_correction(
            session,
            conversation=conversation,
            event_id=event_id,
            intent=intent,
            annotated_text=annotated_text,
            author=lead.user,
        )
    except CorrectionError as exc:
        session.rollback()
        conversation = _conversation_or_404(session, conversation_id)
        return _render(
            request,
            "transcript.html",
            {
                "lead": lead,
                "nav": "conversations",
                "error": str(exc),
                **_transcript_context(session, conversation),
            },
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    session.commit()
    return _redirect(
        f"/dashboard/conversations/{conversation_id}?notice=correction-saved"
        f"#turn-{event_id}"
    )


@router.post("/conversations/{conversation_id}/delete")
def delete_for_privacy(
    conversation_id: DashboardId,
    session: SessionDep,
    lead: SignedInDep,
    source: SourceDep,
    confirm: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Delete a conversation from the tracker store, tickets and review tables."""
    check_csrf(lead, csrf_token)
    require("delete_conversation", lead)
    conversation = _conversation_or_404(session, conversation_id)
    if confirm != "yes":
        raise HTTPException(
            status_code=status.HTTP_400_BAD_REQUEST,
            detail="Tick the box to confirm the privacy request.",
        )
    delete_conversation(
        session, source, sender_id=conversation.sender_id, deleted_by=lead.user.email
    )
    session.commit()
    return _redirect("/dashboard/conversations?notice=deleted")


# --------------------------------------------------------------------------- corrections


@router.get("/corrections", response_class=HTMLResponse)
def corrections(request: Request, session: SessionDep, lead: SignedInDep) -> Response:
    """Current corrections (what the export contains) and the full history."""
    require("review", lead)
    taxonomy = load_taxonomy()
    current = current_corrections_all(session)
    return _render(
        request,
        "corrections.html",
        {
            "lead": lead,
            "nav": "corrections",
            "current": [
                {
                    "row": row,
                    "annotated": annotate(row.text, row.entities),
                    "topic": taxonomy.intent_topic.get(row.intent),
                }
                for row in reversed(current)
            ],
            "history": corrections_history(session),
        },
    )


@router.get("/corrections/export.yml")
def export_corrections(session: SessionDep, lead: SignedInDep) -> Response:
    """Every current correction as Rasa NLU training data (YAML)."""
    require("export", lead)
    body = export_nlu_yaml(current_corrections_all(session), generated=utcnow())
    response = PlainTextResponse(body, media_type="application/x-yaml")
    response.headers["Content-Disposition"] = (
        'attachment; filename="nlu-corrections.yml"'
    )
    return _secure(response)


# --------------------------------------------------------------------------- metrics


def _metrics_for(
    request: Request, session: Session
) -> tuple[queries.Metrics, queries.ConversationFilters, list[str]]:
    filters, errors = queries.ConversationFilters.from_params(request.query_params)
    granularity: queries.Granularity = (
        "day"
        if request.query_params.get("granularity") == "day"
        else queries.DEFAULT_GRANULARITY
    )
    return (
        queries.compute_metrics(session, filters, granularity=granularity),
        filters,
        errors,
    )


@router.get("/metrics", response_class=HTMLResponse)
def metrics(
    request: Request, session: SessionDep, lead: SignedInDep, source: SourceDep
) -> Response:
    """Containment, escalation, handoff and fallback rates, triage split, topics."""
    require("metrics", lead)
    _ingest_new_events(source)
    data, filters, errors = _metrics_for(request, session)
    chart = {
        "labels": [b.period.isoformat() for b in data.series if b.period],
        "conversations": [b.conversations for b in data.series],
        "outcomes": {
            name: [getattr(b, name) for b in data.series]
            for name in ("resolved", "escalated", "handed_off", "abandoned")
        },
        # No conversations, no rate: a gap in the line, not a fall to 0 %.
        "rates": {
            "containment": [
                b.containment_rate if b.conversations else None for b in data.series
            ],
            "escalation": [
                b.escalation_rate if b.conversations else None for b in data.series
            ],
            "handoff": [
                b.handoff_rate if b.conversations else None for b in data.series
            ],
            "fallback": [
                b.fallback_rate if b.predicted_turns else None for b in data.series
            ],
        },
        "triage": {
            "commercial": data.total.commercial,
            "technical": data.total.technical,
            "mixed": data.total.mixed,
            "none": data.total.no_triage,
        },
        "topics": {
            "labels": [load_taxonomy().title(t) for t, _ in data.top_topics],
            "counts": [n for _, n in data.top_topics],
        },
    }
    params = {
        **filters.as_params(),
        "date_from": data.date_from.isoformat(),
        "date_to": data.date_to.isoformat(),
        "granularity": data.granularity,
    }
    return _render(
        request,
        "metrics.html",
        {
            "lead": lead,
            "nav": "metrics",
            "metrics": data,
            "filters": filters,
            "errors": errors,
            "params": params,
            "csv_link": "/dashboard/metrics.csv?" + urlencode(params),
            # In a <script> element: no "</" may appear, so "<" is escaped.
            "chart_json": json.dumps(chart).replace("<", "\\u003c"),
            "chart_available": STATIC_FILES["vendor/chart.umd.js"].is_file(),
            "partner_center_runs": last_runs(session),
            **_filter_options(session),
        },
    )


@router.get("/metrics.csv")
def metrics_csv(request: Request, session: SessionDep, lead: SignedInDep) -> Response:
    """The metrics as CSV: one row per day or week, then the total."""
    require("metrics", lead)
    data, _filters, _errors = _metrics_for(request, session)
    response = PlainTextResponse(queries.metrics_csv(data), media_type="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="dashboard-metrics-{data.date_from}-{data.date_to}.csv"'
    )
    return _secure(response)


# --------------------------------------------------------------------------- webhooks

WEBHOOK_LOG_PAGE = 100


def _log_filters(params: Any) -> tuple[LogFilters, dict[str, str], list[str]]:
    """The delivery log's filters from the query string; bad values are ignored
    and reported."""
    errors: list[str] = []
    kept: dict[str, str] = {}
    wanted_status: Optional[DeliveryStatus] = None
    partner_id: Optional[int] = None
    event_type: Optional[str] = None
    if params.get("status"):
        try:
            wanted_status = DeliveryStatus(params["status"])
            kept["status"] = wanted_status.value
        except ValueError:
            errors.append("status must be pending, delivered or failed")
    if params.get("partner_id"):
        text = params["partner_id"]
        if text.isdigit() and 0 < int(text) <= MAX_DB_ID:
            partner_id = int(text)
            kept["partner_id"] = text
        else:
            errors.append("partner must be a partner's id")
    if params.get("type"):
        if params["type"] in ALL_EVENTS:
            event_type = params["type"]
            kept["type"] = event_type
        else:
            errors.append("unknown event type")
    filters = LogFilters(
        status=wanted_status, partner_id=partner_id, event_type=event_type
    )
    return filters, kept, errors


@router.get("/webhooks", response_class=HTMLResponse)
def webhook_log(request: Request, session: SessionDep, lead: SignedInDep) -> Response:
    """The helpdesk webhooks' deliveries, newest first: status, attempts, the last
    answer and error; failed ones can be replayed."""
    require("webhooks", lead)
    filters, kept, errors = _log_filters(request.query_params)
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and int(before) <= MAX_DB_ID else None
    rows = delivery_log(
        session, filters=filters, limit=WEBHOOK_LOG_PAGE, before_id=before_id
    )
    older = (
        "?" + urlencode({**kept, "before": rows[-1].id})
        if len(rows) == WEBHOOK_LOG_PAGE
        else None
    )
    partners = list(session.scalars(select(Partner).order_by(Partner.name)))
    return _render(
        request,
        "webhooks.html",
        {
            "lead": lead,
            "nav": "webhooks",
            "rows": rows,
            "params": kept,
            "errors": errors,
            "statuses": [s.value for s in DeliveryStatus],
            "event_types": list(ALL_EVENTS),
            "partners": partners,
            "partner_names": {p.id: p.name for p in partners},
            "older": older,
            "first": "?" + urlencode(kept) if before_id else None,
            "can_replay": lead.can("replay_webhooks"),
        },
    )


@router.post("/webhooks/{delivery_id}/replay")
def replay_webhook(
    delivery_id: DashboardId,
    session: SessionDep,
    lead: SignedInDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Queue a delivery again (its event keeps its webhook-id)."""
    check_csrf(lead, csrf_token)
    require("replay_webhooks", lead)
    try:
        replay_delivery(session, delivery_id)
    except ReplayError as exc:
        session.rollback()
        raise HTTPException(
            status_code=(
                status.HTTP_404_NOT_FOUND
                if "no webhook delivery" in str(exc)
                else status.HTTP_409_CONFLICT
            ),
            detail=str(exc),
        ) from exc
    session.commit()
    return _redirect(f"/dashboard/webhooks?notice=replayed#delivery-{delivery_id}")


# --------------------------------------------------------------------------- static


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    """The dashboard's CSS and JS, and Chart.js (no CDN). Only listed files."""
    path = STATIC_FILES.get(name)
    if path is None or not path.is_file():
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=(
                f"Chart.js is not built; run {BUILD_COMMAND}"
                if name.startswith("vendor/")
                else f"No static file {name!r}."
            ),
        )
    return static_file(path)


# The agent's seat: its routes live in seat.py, under this router's prefix.
router.include_router(seat.router)
