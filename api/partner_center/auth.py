"""Microsoft Entra ID tokens for the Partner Center API, through MSAL.

Partner Center takes two kinds of credentials (partner-center/developer/
partner-center-authentication):

- **app-only**: the partner's app registration signs in as itself (client
  credentials, scope `https://api.partnercenter.microsoft.com/.default`). Enough
  for what the sync reads: customers, their subscriptions and orders, the invoice
  collection and invoice line items all document "standalone App and App+User".
- **app+user**: a user of the partner consented once (`csp-desk partner-center
  consent`, multi-factor authentication required by the Secure Application Model);
  the refresh token it gave is stored encrypted (`credentials.py`) and exchanged
  for an access token (scope `.../user_impersonation`) when needed. Of the calls
  the sync makes, `GET /v1/invoices/{id}` documents "App+User credentials only":
  it uses the stored token when there is one, otherwise the app-only token, and a
  refusal then only costs the invoice's PDF link (the collection has the rest).

The token endpoint is `{PARTNER_CENTER_AUTHORITY}/{tenant}/oauth2/v2.0/token`;
MSAL's instance discovery is off so that another authority (a national cloud, a
test double) can be named. MSAL talks through the client's own HTTP client, so
it trusts the same certificates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import httpx
import msal

from api.domain.models import Partner
from api.partner_center.errors import PartnerCenterAuthError, PartnerCenterConfigError
from api.settings import Settings

RESOURCE = "https://api.partnercenter.microsoft.com"
APP_SCOPE = f"{RESOURCE}/.default"
USER_SCOPE = f"{RESOURCE}/user_impersonation"


@dataclass(frozen=True)
class AppRegistration:
    """The partner's Entra app registration for Partner Center."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)


def registration_for(
    partner: Partner, settings: Settings, environ: Optional[Mapping[str, str]] = None
) -> AppRegistration:
    """The app registration of `partner`: its profile's `partner_center` section,
    each value overridden by PARTNER_CENTER_TENANT_ID / _CLIENT_ID / _CLIENT_SECRET
    when set. The secret is read from the environment variable the profile names.

    Raises:
        PartnerCenterConfigError: Something is missing, with what to set.
    """
    env = os.environ if environ is None else environ
    tenant = settings.partner_center_tenant_id.strip() or (
        partner.partner_center_tenant_id or ""
    )
    client = settings.partner_center_client_id.strip() or (
        partner.partner_center_client_id or ""
    )
    secret = settings.partner_center_client_secret.strip()
    secret_env = partner.partner_center_secret_env or ""
    if not secret and secret_env:
        secret = (env.get(secret_env) or "").strip()
    missing = []
    if not tenant:
        missing.append(
            "the tenant id (profile partner_center.tenant_id or PARTNER_CENTER_TENANT_ID)"
        )
    if not client:
        missing.append(
            "the client id (profile partner_center.client_id or PARTNER_CENTER_CLIENT_ID)"
        )
    if not secret:
        where = (
            f"the environment variable {secret_env}"
            if secret_env
            else "profile partner_center.client_secret_env"
        )
        missing.append(f"the client secret ({where} or PARTNER_CENTER_CLIENT_SECRET)")
    if missing:
        raise PartnerCenterConfigError(
            f"partner {partner.slug!r} has no complete Partner Center app "
            f"registration: missing {'; '.join(missing)}"
        )
    return AppRegistration(tenant_id=tenant, client_id=client, client_secret=secret)


OPENID_CONFIGURATION = "/v2.0/.well-known/openid-configuration"


class _MsalHttp:
    """MSAL's HTTP client (its `get`/`post` shape) over our httpx client.

    MSAL first reads the authority's OpenID configuration to find the token
    endpoint. An authority that does not publish one (404) is taken to have Entra
    ID's documented endpoints, `{authority}/{tenant}/oauth2/v2.0/token` and
    `.../authorize`.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def get(
        self,
        url: str,
        params: Any = None,
        headers: Optional[dict[str, str]] = None,
        **_: Any,
    ) -> httpx.Response:
        response = self._client.get(url, params=params, headers=headers)
        if response.status_code == 404 and url.endswith(OPENID_CONFIGURATION):
            base = url[: -len(OPENID_CONFIGURATION)]
            return httpx.Response(
                200,
                json={
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                },
                request=response.request,
            )
        return response

    def post(
        self,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Optional[dict[str, str]] = None,
        **_: Any,
    ) -> httpx.Response:
        if isinstance(data, (str, bytes)):
            return self._client.post(url, params=params, content=data, headers=headers)
        return self._client.post(url, params=params, data=data, headers=headers)

    def close(self) -> None:
        """The client belongs to the Partner Center client, which closes it."""


def confidential_app(
    registration: AppRegistration, authority: str, http: httpx.Client
) -> msal.ConfidentialClientApplication:
    """MSAL's confidential client for the registration, at `authority`/tenant."""
    try:
        return msal.ConfidentialClientApplication(
            registration.client_id,
            client_credential=registration.client_secret,
            authority=f"{authority.rstrip('/')}/{registration.tenant_id}",
            instance_discovery=False,
            http_client=_MsalHttp(http),
            token_cache=msal.TokenCache(),
        )
    except (ValueError, httpx.HTTPError) as exc:
        raise PartnerCenterAuthError(
            f"cannot reach the authority {authority}/{registration.tenant_id} "
            f"(its OpenID configuration): {exc}"
        ) from None


class TokenSource:
    """Access tokens for one app registration: app-only, and app+user from a
    stored refresh token. MSAL caches them until shortly before they expire."""

    def __init__(
        self,
        registration: AppRegistration,
        *,
        authority: str,
        http: httpx.Client,
        refresh_token: Optional[str] = None,
        on_refresh_token: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.registration = registration
        self.authority = authority.rstrip("/")
        self._http = http
        self._app: Optional[msal.ConfidentialClientApplication] = None
        self._refresh_token = refresh_token
        self._on_refresh_token = on_refresh_token
        self._user_token: Optional[str] = None

    @property
    def has_user(self) -> bool:
        return bool(self._refresh_token)

    def app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            self._app = confidential_app(self.registration, self.authority, self._http)
        return self._app

    def app_token(self) -> str:
        """An app-only access token."""
        try:
            result = self.app().acquire_token_for_client(scopes=[APP_SCOPE])
        except httpx.HTTPError as exc:
            raise PartnerCenterAuthError(
                f"cannot reach the token endpoint of {self.authority}: {exc}"
            ) from None
        return self._token(result, "app-only")

    def user_token(self) -> Optional[str]:
        """An app+user access token, or None when no user ever consented."""
        if not self._refresh_token:
            return None
        if self._user_token is None:
            try:
                result = self.app().acquire_token_by_refresh_token(
                    self._refresh_token, scopes=[USER_SCOPE]
                )
            except httpx.HTTPError as exc:
                raise PartnerCenterAuthError(
                    f"cannot reach the token endpoint of {self.authority}: {exc}"
                ) from None
            self._user_token = self._token(result, "app+user")
            rotated = result.get("refresh_token")
            if rotated and rotated != self._refresh_token:
                self._refresh_token = rotated
                if self._on_refresh_token is not None:
                    self._on_refresh_token(rotated)
        return self._user_token

    def _token(self, result: Optional[dict[str, Any]], kind: str) -> str:
        if result and result.get("access_token"):
            return str(result["access_token"])
        result = result or {}
        error = result.get("error") or "no token"
        description = str(result.get("error_description") or "").splitlines()
        detail = f": {description[0]}" if description else ""
        hint = (
            " Run `csp-desk partner-center consent` again."
            if kind == "app+user"
            else " Check the tenant, client id and secret of the app registration."
        )
        raise PartnerCenterAuthError(
            f"the {kind} token was refused by {self.authority}/"
            f"{self.registration.tenant_id}: {error}{detail}.{hint}"
        )
