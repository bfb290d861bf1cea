"""The Partner Center REST API, as the sync reads it.

    with PartnerCenterClient.for_partner(partner, settings) as pc:
        for customer in pc.customers():
            ...

Every call goes over HTTPS (the API and the authority must be https:// URLs, the
settings refuse anything else), trusting the system's CA bundle plus the files
named by REQUESTS_CA_BUNDLE and SSL_CERT_FILE, so that a test double with its own
certificate authority can stand in for Microsoft.

Each call carries a new MS-RequestId (kept when the call is retried, as the REST
headers page asks) and the client's MS-CorrelationId (one per client, i.e. per sync
run, so that Microsoft support can find every call of a run); both are logged with
the status Partner Center answered. A 429 waits what its Retry-After says (seconds
or an HTTP date), a 5xx or a broken connection backs off exponentially, each up to
PARTNER_CENTER_MAX_RETRIES times; a 401 or 403 is never retried. `_failure` is the
one place where an answer that is not a success becomes a `PartnerCenterError`
whose text says what happened and how to find the call again.

Collections are followed through `links.next`, sending the headers that link
names (the `MS-ContinuationToken` of seek-based paging).
"""

from __future__ import annotations

import logging
import os
import ssl
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Optional
from urllib.parse import quote, urlsplit

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from api.partner_center.auth import AppRegistration, TokenSource
from api.partner_center.errors import PartnerCenterAuthError, PartnerCenterError
from api.settings import Settings

logger = logging.getLogger(__name__)

APPLICATION_NAME = "csp-billing-desk"
CONTINUATION_HEADER = "MS-ContinuationToken"


def ssl_context(environ: Optional[Mapping[str, str]] = None) -> ssl.SSLContext:
    """A TLS context that trusts the system's CA bundle and the bundles named by
    REQUESTS_CA_BUNDLE and SSL_CERT_FILE (files or folders)."""
    env = os.environ if environ is None else environ
    context = ssl.create_default_context()
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = (env.get(name) or "").strip()
        if not value:
            continue
        path = Path(value)
        try:
            if path.is_dir():
                context.load_verify_locations(capath=str(path))
            else:
                context.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise PartnerCenterError(
                f"{name}={value} cannot be read as CA certificates: {exc}"
            ) from None
    return context


def retry_after_seconds(value: Optional[str], now: Optional[datetime] = None) -> float:
    """Retry-After as seconds to wait: a number of seconds or an HTTP date."""
    if not value:
        return 0.0
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def error_detail(response: httpx.Response) -> str:
    """What Partner Center's error body says (`code`, `description`; the throttling
    body's `message`), in one line."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()
        return text[0][:300] if text else ""
    if not isinstance(body, dict):
        return ""
    code = body.get("code") or body.get("errorCode") or body.get("error")
    description = (
        body.get("description")
        or body.get("errorMessage")
        or body.get("message")
        or body.get("error_description")
    )
    parts = [str(part) for part in (code, description) if part not in (None, "")]
    return ": ".join(parts)[:500]


class _Retry(Exception):
    """An answer worth another try (429, 5xx) or a broken connection."""

    def __init__(
        self,
        response: Optional[httpx.Response] = None,
        error: Optional[Exception] = None,
    ) -> None:
        super().__init__(
            str(error) if error else f"HTTP {response and response.status_code}"
        )
        self.response = response
        self.error = error


@dataclass
class CallLog:
    """What the client did, for tests and the sync's report."""

    calls: int = 0
    retries: int = 0
    waits: list[float] = field(default_factory=list)


class PartnerCenterClient:
    """A session with the Partner Center REST API for one partner."""

    def __init__(
        self,
        registration: AppRegistration,
        settings: Settings,
        *,
        refresh_token: Optional[str] = None,
        on_refresh_token: Optional[Callable[[str], None]] = None,
        sleep: Optional[Callable[[float], None]] = None,
        correlation_id: Optional[str] = None,
    ) -> None:
        self.base_url = settings.partner_center_api_url.rstrip("/")
        if urlsplit(self.base_url).scheme != "https":
            raise PartnerCenterError(
                f"PARTNER_CENTER_API_URL must be https://, not {self.base_url}"
            )
        self.settings = settings
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self.log = CallLog()
        self._sleep = sleep
        self._http = httpx.Client(
            verify=ssl_context(),
            timeout=settings.partner_center_timeout_seconds,
            follow_redirects=False,
        )
        self.tokens = TokenSource(
            registration,
            authority=settings.partner_center_authority,
            http=self._http,
            refresh_token=refresh_token,
            on_refresh_token=on_refresh_token,
        )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PartnerCenterClient:
        return self

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ the API

    def customers(self) -> Iterator[dict[str, Any]]:
        """Every customer of the partner (GET /v1/customers, seek-based paging)."""
        return self.collection(
            "/v1/customers", {"size": self.settings.partner_center_page_size}
        )

    def subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        """A customer's subscriptions (GET /v1/customers/{id}/subscriptions)."""
        return list(
            self.collection(f"/v1/customers/{_segment(customer_id)}/subscriptions")
        )

    def orders(self, customer_id: str) -> list[dict[str, Any]]:
        """A customer's orders (GET /v1/customers/{id}/orders)."""
        return list(self.collection(f"/v1/customers/{_segment(customer_id)}/orders"))

    def invoices(self) -> Iterator[dict[str, Any]]:
        """Microsoft's invoices to the partner (GET /v1/invoices)."""
        return self.collection(
            "/v1/invoices",
            {"size": self.settings.partner_center_page_size, "offset": 0},
        )

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        """One invoice (GET /v1/invoices/{id}); Partner Center documents this call
        for app+user credentials only: the stored refresh token is used when there
        is one."""
        return self.get_json(f"/v1/invoices/{_segment(invoice_id)}", user=True)

    def invoice_line_items(
        self, invoice_id: str, provider: str, line_item_type: str
    ) -> Iterator[dict[str, Any]]:
        """The line items of one of an invoice's details
        (GET /v1/invoices/{id}/lineitems?provider=..&invoicelineitemtype=..)."""
        return self.collection(
            f"/v1/invoices/{_segment(invoice_id)}/lineitems",
            {
                "provider": provider,
                "invoicelineitemtype": line_item_type,
                "size": max(self.settings.partner_center_page_size, 200),
            },
        )

    def support_topics(self) -> list[dict[str, Any]]:
        """The topics a service request can be filed under
        (GET /v1/servicerequests/supporttopics)."""
        return list(self.collection("/v1/servicerequests/supporttopics"))

    def service_requests(self) -> Iterator[dict[str, Any]]:
        """The partner's service requests (GET /v1/servicerequests)."""
        return self.collection("/v1/servicerequests")

    def service_request(self, request_id: str) -> dict[str, Any]:
        """One service request (GET /v1/servicerequests/{id})."""
        return self.get_json(f"/v1/servicerequests/{_segment(request_id)}", user=True)

    def file_service_request(
        self, agent_locale: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """File a service request (POST /v1/servicerequests/{agentLocale}).

        Not idempotent: only a 429 (Partner Center did not take the call) is
        retried; a 5xx or a broken connection raises at once, because the request
        may have been filed; the caller looks for it before filing again."""
        return self.post_json(
            f"/v1/servicerequests/{_segment(agent_locale)}", body, user=True
        )

    # ------------------------------------------------------------------ plumbing

    def url(self, uri: str) -> str:
        """An absolute URL for a path or for a link Partner Center gave
        (`/customers?...`, `/v1/customers?...` or a full https URL)."""
        if "://" in uri:
            if urlsplit(uri).scheme != "https":
                raise PartnerCenterError(
                    f"Partner Center gave a link that is not https: {uri}"
                )
            return uri
        path = uri if uri.startswith("/") else f"/{uri}"
        if not path.lower().startswith("/v1/"):
            path = f"/v1{path}"
        return f"{self.base_url}{path}"

    def collection(
        self, path: str, params: Optional[dict[str, Any]] = None
    ) -> Iterator[dict[str, Any]]:
        """The items of a collection, page after page through `links.next`."""
        url: str = self.url(path)
        query: Optional[dict[str, Any]] = params
        headers: dict[str, str] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        while True:
            body = self.get_json(url, params=query, headers=headers)
            items = body.get("items")
            if items is None and isinstance(body.get("value"), list):
                items = body["value"]
            items = items if isinstance(items, list) else []
            yield from (item for item in items if isinstance(item, dict))
            link = (
                (body.get("links") or {}).get("next")
                if isinstance(body.get("links"), dict)
                else None
            )
            if not isinstance(link, dict) or not link.get("uri") or not items:
                return
            headers = {
                str(h.get("key")): str(h.get("value"))
                for h in link.get("headers") or []
                if isinstance(h, dict) and h.get("key")
            }
            token = body.get("continuationToken")
            if token and not any(
                k.lower() == CONTINUATION_HEADER.lower() for k in headers
            ):
                headers[CONTINUATION_HEADER] = str(token)
            url, query = self.url(str(link["uri"])), None
            key = (url, tuple(sorted(headers.items())))
            if key in seen:
                logger.warning(
                    "Partner Center repeated the page link %s; stopping", url
                )
                return
            seen.add(key)

    def get_json(
        self,
        path: str,
        *,
        params: Optional[dict[str, Any]] = None,
        headers: Optional[dict[str, str]] = None,
        user: bool = False,
    ) -> dict[str, Any]:
        """GET a resource as JSON (retrying what is worth retrying)."""
        response = self._send(
            "GET", self.url(path), params=params, headers=headers, user=user
        )
        try:
            body = response.json()
        except ValueError:
            raise PartnerCenterError(
                f"GET {_display(response.request.url)}: the answer is not JSON",
                request_id=response.request.headers.get("MS-RequestId"),
                correlation_id=self.correlation_id,
            ) from None
        if not isinstance(body, dict):
            raise PartnerCenterError(
                f"GET {_display(response.request.url)}: the answer is not a JSON object"
            )
        return body

    def post_json(
        self, path: str, body: dict[str, Any], *, user: bool = False
    ) -> dict[str, Any]:
        """POST a JSON body and read the JSON answer; retried only on 429."""
        response = self._send(
            "POST",
            self.url(path),
            params=None,
            headers=None,
            user=user,
            json=body,
            idempotent=False,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise PartnerCenterError(
                f"POST {_display(response.request.url)}: the answer is not a JSON "
                "object",
                status=response.status_code,
                request_id=response.request.headers.get("MS-RequestId"),
                correlation_id=self.correlation_id,
            )
        return answer

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Optional[dict[str, Any]],
        headers: Optional[dict[str, str]],
        user: bool,
        json: Optional[dict[str, Any]] = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        request_id = str(uuid.uuid4())
        retrying = Retrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(self.settings.partner_center_max_retries + 1),
            wait=self._wait,
            reraise=True,
            sleep=self._sleep or time.sleep,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(
                        method,
                        url,
                        params,
                        headers,
                        user,
                        request_id,
                        json=json,
                        idempotent=idempotent,
                    )
        except _Retry as exc:
            if exc.response is not None:
                raise self._failure(exc.response, request_id) from None
            raise PartnerCenterError(
                f"{method} {_display(url)}: {exc.error.__class__.__name__}: {exc.error} "
                f"(after {self.settings.partner_center_max_retries + 1} tries)",
                request_id=request_id,
                correlation_id=self.correlation_id,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        method: str,
        url: str,
        params: Optional[dict[str, Any]],
        headers: Optional[dict[str, str]],
        user: bool,
        request_id: str,
        *,
        json: Optional[dict[str, Any]] = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        token = (self.tokens.user_token() if user else None) or self.tokens.app_token()
        self.log.calls += 1
        try:
            response = self._http.request(
                method,
                url,
                params=params,
                json=json,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/json",
                    "MS-RequestId": request_id,
                    "MS-CorrelationId": self.correlation_id,
                    "MS-PartnerCenter-Application": APPLICATION_NAME,
                    "MS-Contract-Version": "v1",
                    "X-Locale": "en-US",
                    **(headers or {}),
                },
            )
        except httpx.TransportError as exc:
            logger.warning(
                "Partner Center %s %s failed: %s (MS-RequestId %s, MS-CorrelationId %s)",
                method,
                _display(url),
                exc,
                request_id,
                self.correlation_id,
            )
            if not idempotent:
                raise PartnerCenterError(
                    f"{method} {_display(url)}: {exc.__class__.__name__}: {exc}; "
                    "Partner Center may or may not have done it",
                    request_id=request_id,
                    correlation_id=self.correlation_id,
                ) from None
            raise _Retry(error=exc) from None
        logger.info(
            "Partner Center %s %s -> %s (MS-RequestId %s, MS-CorrelationId %s)",
            method,
            _display(response.request.url),
            response.status_code,
            response.headers.get("MS-RequestId", request_id),
            response.headers.get("MS-CorrelationId", self.correlation_id),
        )
        if response.status_code == 429 or (response.status_code >= 500 and idempotent):
            raise _Retry(response=response)
        if response.status_code >= 400:
            raise self._failure(response, request_id)
        return response

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After on a 429; exponential back-off with jitter otherwise."""
        self.log.retries += 1
        ceiling = self.settings.partner_center_retry_max_seconds
        error = state.outcome.exception() if state.outcome else None
        seconds: Optional[float] = None
        if isinstance(error, _Retry) and error.response is not None:
            header = error.response.headers.get("Retry-After")
            if header:
                seconds = retry_after_seconds(header)
        if seconds is None:
            seconds = wait_exponential_jitter(initial=1, max=ceiling, jitter=1)(state)
        seconds = min(seconds, ceiling)
        self.log.waits.append(seconds)
        logger.warning("Partner Center: retrying in %.1f s (%s)", seconds, error)
        return seconds

    def _failure(self, response: httpx.Response, request_id: str) -> PartnerCenterError:
        """The one place an unsuccessful answer becomes an error with a clear text."""
        status = response.status_code
        detail = error_detail(response)
        where = f"{response.request.method} {_display(response.request.url)}"
        ids = (
            f"MS-RequestId {response.headers.get('MS-RequestId', request_id)}, "
            f"MS-CorrelationId {response.headers.get('MS-CorrelationId', self.correlation_id)}"
        )
        suffix = f": {detail}" if detail else ""
        if status == 401:
            return PartnerCenterAuthError(
                f"{where}: Partner Center refused the token (401){suffix}. Check the "
                "app registration (tenant, client id, secret) and that the app is "
                f"added in Partner Center under App management ({ids})",
                status=status,
                request_id=request_id,
                correlation_id=self.correlation_id,
            )
        if status == 403:
            return PartnerCenterAuthError(
                f"{where}: not allowed (403){suffix}. This call may need app+user "
                "credentials (`csp-desk partner-center consent`) or a Partner Center "
                f"role the app or user lacks ({ids})",
                status=status,
                request_id=request_id,
                correlation_id=self.correlation_id,
            )
        if status == 429:
            reason = "still throttled (429)"
        elif status >= 500:
            reason = f"Partner Center failed ({status})"
        else:
            reason = f"HTTP {status}"
        tries = self.settings.partner_center_max_retries + 1
        repeated = status == 429 or (status >= 500 and response.request.method == "GET")
        retried = f" after {tries} tries" if repeated else ""
        return PartnerCenterError(
            f"{where}: {reason}{retried}{suffix} ({ids})",
            status=status,
            request_id=request_id,
            correlation_id=self.correlation_id,
        )


def _segment(value: str) -> str:
    """A path segment, escaped."""
    return quote(str(value), safe="")


def _display(url: object) -> str:
    """A URL for messages: its path and query, without the host."""
    parts = urlsplit(str(url))
    return parts.path + (f"?{parts.query}" if parts.query else "")
