"""A fake Partner Center and a fake Entra ID token endpoint, over HTTPS with a test
certificate authority (trustme), served by uvicorn in a thread.

It speaks what the REST reference documents: bearer tokens from
`{authority}/{tenant}/oauth2/v2.0/token` (client credentials and refresh tokens,
with the OpenID configuration MSAL reads first), `MS-RequestId` /
`MS-CorrelationId` echoed, collections with `totalCount`, `items`, `links` and
`attributes.objectType`, seek-based paging (`links.next` with an
`MS-ContinuationToken` header, its `uri` relative and without `/v1`, as the
reference's examples give it), offset paging for invoices, error bodies with
`code`, `description` and `source`, 401 on a token it did not issue, 429 with
Retry-After, and 5xx on request.

    fake = FakePartnerCenter.start(tmp_path)   # https://127.0.0.1:PORT
    fake.state.customers.append(...)           # shape the scenario
    fake.stop()
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import trustme
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PARTNER_TENANT = "8f0c6d2a-3b1e-4c5d-9e7f-0a1b2c3d4e5f"
CLIENT_ID = "2b7e151f-aed2-4a6b-8f3c-1d2e3f4a5b6c"
CLIENT_SECRET = "fake-pc-client-secret-0123456789"
APP_SCOPE = "https://api.partnercenter.microsoft.com/.default"
USER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"

ADATUM = "0a1b2c3d-0000-4000-8000-00000000a001"
BLUE_YONDER = "0a1b2c3d-0000-4000-8000-00000000b002"
COHO = "0a1b2c3d-0000-4000-8000-00000000c003"
FOURTH_COFFEE = "0a1b2c3d-0000-4000-8000-00000000d004"

M365_E3 = "5f2a9c1e-1111-4aaa-8bbb-000000000e31"
EXCHANGE = "5f2a9c1e-2222-4aaa-8bbb-000000000e32"
AZURE_PLAN = "5f2a9c1e-3333-4aaa-8bbb-000000000a21"
TEAMS = "5f2a9c1e-4444-4aaa-8bbb-000000000f41"


def iso(moment: datetime) -> str:
    """A date-time the way Partner Center writes it (7 digits, Z)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def customer(tenant: str, name: str, domain: str) -> dict[str, Any]:
    return {
        "id": tenant,
        "commerceId": str(uuid.uuid4()),
        "companyProfile": {
            "tenantId": tenant,
            "domain": domain,
            "companyName": name,
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "relationshipToPartner": "reseller",
        "attributes": {"objectType": "Customer"},
    }


def subscription(
    sub_id: str,
    *,
    offer_name: str,
    offer_id: str,
    quantity: int,
    order_id: str,
    created: datetime,
    status: str = "active",
    billing_cycle: str = "monthly",
    term: str = "P1Y",
    auto_renew: bool = True,
    product_type: str = "OnlineServicesNCE",
    suspension_reasons: Optional[list[str]] = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": sub_id,
        "offerId": offer_id,
        "offerName": offer_name,
        "friendlyName": offer_name,
        "productType": {"id": product_type, "displayName": product_type},
        "quantity": quantity,
        "unitType": "Licenses",
        "creationDate": iso(created + timedelta(seconds=40)),
        "effectiveStartDate": iso(
            created.replace(hour=0, minute=0, second=0, microsecond=0)
        ),
        "commitmentEndDate": iso(
            created.replace(hour=0, minute=0, second=0, microsecond=0)
            + timedelta(days=365)
        ),
        "status": status,
        "autoRenewEnabled": auto_renew,
        "billingType": "license",
        "billingCycle": billing_cycle,
        "termDuration": term,
        "isTrial": False,
        "contractType": "subscription",
        "orderId": order_id,
        "links": {
            "self": {"uri": f"/subscriptions/{sub_id}", "method": "GET", "headers": []}
        },
        "attributes": {"etag": "W/1", "objectType": "Subscription"},
    }
    if suspension_reasons:
        item["suspensionReasons"] = suspension_reasons
    return item


def order(
    order_id: str,
    customer_id: str,
    created: datetime,
    lines: list[tuple[str, str, int, str]],
    currency: str = "USD",
) -> dict[str, Any]:
    """`lines`: (subscription id, offer id, quantity, transaction type)."""
    return {
        "id": order_id,
        "referenceCustomerId": customer_id,
        "billingCycle": "monthly",
        "currencyCode": currency,
        "currencySymbol": "$",
        "lineItems": [
            {
                "lineItemNumber": number,
                "offerId": offer,
                "subscriptionId": sub.upper(),  # the reference's examples mix cases
                "quantity": quantity,
                "transactionType": kind,
                "links": {},
            }
            for number, (sub, offer, quantity, kind) in enumerate(lines)
        ],
        "creationDate": iso(created),
        "status": "completed",
        "transactionType": "UserPurchase",
        "links": {
            "self": {
                "uri": f"/customers/{customer_id}/orders/{order_id}",
                "method": "GET",
                "headers": [],
            }
        },
        "attributes": {"objectType": "Order"},
    }


def line_item(
    invoice_id: str,
    tenant: str,
    name: str,
    domain: str,
    sub_id: str,
    product: str,
    subtotal: str,
    tax: str,
) -> dict[str, Any]:
    return {
        "partnerId": PARTNER_TENANT,
        "customerId": f"org:{tenant}",
        "customerName": name,
        "customerDomainName": domain,
        "customerCountry": "US",
        "invoiceNumber": invoice_id,
        "mpnId": "4999001",
        "orderId": "ord-" + sub_id[-4:],
        "orderDate": "2026-10-03T10:00:00.0000000Z",
        "productId": "CFQ7TTC0LFLX",
        "skuId": "0001",
        "productName": product,
        "skuName": product,
        "chargeType": "new",
        "unitPrice": 36.0,
        "effectiveUnitPrice": 36.0,
        "unitType": "Licenses",
        "quantity": 10,
        "subtotal": float(subtotal),
        "taxTotal": float(tax),
        "totalForCustomer": round(float(subtotal) + float(tax), 2),
        "currency": "USD",
        "subscriptionDescription": product,
        "subscriptionId": sub_id,
        "chargeStartDate": "2026-10-01T00:00:00Z",
        "chargeEndDate": "2026-10-31T00:00:00Z",
        "termAndBillingCycle": "1 Year Subscription",
        "billingFrequency": "Monthly",
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "one_time",
        "attributes": {"objectType": "OneTimeInvoiceLineItem"},
    }


def support_topics() -> list[dict[str, Any]]:
    """Support topics as GET /v1/servicerequests/supporttopics lists them."""
    names = [
        (32444671, "Partner Center", "Questions about Partner Center itself"),
        (32444672, "Billing and invoices", "Charges, invoices and payments"),
        (32444673, "Subscription management", "Seats, upgrades and cancellations"),
        (32444674, "Microsoft 365", "Exchange Online, Teams, SharePoint, Office"),
        (32444675, "Azure", "Azure subscriptions and services"),
        (32444676, "Dynamics 365", "Dynamics 365 apps"),
    ]
    return [
        {
            "name": name,
            "description": description,
            "id": topic_id,
            "attributes": {"objectType": "SupportTopic"},
        }
        for topic_id, name, description in names
    ]


@dataclass
class State:
    """What the fake holds and how it misbehaves; tests change it freely."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    line_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 2  # the fake's own cap on a page, so that paging happens
    # Misbehaviour: path -> [(status, Retry-After or None), ...] answered first.
    scripted: dict[str, list[tuple[int, Optional[str]]]] = field(default_factory=dict)
    always_fail: dict[str, int] = field(default_factory=dict)  # path -> status
    app_only_refused: set[str] = field(default_factory=set)  # paths needing app+user
    # Whether the authority publishes its OpenID configuration (MSAL reads it).
    serve_openid_configuration: bool = True
    # Revoke every app token when a request's path starts with this (mid-run).
    revoke_tokens_at: Optional[str] = None
    # Serve invoice line items only at /v1/invoices/{id}/lineitems/{provider}/{type}.
    line_items_by_path_only: bool = False
    # Service requests: the support topics, the requests filed, and how many of
    # the next POSTs file the request and then answer 500 (the answer is lost).
    support_topics: list[dict[str, Any]] = field(default_factory=support_topics)
    service_requests: list[dict[str, Any]] = field(default_factory=list)
    file_then_fail: int = 0
    # Tokens.
    client_secret: str = CLIENT_SECRET
    app_tokens: set[str] = field(default_factory=set)
    user_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    auth_codes: set[str] = field(default_factory=set)
    # What was asked.
    requests: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)


def scenario(now: Optional[datetime] = None) -> State:
    """Four customers over two pages: Adatum (Microsoft 365 E3 ordered 2 days ago,
    a suspended Exchange Online), Blue Yonder (no subscriptions), Coho Winery (an
    Azure plan ordered 40 days ago), Fourth Coffee (Teams Essentials renewed
    yesterday); one Microsoft invoice with three lines and a credit note."""
    now = now or datetime.now(timezone.utc)
    two_days_ago = (now - timedelta(days=2)).replace(microsecond=0)
    state = State()
    state.customers = [
        customer(ADATUM, "Adatum Corporation", "adatum.onmicrosoft.com"),
        customer(
            BLUE_YONDER, "Blue Yonder Airlines", "blueyonderairlines.onmicrosoft.com"
        ),
        customer(COHO, "Coho Winery", "cohowinery.onmicrosoft.com"),
        customer(FOURTH_COFFEE, "Fourth Coffee", "fourthcoffee.onmicrosoft.com"),
    ]
    state.subscriptions = {
        ADATUM: [
            subscription(
                M365_E3,
                offer_name="Microsoft 365 E3",
                offer_id="CFQ7TTC0LFLX:0001:CFQ7TTC0LFLX",
                quantity=10,
                order_id="ord-adatum-e3",
                created=two_days_ago,
            ),
            subscription(
                EXCHANGE,
                offer_name="Exchange Online (Plan 1)",
                offer_id="CFQ7TTC0LH16:0001:CFQ7TTC0LH16",
                quantity=4,
                order_id="ord-adatum-exo",
                created=now - timedelta(days=200),
                status="suspended",
                suspension_reasons=["CustomerCancellation"],
            ),
        ],
        BLUE_YONDER: [],
        COHO: [
            subscription(
                AZURE_PLAN,
                offer_name="Azure plan",
                offer_id="DZH318Z0BPS6:0001:DZH318Z0BPS6",
                quantity=1,
                order_id="ord-coho-azure",
                created=now - timedelta(days=40),
                product_type="Azure",
                term="",
            ),
        ],
        FOURTH_COFFEE: [
            subscription(
                TEAMS,
                offer_name="Microsoft Teams Essentials",
                offer_id="CFQ7TTC0RL1W:0001:CFQ7TTC0RL1W",
                quantity=25,
                order_id="ord-fourth-teams",
                created=now - timedelta(days=366),
                billing_cycle="annual",
            ),
        ],
    }
    state.orders = {
        ADATUM: [
            order(
                "ord-adatum-e3",
                ADATUM,
                two_days_ago,
                [(M365_E3, "CFQ7TTC0LFLX:0001:CFQ7TTC0LFLX", 10, "new")],
            ),
            order(
                "ord-adatum-exo",
                ADATUM,
                now - timedelta(days=200),
                [(EXCHANGE, "CFQ7TTC0LH16:0001:CFQ7TTC0LH16", 4, "new")],
            ),
        ],
        BLUE_YONDER: [],
        COHO: [
            order(
                "ord-coho-azure",
                COHO,
                now - timedelta(days=40),
                [(AZURE_PLAN, "DZH318Z0BPS6:0001:DZH318Z0BPS6", 1, "new")],
            )
        ],
        FOURTH_COFFEE: [
            order(
                "ord-fourth-teams",
                FOURTH_COFFEE,
                now - timedelta(days=366),
                [(TEAMS, "CFQ7TTC0RL1W:0001:CFQ7TTC0RL1W", 25, "new")],
            ),
            order(
                "ord-fourth-renew",
                FOURTH_COFFEE,
                now - timedelta(days=1),
                [(TEAMS, "CFQ7TTC0RL1W:0001:CFQ7TTC0RL1W", 25, "renew")],
            ),
        ],
    }
    invoice_date = datetime(now.year, now.month, 8, 1, 22, 47, tzinfo=timezone.utc)
    if invoice_date > now:
        invoice_date = (invoice_date.replace(day=1) - timedelta(days=1)).replace(day=8)
    state.invoices = [
        invoice("G000024130", invoice_date, "1143.00", "0"),
        invoice(
            "G000024131",
            invoice_date + timedelta(days=2),
            "-36.00",
            "0",
            credit_note_of="G000024130",
        ),
    ]
    state.line_items = {
        "G000024130": [
            line_item(
                "G000024130",
                ADATUM,
                "Adatum Corporation",
                "adatum.onmicrosoft.com",
                M365_E3,
                "Microsoft 365 E3",
                "360.00",
                "32.40",
            ),
            line_item(
                "G000024130",
                ADATUM,
                "Adatum Corporation",
                "adatum.onmicrosoft.com",
                EXCHANGE,
                "Exchange Online (Plan 1)",
                "16.00",
                "1.44",
            ),
            line_item(
                "G000024130",
                COHO,
                "Coho Winery",
                "cohowinery.onmicrosoft.com",
                AZURE_PLAN,
                "Azure plan",
                "650.00",
                "58.50",
            ),
            line_item(
                "G000024130",
                "0a1b2c3d-0000-4000-8000-0000000ffff9",
                "Gone Customer",
                "gone.onmicrosoft.com",
                "5f2a9c1e-9999-4aaa-8bbb-000000000999",
                "Microsoft 365 E3",
                "22.00",
                "2.66",
            ),
        ],
        "G000024131": [
            {
                **line_item(
                    "G000024131",
                    ADATUM,
                    "Adatum Corporation",
                    "adatum.onmicrosoft.com",
                    EXCHANGE,
                    "Exchange Online (Plan 1)",
                    "-36.00",
                    "0",
                ),
                "chargeType": "cancelImmediate",
            }
        ],
    }
    return state


def invoice(
    number: str,
    when: datetime,
    total: str,
    paid: str,
    credit_note_of: Optional[str] = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": number,
        "invoiceDate": iso(when),
        "billingPeriodStartDate": iso(
            when.replace(day=1, hour=0, minute=0, second=0) - timedelta(days=31)
        ),
        "billingPeriodEndDate": iso(
            when.replace(day=1, hour=0, minute=0, second=0) - timedelta(days=1)
        ),
        "totalCharges": float(total),
        "paidAmount": float(paid),
        "currencyCode": "USD",
        "currencySymbol": "$",
        "pdfDownloadLink": f"/invoices/{number}/documents/statement",
        "invoiceDetails": [
            {
                "invoiceLineItemType": "billing_line_items",
                "billingProvider": "one_time",
                "links": {
                    "self": {
                        "uri": f"/invoices/OneTime-{number}/lineitems/OneTime/BillingLineItems",
                        "method": "GET",
                        "headers": [],
                    }
                },
                "attributes": {"objectType": "InvoiceDetail"},
            }
        ],
        "documentType": "Credit Note" if credit_note_of else "Invoice",
        "invoiceType": "OneTime",
        "links": {
            "self": {"uri": f"/invoices/{number}", "method": "GET", "headers": []}
        },
        "attributes": {"objectType": "Invoice"},
    }
    if credit_note_of:
        item["amendsOf"] = credit_note_of
    return item


# --------------------------------------------------------------------------- the app


def _encode(offset: int) -> str:
    return base64.b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode(token: str) -> int:
    return int(json.loads(base64.b64decode(token))["o"])


class FakePartnerCenter:
    """The fake, with its server; `state` is what it serves."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.base_url = ""
        self.ca_path: Optional[Path] = None
        self._server: Optional[uvicorn.Server] = None
        self._thread: Optional[threading.Thread] = None
        self.app = Starlette(
            routes=[
                Route("/{tenant}/v2.0/.well-known/openid-configuration", self.openid),
                Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
                Route("/v1/{path:path}", self.api, methods=["GET", "POST"]),
            ]
        )

    # ------------------------------------------------------------------ server

    @classmethod
    def start(cls, directory: Path, state: Optional[State] = None) -> FakePartnerCenter:
        fake = cls(state or scenario())
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        fake.ca_path = directory / "fake-ca.pem"
        ca.cert_pem.write_to_path(str(fake.ca_path))
        key_path = directory / "fake-key.pem"
        cert_path = directory / "fake-cert.pem"
        cert.private_key_pem.write_to_path(str(key_path))
        cert.cert_chain_pems[0].write_to_path(str(cert_path))
        config = uvicorn.Config(
            fake.app,
            host="127.0.0.1",
            port=0,
            ssl_keyfile=str(key_path),
            ssl_certfile=str(cert_path),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the fake Partner Center did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        fake.base_url = f"https://127.0.0.1:{port}"
        fake._server, fake._thread = server, thread
        return fake

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def api_requests(self, prefix: str = "/v1/") -> list[dict[str, Any]]:
        return [r for r in self.state.requests if r["path"].startswith(prefix)]

    # ------------------------------------------------------------------ Entra ID

    async def openid(self, request: Request) -> Response:
        if not self.state.serve_openid_configuration:
            return JSONResponse({"error": "not_found"}, status_code=404)
        tenant = request.path_params["tenant"]
        base = f"{self.base_url}/{tenant}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "token"],
            }
        )

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.state.token_requests.append(
            {**form, "tenant": request.path_params["tenant"]}
        )
        if request.path_params["tenant"] != PARTNER_TENANT:
            return self._oauth_error(
                400, "invalid_request", "AADSTS90002: Tenant not found."
            )
        if (
            form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != self.state.client_secret
        ):
            return self._oauth_error(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        grant = form.get("grant_type")
        scopes = set(form.get("scope", "").split())
        if grant == "client_credentials":
            if APP_SCOPE not in scopes:
                return self._oauth_error(
                    400,
                    "invalid_scope",
                    "AADSTS70011: The provided scope is not valid.",
                )
            token = f"app-{uuid.uuid4()}"
            self.state.app_tokens.add(token)
            return JSONResponse(
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": token,
                }
            )
        if grant == "refresh_token":
            if form.get("refresh_token") not in self.state.refresh_tokens:
                return self._oauth_error(
                    400, "invalid_grant", "AADSTS700082: The refresh token has expired."
                )
            self.state.refresh_tokens.discard(form["refresh_token"])
            token, rotated = f"user-{uuid.uuid4()}", f"rt-{uuid.uuid4()}"
            self.state.user_tokens.add(token)
            self.state.refresh_tokens.add(rotated)
            return JSONResponse(
                {
                    "token_type": "Bearer",
                    "scope": USER_SCOPE,
                    "expires_in": 3599,
                    "access_token": token,
                    "refresh_token": rotated,
                }
            )
        if grant == "authorization_code":
            if form.get("code") not in self.state.auth_codes:
                return self._oauth_error(
                    400, "invalid_grant", "AADSTS70000: The code is not valid."
                )
            self.state.auth_codes.discard(form["code"])
            token, refresh = f"user-{uuid.uuid4()}", f"rt-{uuid.uuid4()}"
            self.state.user_tokens.add(token)
            self.state.refresh_tokens.add(refresh)
            return JSONResponse(
                {
                    "token_type": "Bearer",
                    "scope": USER_SCOPE,
                    "expires_in": 3599,
                    "access_token": token,
                    "refresh_token": refresh,
                }
            )
        return self._oauth_error(400, "unsupported_grant_type", "AADSTS70003")

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Response:
        return JSONResponse(
            {
                "error": error,
                "error_description": description,
                "error_codes": [0],
                "timestamp": "now",
            },
            status_code=status,
        )

    # ------------------------------------------------------------------ the API

    async def api(self, request: Request) -> Response:
        path = "/v1/" + request.path_params["path"]
        self.state.requests.append(
            {
                "method": request.method,
                "path": path,
                "query": dict(request.query_params),
                "headers": {k.lower(): v for k, v in request.headers.items()},
            }
        )
        ids = {
            "MS-RequestId": request.headers.get("MS-RequestId", ""),
            "MS-CorrelationId": request.headers.get("MS-CorrelationId", ""),
        }
        if self.state.revoke_tokens_at and path.startswith(self.state.revoke_tokens_at):
            self.state.app_tokens.clear()
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token not in self.state.app_tokens | self.state.user_tokens:
            return Response(
                status_code=401,
                headers={**ids, "WWW-Authenticate": "Bearer realm=urn:cpsvc"},
            )
        if path in self.state.app_only_refused and token not in self.state.user_tokens:
            return self._error(
                403, 3000, "This operation needs App+User credentials.", ids
            )
        script = self.state.scripted.get(path)
        if script:
            status, retry_after = script.pop(0)
            headers = dict(ids)
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            if status == 429:
                return JSONResponse(
                    {
                        "statusCode": 429,
                        "message": f"Rate limit is exceeded. Try again in {retry_after} seconds.",
                    },
                    status_code=429,
                    headers=headers,
                )
            return self._error(
                status, 500, "Service unavailable, try again.", ids, headers
            )
        if path in self.state.always_fail:
            return self._error(
                self.state.always_fail[path], 500, "Internal error.", ids
            )
        if request.method == "POST":
            return await self._post(path, request, ids)
        body = self._route(path, request)
        if body is None:
            return self._error(
                404, 600008, "The requested resource was not found.", ids
            )
        return JSONResponse(body, headers=ids)

    async def _post(self, path: str, request: Request, ids: dict[str, str]) -> Response:
        """POST /v1/servicerequests/{agentLocale}: file a service request."""
        parts = path.strip("/").split("/")[1:]
        if len(parts) != 2 or parts[0] != "servicerequests":
            return self._error(
                404, 600008, "The requested resource was not found.", ids
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._error(400, 400, "The request body is not JSON.", ids)
        self.state.requests[-1]["body"] = body
        severity = body.get("Severity")
        topic = next(
            (
                t
                for t in self.state.support_topics
                if str(t["id"]) == str(body.get("SupportTopicId"))
            ),
            None,
        )
        if not body.get("Title") or not body.get("Description"):
            return self._error(400, 2000, "Title and Description are required.", ids)
        if severity not in ("critical", "moderate", "minimal"):
            return self._error(400, 2000, f"Invalid severity {severity!r}.", ids)
        if topic is None:
            return self._error(400, 2000, "Invalid support topic.", ids)
        now = iso(datetime.now(timezone.utc))
        created = {
            "Title": body["Title"],
            "Description": body["Description"],
            "Severity": severity,
            "SupportTopicId": str(topic["id"]),
            "SupportTopicName": topic["name"],
            "Id": f"6161{len(self.state.service_requests) + 22292874576:011d}",
            "Status": "open",
            "Organization": {"Id": PARTNER_TENANT, "Name": "Adventure Works Cloud"},
            "ProductName": topic["name"],
            "CreatedDate": now,
            "LastModifiedDate": now,
            "FileLinks": [],
            "Notes": [],
            "CountryCode": "US",
            "Attributes": {"ObjectType": "ServiceRequest"},
        }
        self.state.service_requests.append(created)
        if self.state.file_then_fail > 0:
            self.state.file_then_fail -= 1
            return self._error(500, 500, "Internal error.", ids)
        return JSONResponse(created, status_code=201, headers=ids)

    def _error(
        self,
        status: int,
        code: int,
        description: str,
        ids: dict[str, str],
        headers: Optional[dict[str, str]] = None,
    ) -> Response:
        return JSONResponse(
            {
                "code": str(code),
                "description": description,
                "data": [],
                "source": "PartnerFD",
            },
            status_code=status,
            headers=headers or ids,
        )

    def _route(self, path: str, request: Request) -> Optional[dict[str, Any]]:
        parts = path.strip("/").split("/")[1:]
        query = request.query_params
        if parts == ["customers"]:
            return self._seek_page(
                self.state.customers,
                "/customers",
                request,
                size=int(query.get("size", 40)),
            )
        if (
            len(parts) == 3
            and parts[0] == "customers"
            and parts[2] in ("subscriptions", "orders")
        ):
            store = (
                self.state.subscriptions
                if parts[2] == "subscriptions"
                else self.state.orders
            )
            key = parts[1].lower()
            if not any(c["id"] == key for c in self.state.customers):
                return None
            items = store.get(key, [])
            return self._collection(items, f"/customers/{parts[1]}/{parts[2]}")
        if parts == ["servicerequests", "supporttopics"]:
            return self._collection(self.state.support_topics, path)
        if parts == ["servicerequests"]:
            return self._collection(self.state.service_requests, path)
        if len(parts) == 2 and parts[0] == "servicerequests":
            return next(
                (r for r in self.state.service_requests if r["Id"] == parts[1]), None
            )
        if parts == ["invoices"]:
            size = int(query.get("size", 200))
            offset = int(query.get("offset", 0))
            page = self.state.invoices[
                offset : offset + min(size, self.state.page_size)
            ]
            listed = [
                {k: v for k, v in i.items() if k != "pdfDownloadLink"} for i in page
            ]
            body = self._collection(listed, f"/invoices?size={size}&offset={offset}")
            if offset + len(page) < len(self.state.invoices):
                body["links"]["next"] = {
                    "uri": f"/invoices?size={size}&offset={offset + len(page)}",
                    "method": "GET",
                    "headers": [],
                }
            return body
        if len(parts) == 2 and parts[0] == "invoices":
            return next((i for i in self.state.invoices if i["id"] == parts[1]), None)
        if len(parts) == 5 and parts[0] == "invoices" and parts[2] == "lineitems":
            if not self.state.line_items_by_path_only:
                return None
            if (parts[3].lower(), parts[4].lower()) != ("onetime", "billinglineitems"):
                return self._collection([], path)
            items = self.state.line_items.get(parts[1])
            if items is None:
                return None
            return self._seek_page(
                items,
                f"/invoices/{parts[1]}/lineitems/OneTime/BillingLineItems",
                request,
                size=2000,
            )
        if len(parts) == 3 and parts[0] == "invoices" and parts[2] == "lineitems":
            if self.state.line_items_by_path_only:
                return None
            if (
                query.get("provider", "").lower() != "onetime"
                or query.get("invoicelineitemtype", "").lower() != "billinglineitems"
            ):
                return self._collection([], path)
            items = self.state.line_items.get(parts[1])
            if items is None:
                return None
            return self._seek_page(
                items,
                f"/invoices/{parts[1]}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems",
                request,
                size=int(query.get("size", 2000)),
            )
        return None

    def _collection(self, items: list[dict[str, Any]], uri: str) -> dict[str, Any]:
        return {
            "totalCount": len(items),
            "items": items,
            "links": {"self": {"uri": uri, "method": "GET", "headers": []}},
            "attributes": {"objectType": "Collection"},
        }

    def _seek_page(
        self, items: list[dict[str, Any]], uri: str, request: Request, size: int
    ) -> dict[str, Any]:
        """Seek-based paging: the first page from the start, the next ones from
        the offset in MS-ContinuationToken (`seekOperation=Next`)."""
        offset = 0
        if (
            request.query_params.get(
                "seekOperation", request.query_params.get("seekoperation")
            )
            == "Next"
        ):
            offset = _decode(request.headers["MS-ContinuationToken"])
        size = min(size, self.state.page_size)
        page = items[offset : offset + size]
        body = self._collection(page, uri)
        if offset + size < len(items):
            separator = "&" if "?" in uri else "?"
            body["links"]["next"] = {
                "uri": f"{uri}{separator}size={size}&seekOperation=Next",
                "method": "GET",
                "headers": [
                    {"key": "MS-ContinuationToken", "value": _encode(offset + size)}
                ],
            }
        return body
