"""Command line for the database and demo: `.venv/bin/python -m api.cli <command>`.

    migrate                               upgrade the database to the newest schema
    seed-demo [--anchor DATE] [--if-empty] write the demo partners, customers, invoices
    init-db                               migrate, then seed-demo --if-empty
    mint-token --tenant T [--user U]      print a customer chat token (T: GUID or domain)
    classify [IN.csv] [-o OUT.csv]        topic/triage of each row's `text`, through Rasa

The database is the one named by DATABASE_URL (see api/settings.py); `classify` needs
the running Rasa server of RASA_URL (`make run`) and no database.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from collections.abc import Sequence
from datetime import date
from typing import Optional

from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from api import migrate as migrations
from api.dashboard import seed_dashboard_demo
from api.db import session_scope
from api.demo import DemoAlreadySeeded, seed_demo
from api.identity import mint_customer_token
from api.models import Customer, Partner
from api.services.nlu import Classification, NluClassifier, NluError, NluUnavailable
from api.settings import get_settings


class CommandError(Exception):
    """A failure to report in one line, with exit status 1."""


def _safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable DATABASE_URL>"


def cmd_migrate(args: argparse.Namespace) -> None:
    """Upgrade the database to the newest revision."""
    url = get_settings().database_url
    try:
        migrations.upgrade(url)
        revision = migrations.current_revision(url)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise CommandError(f"cannot migrate {_safe_url(url)}: {reason}") from exc
    print(f"migrate: {_safe_url(url)} is at revision {revision} (head)")


def cmd_seed_demo(args: argparse.Namespace) -> None:
    """Write the demo data, unless `--if-empty` and partners already exist."""
    anchor: date = args.anchor or date.today()
    try:
        with session_scope() as session:
            partners = session.scalar(select(func.count()).select_from(Partner)) or 0
            if partners and args.if_empty:
                print(
                    f"seed-demo: skipped, the database already has {partners} "
                    "partners (--if-empty)"
                )
                return
            summary = seed_demo(session, anchor=anchor)
            seed_dashboard_demo(session)
    except DemoAlreadySeeded as exc:
        raise CommandError(
            f"{exc}; use a fresh database, or --if-empty to skip seeding"
        ) from exc
    except SQLAlchemyError as exc:
        raise CommandError(
            f"cannot seed the database ({exc.__class__.__name__}); run "
            "`python -m api.cli migrate` first"
        ) from exc
    print(f"seed-demo: wrote the demo data, {summary.describe()}")
    if args.verbose:
        for case in summary.cases.values():
            where = case.invoice_number or case.subscription_id or ""
            print(
                f"  {case.key}: {case.customer} ({case.domain}) {where} - {case.title}"
            )


def cmd_init_db(args: argparse.Namespace) -> None:
    """Migrate, then seed the demo if the database has no partners."""
    cmd_migrate(args)
    cmd_seed_demo(argparse.Namespace(anchor=args.anchor, if_empty=True, verbose=False))


def cmd_mint_token(args: argparse.Namespace) -> None:
    """Print a signed chat token for a customer user (on stdout, alone)."""
    settings = get_settings()
    wanted = args.tenant.strip().lower()
    try:
        with session_scope() as session:
            customer = session.scalars(
                select(Customer).where(
                    or_(Customer.tenant_id == wanted, Customer.domain == wanted)
                )
            ).first()
            if customer is None:
                raise CommandError(f"no customer with tenant id or domain {wanted!r}")
            tenant_id, domain = customer.tenant_id, customer.domain
    except SQLAlchemyError as exc:
        raise CommandError(
            f"cannot read customers ({exc.__class__.__name__}); run "
            "`python -m api.cli init-db` first"
        ) from exc
    token = mint_customer_token(
        settings.chat_token_secret,
        tenant_id=tenant_id,
        user_id=args.user or f"admin@{domain}",
        name=args.name,
        email=args.email or (args.user if "@" in (args.user or "") else ""),
        ttl_seconds=args.ttl or settings.chat_token_ttl_seconds,
    )
    print(token)


PREDICTION_COLUMNS = (
    "predicted_topic",
    "predicted_triage",
    "confidence",
    "intent",
    "entities",
    "low_confidence",
    "error",
)


def _prediction_row(outcome: Classification | NluError) -> dict[str, str]:
    if isinstance(outcome, NluError):
        return dict.fromkeys(PREDICTION_COLUMNS, "") | {"error": str(outcome)}
    entities = [
        {"entity": e.entity, "value": e.value, "start": e.start, "end": e.end}
        for e in outcome.entities
    ]
    return {
        "predicted_topic": outcome.topic,
        "predicted_triage": outcome.triage,
        "confidence": f"{outcome.confidence:.4f}",
        "intent": outcome.intent,
        "entities": json.dumps(entities, ensure_ascii=False) if entities else "",
        "low_confidence": "yes" if outcome.low_confidence else "",
        "error": "",
    }


def cmd_classify(args: argparse.Namespace) -> None:
    """Classify the `text` column of a CSV; write it back with prediction columns.

    Every input column is kept; rows that cannot be classified (empty, too long)
    get an `error` and no prediction. When the input has `topic` / `triage`
    columns, a summary of agreement is printed on stderr.
    """
    with contextlib.ExitStack() as files:
        try:
            fh = (
                sys.stdin
                if args.input == "-"
                else files.enter_context(
                    open(args.input, encoding="utf-8-sig", newline="")
                )
            )
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
        except OSError as exc:
            raise CommandError(f"cannot read {args.input}: {exc.strerror}") from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CommandError(f"{args.input} is not a UTF-8 CSV file: {exc}") from exc
    if args.column not in columns:
        raise CommandError(
            f"{args.input} has no {args.column!r} column (columns: "
            f"{', '.join(columns) or 'none'}); name it with --column"
        )
    out_columns = columns + [c for c in PREDICTION_COLUMNS if c not in columns]
    try:
        with NluClassifier.from_settings() as classifier:
            outcomes = list(
                classifier.classify_many(row.get(args.column) or "" for row in rows)
            )
    except NluUnavailable as exc:
        raise CommandError(str(exc)) from exc
    agree = {"topic": [0, 0], "triage": [0, 0]}
    failed = 0
    with contextlib.ExitStack() as files:
        try:
            out = (
                sys.stdout
                if args.output == "-"
                else files.enter_context(
                    open(args.output, "w", encoding="utf-8", newline="")
                )
            )
        except OSError as exc:
            raise CommandError(f"cannot write {args.output}: {exc.strerror}") from exc
        writer = csv.DictWriter(out, fieldnames=out_columns, extrasaction="ignore")
        writer.writeheader()
        for row, outcome in zip(rows, outcomes):
            predicted = _prediction_row(outcome)
            writer.writerow({**row, **predicted})
            if predicted["error"]:
                failed += 1
                continue
            for key in agree:
                expected = (row.get(key) or "").strip()
                if expected:
                    agree[key][1] += 1
                    agree[key][0] += expected == predicted[f"predicted_{key}"]
    summary = f"classify: {len(rows)} rows, {failed} not classified"
    for key, (hits, total) in agree.items():
        if total:
            summary += f"; {key} agrees on {hits}/{total} ({hits / total:.1%})"
    print(summary, file=sys.stderr)


def _anchor(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m api.cli`."""
    parser = argparse.ArgumentParser(
        prog="python -m api.cli", description="Database and demo commands."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="upgrade the database to head")
    migrate.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed-demo", help="write the demo data")
    seed.add_argument(
        "--anchor",
        type=_anchor,
        default=None,
        help="the day the demo treats as today (default: today)",
    )
    seed.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing when the database already has partners",
    )
    seed.add_argument(
        "--verbose", "-v", action="store_true", help="also list the notable cases"
    )
    seed.set_defaults(handler=cmd_seed_demo)

    init = commands.add_parser("init-db", help="migrate, then seed-demo --if-empty")
    init.add_argument("--anchor", type=_anchor, default=None, help=argparse.SUPPRESS)
    init.set_defaults(handler=cmd_init_db)

    mint = commands.add_parser("mint-token", help="print a customer chat token")
    mint.add_argument("--tenant", required=True, help="tenant GUID or domain")
    mint.add_argument("--user", default="", help="user id (default: admin@<domain>)")
    mint.add_argument("--name", default="", help="display name in the token")
    mint.add_argument("--email", default="", help="email in the token")
    mint.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    mint.set_defaults(handler=cmd_mint_token)

    classify = commands.add_parser(
        "classify",
        help="classify a CSV of utterances through the running Rasa model",
        description=(
            "Reads a CSV with a text column, asks Rasa's parse endpoint (RASA_URL, "
            "RASA_AUTH_TOKEN) for each row, and writes the CSV back with "
            + ", ".join(PREDICTION_COLUMNS)
            + " appended."
        ),
    )
    classify.add_argument("input", nargs="?", default="-", help="CSV file (- = stdin)")
    classify.add_argument(
        "-o", "--output", default="-", help="CSV file to write (- = stdout)"
    )
    classify.add_argument(
        "--column", default="text", help="the column holding the utterances"
    )
    classify.set_defaults(handler=cmd_classify)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; 0 on success, 1 with a one-line error otherwise."""
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except CommandError as exc:
        print(f"{args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:  # the settings refused the environment
        problems = "; ".join(str(error["msg"]) for error in exc.errors())
        print(f"{args.command}: error: invalid settings: {problems}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
