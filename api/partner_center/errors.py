"""What goes wrong talking to Partner Center, as errors whose text is one line an
operator can act on (it names the call and its MS-RequestId / MS-CorrelationId)."""

from __future__ import annotations

from typing import Optional


class PartnerCenterError(Exception):
    """A Partner Center call, or getting its token, failed."""

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        request_id: Optional[str] = None,
        correlation_id: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.correlation_id = correlation_id


class PartnerCenterAuthError(PartnerCenterError):
    """No token, or Partner Center refused it (401) or the call (403)."""


class PartnerCenterConfigError(PartnerCenterError):
    """The partner's app registration is missing or incomplete."""
