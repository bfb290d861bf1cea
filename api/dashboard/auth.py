"""Sign-in for support leads: scrypt passwords, server-side sessions, CSRF tokens.

* Passwords: ``hashlib.scrypt`` (N=2**14, r=8, p=1, 16-byte salt), stored as
  ``scrypt$N$r$p$salt$hash`` so the cost can be raised later; verification is
  constant-time and re-hashes nothing.
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

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.dashboard.models import DashboardRole, DashboardSession, DashboardUser
from api.domain.models import utcnow
from api.settings import Settings

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_DKLEN = 32
SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 12
MAX_FAILED_LOGINS = 10
LOCKOUT = timedelta(minutes=15)

SESSION_COOKIE = "csp_dashboard_session"
LOGIN_CSRF_COOKIE = "csp_dashboard_login_csrf"

# What each role may do. Leads review and correct; admins also delete
# conversations on privacy requests.
ROLE_PERMISSIONS: dict[DashboardRole, frozenset[str]] = {
    DashboardRole.LEAD: frozenset({"review", "correct", "export", "metrics"}),
    DashboardRole.ADMIN: frozenset(
        {"review", "correct", "export", "metrics", "delete_conversation"}
    ),
}


class AuthError(ValueError):
    """Sign-in refused or a user that cannot be created."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: Optional[bytes] = None) -> str:
    """An scrypt hash of ``password`` in the ``scrypt$N$r$p$salt$hash`` format."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=SCRYPT_DKLEN,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


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
) -> DashboardUser:
    """Create a dashboard user (role ``lead`` or ``admin``); the caller commits.

    Raises ``AuthError`` for a malformed e-mail, a password shorter than 12
    characters, an unknown role, or an e-mail that already has a user.
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
    user = DashboardUser(
        email=email,
        name=name or email.split("@", 1)[0],
        role=role,
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
    if not verify_password(password, user.password_hash) or not user.active:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        raise refused
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
