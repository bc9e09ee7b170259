"""Delivering notifications (docs/notifications.md): the `deliver` job's handler.

A notification's `deliver` job is claimed like any job (a short write: the lease), then:

1. a read of the notification and its connector;
2. the HTTP request, outside any transaction: the connector's method, URL and headers, its
   bearer token, `X-Sendai-Event-Id` (the same on every attempt), `X-Sendai-Attempt` (the
   job's claims so far) and, with a secret, `X-Sendai-Signature` (Stripe's scheme, `sign`)
   and, for a `whsec_` secret, the Standard Webhooks headers; with OAuth2 or a token
   exchange, the connector's token (pipeline/delivery_auth.py, fetched again after a 401);
   httpx, with a connect timeout and SENDAI_DELIVERY_TIMEOUT_SECONDS for the answer's
   status line; an answer that came later than that counts as no answer;
3. one short write: the attempt in the log and then, on a 2xx, the notification `delivered`
   and the job finished; otherwise the job due again after 1, 2, 4, ... s
   (SENDAI_DELIVERY_BACKOFF_SECONDS doubled; a 429's or 503's Retry-After instead), or, once
   SENDAI_DELIVERY_ATTEMPTS attempts are spent (or at once on a 410, which also disables the
   connector), the notification `failed` and the job finished. An event whose table row says so
   (notification_events.py: `TASK_EXPORT`) fires `export` or `export_fail` on its task in
   that write. The connector's next pending notification, if any, gets its job there too
   (services/notifications.schedule_heads: deliveries to one connector stay in order).

At least once: a worker that dies between 2 and 3 leaves the job leased; once the lease runs
out another worker sends the same body, with the same event id, again (its attempt number
counts the lost one, which the log shows as unrecorded). A database that drops its connection
during 2 costs a reconnect: the write of 3 is retried until shortly before the lease ends.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, func, insert, select, update

from ..config import Config
from ..domain import clock
from ..domain.errors import InvalidTaskState, NotFound, Unavailable
from ..domain.notification_events import BY_EVENT
from ..domain.statuses import NotificationStatus
from ..services import faults
from ..services.notifications import schedule_heads
from ..services.tasks import fire_on_task
from ..store import jobs
from ..store.jobs import ClaimedJob
from ..store.models import Connector, Notification, NotificationAttempt, Project, Task, Team
from ..store.uow import UnitOfWork
from . import delivery_auth

log = logging.getLogger("sendai_server.deliveries")

CONNECT_TIMEOUT_SECONDS = 5.0
USER_AGENT = "sendai-server (notifications; +docs/notifications.md)"
_LOST = "no answer recorded: the worker stopped during this attempt"


def handlers(config: Config) -> Mapping[str, Any]:
    clients = _Clients(config)
    return {jobs.DELIVER: lambda uow, job: deliver(uow, job, config, clients.get())}


def lease_seconds(config: Config) -> float:
    """A delivery's lease outlasts its longest attempt, so no other worker takes it meanwhile:
    with a token endpoint, a token, the request, a new token after a 401 and the request
    again (pipeline/delivery_auth.py), each within the delivery timeout."""
    return max(config.job_lease_seconds, 4 * config.delivery_timeout_seconds + 1)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """`X-Sendai-Signature`: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def standard_webhook_key(secret: str) -> bytes | None:
    """The key of a Standard Webhooks secret (`whsec_` and base64), None for another secret."""
    if not secret.startswith("whsec_"):
        return None
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def standard_webhook_headers(key: bytes, event_id: str, body: bytes,
                             timestamp: int) -> dict[str, str]:
    """The Standard Webhooks headers (standardwebhooks, Svix): `webhook-signature` is
    v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">, keyed by the decoded secret."""
    mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode()}


def signature_headers(secret: str, event_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Every signature header a delivery signed with `secret` carries: `X-Sendai-Signature`
    and, for a Standard Webhooks secret, the `webhook-*` headers. The receiver check
    (pipeline/receiver_check.py) signs its cases with this too, so they are signed exactly as
    deliveries are."""
    headers = {"X-Sendai-Signature": sign(secret, body, timestamp)}
    key = standard_webhook_key(secret)
    if key is not None:
        headers.update(standard_webhook_headers(key, event_id, body, timestamp))
    return headers


MAX_RETRY_AFTER_SECONDS = 3600.0


def retry_after(status_code: int | None, header: str | None) -> float | None:
    """A 429's or 503's `Retry-After` (seconds or an HTTP date), at most an hour; None when
    there is none to honour (docs/notifications.md)."""
    if status_code not in (429, 503) or not header:
        return None
    header = header.strip()
    if header.isdigit():
        seconds = float(header)
    else:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - clock.now()).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def make_client(config: Config) -> httpx.Client:
    """The deliveries' HTTP client (token endpoints' too): their timeouts, no redirects."""
    total = config.delivery_timeout_seconds
    return httpx.Client(
        timeout=httpx.Timeout(total, connect=min(total, CONNECT_TIMEOUT_SECONDS)),
        follow_redirects=False, headers={"User-Agent": USER_AGENT},
    )


class _Clients(threading.local):
    """One httpx client per worker thread (its connection pool), made on first use."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.client: httpx.Client | None = None

    def get(self) -> httpx.Client:
        if self.client is None:
            self.client = make_client(self.config)
        return self.client


@dataclass(frozen=True)
class Attempt:
    n: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None  # a 429's or 503's Retry-After, honoured over the backoff

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None \
            and 200 <= self.status_code < 300


def deliver(uow: UnitOfWork, job: ClaimedJob, config: Config, client: httpx.Client) -> None:
    seq = int((job.payload or {})["notification"])
    # Attempts made before this job: a notification sent again (services/redelivery.py)
    # numbers its new attempt after them, and gets that one attempt only.
    after = int((job.payload or {}).get("after", 0))
    with uow.read() as conn:
        row = conn.execute(
            select(Notification.id, Notification.event, Notification.task_id,
                   Notification.project_id, Notification.body, Notification.status,
                   Notification.connector_id, Connector.url, Connector.method,
                   Connector.headers, Connector.bearer, Connector.secret, Connector.auth,
                   select(func.count()).where(NotificationAttempt.notification_seq == seq)
                   .scalar_subquery().label("recorded"),
                   Project.team_id, Team.fault_count)
            .join(Connector, Connector.id == Notification.connector_id)
            .join(Project, Project.id == Notification.project_id)
            .join(Team, Team.id == Project.team_id)
            .where(Notification.seq == seq)
        ).first()
    if row is None or row.status != NotificationStatus.PENDING:  # connector deleted, or done
        with uow.write() as conn:
            jobs.finish(conn, job)
        return
    copies = 1
    if row.fault_count:  # the team has fault rules (docs/failures.md); none costs no statement
        fault = _delivery_fault(uow, job, row)
        if fault is not None and "delay_ms" in fault.effect:
            return
        copies = fault.effect["duplicate"] if fault is not None else 1
    attempt = send(client, row, after + job.attempts, config.delivery_timeout_seconds)
    for _ in range(copies - 1):  # the same body and event id again: a receiver's idempotency
        send(client, row, after + job.attempts, config.delivery_timeout_seconds)
    level = logging.INFO if attempt.ok else logging.WARNING
    log.log(level, "notification %s attempt %d: %s", row.id, attempt.n,
            attempt.status_code if attempt.error is None else attempt.error,
            extra={"notification_id": row.id, "connector_id": row.connector_id})
    last = after + 1 if after else config.delivery_attempts
    _record_until_lease_ends(uow, job, seq, row, attempt, last, config)


def _delivery_fault(uow: UnitOfWork, job: ClaimedJob, row: Any) -> faults.TakenFault | None:
    """A delivery fault taken for this notification. `delay_ms` holds it: its job is due again
    that much later, this claim not counted as an attempt, and not held a second time."""
    held = bool((job.payload or {}).get("held_by_fault"))
    fault = faults.take_delivery_fault(
        uow, row.team_id, BY_EVENT[row.event].subscription, row.connector_id,
        effects=("duplicate",) if held else faults.EFFECTS)
    if fault is not None and "delay_ms" in fault.effect:
        log.info("notification %s held %d ms by fault %s", row.id, fault.effect["delay_ms"],
                 fault.id)
        with uow.write() as conn:
            jobs.postpone(conn, job, clock.now() + timedelta(milliseconds=fault.effect["delay_ms"]),
                          {**(job.payload or {}), "held_by_fault": fault.id})
    elif fault is not None:
        log.info("notification %s sent %d times by fault %s", row.id,
                 fault.effect["duplicate"], fault.id)
    return fault


def send(client: httpx.Client, row: Any, n: int, timeout: float) -> Attempt:
    """One attempt, outside any transaction. Never raises for what the receiver does."""
    body = row.body.encode()
    sent_at = clock.now()  # the team's time: its clock's, while frozen (docs/clock.md)
    headers = {**(row.headers or {}), "Content-Type": "application/json",
               "X-Sendai-Event-Id": row.id, "X-Sendai-Attempt": str(n),
               "Date": email.utils.format_datetime(sent_at, usegmt=True)}
    if row.bearer is not None:
        headers["Authorization"] = f"Bearer {row.bearer}"
    if row.secret is not None:
        headers.update(signature_headers(row.secret, row.id, body, int(sent_at.timestamp())))
    at, started = sent_at, time.monotonic()
    auth = getattr(row, "auth", None)
    if delivery_auth.kind_of(auth) is None:
        status_code, error, wait = _request(client, row, body, headers, timeout)
    else:
        status_code, error, wait = _request_with_token(client, row, body, headers, timeout)
    elapsed = time.monotonic() - started
    return Attempt(n, at, status_code, error, round(elapsed * 1000), wait)


def _request(client: httpx.Client, row: Any, body: bytes, headers: dict[str, str],
             timeout: float) -> tuple[int | None, str | None, float | None]:
    """The request itself: the receiver's status, or what went wrong; and its Retry-After.
    An answer later than `timeout` counts as none."""
    status_code: int | None = None
    error: str | None = None
    wait: float | None = None
    started = time.monotonic()
    try:
        with client.stream(row.method, row.url, content=body, headers=headers) as response:
            status_code = response.status_code  # the body is not read: only the status counts
            wait = retry_after(status_code, response.headers.get("Retry-After"))
    except httpx.ConnectTimeout:
        error = f"could not connect within {min(timeout, CONNECT_TIMEOUT_SECONDS):g} s"
    except httpx.TimeoutException:
        error = f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    elapsed = time.monotonic() - started
    if error is None and elapsed > timeout:
        error = f"answered {status_code} after {elapsed:.1f} s, over the {timeout:g} s limit"
    return status_code, error, wait


request_once = _request  # the receiver check's requests too (pipeline/receiver_check.py)


def _request_with_token(client: httpx.Client, row: Any, body: bytes, headers: dict[str, str],
                        timeout: float) -> tuple[int | None, str | None, float | None]:
    """With the connector's token (OAuth2 or its exchange); after a 401 the token is fetched
    again and the request sent once more. A failing token endpoint is the attempt's error."""
    for renewed in (False, True):
        try:
            token = delivery_auth.token_for(client, row.connector_id, row.auth, timeout)
        except delivery_auth.TokenFailure as exc:
            return None, str(exc), None
        answer = _request(client, row, body, {**headers, "Authorization": f"Bearer {token}"},
                          timeout)
        if answer[0] != 401:
            return answer
        delivery_auth.forget(row.connector_id)
        if renewed:
            break
    return answer


def _record_until_lease_ends(
    uow: UnitOfWork, job: ClaimedJob, seq: int, row: Any, attempt: Attempt, last: int,
    config: Config,
) -> None:
    """`_record`, again after a lost connection, until shortly before the lease runs out
    (then the job is another worker's to deliver again)."""
    pause = max(0.1, min(1.0, config.worker_poll_seconds))
    deadline = job.leased_until - timedelta(seconds=pause)
    while True:
        try:
            _record(uow, job, seq, row, attempt, last, config)
            return
        except Unavailable:
            if clock.real_now() + timedelta(seconds=pause) >= deadline:  # the lease
                raise
            log.warning("notification %s: database unavailable while recording attempt %d; "
                        "retrying", row.id, attempt.n)
            time.sleep(pause)


def _record(uow: UnitOfWork, job: ClaimedJob, seq: int, row: Any, attempt: Attempt,
            last: int, config: Config) -> None:
    """`last`: the number of the attempt after which the notification is `failed`; a 410
    fails it at once and disables its connector (`disable_connector`)."""
    gone = attempt.status_code == 410  # the receiver is gone for good: no further attempts
    done = attempt.ok or gone or attempt.n >= last
    with uow.write() as conn:
        # Locked, so its connector (and it with it) cannot be deleted before the attempt is in.
        if conn.scalar(select(Notification.seq).where(Notification.seq == seq)
                       .with_for_update()) is None:
            jobs.finish(conn, job)  # deleted while the attempt ran: nothing left to record
            return
        if done:
            jobs.finish(conn, job)
        else:
            delay = jobs.backoff_seconds(attempt.n, config.delivery_backoff_seconds, cap=None)
            if attempt.retry_after is not None:  # a 429's or 503's, over the backoff
                delay = attempt.retry_after
            jobs.retry_at(conn, job, clock.now() + timedelta(seconds=delay))
        conn.execute(insert(NotificationAttempt), [
            {"notification_seq": seq, "n": n, "at": attempt.at, "status_code": None,
             "error": _LOST, "duration_ms": None}
            for n in range(row.recorded + 1, attempt.n)
        ] + [{"notification_seq": seq, "n": attempt.n, "at": attempt.at,
              "status_code": attempt.status_code, "error": attempt.error,
              "duration_ms": attempt.duration_ms}])
        if done:
            status = NotificationStatus.DELIVERED if attempt.ok else NotificationStatus.FAILED
            conn.execute(update(Notification).where(Notification.seq == seq)
                         .values(status=status.value, finished_at=clock.now()))
            event = BY_EVENT[row.event]
            trigger = event.on_delivered if attempt.ok else event.on_failed
            if trigger is not None and row.task_id is not None:
                _fire(conn, row, trigger)
            if gone:
                disable_connector(conn, row.connector_id)
            # Locked first, as the outbox does (services/notifications.py).
            conn.execute(select(Connector.id).where(Connector.id == row.connector_id)
                         .with_for_update())
            schedule_heads(conn, [row.connector_id])


def disable_connector(conn: Connection, connector_id: str) -> None:
    """After a 410: the connector is disabled (`disabled_at`: no new notifications, no new
    jobs), and its pending notifications fail without further attempts, each firing its
    event's failed trigger (`export_fail`). The tasks are locked before the connector, as
    everywhere (services/notifications.py); one that a change added between the two is
    failed under the connector's lock too."""
    fired: set[int] = set()
    for left in _pending_of(conn, connector_id):
        _fire_failed(conn, left)
        fired.add(left.seq)
    now = clock.now()
    conn.execute(update(Connector).where(Connector.id == connector_id,
                                         Connector.disabled_at.is_(None))
                 .values(disabled_at=now))
    late = [left for left in _pending_of(conn, connector_id) if left.seq not in fired]
    for left in late:
        _fire_failed(conn, left)
    conn.execute(update(Notification).where(Notification.connector_id == connector_id,
                                            Notification.status == NotificationStatus.PENDING)
                 .values(status=NotificationStatus.FAILED.value, finished_at=now))


def _pending_of(conn: Connection, connector_id: str) -> list[Any]:
    return list(conn.execute(
        select(Notification.seq, Notification.id, Notification.event, Notification.task_id,
               Notification.project_id, Notification.connector_id)
        .where(Notification.connector_id == connector_id,
               Notification.status == NotificationStatus.PENDING)
        .order_by(Notification.seq)
    ).all())


def _fire_failed(conn: Connection, row: Any) -> None:
    trigger = BY_EVENT[row.event].on_failed
    if trigger is not None and row.task_id is not None:
        _fire(conn, row, trigger)


def _fire(conn: Connection, row: Any, trigger: str) -> None:
    """The delivered or failed event's trigger (`export` / `export_fail`) on the notification's
    task, through the state machine. A task that was deleted, or is no longer COMPLETED
    (unlocked meanwhile), is left as it is."""
    # The task's project now: its upload may have moved to another one since (docs/api/uploads.md).
    project_id = conn.scalar(select(Task.project_id).where(Task.id == row.task_id))
    try:
        fire_on_task(conn, project_id or row.project_id, row.task_id, trigger, key_id=None,
                     request_id=None,
                     details={"notification_id": row.id, "connector_id": row.connector_id})
    except (InvalidTaskState, NotFound) as exc:
        log.warning("notification %s: %s not fired on task %s: %s", row.id, trigger,
                    row.task_id, exc)
