"""Command line of the review dashboard: ``.venv/bin/python -m api.dashboard <command>``.

    create-lead EMAIL [--role lead|admin] [--name NAME]
                                  create a dashboard user; the password is asked
                                  twice (or read from stdin with --password-stdin)
    ingest [--loop] [--interval S]  read new Rasa events into the review tables
    consume [--batch N] [--no-ingest]
                                  production profile: read Rasa's event broker
                                  (RABBITMQ_URL) into transcript_events and ingest
    recompute                     recompute every summary (after a taxonomy change)
    delete-conversation SENDER_ID --by EMAIL
                                  a privacy request: delete it from every store
    seed-demo                     the local demo users and conversations

The databases are the ones named by DATABASE_URL and RASA_TRACKER_DB /
RASA_TRACKER_URL (api/settings.py); with RABBITMQ_URL set, conversations are read
from the broker's copy (api/dashboard/consumer.py) instead of the tracker store.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Sequence
from typing import Optional

from api.dashboard.auth import AuthError, create_lead
from api.dashboard.ingest import IngestConflict, ingest, recompute_all
from api.dashboard.models import DashboardRole
from api.dashboard.privacy import delete_conversation
from api.dashboard.transcripts import transcript_source
from api.db import session_scope


class CommandError(Exception):
    """A failure to report in one line, with exit status 1."""


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise CommandError("the two passwords differ")
    return first


def cmd_create_lead(args: argparse.Namespace) -> None:
    password = _password(args)
    try:
        with session_scope() as session:
            user = create_lead(session, args.email, password, args.role, name=args.name)
            email, role = user.email, user.role.value
    except AuthError as exc:
        raise CommandError(str(exc)) from exc
    print(f"create-lead: {email} can now sign in at /dashboard ({role})")


def cmd_ingest(args: argparse.Namespace) -> None:
    source = transcript_source()
    while True:
        try:
            with session_scope() as session:
                report = ingest(session, source)
            print(f"ingest: {report.describe()}", flush=True)
        except IngestConflict as exc:
            print(f"ingest: skipped, {exc}", flush=True)
        if not args.loop:
            return
        time.sleep(args.interval)


def cmd_consume(args: argparse.Namespace) -> None:
    from api.dashboard.consumer import main as consume

    if consume(batch=args.batch, run_ingest=not args.no_ingest) != 0:
        raise CommandError("RABBITMQ_URL is not set")


def cmd_recompute(args: argparse.Namespace) -> None:
    with session_scope() as session:
        count = recompute_all(session)
    print(f"recompute: {count} conversations recomputed")


def cmd_delete_conversation(args: argparse.Namespace) -> None:
    source = transcript_source()
    with session_scope() as session:
        report = delete_conversation(
            session, source, sender_id=args.sender_id, deleted_by=args.by
        )
    print(
        f"delete-conversation: {report.tracker_events_deleted} tracker events, "
        f"{report.review_rows_deleted} review conversations deleted, "
        f"{report.tickets_scrubbed} tickets scrubbed"
    )


def cmd_seed_demo(args: argparse.Namespace) -> None:
    from api.dashboard.demo import seed_dashboard_demo

    try:
        with session_scope() as session:
            summary = seed_dashboard_demo(session)
    except RuntimeError as exc:
        raise CommandError(str(exc)) from exc
    print(f"seed-demo: {summary.describe()}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m api.dashboard", description="Review dashboard commands."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    lead = commands.add_parser("create-lead", help="create a dashboard user")
    lead.add_argument("email")
    lead.add_argument(
        "--role", default="lead", choices=[r.value for r in DashboardRole]
    )
    lead.add_argument("--name", default="")
    lead.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    lead.set_defaults(handler=cmd_create_lead)

    run = commands.add_parser("ingest", help="read new Rasa events")
    run.add_argument("--loop", action="store_true", help="keep reading")
    run.add_argument("--interval", type=float, default=5.0, help="seconds between runs")
    run.set_defaults(handler=cmd_ingest)

    consume = commands.add_parser(
        "consume", help="read Rasa's event broker into the review tables"
    )
    consume.add_argument("--batch", type=int, default=500, help="messages per commit")
    consume.add_argument(
        "--no-ingest", action="store_true", help="only store the events"
    )
    consume.set_defaults(handler=cmd_consume)

    again = commands.add_parser("recompute", help="recompute every summary")
    again.set_defaults(handler=cmd_recompute)

    forget = commands.add_parser(
        "delete-conversation", help="delete a conversation everywhere (privacy)"
    )
    forget.add_argument("sender_id")
    forget.add_argument("--by", required=True, help="who asked for it (audit)")
    forget.set_defaults(handler=cmd_delete_conversation)

    demo = commands.add_parser("seed-demo", help="the local demo users and data")
    demo.set_defaults(handler=cmd_seed_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except CommandError as exc:
        print(f"{args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
