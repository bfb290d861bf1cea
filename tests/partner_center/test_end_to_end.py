"""From nothing to answers: apply a new partner's profile file, sync it from the
fake Partner Center with the command line, mint a chat token for a customer that
exists only in Partner Center, and ask the bot's actions about its subscriptions
and what it can still cancel, counted from the order's creation time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from actions.refunds import POSSIBLE_SLOT, ActionCancellationOptions
from actions.subscriptions import ActionSubscriptions
from api.domain.db import session_scope
from api.domain.models import PartnerCenterSyncRun, Subscription
from api.ops.cli import main
from api.settings import Settings
from common.formatting import format_moment
from tests.actions.billing_helpers import run, slot_events
from tests.actions.helpers import make_tracker, signed_in
from tests.partner_center.conftest import SLUG, partner_profile
from tests.partner_center.fake import M365_E3, FakePartnerCenter


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "adventure-works.yml"
    path.write_text(yaml.safe_dump(partner_profile(), sort_keys=False))
    return path


async def test_a_customer_only_partner_center_knows_gets_answers_from_the_sync(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    database_url: str,
    profile_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["partner", "apply", str(profile_file)]) == 0
    assert main(["partner-center", "sync", "--partner", SLUG]) == 0
    out = capsys.readouterr().out
    assert f"partner-center sync {SLUG}: ok" in out
    assert (
        "customers       4 read, 4 new, 0 updated, 0 unchanged, 0 marked removed" in out
    )
    assert "invoice_lines   5 read, 5 new" in out

    assert main(["partner-center", "sync", "--partner", SLUG]) == 0
    assert (
        "customers       4 read, 0 new, 0 updated, 4 unchanged"
        in capsys.readouterr().out
    )

    assert main(["mint-token", "--tenant", "adatum.onmicrosoft.com"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.count(".") == 2  # a signed token

    tracker = make_tracker(
        session_metadata=signed_in(token),
        intent="ask_subscriptions",
        text="which subscriptions do we have?",
    )
    said, _, _ = await run(ActionSubscriptions(), tracker)
    text = "\n".join(said)
    assert "Microsoft 365 E3" in text and "10 seats" in text
    assert "Exchange Online (Plan 1)" in text and "suspended" in text
    with session_scope() as session:
        e3 = session.get(Subscription, M365_E3)
        assert e3 is not None and e3.ordered_at is not None
        until = format_moment(e3.ordered_at + timedelta(hours=168), "America/New_York")
    assert f"until {until}" in text  # 168 hours from the order's creation time

    tracker = make_tracker(
        session_metadata=signed_in(token),
        intent="cancel_subscription",
        text="can we still cancel Microsoft 365 E3?",
    )
    said, events, _ = await run(ActionCancellationOptions(), tracker)
    assert slot_events(events)[POSSIBLE_SLOT] is True
    assert any(f"until {until}" in line for line in said)


async def test_a_customer_with_no_subscriptions_is_told_so(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    database_url: str,
    profile_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["partner", "apply", str(profile_file)]) == 0
    assert main(["partner-center", "sync", "--partner", SLUG]) == 0
    capsys.readouterr()
    assert main(["mint-token", "--tenant", "0a1b2c3d-0000-4000-8000-00000000b002"]) == 0
    token = capsys.readouterr().out.strip()
    _said, _, dispatcher = await run(
        ActionSubscriptions(),
        make_tracker(
            session_metadata=signed_in(token),
            intent="ask_subscriptions",
            text="our subscriptions?",
        ),
    )
    assert [m.get("response") for m in dispatcher.messages] == [
        "utter_no_subscriptions"
    ]


def test_the_command_fails_clearly_and_keeps_what_it_wrote(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    database_url: str,
    profile_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["partner", "apply", str(profile_file)]) == 0
    fake.state.always_fail[
        "/v1/customers/0a1b2c3d-0000-4000-8000-00000000c003/orders"
    ] = 503
    assert main(["partner-center", "sync", "--partner", SLUG]) == 1
    out = capsys.readouterr().out
    assert f"partner-center sync {SLUG}: partial" in out
    assert "customer Coho Winery (0a1b2c3d-0000-4000-8000-00000000c003)" in out
    assert "Partner Center failed (503) after 3 tries" in out
    assert "customers       4 read, 3 new" in out
    assert main(["partner-center", "runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Adventure Works Cloud: partial (command, ")
    assert lines[0].endswith(
        "customers 4, subscriptions 3, Microsoft invoices 2; 1 failed"
    )
    assert lines[1].startswith("  customer Coho Winery: GET /v1/customers/")


def test_without_an_app_registration_secret_the_command_says_what_to_set(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    database_url: str,
    profile_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ADVENTURE_WORKS_PC_SECRET")
    assert main(["partner", "apply", str(profile_file)]) == 0
    assert main(["partner-center", "sync", "--partner", SLUG]) == 1
    err = capsys.readouterr().err
    assert "ADVENTURE_WORKS_PC_SECRET" in err and "PARTNER_CENTER_CLIENT_SECRET" in err
    assert main(["partner-center", "sync", "--partner", "nobody"]) == 1
    assert "no partner with slug 'nobody'" in capsys.readouterr().err


def test_the_environment_overrides_the_profiles_registration(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    database_url: str,
    profile_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["partner", "apply", str(profile_file)]) == 0
    monkeypatch.setenv("PARTNER_CENTER_CLIENT_SECRET", "an-override-secret")
    fake.state.client_secret = "an-override-secret"
    from api.settings import get_settings

    get_settings.cache_clear()
    assert main(["partner-center", "sync", "--partner", SLUG]) == 0
    assert {t["client_secret"] for t in fake.state.token_requests} == {
        "an-override-secret"
    }


def test_the_scheduled_sync_runs_every_partner_with_a_registration(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    database_url: str,
    profile_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["partner", "apply", str(profile_file)]) == 0
    capsys.readouterr()
    assert main(["partner-center", "schedule", "--once"]) == 0
    assert (
        f"partner-center schedule: {SLUG} ok, changes written"
        in capsys.readouterr().out
    )
    with session_scope() as session:
        runs = session.scalars(select(PartnerCenterSyncRun)).all()
        assert [(r.trigger, r.status) for r in runs] == [("schedule", "ok")]


def test_the_schedule_names_a_partner_it_cannot_sync_once(
    fake: FakePartnerCenter,
    pc_settings: Settings,
    database_url: str,
    profile_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from api.partner_center.schedule import run_schedule
    from api.partner_center.sync import sync_partners_with_registration

    assert main(["partner", "apply", str(profile_file)]) == 0
    monkeypatch.delenv("ADVENTURE_WORKS_PC_SECRET")
    lines: list[str] = []
    rounds = iter(range(3))
    stop = threading.Event()

    def three_rounds() -> list:  # type: ignore[type-arg]
        if next(rounds) == 2:
            stop.set()
        return sync_partners_with_registration(settings=pc_settings)

    assert run_schedule(0.01, stop, sync=three_rounds, echo=lines.append) == 3
    assert len(lines) == 1
    assert lines[0].startswith(f"partner-center schedule: {SLUG} skipped: ")
    assert "ADVENTURE_WORKS_PC_SECRET" in lines[0]
    assert fake.api_requests() == []


def test_the_schedule_is_off_at_interval_zero() -> None:
    import threading

    from api.partner_center.schedule import run_schedule

    stop = threading.Event()
    stop.set()
    lines: list[str] = []
    assert run_schedule(0, stop, sync=lambda: [], echo=lines.append) == 0
    assert lines == [
        "partner-center schedule: off (PARTNER_CENTER_SYNC_INTERVAL_SECONDS=0)"
    ]
