"""Standard Webhooks signatures: the specification's published example, the
headers a consumer verifies, and what is refused as a secret or an endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from api.domain.services.webhook_signing import (
    WebhookSecretError,
    display_url,
    new_message_id,
    new_secret,
    signed_headers,
    webhook_secret_problem,
    webhook_url_problem,
)

# The example of the specification's reference libraries (libraries/*/tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_example_signs_as_published() -> None:
    headers = signed_headers(
        SPEC_SECRET,
        message_id=SPEC_ID,
        body=SPEC_BODY,
        at=datetime.fromtimestamp(SPEC_TIMESTAMP, timezone.utc),
    )
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_the_signature_is_hmac_sha256_of_id_timestamp_and_body() -> None:
    """Computed here from the definition, without the library."""
    secret = new_secret()
    body = '{"type":"ticket.created","data":{"ticket":{"id":"CSP-000001"}}}'
    at = datetime(2026, 12, 4, 10, 30, 15, 999_000, tzinfo=timezone.utc)
    headers = signed_headers(secret, message_id="msg_abc", body=body, at=at)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"msg_abc.{int(at.timestamp())}.{body}".encode()
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
    assert headers["webhook-timestamp"] == "1796380215"  # whole seconds
    assert headers["webhook-signature"] == "v1," + expected.decode()


def test_a_consumer_verifies_the_headers_and_refuses_a_changed_body() -> None:
    secret = new_secret()
    body = '{"type":"handoff.ended"}'
    headers = signed_headers(
        secret, message_id=new_message_id(), body=body, at=datetime.now(timezone.utc)
    )
    assert Webhook(secret).verify(body, headers) == {"type": "handoff.ended"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("ended", "started"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_local_times_are_signed_as_utc() -> None:
    from zoneinfo import ZoneInfo

    at = datetime.fromtimestamp(SPEC_TIMESTAMP, ZoneInfo("Asia/Tokyo"))
    headers = signed_headers(SPEC_SECRET, message_id=SPEC_ID, body=SPEC_BODY, at=at)
    assert headers["webhook-signature"] == SPEC_SIGNATURE


def test_new_secrets_and_ids() -> None:
    secret = new_secret()
    assert webhook_secret_problem(secret) is None
    assert len(base64.b64decode(secret[len("whsec_") :])) == 32
    assert new_secret() != secret
    message_id = new_message_id()
    assert message_id.startswith("msg_") and "." not in message_id
    assert len(message_id) == 36


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("", "empty"),
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with whsec_"),
        ("whsec_not base64!", "not whsec_ and base64"),
        ("whsec_c2hvcnQ=", "24 to 64 bytes, not 5"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "not 65"),
    ],
)
def test_a_bad_secret_is_refused_with_the_reason(secret: str, problem: str) -> None:
    found = webhook_secret_problem(secret)
    assert found is not None and problem in found
    with pytest.raises(WebhookSecretError):
        signed_headers(
            secret, message_id="msg_1", body="{}", at=datetime.now(timezone.utc)
        )


@pytest.mark.parametrize(
    ("url", "good"),
    [
        ("https://acme.myconnectwise.net/hooks/csp", True),
        ("https://acme.zendesk.com/api/v2/webhooks", True),
        ("http://127.0.0.1:8099/hooks", True),
        ("http://localhost:8099/hooks", True),
        ("http://[::1]:8099/hooks", True),
        ("http://helpdesk.example/hooks", False),
        ("http://10.0.0.5/hooks", False),
        ("ftp://helpdesk.example/hooks", False),
        ("https://user:pw@helpdesk.example/hooks", False),
        ("https:///no-host", False),
        ("https://helpdesk.example:notaport/", False),
    ],
)
def test_endpoints_are_https_or_this_machine(url: str, good: bool) -> None:
    assert (webhook_url_problem(url) is None) is good


def test_the_default_endpoint_needs_a_good_secret_to_start() -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    url = "https://operator.example/hooks"
    for secret in ("", "not-a-whsec", "whsec_c2hvcnQ="):
        with pytest.raises(ValidationError, match="WEBHOOK_DEFAULT_SECRET"):
            Settings(
                _env_file=None,  # type: ignore[call-arg]
                webhook_default_url=url,
                webhook_default_secret=secret,
            )
    with pytest.raises(ValidationError, match="must be https"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            webhook_default_url="http://operator.example/hooks",
            webhook_default_secret=new_secret(),
        )
    good = Settings(
        _env_file=None,  # type: ignore[call-arg]
        webhook_default_url=url,
        webhook_default_secret=new_secret(),
    )
    assert good.webhook_default_url == url
    assert Settings(_env_file=None).webhook_default_url == ""  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://desk.example/hooks", "https://desk.example/hooks"),
        (
            "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/"
            "manual/paths/invoke?api-version=2016-10-01&sig=SECRETSIG",
            "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/"
            "manual/paths/invoke?...",
        ),
        ("http://[::1]:8099/h#frag", "http://[::1]:8099/h"),
        ("https://user:pw@desk.example/h", "https://desk.example/h"),
    ],
)
def test_an_endpoint_is_shown_without_what_may_be_a_key(url: str, shown: str) -> None:
    assert display_url(url) == shown
