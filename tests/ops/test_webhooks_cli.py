"""`csp-desk webhooks`: deliver (one round), list, replay, new-secret, schema; and
the partner profile's `webhooks` section, applied and exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from api.domain.db import get_sessionmaker
from api.domain.models import DeliveryStatus, Partner, WebhookDelivery
from api.domain.profiles import ProfileError, load_profile, parse_profile
from api.domain.services.webhook_signing import webhook_secret_problem
from api.domain.services.webhooks import payload_json_schema
from api.ops.cli import main
from tests.domain.services.test_webhook_delivery import file_tickets
from tests.domain.services.webhook_consumer import (
    SECRET,
    SECRET_ENV,
    Consumer,
    endpoint,
    make_partner,
    running,
)

NORTHWIND = Path(__file__).resolve().parents[2] / "api/demo/data/partners/northwind.yml"


def test_deliver_once_then_list_and_replay(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    consumer = Consumer(script=[410])
    with running(consumer), get_sessionmaker()() as session:
        partner = make_partner(session, "cli", endpoints=[endpoint(consumer.url)])
        [message_id] = file_tickets(session, partner.id, 1)
        [delivery] = session.scalars(select(WebhookDelivery)).all()

        assert main(["webhooks", "deliver", "--once"]) == 0
        assert capsys.readouterr().out == "webhooks deliver: 1 attempts\n"
        assert main(["webhooks", "list", "--status", "failed"]) == 0
        listed = capsys.readouterr().out.strip().split("\t")
        assert listed[:5] == [
            str(delivery.id),
            "failed",
            "1 attempts",
            "410",
            "ticket.created",
        ]

        assert main(["webhooks", "replay", str(delivery.id)]) == 0
        out = capsys.readouterr().out
        assert out == (
            f"webhooks replay: delivery {delivery.id} (ticket.created {message_id}) "
            "to helpdesk queued\n"
        )
        assert main(["webhooks", "replay", str(delivery.id)]) == 1
        assert "still pending" in capsys.readouterr().err
        assert main(["webhooks", "replay", "424242"]) == 1
        assert "no webhook delivery 424242" in capsys.readouterr().err
        assert main(["webhooks", "list", "--status", "lost"]) == 1
        assert "no status 'lost'" in capsys.readouterr().err

        assert main(["webhooks", "deliver", "--once"]) == 0
        session.expire_all()
        assert session.get(WebhookDelivery, delivery.id).status is (  # type: ignore[union-attr]
            DeliveryStatus.DELIVERED
        )
        assert consumer.processed == {message_id: 1}


def test_new_secret_and_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["webhooks", "new-secret"]) == 0
    secret = capsys.readouterr().out.strip()
    assert webhook_secret_problem(secret) is None
    target = tmp_path / "schema.json"
    assert main(["webhooks", "schema", "-o", str(target)]) == 0
    assert json.loads(target.read_text()) == payload_json_schema()


# --------------------------------------------------------------------------- profiles


def with_webhooks(text: str) -> str:
    return text + (
        "webhooks:\n"
        "  - name: connectwise\n"
        "    url: https://na.myconnectwise.net/v4_6_release/hooks/csp\n"
        "    secret_env: NORTHWIND_CW_WEBHOOK_SECRET\n"
        "  - name: teams-bridge\n"
        "    url: https://bridge.example/hooks\n"
        "    secret_env: NORTHWIND_BRIDGE_SECRET\n"
        "    events: [handoff.started, handoff.ended]\n"
    )


def test_a_profile_names_its_endpoints_and_they_round_trip(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "northwind.yml"
    path.write_text(with_webhooks(NORTHWIND.read_text()))
    assert main(["partner", "apply", str(path)]) == 0
    capsys.readouterr()
    with get_sessionmaker()() as session:
        partner = session.scalars(
            select(Partner).where(Partner.slug == "northwind")
        ).one()
        assert partner.webhook_endpoints[0] == {
            "name": "connectwise",
            "url": "https://na.myconnectwise.net/v4_6_release/hooks/csp",
            "secret_env": "NORTHWIND_CW_WEBHOOK_SECRET",
            "events": [
                "ticket.created",
                "ticket.updated",
                "ticket.escalated",
                "handoff.started",
                "handoff.ended",
            ],
        }
        assert partner.webhook_endpoints[1]["events"] == [
            "handoff.started",
            "handoff.ended",
        ]
    assert main(["partner", "export", "northwind"]) == 0
    exported = capsys.readouterr().out
    assert "events: [handoff.started, handoff.ended]" in exported
    assert exported.count("events:") == 1  # "every event" is left out
    assert parse_profile(exported) == load_profile(path)
    assert main(["partner", "apply", str(path)]) == 0
    assert capsys.readouterr().out == "partner apply: northwind unchanged\n"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            "  - name: cw\n    url: http://cw.example/hooks\n    secret_env: CW\n",
            "must be https://",
        ),
        (
            "  - name: default\n    url: https://cw.example/\n    secret_env: CW\n",
            "WEBHOOK_DEFAULT_URL",
        ),
        (
            "  - name: cw\n    url: https://cw.example/\n    secret_env: CW\n"
            "  - name: cw\n    url: https://other.example/\n    secret_env: CW2\n",
            "the same as webhooks[0].name",
        ),
        (
            "  - name: cw\n    url: https://cw.example/\n    secret_env: CW\n"
            "    events: [ticket.deleted]\n",
            "ticket.deleted",
        ),
        (
            "  - name: cw\n    url: https://cw.example/\n"
            "    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
            "secrets are never written in a profile",
        ),
    ],
)
def test_a_wrong_endpoint_is_refused_with_its_line(entry: str, problem: str) -> None:
    text = NORTHWIND.read_text() + "webhooks:\n" + entry
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "northwind.yml")
    found = "\n".join(str(p) for p in caught.value.problems)
    assert problem in found
    assert "northwind.yml:" in found
    assert "whsec_MfKQ" not in found  # a secret written inline is not echoed
