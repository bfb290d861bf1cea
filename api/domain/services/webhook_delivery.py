"""The delivery worker: sends the outbox's webhooks, signed, until each is delivered
or too old (`csp-desk webhooks deliver`, started by `csp-desk run`).

One round (`deliver_due`):

1. **Claim** the due deliveries in a short transaction: on PostgreSQL with
   `SELECT ... FOR UPDATE SKIP LOCKED`, so that several workers never take the same
   row; each is given a lease (its `next_attempt_at` moved past the request's
   timeout) and its attempt counted, then the transaction commits.
2. **Send** each one outside any transaction (no row stays locked while a slow
   endpoint answers): a POST of the event's stored body with the Standard Webhooks
   headers (webhook_signing.py), redirects not followed.
3. **Record** the outcome: 2xx is delivered; anything else waits
   `WEBHOOK_RETRY_BASE_SECONDS` doubled for each failure, capped at
   `WEBHOOK_RETRY_MAX_SECONDS`, times a random factor between 1/2 and 1 (jitter, so
   that endpoints that failed together are not retried together), or longer when
   the endpoint sent `Retry-After`. A delivery still failing
   `WEBHOOK_MAX_AGE_SECONDS` after it was queued, or answered `410 Gone`, is
   marked failed, to be replayed from the dashboard or `csp-desk webhooks replay`.

A worker that dies between 1 and 3 leaves its claims to run out: when the lease
ends, any worker sends them again. So every event is delivered at least once, and
now and then twice; consumers skip an id they have processed (`webhook-id`).

SQLite has no row locks: run one worker there (the local profile does).

The waits are kept in the database (`next_attempt_at`), not in a process, so the
retry loop is this worker's round and not a library's in-process retry.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Optional

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.domain.models import DeliveryStatus, WebhookDelivery, WebhookEvent, utcnow
from api.domain.services.webhook_signing import (
    WebhookSecretError,
    signed_headers,
    webhook_secret_problem,
)
from api.domain.services.webhooks import DEFAULT_SECRET_ENV, prune
from api.settings import Settings, get_settings

logger = logging.getLogger(__name__)

BATCH_SIZE = 20
USER_AGENT = "csp-billing-desk-webhooks/1"
ERROR_LENGTH = 500
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class DeliveryConfig:
    """The worker's timing, from the settings."""

    timeout: float
    retry_base: float
    retry_max: float
    max_age: float
    poll: float
    retention_days: int = 0
    # Plain http:// to this machine is for local tools and tests; production
    # sends over HTTPS only, whatever a profile says.
    https_only: bool = False

    @classmethod
    def from_settings(cls, settings: Optional[Settings] = None) -> DeliveryConfig:
        s = settings or get_settings()
        return cls(
            timeout=s.webhook_timeout_seconds,
            retry_base=s.webhook_retry_base_seconds,
            retry_max=s.webhook_retry_max_seconds,
            max_age=s.webhook_max_age_seconds,
            poll=s.webhook_poll_seconds,
            retention_days=s.webhook_retention_days,
            https_only=s.app_mode == "production",
        )

    @property
    def lease(self) -> timedelta:
        """How long a claim is held: past the request's timeout (which httpx applies
        to connecting, each read and the write), with room to record the outcome."""
        return timedelta(seconds=2 * self.timeout + 1)


def retry_delay(
    attempts: int,
    config: DeliveryConfig,
    *,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after `attempts` failed attempts: capped exponential
    backoff with jitter, between half and all of min(max, base * 2^(attempts-1))."""
    exponent = min(max(attempts - 1, 0), 62)
    ceiling = min(config.retry_max, config.retry_base * 2.0**exponent)
    return ceiling * (0.5 + 0.5 * jitter())


def retry_after_seconds(value: Optional[str], *, now: datetime) -> Optional[float]:
    """A `Retry-After` header's wait: seconds, or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - now).total_seconds())


# --------------------------------------------------------------------------- claim


@dataclass(frozen=True)
class Claim:
    """A delivery this worker holds for one attempt."""

    delivery_id: int
    attempt: int  # the delivery's `attempts` after this claim counted it
    message_id: str
    body: str
    url: str
    secret_env: str
    endpoint: str


def claim_due(
    session: Session, *, now: datetime, lease: timedelta, limit: int = BATCH_SIZE
) -> list[Claim]:
    """Take up to `limit` deliveries that are due, and commit the claim."""
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookDelivery.event_id == WebhookEvent.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    claims = []
    for delivery, event in session.execute(query).all():
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + lease
        claims.append(
            Claim(
                delivery_id=delivery.id,
                attempt=delivery.attempts,
                message_id=event.message_id,
                body=event.body,
                url=delivery.url,
                secret_env=delivery.secret_env,
                endpoint=delivery.endpoint,
            )
        )
    session.commit()
    return claims


# --------------------------------------------------------------------------- send


@dataclass(frozen=True)
class Outcome:
    """What one attempt got."""

    delivered: bool
    status_code: Optional[int] = None
    error: Optional[str] = None
    retry_after: Optional[float] = None

    @property
    def gone(self) -> bool:
        """410 Gone: the endpoint wants no more of these (the specification)."""
        return self.status_code == 410


def signing_secret(name: str, settings: Optional[Settings] = None) -> str:
    """The signing secret held by the environment variable `name`; the default
    endpoint's also from the settings (which read .env).

    Raises:
        WebhookSecretError: unset, or not a good `whsec_` secret.
    """
    value = (os.environ.get(name) or "").strip()
    if not value and name == DEFAULT_SECRET_ENV:
        value = (settings or get_settings()).webhook_default_secret.strip()
    if not value:
        raise WebhookSecretError(f"the environment variable {name} is not set")
    problem = webhook_secret_problem(value)
    if problem:
        raise WebhookSecretError(f"{name}: {problem}")
    return value


def send(
    client: httpx.Client, claim: Claim, *, now: datetime, https_only: bool = False
) -> Outcome:
    """One signed POST of the claim's event; never raises."""
    if https_only and not claim.url.startswith("https://"):
        return Outcome(False, error="production mode sends to https:// endpoints only")
    try:
        secret = signing_secret(claim.secret_env)
    except WebhookSecretError as exc:
        return Outcome(False, error=str(exc))
    headers = {
        **signed_headers(secret, message_id=claim.message_id, body=claim.body, at=now),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    try:
        response = client.post(
            claim.url, content=claim.body.encode("utf-8"), headers=headers
        )
    except httpx.TimeoutException:
        return Outcome(False, error="no answer within WEBHOOK_TIMEOUT_SECONDS")
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"request failed: {type(exc).__name__}")
    if response.is_success:
        return Outcome(True, status_code=response.status_code)
    reason = response.reason_phrase or "error"
    error = f"HTTP {response.status_code} {reason}"
    if response.is_redirect:
        error += " (redirects are not followed: point the endpoint at the new URL)"
    return Outcome(
        False,
        status_code=response.status_code,
        error=error,
        retry_after=retry_after_seconds(response.headers.get("retry-after"), now=now),
    )


# --------------------------------------------------------------------------- record


def record(
    session: Session,
    claim: Claim,
    outcome: Outcome,
    *,
    now: datetime,
    config: DeliveryConfig,
) -> None:
    """Write the outcome of one attempt, and commit."""
    if outcome.delivered:
        # Delivered is final, whichever worker got there.
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == claim.delivery_id)
            .values(
                status=DeliveryStatus.DELIVERED,
                delivered_at=now,
                next_attempt_at=None,
                last_status_code=outcome.status_code,
                last_error=None,
            )
        )
        session.commit()
        return
    delivery = session.get(WebhookDelivery, claim.delivery_id)
    if (
        delivery is None
        or delivery.status is not DeliveryStatus.PENDING
        or delivery.attempts != claim.attempt
    ):
        # Delivered, replayed or claimed again meanwhile: this outcome is stale.
        session.rollback()
        return
    delivery.last_status_code = outcome.status_code
    delivery.last_error = (outcome.error or "failed")[:ERROR_LENGTH]
    wait = retry_delay(claim.attempt, config)
    if outcome.retry_after is not None:
        wait = max(wait, min(outcome.retry_after, config.retry_max))
    next_at = now + timedelta(seconds=wait)
    too_old = (next_at - delivery.queued_at).total_seconds() > config.max_age
    if outcome.gone or too_old:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        why = (
            "the endpoint answered 410 Gone"
            if outcome.gone
            else "still failing after WEBHOOK_MAX_AGE_SECONDS"
        )
        logger.warning(
            "Webhook delivery %s to %s failed for good (%s): %s",
            claim.delivery_id,
            claim.endpoint,
            why,
            delivery.last_error,
        )
    else:
        delivery.next_attempt_at = next_at
    session.commit()


# --------------------------------------------------------------------------- worker


def deliver_due(
    factory: sessionmaker[Session],
    client: httpx.Client,
    config: DeliveryConfig,
    *,
    limit: int = BATCH_SIZE,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """One round: claim what is due, send it, record it. Returns how many were
    attempted."""
    with factory() as session:
        claims = claim_due(session, now=clock(), lease=config.lease, limit=limit)
    for claim in claims:
        outcome = send(client, claim, now=clock(), https_only=config.https_only)
        with factory() as session:
            record(session, claim, outcome, now=clock(), config=config)
        if outcome.delivered:
            logger.info(
                "Webhook %s delivered to %s (delivery %s, attempt %s)",
                claim.message_id,
                claim.endpoint,
                claim.delivery_id,
                claim.attempt,
            )
        else:
            logger.info(
                "Webhook %s to %s failed (delivery %s, attempt %s): %s",
                claim.message_id,
                claim.endpoint,
                claim.delivery_id,
                claim.attempt,
                outcome.error,
            )
    return len(claims)


def run_worker(
    factory: sessionmaker[Session],
    config: DeliveryConfig,
    *,
    stop: threading.Event,
    once: bool = False,
    transport: Optional[httpx.BaseTransport] = None,
) -> int:
    """Deliver until `stop` is set (or one round with `once`); returns how many
    attempts were made. Database errors are logged and the round tried again."""
    attempted = 0
    last_prune: Optional[datetime] = None
    with httpx.Client(
        timeout=config.timeout, follow_redirects=False, transport=transport
    ) as client:
        while not stop.is_set():
            try:
                done = deliver_due(factory, client, config)
                attempted += done
                if config.retention_days and (
                    last_prune is None or utcnow() - last_prune > PRUNE_EVERY
                ):
                    with factory() as session:
                        pruned = prune(
                            session, older_than=timedelta(days=config.retention_days)
                        )
                        session.commit()
                    last_prune = utcnow()
                    if pruned:
                        logger.info("Pruned %s old webhook events", pruned)
            except Exception:  # the database went away: wait, then try again
                logger.exception("Webhook delivery round failed")
                done = 0
            if once:
                break
            if done < BATCH_SIZE:
                stop.wait(config.poll)
    return attempted
