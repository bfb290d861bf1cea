"""Typed dependencies of the dashboard's pages: who is signed in, what they may do,
the CSRF check, and the transcript source.

Pages (GET) without a session redirect to the sign-in page; form posts without one
get 401. A missing permission is 403, a wrong or missing CSRF token too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from api.dashboard.auth import SESSION_COOKIE, SignedIn, session_for_token, tokens_match
from api.dashboard.transcripts import TranscriptSource, transcript_source
from api.settings import get_settings
from api.web.deps import SessionDep

LOGIN_PATH = "/dashboard/login"


def safe_next(target: str | None) -> str:
    """A local dashboard path to go back to after signing in (never elsewhere)."""
    if (
        target
        and target.startswith("/dashboard")
        and not target.startswith("//")
        and "\\" not in target
        and "\n" not in target
        and "\r" not in target
    ):
        return target
    return "/dashboard/conversations"


def signed_in(request: Request, session: SessionDep) -> SignedIn:
    """The signed-in lead; redirects pages to the sign-in form, refuses posts."""
    found = session_for_token(session, request.cookies.get(SESSION_COOKIE))
    if found is not None:
        return found
    if request.method in ("GET", "HEAD"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(
            status_code=status.HTTP_303_SEE_OTHER,
            detail="Sign in first.",
            headers={"Location": f"{LOGIN_PATH}?next={quote(safe_next(here))}"},
        )
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail="Sign in first."
    )


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


def require(permission: str, lead: SignedIn) -> None:
    """403 unless the signed-in user's role grants ``permission``."""
    if not lead.can(permission):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"Your role ({lead.user.role.value}) may not {permission}.",
        )


def check_csrf(lead: SignedIn, given: str | None) -> None:
    """403 unless the form carried this session's CSRF token."""
    if not tokens_match(lead.csrf_token, given):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="The form has expired or did not come from this site; reload it.",
        )


@lru_cache
def default_transcript_source() -> TranscriptSource:
    """The transcript source named by the settings (cached; tests clear the cache):
    the event broker's copy in production, else Rasa's tracker store."""
    return transcript_source(get_settings())


def get_transcript_source() -> TranscriptSource:
    return default_transcript_source()


SourceDep = Annotated[TranscriptSource, Depends(get_transcript_source)]
