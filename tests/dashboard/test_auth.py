"""Passwords, lockout and sessions (api/dashboard/auth.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.orm import Session

from api.dashboard.auth import (
    MAX_FAILED_LOGINS,
    AuthError,
    authenticate,
    check_password,
    create_lead,
    end_session,
    hash_password,
    session_for_token,
    start_session,
    user_by_email,
    verify_password,
)
from api.domain.db import get_sessionmaker
from api.domain.models import utcnow
from api.settings import get_settings
from tests.dashboard.conftest import LEAD, TestClient, sign_in

# Made by the scrypt code this dashboard used before pwdlib, for the password
# LEGACY_PASSWORD: what a database of that time holds.
LEGACY_PASSWORD = "legacy-password-123"
LEGACY_HASH = "scrypt$16384$8$1$Y3NwLWRlc2stbGVnYWN5IQ$-yBFqEkd0JQbAP61zx8hlpsh16k6LfqxC0Ki0ndleC8"


def test_hashes_are_salted_argon2id() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)
    assert not verify_password("x", "not-a-hash")
    assert not verify_password("x", "pbkdf2$1$2$3$4$5")
    assert not verify_password("x", "scrypt$not$a$valid$hash$at-all")
    assert not verify_password("x", "$argon2id$v=19$m=19456,t=2,p=1$broken")


def test_a_legacy_scrypt_hash_still_verifies() -> None:
    assert verify_password(LEGACY_PASSWORD, LEGACY_HASH)
    assert not verify_password(LEGACY_PASSWORD + "x", LEGACY_HASH)
    assert check_password(LEGACY_PASSWORD + "x", LEGACY_HASH) == (False, None)
    matches, upgraded = check_password(LEGACY_PASSWORD, LEGACY_HASH)
    assert matches and upgraded is not None and upgraded.startswith("$argon2id$")
    assert verify_password(LEGACY_PASSWORD, upgraded)


def test_a_legacy_hash_becomes_argon2_at_the_next_sign_in(
    db_session: Session,
) -> None:
    user = create_lead(db_session, "old@example.com", "placeholder-pw", "lead")
    user.password_hash = LEGACY_HASH  # as a database of that time holds it
    db_session.flush()
    with pytest.raises(AuthError):  # a wrong password changes nothing
        authenticate(db_session, "old@example.com", "wrong-password-1")
    assert user.password_hash == LEGACY_HASH
    assert authenticate(db_session, "old@example.com", LEGACY_PASSWORD) is user
    assert user.password_hash.startswith("$argon2id$")
    upgraded = user.password_hash
    assert authenticate(db_session, "old@example.com", LEGACY_PASSWORD) is user
    assert user.password_hash == upgraded  # argon2 at today's cost: left alone


def test_an_argon2_hash_of_an_older_cost_is_rehashed(db_session: Session) -> None:
    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),))
    user = create_lead(db_session, "cheap@example.com", "placeholder-pw", "lead")
    user.password_hash = cheap.hash("cheap-password-1")
    authenticate(db_session, "cheap@example.com", "cheap-password-1")
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


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


def test_signing_in_through_the_form_stores_the_upgrade(
    anonymous: TestClient,
) -> None:
    with get_sessionmaker()() as session:
        lead = user_by_email(session, LEAD[0])
        assert lead is not None
        lead.password_hash = LEGACY_HASH
        session.commit()
    sign_in(anonymous, LEAD[0], LEGACY_PASSWORD)
    with get_sessionmaker()() as session:
        lead = user_by_email(session, LEAD[0])
        assert lead is not None and lead.password_hash.startswith("$argon2id$")
        assert verify_password(LEGACY_PASSWORD, lead.password_hash)
