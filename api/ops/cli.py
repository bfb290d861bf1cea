"""`csp-desk`: the one command line of the product, for everything an operator does.

    csp-desk --help                 every command, grouped
    csp-desk init-db                migrate, then load the demo when the database is empty
    csp-desk run                    start everything (what `make run` does)
    csp-desk mint-token --tenant contoso.com
    csp-desk chat --tenant contoso.com
    csp-desk dashboard create-lead lead@partner.example
    csp-desk transcripts consume    the production profile's transcript consumer
    csp-desk privacy delete-conversation SENDER_ID --by dpo@partner.example
    csp-desk partner apply northwind.yml    create or update a partner from its profile
    csp-desk partner export northwind -o northwind.yml
    csp-desk partner-center sync --partner northwind   customers, subscriptions, invoices
    csp-desk import invoices october.csv --partner northwind   the partner's invoices
    csp-desk webhooks deliver       the helpdesk webhooks' delivery worker
    csp-desk webhooks replay 42     send a failed delivery again

Installed into `.venv` by `make setup` (`[project.scripts]` in pyproject.toml);
`python -m api` runs the same program. The databases are the ones the settings name
(api/settings.py); commands that talk to Rasa need the running stack (`make run`).
Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import IO, Annotated, Any, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from api.domain import migrate as migrations
from api.domain.db import session_scope
from api.domain.models import Customer, Partner
from api.settings import Settings, get_settings

app = typer.Typer(
    name="csp-desk",
    help="The CSP billing desk: database, demo, chat, dashboard and operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dashboard = typer.Typer(
    help="Review dashboard: users and summaries.", no_args_is_help=True
)
transcripts = typer.Typer(
    help="Transcripts: what feeds the review dashboard.", no_args_is_help=True
)
privacy = typer.Typer(help="Privacy requests.", no_args_is_help=True)
partner = typer.Typer(
    help="Partner profiles: apply a profile file, export one (docs/onboarding.md).",
    no_args_is_help=True,
)
app.add_typer(dashboard, name="dashboard")
app.add_typer(transcripts, name="transcripts")
app.add_typer(privacy, name="privacy")
webhooks = typer.Typer(
    help="Helpdesk webhooks: the delivery worker, the log, replays "
    "(docs/helpdesk-webhooks.md).",
    no_args_is_help=True,
)
partner_center = typer.Typer(
    help="Partner Center: sync a partner's customers, subscriptions, orders and "
    "Microsoft invoices; the app+user consent (docs/onboarding.md).",
    no_args_is_help=True,
)
imports = typer.Typer(
    help="Import a partner's own records: its invoices to its customers "
    "(docs/onboarding.md).",
    no_args_is_help=True,
)
app.add_typer(partner, name="partner")
app.add_typer(partner_center, name="partner-center")
app.add_typer(imports, name="import")
app.add_typer(webhooks, name="webhooks")
tickets = typer.Typer(
    help="Tickets: escalate one to Microsoft (docs/escalation.md).",
    no_args_is_help=True,
)
app.add_typer(tickets, name="tickets")

err = Console(stderr=True, highlight=False)


class CommandError(Exception):
    """A failure to report in one line, with exit status 1."""


def fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False)
    return typer.Exit(1)


@contextmanager
def reported() -> Iterator[None]:
    """Turn the failures an operator can act on into one line and exit status 1."""
    try:
        yield
    except CommandError as exc:
        raise fail(str(exc)) from None
    except ValidationError as exc:  # the settings refused the environment
        problems = "; ".join(str(error["msg"]) for error in exc.errors())
        raise fail(f"invalid settings: {problems}") from None


def _safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable DATABASE_URL>"


def _anchor(value: Optional[str]) -> date:
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value!r}") from None


# --------------------------------------------------------------------------- database


def do_migrate() -> None:
    url = get_settings().database_url
    try:
        migrations.upgrade(url)
        revision = migrations.current_revision(url)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise CommandError(f"cannot migrate {_safe_url(url)}: {reason}") from exc
    typer.echo(f"migrate: {_safe_url(url)} is at revision {revision} (head)")


def do_seed_demo(anchor: date, *, if_empty: bool, verbose: bool = False) -> None:
    from api.demo.dashboard import seed_dashboard_demo
    from api.demo.seed import DemoAlreadySeeded, seed_demo

    try:
        with session_scope() as session:
            partners = session.scalar(select(func.count()).select_from(Partner)) or 0
            if partners and if_empty:
                typer.echo(
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
            "`csp-desk migrate` first"
        ) from exc
    typer.echo(f"seed-demo: wrote the demo data, {summary.describe()}")
    if verbose:
        for case in summary.cases.values():
            where = case.invoice_number or case.subscription_id or ""
            typer.echo(
                f"  {case.key}: {case.customer} ({case.domain}) {where} - {case.title}"
            )


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema."""
    with reported():
        do_migrate()


@app.command("seed-demo")
def seed_demo_command(
    anchor: Annotated[
        Optional[str],
        typer.Option(help="the day the demo treats as today (YYYY-MM-DD)"),
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="do nothing when partners exist")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="also list the notable cases")
    ] = False,
) -> None:
    """Write the demo partners, customers, invoices and dashboard data."""
    with reported():
        do_seed_demo(_anchor(anchor), if_empty=if_empty, verbose=verbose)


@app.command("init-db")
def init_db(
    anchor: Annotated[Optional[str], typer.Option(hidden=True)] = None,
) -> None:
    """Migrate, then load the demo when the database has no partners."""
    with reported():
        do_migrate()
        do_seed_demo(_anchor(anchor), if_empty=True)


# --------------------------------------------------------------------------- chat


def customer_by_tenant_or_domain(tenant: str) -> tuple[str, str]:
    """(tenant id, domain) of the customer named by tenant id or domain."""
    wanted = tenant.strip().lower()
    try:
        with session_scope() as session:
            customer = session.scalars(
                select(Customer).where(
                    or_(Customer.tenant_id == wanted, Customer.domain == wanted)
                )
            ).first()
            if customer is None:
                raise CommandError(f"no customer with tenant id or domain {wanted!r}")
            return customer.tenant_id, customer.domain
    except SQLAlchemyError as exc:
        raise CommandError(
            f"cannot read customers ({exc.__class__.__name__}); run "
            "`csp-desk init-db` first"
        ) from exc


@app.command("mint-token")
def mint_token(
    tenant: Annotated[str, typer.Option(help="the customer's tenant GUID or domain")],
    user: Annotated[str, typer.Option(help="user id (default: admin@<domain>)")] = "",
    name: Annotated[str, typer.Option(help="display name in the token")] = "",
    email: Annotated[str, typer.Option(help="email in the token")] = "",
    ttl: Annotated[
        Optional[int], typer.Option(help="lifetime in seconds", min=1)
    ] = None,
) -> None:
    """Print a signed chat token for a customer user (alone, on stdout)."""
    from common.identity import mint_customer_token

    with reported():
        settings = get_settings()
        tenant_id, domain = customer_by_tenant_or_domain(tenant)
        typer.echo(
            mint_customer_token(
                settings.chat_token_secret,
                tenant_id=tenant_id,
                user_id=user or f"admin@{domain}",
                name=name,
                email=email or (user if "@" in user else ""),
                ttl_seconds=ttl or settings.chat_token_ttl_seconds,
            )
        )


@app.command()
def chat(
    tenant: Annotated[
        Optional[str],
        typer.Option(
            help="chat as this customer (tenant id or domain); default: anonymous"
        ),
    ] = None,
    user: Annotated[str, typer.Option(help="the user id in the token")] = "",
) -> None:
    """Talk to the running bot from this terminal, through the whole stack."""
    from api.ops.chat import run_chat

    with reported():
        run_chat(tenant, user)


PREDICTION_COLUMNS = (
    "predicted_topic",
    "predicted_triage",
    "confidence",
    "intent",
    "entities",
    "low_confidence",
    "error",
)


@contextmanager
def _open(path: str, mode: str, std: IO[str]) -> Iterator[IO[str]]:
    if path == "-":
        yield std
        return
    try:
        encoding = "utf-8-sig" if "r" in mode else "utf-8"
        with open(path, mode, encoding=encoding, newline="") as fh:
            yield fh
    except OSError as exc:
        raise CommandError(f"cannot open {path}: {exc.strerror}") from exc


@app.command()
def classify(
    source: Annotated[str, typer.Argument(help="CSV file (- = stdin)")] = "-",
    output: Annotated[
        str, typer.Option("--output", "-o", help="CSV file to write (- = stdout)")
    ] = "-",
    column: Annotated[str, typer.Option(help="the column holding the text")] = "text",
) -> None:
    """Classify a CSV of utterances through the running Rasa model.

    Every input column is kept and the prediction columns are appended; rows that
    cannot be classified get an `error`. When the input has `topic` / `triage`
    columns, their agreement is printed on stderr.
    """
    from api.domain.services.nlu import NluClassifier, NluError, NluUnavailable

    with reported():
        with _open(source, "r", sys.stdin) as fh:
            try:
                reader = csv.DictReader(fh)
                columns = list(reader.fieldnames or [])
                rows = list(reader)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise CommandError(f"{source} is not a UTF-8 CSV file: {exc}") from exc
        if column not in columns:
            raise CommandError(
                f"{source} has no {column!r} column (columns: "
                f"{', '.join(columns) or 'none'}); name it with --column"
            )
        try:
            with (
                NluClassifier.from_settings() as classifier,
                Progress(console=err, transient=True) as progress,
            ):
                task = progress.add_task("classifying", total=len(rows))
                outcomes = []
                for outcome in classifier.classify_many(
                    row.get(column) or "" for row in rows
                ):
                    outcomes.append(outcome)
                    progress.advance(task)
        except NluUnavailable as exc:
            raise CommandError(str(exc)) from exc
        agree = {"topic": [0, 0], "triage": [0, 0]}
        failed = 0
        out_columns = columns + [c for c in PREDICTION_COLUMNS if c not in columns]
        with _open(output, "w", sys.stdout) as out:
            writer = csv.DictWriter(out, fieldnames=out_columns, extrasaction="ignore")
            writer.writeheader()
            for row, outcome in zip(rows, outcomes):
                if isinstance(outcome, NluError):
                    predicted = dict.fromkeys(PREDICTION_COLUMNS, "") | {
                        "error": str(outcome)
                    }
                else:
                    entities = [
                        {
                            "entity": e.entity,
                            "value": e.value,
                            "start": e.start,
                            "end": e.end,
                        }
                        for e in outcome.entities
                    ]
                    predicted = {
                        "predicted_topic": outcome.topic,
                        "predicted_triage": outcome.triage,
                        "confidence": f"{outcome.confidence:.4f}",
                        "intent": outcome.intent,
                        "entities": json.dumps(entities, ensure_ascii=False)
                        if entities
                        else "",
                        "low_confidence": "yes" if outcome.low_confidence else "",
                        "error": "",
                    }
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
        err.print(summary, markup=False)


# --------------------------------------------------------------------------- servers


@app.command()
def run() -> None:
    """Start Rasa, the action server and the API (the profile APP_MODE names)."""
    from api.ops.launch import main as launch

    with reported():
        raise typer.Exit(launch([]))


@app.command(hidden=True)
def ready() -> None:
    """Wait for the servers and print where to go (the Procfile's last line)."""
    from api.ops.launch import main as launch

    raise typer.Exit(launch(["ready"]))


@app.command()
def serve() -> None:
    """Serve the HTTP API alone, on API_HOST:API_PORT."""
    import uvicorn

    with reported():
        settings = get_settings()
        uvicorn.run(
            "api.web.app:app",
            host=settings.api_host,
            port=settings.api_port,
            **forwarded_headers(settings),
        )


def forwarded_headers(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for X-Forwarded-For/-Proto: believed only from the proxies
    named in TRUSTED_PROXIES, and from nobody when it is empty. (uvicorn's own
    default trusts 127.0.0.1, so a client on the same host, or any client of a
    local proxy that passes the header on, could choose its address and walk
    past the per-address limit of the public routes.)"""
    proxies = settings.trusted_proxy_list()
    if not proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": proxies}


# --------------------------------------------------------------------------- dashboard


@dashboard.command("create-lead")
def create_lead_command(
    email: Annotated[str, typer.Argument(help="the lead's e-mail address")],
    role: Annotated[str, typer.Option(help="lead, admin or agent")] = "lead",
    name: Annotated[
        str, typer.Option(help="display name (customers see an agent's)")
    ] = "",
    partner: Annotated[
        str, typer.Option(help="an agent's partner (slug): only its chats")
    ] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Create a dashboard user; the password is asked twice (or read from stdin)."""
    from api.dashboard.auth import AuthError, create_lead

    with reported():
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt(
                "Password (12 characters or more)",
                hide_input=True,
                confirmation_prompt=True,
            )
        try:
            with session_scope() as session:
                partner_id = None
                if partner:
                    found = session.scalars(
                        select(Partner).where(Partner.slug == partner)
                    ).first()
                    if found is None:
                        raise CommandError(f"no partner {partner!r}")
                    partner_id = found.id
                user = create_lead(
                    session, email, password, role, name=name, partner_id=partner_id
                )
                email, role = user.email, user.role.value
        except AuthError as exc:
            raise CommandError(str(exc)) from exc
        typer.echo(f"create-lead: {email} can now sign in at /dashboard ({role})")


@dashboard.command()
def ingest(
    loop: Annotated[bool, typer.Option("--loop", help="keep reading")] = False,
    interval: Annotated[float, typer.Option(help="seconds between runs")] = 5.0,
) -> None:
    """Read new Rasa events into the review tables."""
    from api.dashboard.ingest import IngestConflict
    from api.dashboard.ingest import ingest as run_ingest
    from api.dashboard.transcripts import transcript_source

    with reported():
        source = transcript_source()
        while True:
            try:
                with session_scope() as session:
                    report = run_ingest(session, source)
                typer.echo(f"ingest: {report.describe()}")
            except IngestConflict as exc:
                typer.echo(f"ingest: skipped, {exc}")
            if not loop:
                return
            time.sleep(interval)


@dashboard.command()
def recompute() -> None:
    """Recompute every conversation summary (after a taxonomy change)."""
    from api.dashboard.ingest import recompute_all

    with reported(), session_scope() as session:
        count = recompute_all(session)
    typer.echo(f"recompute: {count} conversations recomputed")


@dashboard.command("seed-demo")
def dashboard_seed_demo() -> None:
    """The local demo users and conversations only."""
    from api.demo.dashboard import seed_dashboard_demo

    with reported():
        try:
            with session_scope() as session:
                summary = seed_dashboard_demo(session)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        typer.echo(f"seed-demo: {summary.describe()}")


@transcripts.command()
def consume(
    batch: Annotated[int, typer.Option(help="messages per commit", min=1)] = 500,
    no_ingest: Annotated[
        bool, typer.Option("--no-ingest", help="only store the events")
    ] = False,
) -> None:
    """Read Rasa's event broker (RABBITMQ_URL) into the review tables."""
    from api.dashboard.consumer import main as consume_events

    with reported():
        if consume_events(batch=batch, run_ingest=not no_ingest) != 0:
            raise CommandError("RABBITMQ_URL is not set")


@privacy.command("delete-conversation")
def delete_conversation_command(
    sender_id: Annotated[str, typer.Argument(help="the conversation's sender id")],
    by: Annotated[str, typer.Option(help="who asked for it (kept for audit)")],
) -> None:
    """Delete a conversation from every store that holds it."""
    from api.dashboard.privacy import delete_conversation
    from api.dashboard.transcripts import transcript_source

    with reported(), session_scope() as session:
        report = delete_conversation(
            session, transcript_source(), sender_id=sender_id, deleted_by=by
        )
    typer.echo(
        f"delete-conversation: {report.tracker_events_deleted} tracker events, "
        f"{report.review_rows_deleted} review conversations deleted, "
        f"{report.tickets_scrubbed} tickets scrubbed, "
        f"{report.webhook_events_deleted} webhook events deleted"
    )


# --------------------------------------------------------------------------- partners


def _profile_problems(problems: Sequence[object]) -> typer.Exit:
    """Each problem of a profile file on its own line (`file:line: problem`)."""
    for problem in problems:
        err.print(str(problem), markup=False, soft_wrap=True)
    return typer.Exit(1)


def _partner_error(message: str) -> typer.Exit:
    """`fail`, never wrapped: file paths make these lines long."""
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    return typer.Exit(1)


@partner.command("apply")
def partner_apply(
    path: Annotated[str, typer.Argument(help="the partner's profile (YAML)")],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="check and report, change nothing"),
    ] = False,
) -> None:
    """Create a partner from its profile file, or update it to match the file.

    Applying the same file again changes nothing; staff missing from the file are
    made inactive. Problems in the file are listed as `file:line: problem`.
    """
    from api.domain.profiles import (
        ProfileConflict,
        ProfileError,
        apply_profile,
        load_profile,
    )

    with reported():
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            raise _profile_problems(exc.problems) from None
        try:
            with session_scope() as session:
                report = apply_profile(session, profile)
                if dry_run:
                    session.rollback()
        except ProfileConflict as exc:
            raise _partner_error(f"{path}: {exc}") from None
        except SQLAlchemyError as exc:
            raise _partner_error(
                f"cannot write the partner ({exc.__class__.__name__}); run "
                "`csp-desk migrate` first"
            ) from None
        prefix = (
            "partner apply (dry run, nothing written)" if dry_run else "partner apply"
        )
        typer.echo(f"{prefix}: {report.describe()}")


@partner.command("export")
def partner_export(
    slug: Annotated[str, typer.Argument(help="the partner's slug, e.g. northwind")],
    output: Annotated[
        str, typer.Option("--output", "-o", help="YAML file to write (- = stdout)")
    ] = "-",
) -> None:
    """Write a partner's profile as a file that `partner apply` takes back.

    A partner created before profiles existed may lack fields a profile requires
    (structured support hours); they are written empty and listed on stderr.
    """
    from api.domain.profiles import (
        ProfileError,
        dump_profile,
        export_profile_data,
        parse_profile,
    )

    with reported():
        try:
            with session_scope() as session:
                row = session.scalar(select(Partner).where(Partner.slug == slug))
                if row is None:
                    slugs = session.scalars(select(Partner.slug).order_by(Partner.slug))
                    raise _partner_error(
                        f"no partner with slug {slug!r} (partners: "
                        f"{', '.join(slugs) or 'none'})"
                    )
                text = dump_profile(export_profile_data(row))
        except SQLAlchemyError as exc:
            raise _partner_error(
                f"cannot read partners ({exc.__class__.__name__}); run "
                "`csp-desk migrate` first"
            ) from None
        try:
            parse_profile(text, "<stdout>" if output == "-" else output)
        except ProfileError as exc:
            for problem in exc.problems:
                err.print(f"warning: {problem}", markup=False, soft_wrap=True)
            err.print(
                "warning: fill these in before `csp-desk partner apply`", markup=False
            )
        with _open(output, "w", sys.stdout) as out:
            out.write(text)
        if output != "-":
            err.print(
                f"partner export: wrote {slug} to {output}",
                markup=False,
                soft_wrap=True,
            )


@partner.command("schema")
def partner_schema(
    output: Annotated[
        str, typer.Option("--output", "-o", help="JSON file to write (- = stdout)")
    ] = "-",
) -> None:
    """Print the JSON Schema of profile files (docs/partner-profile.schema.json)."""
    from api.domain.profiles import profile_json_schema

    with reported(), _open(output, "w", sys.stdout) as out:
        out.write(
            json.dumps(profile_json_schema(), indent=2, ensure_ascii=False) + "\n"
        )


# --------------------------------------------------------------------------- imports


@imports.command("invoices")
def import_invoices_command(
    path: Annotated[str, typer.Argument(help="the invoice file (.csv or .jsonl)")],
    slug: Annotated[str, typer.Option("--partner", help="the partner's slug")],
    file_format: Annotated[
        Optional[str],
        typer.Option("--format", help="csv or jsonl (default: from the file name)"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and report, change nothing")
    ] = False,
) -> None:
    """Import the partner's invoices to its customers, one row per invoice line.

    All or nothing: problems are listed as `file:line: problem` and nothing is
    written. Importing the same file again changes nothing. The format is in
    docs/onboarding.md, "Importing your invoices".
    """
    from api.imports.invoices import (
        MAX_PROBLEMS,
        InvoiceImportError,
        UnknownPartner,
        import_invoices,
    )

    with reported():
        try:
            with session_scope() as session:
                report = import_invoices(
                    session, path, partner_slug=slug, file_format=file_format
                )
                if dry_run:
                    session.rollback()
        except UnknownPartner:
            raise _partner_error(f"no partner with slug {slug!r}") from None
        except InvoiceImportError as exc:
            for problem in exc.problems[:MAX_PROBLEMS]:
                err.print(str(problem), markup=False, soft_wrap=True)
            more = len(exc.problems) - MAX_PROBLEMS
            if more > 0:
                err.print(f"... and {more} more problems", markup=False)
            err.print("import invoices: nothing was imported", markup=False)
            raise typer.Exit(1) from None
        except SQLAlchemyError as exc:
            raise _partner_error(
                f"cannot write the invoices ({exc.__class__.__name__}); run "
                "`csp-desk migrate` first"
            ) from None
        prefix = (
            "import invoices (dry run, nothing written)"
            if dry_run
            else "import invoices"
        )
        typer.echo(f"{prefix}: {report.describe()}")


# --------------------------------------------------------------------------- Partner Center


@contextmanager
def _partner_center_reported() -> Iterator[None]:
    """Partner Center and database failures as one line (exit status 1)."""
    from api.partner_center.errors import PartnerCenterError

    with reported():
        try:
            yield
        except PartnerCenterError as exc:
            raise _partner_error(str(exc)) from None
        except SQLAlchemyError as exc:
            raise _partner_error(
                f"cannot use the database ({exc.__class__.__name__}); run "
                "`csp-desk migrate` first"
            ) from None


@partner_center.command("sync")
def partner_center_sync(
    slug: Annotated[str, typer.Option("--partner", help="the partner's slug")],
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="log every call (MS-RequestId, ...)"),
    ] = False,
) -> None:
    """Bring a partner's customers, subscriptions, orders and invoices in.

    Reads Partner Center with the app registration of the partner's profile. Each
    customer and each invoice is written in its own transaction: what failed is
    listed at the end (exit status 1), the rest is kept. A second run changes
    nothing unless Partner Center changed.
    """
    import logging

    from api.partner_center.sync import sync_partner

    if verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
        )
    with _partner_center_reported():
        with Progress(console=err, transient=True) as progress:
            tasks: dict[str, Any] = {}

            def step(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done, total=total)

            report = sync_partner(slug, trigger="command", progress=step)
        typer.echo(report.summary())
        if report.status != "ok":
            raise typer.Exit(1)


@partner_center.command("schedule")
def partner_center_schedule(
    once: Annotated[
        bool, typer.Option("--once", help="one round, then exit (for cron or tests)")
    ] = False,
) -> None:
    """Sync every partner with an app registration, on schedule, until stopped.

    Every PARTNER_CENTER_SYNC_INTERVAL_SECONDS (0: off); the process runner's
    `partner-center` line.
    """
    import logging
    import signal
    import threading

    from api.partner_center.schedule import run_schedule

    with _partner_center_reported():
        settings = get_settings()
        logging.basicConfig(
            level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
        stop = threading.Event()
        previous = {
            number: signal.signal(number, lambda *_args: stop.set())
            for number in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            run_schedule(
                settings.partner_center_sync_interval_seconds,
                stop,
                once=once,
                echo=lambda line: typer.echo(line),
            )
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


@partner_center.command("runs")
def partner_center_runs() -> None:
    """Each partner's last sync: when, how it went, what it counted and what failed."""
    from api.partner_center.status import last_runs

    with _partner_center_reported():
        with session_scope() as session:
            runs = last_runs(session)
        if not runs:
            typer.echo("partner-center runs: no sync has run yet")
        for run in runs:
            when = (run.finished_at or run.started_at).strftime("%Y-%m-%d %H:%M UTC")
            typer.echo(
                f"{run.partner}: {run.status} ({run.trigger}, {when}); customers "
                f"{run.count('customers', 'read')}, subscriptions "
                f"{run.count('subscriptions', 'read')}, Microsoft invoices "
                f"{run.count('invoices', 'read')}"
                + (f"; {len(run.failures)} failed" if run.failures else "")
            )
            for failure in run.failures:
                typer.echo(
                    f"  {failure.get('kind')} {failure.get('name') or failure.get('key')}: "
                    f"{failure.get('error')}"
                )


def _partner_row(session: Any, slug: str) -> Partner:
    row = session.scalar(select(Partner).where(Partner.slug == slug))
    if row is None:
        raise _partner_error(f"no partner with slug {slug!r}")
    return row


@partner_center.command("new-key")
def partner_center_new_key() -> None:
    """Print a new PARTNER_CENTER_TOKEN_KEY (it encrypts stored refresh tokens)."""
    from api.partner_center.credentials import new_key

    typer.echo(new_key())


@partner_center.command("store-token")
def partner_center_store_token(
    slug: Annotated[str, typer.Option("--partner", help="the partner's slug")],
    account: Annotated[
        str, typer.Option(help="who consented, for the record (an e-mail)")
    ] = "",
) -> None:
    """Store an app+user refresh token read from stdin, encrypted.

    For a token obtained by the Secure Application Model's consent elsewhere,
    e.g. PowerShell's New-PartnerAccessToken.
    """
    from api.partner_center.credentials import store_refresh_token

    token = sys.stdin.read().strip()
    with _partner_center_reported():
        settings = get_settings()
        with session_scope() as session:
            store_refresh_token(
                session, _partner_row(session, slug), token, settings, account or None
            )
        err.print(f"partner-center: app+user token of {slug} stored", markup=False)


@partner_center.command("consent")
def partner_center_consent(
    slug: Annotated[str, typer.Option("--partner", help="the partner's slug")],
    redirect_uri: Annotated[
        str,
        typer.Option(help="a redirect URI of the app registration (Web platform)"),
    ] = "http://localhost:8400",
) -> None:
    """Consent once as a Partner Center user; the refresh token is kept encrypted.

    Open the printed address, sign in as a Partner Center admin agent (with MFA)
    and consent, then paste the address the browser was sent to.
    """
    import warnings
    from urllib.parse import parse_qs, urlsplit

    import httpx

    from api.partner_center.auth import USER_SCOPE, confidential_app, registration_for
    from api.partner_center.client import ssl_context
    from api.partner_center.credentials import store_refresh_token
    from api.partner_center.errors import PartnerCenterAuthError

    with _partner_center_reported():
        settings = get_settings()
        with session_scope() as session:
            registration = registration_for(_partner_row(session, slug), settings)
        with httpx.Client(verify=ssl_context(), timeout=30) as http:
            app_ = confidential_app(
                registration, settings.partner_center_authority, http
            )
            with warnings.catch_warnings():
                # MSAL recommends form_post; here the operator pastes the address
                # back, so the code comes in the query. MSAL's flow adds PKCE, so
                # a code seen in the address bar is useless to anyone else.
                warnings.filterwarnings("ignore", message="response_mode='form_post'")
                flow = app_.initiate_auth_code_flow(
                    [USER_SCOPE], redirect_uri=redirect_uri, prompt="consent"
                )
            err.print("Open this address, sign in and consent:", markup=False)
            typer.echo(flow["auth_uri"])
            answer = typer.prompt("Paste the address the browser was sent to")
            params = {k: v[0] for k, v in parse_qs(urlsplit(answer).query).items()}
            try:
                result = app_.acquire_token_by_auth_code_flow(flow, params)
            except ValueError as exc:  # another flow's state, or no code at all
                raise PartnerCenterAuthError(
                    f"that address does not finish this consent: {exc}"
                ) from None
        refresh = result.get("refresh_token") if isinstance(result, dict) else None
        if not refresh:
            raise PartnerCenterAuthError(
                "no refresh token came back: "
                f"{result.get('error', '')} {result.get('error_description', '')}".strip()
            )
        account = (result.get("id_token_claims") or {}).get("preferred_username")
        with session_scope() as session:
            store_refresh_token(
                session, _partner_row(session, slug), refresh, settings, account
            )
        typer.echo(f"partner-center consent: app+user token of {slug} stored")


# --------------------------------------------------------------------------- webhooks


@webhooks.command("deliver")
def webhooks_deliver(
    once: Annotated[
        bool, typer.Option("--once", help="one round, then exit (for cron or tests)")
    ] = False,
) -> None:
    """Send the outbox's webhooks until stopped (Ctrl-C or SIGTERM finishes the
    deliveries in hand first)."""
    import logging
    import signal
    import threading

    from api.domain.db import get_sessionmaker
    from api.domain.services.webhook_delivery import DeliveryConfig, run_worker

    with reported():
        settings = get_settings()
        config = DeliveryConfig.from_settings(settings)
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
        )
        stop = threading.Event()
        previous = {
            number: signal.signal(number, lambda *_args: stop.set())
            for number in (signal.SIGTERM, signal.SIGINT)
        }
        if not once:
            err.print(
                f"webhooks deliver: delivering from {_safe_url(settings.database_url)}",
                markup=False,
                soft_wrap=True,
            )
        try:
            attempted = run_worker(get_sessionmaker(), config, stop=stop, once=once)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if once:
            typer.echo(f"webhooks deliver: {attempted} attempts")


@webhooks.command("replay")
def webhooks_replay(
    delivery_id: Annotated[
        int, typer.Argument(help="the delivery's id (the log's first column)", min=1)
    ],
) -> None:
    """Queue a failed (or delivered) delivery again; the worker sends it at once."""
    from api.domain.services.webhooks import ReplayError, replay_delivery

    with reported():
        try:
            with session_scope() as session:
                delivery = replay_delivery(session, delivery_id)
                what = f"{delivery.event.type} {delivery.event.message_id}"
                where = delivery.endpoint
        except ReplayError as exc:
            raise CommandError(str(exc)) from exc
        except SQLAlchemyError as exc:
            raise CommandError(
                f"cannot read the webhook log ({exc.__class__.__name__}); run "
                "`csp-desk migrate` first"
            ) from exc
        typer.echo(
            f"webhooks replay: delivery {delivery_id} ({what}) to {where} queued"
        )


@webhooks.command("list")
def webhooks_list(
    status: Annotated[
        Optional[str], typer.Option(help="pending, delivered or failed")
    ] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first", min=1)] = 20,
) -> None:
    """The delivery log, newest first: id, status, attempts, answer, event, endpoint."""
    from api.domain.models import DeliveryStatus
    from api.domain.services.webhook_signing import display_url
    from api.domain.services.webhooks import LogFilters, delivery_log

    with reported():
        try:
            wanted = DeliveryStatus(status) if status else None
        except ValueError:
            raise CommandError(
                f"no status {status!r} (pending, delivered or failed)"
            ) from None
        try:
            with session_scope() as session:
                rows = delivery_log(
                    session, filters=LogFilters(status=wanted), limit=limit
                )
                lines = [
                    "\t".join(
                        [
                            str(row.id),
                            row.status.value,
                            f"{row.attempts} attempts",
                            str(row.last_status_code or "-"),
                            row.event.type,
                            row.event.subject,
                            f"{row.endpoint} {display_url(row.url)}",
                            row.last_error or "",
                        ]
                    )
                    for row in rows
                ]
        except SQLAlchemyError as exc:
            raise CommandError(
                f"cannot read the webhook log ({exc.__class__.__name__}); run "
                "`csp-desk migrate` first"
            ) from exc
        for line in lines:
            typer.echo(line)


@webhooks.command("new-secret")
def webhooks_new_secret() -> None:
    """Print a new signing secret (whsec_...) for an endpoint, alone on stdout."""
    from api.domain.services.webhook_signing import new_secret

    typer.echo(new_secret())


@webhooks.command("schema")
def webhooks_schema(
    output: Annotated[
        str, typer.Option("--output", "-o", help="JSON file to write (- = stdout)")
    ] = "-",
) -> None:
    """Print the JSON Schema of the payloads (docs/helpdesk-webhooks.schema.json)."""
    from api.domain.services.webhooks import payload_json_schema

    with reported(), _open(output, "w", sys.stdout) as out:
        out.write(
            json.dumps(payload_json_schema(), indent=2, ensure_ascii=False) + "\n"
        )


@tickets.command("escalate-to-microsoft")
def tickets_escalate_to_microsoft(
    ticket_id: Annotated[str, typer.Argument(help="the ticket, e.g. CSP-000012")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="file without asking to confirm")
    ] = False,
    topic: Annotated[
        Optional[str],
        typer.Option("--topic", help="a Partner Center support topic id to use"),
    ] = None,
) -> None:
    """Escalate a ticket to Microsoft: show the packet, then file it as a Partner
    Center service request (commercial tickets, Partner cloud support) once.

    For Premier or Advanced Support for Partners it prints the packet to file in
    Services Hub; record the case number with PATCH /api/v1/tickets/{id}.
    Filing again never files a second request: it prints the one filed.
    """
    import re

    from api.domain.db import session_scope
    from api.domain.services.tickets import ticket_by_public_id
    from api.domain.services.webhooks import actor_for
    from api.partner_center import service_requests as sr
    from api.settings import get_settings

    digits = re.sub(r"\D", "", ticket_id)
    if not digits:
        err.print(f"Not a ticket id: {ticket_id}")
        raise typer.Exit(2)
    public_id = f"CSP-{int(digits):06d}"

    def show(packet: sr.Packet) -> bool:
        typer.echo(f"Ticket:      {packet.ticket_id}")
        typer.echo(f"Goes to:     {packet.target_name}")
        typer.echo(f"Title:       {packet.title}")
        typer.echo(f"Severity:    {packet.severity}")
        if packet.topic_id:
            typer.echo(f"Topic:       {packet.topic_name} ({packet.topic_id})")
        typer.echo("Description:")
        for line in packet.description.splitlines():
            typer.echo(f"  {line}")
        return yes or typer.confirm("File this service request with Microsoft?")

    with session_scope() as session:
        ticket = ticket_by_public_id(session, public_id=public_id)
        if ticket is None:
            err.print(f"No ticket {public_id}.")
            raise typer.Exit(1)
        try:
            done = sr.escalate(
                session,
                ticket,
                get_settings(),
                changed_by=actor_for(None, source="csp-desk"),
                topic_id=topic,
                confirm=show,
            )
        except sr.ServiceRequestError as exc:
            err.print(str(exc))
            raise typer.Exit(1) from None
        if done.packet.services_hub:
            show_hub = done.packet
            typer.echo(f"Ticket:      {show_hub.ticket_id}")
            typer.echo(f"Goes to:     {show_hub.target_name} (Services Hub)")
            typer.echo(f"Title:       {show_hub.title}")
            typer.echo(f"Severity:    {show_hub.severity}")
            typer.echo("Description:")
            for line in show_hub.description.splitlines():
                typer.echo(f"  {line}")
            typer.echo(
                "Services Hub has no API: file this packet there, then record the "
                f"case number with PATCH /api/v1/tickets/{public_id}."
            )
            return
        if done.outcome is None:
            typer.echo("Nothing filed.")
            return
        verb = "Filed" if done.outcome.filed_now else "Already filed:"
        typer.echo(
            f"{verb} Microsoft service request {done.outcome.service_request_id} "
            f"({done.outcome.status or 'status unknown'})"
        )


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command line; the exit status."""
    try:
        app(args=argv, prog_name="csp-desk", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
