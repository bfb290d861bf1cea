"""Sign-in for support leads: argon2 passwords, server-side sessions, CSRF tokens.

* Passwords: pwdlib's Argon2 hasher (argon2id, OWASP's minimum cost), stored
  in argon2's own encoded format with its parameters. Hashes from before, scrypt as
  ``scrypt$N$r$p$salt$hash``, still verify, and are rewritten as argon2 at that
  user's next successful sign-in (pwdlib's ``verify_and_update``); the same happens
  when the argon2 cost is raised.
* Sessions: the cookie holds 32 random bytes; ``dashboard_sessions`` keeps only
  their SHA-256, a CSRF token and an expiry. Signing in replaces any session the
  browser had; signing out deletes the row.
* CSRF: every POST form carries the session's token; the sign-in form, which has no
  session yet, uses a double-submit cookie.
* Ten wrong passwords in a row lock the account for 15 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Optional

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.base import ensure_bytes, ensure_str
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.dashboard.models import DashboardRole, DashboardSession, DashboardUser
from api.domain.models import Partner, utcnow
from api.settings import Settings

# The legacy scrypt format's cost (new hashes are argon2).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 12
MAX_FAILED_LOGINS = 10
LOCKOUT = timedelta(minutes=15)

SESSION_COOKIE = "csp_dashboard_session"
LOGIN_CSRF_COOKIE = "csp_dashboard_login_csrf"

# What each role may do. Leads review and correct, see the helpdesk webhooks'
# delivery log and may answer handed-off chats; admins also delete conversations on
# privacy requests and replay webhook deliveries; agents only answer handed-off
# chats (the hand-off inbox), of their own partner when they have one.
ROLE_PERMISSIONS: dict[DashboardRole, frozenset[str]] = {
    DashboardRole.LEAD: frozenset(
        {"review", "correct", "export", "metrics", "webhooks", "answer_chats"}
    ),
    DashboardRole.ADMIN: frozenset(
        {
            "review",
            "correct",
            "export",
            "metrics",
            "webhooks",
            "delete_conversation",
            "replay_webhooks",
            "answer_chats",
        }
    ),
    DashboardRole.AGENT: frozenset({"answer_chats"}),
}
# Where each role lands after signing in.
HOME_PAGE: dict[DashboardRole, str] = {
    DashboardRole.LEAD: "/dashboard/conversations",
    DashboardRole.ADMIN: "/dashboard/conversations",
    DashboardRole.AGENT: "/dashboard/inbox",
}


class AuthError(ValueError):
    """Sign-in refused or a user that cannot be created."""


class LegacyScryptHasher:
    """pwdlib hasher for the ``scrypt$N$r$p$salt$hash`` hashes this dashboard stored
    before it used pwdlib, so that those users can still sign in (and be moved to
    argon2 there). pwdlib ships no scrypt hasher; hashlib's scrypt with the stored
    parameters is the whole of it. `hash` makes the old format, for tests only."""

    PREFIX = "scrypt$"

    @classmethod
    def identify(cls, hash: str | bytes) -> bool:
        return ensure_str(hash).startswith(cls.PREFIX)

    def hash(self, password: str | bytes, *, salt: Optional[bytes] = None) -> str:
        salt = salt or secrets.token_bytes(16)
        digest = self._scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
        return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        try:
            _scheme, n, r, p, salt, digest = ensure_str(hash).split("$")
            expected = _unb64(digest)
            actual = self._scrypt(
                password, _unb64(salt), int(n), int(r), int(p), len(expected)
            )
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(actual, expected)

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        return True  # always: argon2 replaces it

    @staticmethod
    def _scrypt(
        password: str | bytes, salt: bytes, n: int, r: int, p: int, length: int
    ) -> bytes:
        return hashlib.scrypt(
            ensure_bytes(password),
            salt=salt,
            n=n,
            r=r,
            p=p,
            maxmem=SCRYPT_MAXMEM,
            dklen=length,
        )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): argon2-cffi's
# default (64 MiB, 3 passes, 4 lanes) cost about ten times as much per sign-in on a
# 2-core host, and every test that creates a user pays it. A hash made at another
# cost is rewritten at this one on the next sign-in.
ARGON2 = Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# The first hasher makes every new hash; the others only verify old ones.
PASSWORDS = PasswordHash((ARGON2, LegacyScryptHasher()))


def hash_password(password: str) -> str:
    """An argon2 hash of ``password``, with its salt and parameters."""
    return PASSWORDS.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (argon2, or a legacy scrypt hash)."""
    return check_password(password, stored)[0]


def check_password(password: str, stored: str) -> tuple[bool, Optional[str]]:
    """Whether ``password`` matches ``stored``, and the hash to store instead when
    ``stored`` is legacy scrypt or argon2 with an old cost (else None)."""
    try:
        return PASSWORDS.verify_and_update(password, stored)
    except UnknownHashError:
        return False, None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown, so that a wrong e-mail
    takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_lead(
    session: Session,
    email: str,
    password: str,
    role: str | DashboardRole = DashboardRole.LEAD,
    *,
    name: str = "",
    partner_id: Optional[int] = None,
) -> DashboardUser:
    """Create a dashboard user (role ``lead``, ``admin`` or ``agent``); the caller
    commits. ``name`` is what customers see on an agent's messages; an agent with
    ``partner_id`` answers only that partner's chats.

    Raises ``AuthError`` for a malformed e-mail, a password shorter than 12
    characters, an unknown role or partner, or an e-mail that already has a user.
    """
    email = normalize_email(email)
    if "@" not in email or len(email) > 200 or email.startswith("@"):
        raise AuthError(f"not an e-mail address: {email!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    try:
        role = DashboardRole(role)
    except ValueError:
        raise AuthError(
            f"unknown role {role!r}; use one of "
            + ", ".join(r.value for r in DashboardRole)
        ) from None
    if user_by_email(session, email) is not None:
        raise AuthError(f"{email} already has a dashboard user")
    if partner_id is not None and session.get(Partner, partner_id) is None:
        raise AuthError(f"no partner with id {partner_id}")
    user = DashboardUser(
        email=email,
        name=(name or email.split("@", 1)[0]).strip()[:200],
        role=role,
        partner_id=partner_id,
        password_hash=hash_password(password),
        active=True,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def set_password(user: DashboardUser, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None


def user_by_email(session: Session, email: str) -> Optional[DashboardUser]:
    return session.scalars(
        select(DashboardUser).where(DashboardUser.email == normalize_email(email))
    ).first()


def authenticate(
    session: Session, email: str, password: str, *, now: Optional[datetime] = None
) -> DashboardUser:
    """The active user with these credentials; ``AuthError`` otherwise (one message
    for every reason, so the form does not tell which e-mails exist)."""
    now = now or utcnow()
    refused = AuthError("wrong e-mail or password, or the account is locked")
    user = user_by_email(session, email)
    if user is None:
        verify_password(password, _dummy_hash())
        raise refused
    if user.locked_until is not None and user.locked_until > now:
        verify_password(password, _dummy_hash())
        raise refused
    matches, upgraded = check_password(password, user.password_hash)
    if not matches or not user.active:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        raise refused
    if upgraded is not None:
        user.password_hash = upgraded
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


# --------------------------------------------------------------------------- sessions


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A valid session and its user."""

    user: DashboardUser
    session: DashboardSession

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.user.role, frozenset())

    @property
    def agent_key(self) -> str:
        """How a hand-off names this user while they hold it."""
        return f"dashboard:{self.user.id}"

    @property
    def home(self) -> str:
        return HOME_PAGE.get(self.user.role, "/dashboard/conversations")

    def sees_partner(self, partner_id: Optional[int]) -> bool:
        """Whether this user may see a chat of `partner_id` (agents of a partner
        see only its chats)."""
        return self.user.partner_id is None or self.user.partner_id == partner_id


def start_session(
    session: Session,
    user: DashboardUser,
    *,
    settings: Settings,
    replace_token: Optional[str] = None,
    now: Optional[datetime] = None,
) -> str:
    """Create a session for ``user``; return the cookie value (shown only once)."""
    now = now or utcnow()
    if replace_token:
        end_session(session, replace_token)
    # Sweep this user's expired sessions while we are here.
    session.execute(
        delete(DashboardSession).where(
            DashboardSession.user_id == user.id, DashboardSession.expires_at <= now
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        DashboardSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.dashboard_session_ttl_seconds),
        )
    )
    session.flush()
    return token


def session_for_token(
    session: Session, token: Optional[str], *, now: Optional[datetime] = None
) -> Optional[SignedIn]:
    """The signed-in user of a cookie value, or None (unknown, expired, inactive)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.scalars(
        select(DashboardSession).where(DashboardSession.token_hash == token_hash(token))
    ).first()
    if row is None or row.expires_at <= now or not row.user.active:
        return None
    return SignedIn(user=row.user, session=row)


def end_session(session: Session, token: Optional[str]) -> None:
    if token:
        session.execute(
            delete(DashboardSession).where(
                DashboardSession.token_hash == token_hash(token)
            )
        )


def tokens_match(expected: Optional[str], given: Optional[str]) -> bool:
    """Constant-time comparison of two CSRF tokens; empty never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
