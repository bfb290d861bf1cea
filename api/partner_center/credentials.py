"""A partner's app+user refresh token, stored encrypted.

The token a partner's user gave by consenting (`csp-desk partner-center consent`)
is a long-lived credential: it is kept only encrypted (Fernet: AES-128-CBC with an
HMAC, from `cryptography`) with the key PARTNER_CENTER_TOKEN_KEY, which lives in the
environment like every other secret (`csp-desk partner-center new-key` makes one).
Without the key nothing is stored, and a token encrypted under another key is
reported rather than used. Partner Center rotates the refresh token on use; the
new one replaces the old.
"""

from __future__ import annotations

from typing import Optional

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.domain.models import Partner, PartnerCenterCredential
from api.partner_center.errors import PartnerCenterConfigError
from api.settings import Settings


def new_key() -> str:
    """A new PARTNER_CENTER_TOKEN_KEY."""
    return Fernet.generate_key().decode("ascii")


def _fernet(settings: Settings) -> Fernet:
    key = settings.partner_center_token_key.strip()
    if not key:
        raise PartnerCenterConfigError(
            "PARTNER_CENTER_TOKEN_KEY is not set: app+user refresh tokens are only "
            "stored encrypted (`csp-desk partner-center new-key` makes a key)"
        )
    try:
        return Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise PartnerCenterConfigError(
            "PARTNER_CENTER_TOKEN_KEY is not a Fernet key (32 url-safe base64 bytes; "
            "`csp-desk partner-center new-key` makes one)"
        ) from None


def store_refresh_token(
    session: Session,
    partner: Partner,
    refresh_token: str,
    settings: Settings,
    account: Optional[str] = None,
) -> None:
    """Keep `refresh_token` for `partner`, encrypted (replacing any earlier one)."""
    token = refresh_token.strip()
    if not token:
        raise PartnerCenterConfigError("the refresh token is empty")
    encrypted = _fernet(settings).encrypt(token.encode("utf-8")).decode("ascii")
    row = session.scalar(
        select(PartnerCenterCredential).where(
            PartnerCenterCredential.partner_id == partner.id
        )
    )
    if row is None:
        session.add(
            PartnerCenterCredential(
                partner_id=partner.id,
                encrypted_refresh_token=encrypted,
                account=account,
            )
        )
        return
    row.encrypted_refresh_token = encrypted
    if account:
        row.account = account


def load_refresh_token(
    session: Session, partner: Partner, settings: Settings
) -> Optional[str]:
    """The partner's refresh token in clear, or None when none is stored.

    Raises:
        PartnerCenterConfigError: One is stored but cannot be decrypted with the
            current PARTNER_CENTER_TOKEN_KEY.
    """
    row = session.scalar(
        select(PartnerCenterCredential).where(
            PartnerCenterCredential.partner_id == partner.id
        )
    )
    if row is None:
        return None
    try:
        return (
            _fernet(settings)
            .decrypt(row.encrypted_refresh_token.encode("ascii"))
            .decode("utf-8")
        )
    except InvalidToken:
        raise PartnerCenterConfigError(
            f"the stored app+user token of {partner.slug!r} does not decrypt with "
            "PARTNER_CENTER_TOKEN_KEY (the key changed?): run `csp-desk "
            "partner-center consent` again"
        ) from None
