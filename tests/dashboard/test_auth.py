"""Passwords, lockout and sessions (api/dashboard/auth.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from api.dashboard.auth import (
    MAX_FAILED_LOGINS,
    AuthError,
    authenticate,
    create_lead,
    end_session,
    hash_password,
    session_for_token,
    start_session,
    verify_password,
)
from api.domain.models import utcnow
from api.settings import get_settings


def test_hashes_are_salted_scrypt() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)
    assert not verify_password("x", "not-a-hash")
    assert not verify_password("x", "pbkdf2$1$2$3$4$5")


def test_create_lead_checks(db_session: Session) -> None:
    user = create_lead(db_session, " Lead@Example.com ", "twelve-chars", "lead")
    assert user.email == "lead@example.com" and "twelve" not in user.password_hash
    with pytest.raises(AuthError, match="already"):
        create_lead(db_session, "lead@example.com", "twelve-chars", "lead")
    with pytest.raises(AuthError, match="12 characters"):
        create_lead(db_session, "b@example.com", "short", "lead")
    with pytest.raises(AuthError, match="unknown role"):
        create_lead(db_session, "b@example.com", "twelve-chars", "owner")
    with pytest.raises(AuthError, match="e-mail"):
        create_lead(db_session, "nobody", "twelve-chars", "lead")


def test_lockout_after_repeated_failures(db_session: Session) -> None:
    create_lead(db_session, "l@example.com", "twelve-chars", "lead")
    now = utcnow()
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthError):
            authenticate(db_session, "l@example.com", "wrong-password", now=now)
    with pytest.raises(AuthError):  # locked, even with the right password
        authenticate(db_session, "l@example.com", "twelve-chars", now=now)
    later = now + timedelta(minutes=16)
    assert authenticate(db_session, "l@example.com", "twelve-chars", now=later)


def test_inactive_users_cannot_sign_in_or_use_sessions(db_session: Session) -> None:
    user = create_lead(db_session, "l@example.com", "twelve-chars", "lead")
    token = start_session(db_session, user, settings=get_settings())
    assert session_for_token(db_session, token) is not None
    user.active = False
    assert session_for_token(db_session, token) is None
    with pytest.raises(AuthError):
        authenticate(db_session, "l@example.com", "twelve-chars")
    user.active = True
    end_session(db_session, token)
    assert session_for_token(db_session, token) is None
    assert session_for_token(db_session, "") is None


def test_roles() -> None:
    from api.dashboard.auth import ROLE_PERMISSIONS
    from api.dashboard.models import DashboardRole

    assert "delete_conversation" not in ROLE_PERMISSIONS[DashboardRole.LEAD]
    assert "delete_conversation" in ROLE_PERMISSIONS[DashboardRole.ADMIN]
    assert ROLE_PERMISSIONS[DashboardRole.LEAD] < ROLE_PERMISSIONS[DashboardRole.ADMIN]
