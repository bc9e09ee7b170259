"""Your receiver, checked (docs/receiver-check.md): a set of deliveries sent to one webhook
receiver, and a report, case by case, of what it answered against what a safe receiver answers.

Each case is a notification as a real delivery sends it (a real one of the project, the newest
in its outbox, or a sample when it has none), with the delivery's headers and signatures
(`deliveries.signature_headers`: `X-Sendai-Signature` and, for a `whsec_` secret, the Standard
Webhooks headers), then changed as the case says:

| case          | sent                                                      | a safe receiver |
|---------------|-----------------------------------------------------------|-----------------|
| valid         | the notification, signed                                  | 2xx within 10 s |
| bad_signature | the same, signed with another secret                      | 4xx             |
| no_signature  | the same, its signature headers removed                   | 4xx             |
| altered_body  | signed, then its body changed                             | 4xx             |
| stale         | signed, with a timestamp 10 minutes old                   | 4xx             |
| replay        | the valid request again, byte for byte                    | 2xx, acted once |
| unknown_event | a signed notification of an event no receiver knows       | 2xx             |
| malformed     | a valid signature over a body that is not JSON            | 4xx             |

Decided here: every case but `replay` has an event id of its own (a receiver that records ids
must not hide one case's answer behind another's); `replay` is the `valid` request sent again
unchanged, as someone who captured it would; nothing follows a redirect and no proxy from the
environment is used, so only the URL given is contacted, each case once, no retry. When the
`valid` case gets no answer at all (refused, timed out) the rest are not sent: the report says
so. Whether a replay was acted on once cannot be seen from outside; `acted_on` (a callable
the caller gives: event id -> times the receiver acted on it) makes it part of the verdict.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from ..domain import clock
from ..domain.errors import NotFound, ValidationError
from ..domain.ids import is_lookup_id, new_id
from ..domain.notification_events import BY_EVENT
from ..services.keys import Principal
from ..services.receiver_checks import save_last_check
from ..store.models import Connector, Notification, Project
from ..store.uow import UnitOfWork
from .deliveries import (
    CONNECT_TIMEOUT_SECONDS,
    request_once,
    signature_headers,
    standard_webhook_key,
)

CASES = ("valid", "bad_signature", "no_signature", "altered_body", "stale", "replay",
         "unknown_event", "malformed")
ANSWER_WITHIN_SECONDS = 10.0
STALE_SECONDS = 600
UNKNOWN_EVENT = "UPLOAD_ARCHIVED"  # no Send AI event: a receiver cannot know it
USER_AGENT = "sendai-server (receiver check; +docs/receiver-check.md)"
MASK = "***"
_SIGNATURES = ("X-Sendai-Signature", "webhook-signature")

ActedOn = Callable[[str], int]


@dataclass(frozen=True)
class Target:
    """Where the cases go and what signs them: a URL and secret, or a connector's."""

    url: str
    secret: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    bearer: str | None = None


@dataclass
class CaseResult:
    name: str
    event_id: str
    sent: dict[str, Any]  # method, url, headers (secrets as ***), body_bytes, at
    expected: str
    seen: str
    status_code: int | None
    duration_ms: int | None
    error: str | None
    passed: bool
    why: str | None = None  # for a failure: one sentence a developer acts on
    note: str | None = None
    # The replay's: how many times the receiver acted on its event, when `acted_on` said;
    # None: not visible from outside (the note says how to look).
    acted_on: int | None = None


@dataclass
class ReceiverReport:
    url: str
    checked_at: datetime
    schemes: list[str]
    notification: dict[str, Any]  # where the body came from: real or sample, its event
    cases: list[CaseResult]

    @property
    def passed(self) -> bool:
        return all(case.passed for case in self.cases)

    @property
    def failed(self) -> list[str]:
        return [case.name for case in self.cases if not case.passed]

    def case(self, name: str) -> CaseResult:
        return next(case for case in self.cases if case.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON: `checked_at` in ISO 8601."""
        return {"url": self.url, "checked_at": self.checked_at.isoformat(),
                "passed": self.passed, "failed": self.failed, "schemes": self.schemes,
                "notification": self.notification,
                "cases": [asdict(case) for case in self.cases]}

    def table(self) -> str:
        """A table for people: one line per case, then why each failure failed."""
        lines = [f"Receiver check of {self.url}: "
                 + ("every case passed" if self.passed
                    else f"{len(self.failed)} of {len(self.cases)} cases failed"),
                 f"signed with: {', '.join(self.schemes)}; body: {self.notification['source']} "
                 f"{self.notification['event']} notification", "",
                 f"{'case':<15} {'expected':<22} {'seen':<34} result"]
        for case in self.cases:
            unseen = case.name == "replay" and case.passed and case.acted_on is None
            lines.append(f"{case.name:<15} {case.expected:<22} {case.seen[:34]:<34} "
                         f"{'pass' if case.passed else 'FAIL'}{'*' if unseen else ''}")
        for case in self.cases:
            if case.why:
                lines.append(f"\n{case.name}: {case.why}")
        replay = next((c for c in self.cases if c.name == "replay"), None)
        if replay is not None and replay.note:
            lines.append(f"\n{'*' if replay.acted_on is None else ''}replay: {replay.note}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Planned:
    name: str
    event_id: str
    body: bytes
    headers: dict[str, str]
    expected: str  # "2xx" or "4xx"


# --- what is sent -------------------------------------------------------------------------------

def sample_notification(team_id: str | None = None,
                        project_id: str | None = None) -> dict[str, Any]:
    """An UPLOAD_PROCESSED notification shaped as a real one, for a project without any."""
    now = clock.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    task_id = "task_" + "0" * 20
    return {
        "id": new_id("evt"), "event": "UPLOAD_PROCESSED", "event_level": "UPLOAD",
        "team_id": team_id or "team_" + "0" * 20, "project_id": project_id or "proj_" + "0" * 20,
        "created_at": now,
        "upload": {"id": "upl_" + "0" * 20, "name": "invoice.pdf", "status": "COMPLETED",
                   "files": {task_id: {"name": "invoice.pdf", "size": 1024,
                                       "content_type": "application/pdf"}},
                   "meta": [], "folder_id": None, "created_at": now},
        "task": None,
    }


def newest_notification(uow: UnitOfWork, team_id: str, project_id: str) -> dict[str, Any] | None:
    """The newest notification in the project's outbox (of a known event), as it was sent;
    None when it has none. A project not of this team: 404."""
    with uow.read() as conn:
        team = conn.scalar(select(Project.team_id).where(Project.id == project_id)) \
            if is_lookup_id(project_id) else None
        if team is None or team != team_id:
            raise NotFound(f"Project {project_id[:64]!r} of team {team_id[:64]!r} was not found.")
        body = conn.scalar(
            select(Notification.body)
            .where(Notification.project_id == project_id,
                   Notification.event.in_(list(BY_EVENT)))
            .order_by(Notification.seq.desc()).limit(1))
    return None if body is None else dict(json.loads(body))


def _dump(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()  # as the outbox writes it


def _other_secret(secret: str) -> str:
    """A secret of the same kind that is not the receiver's."""
    if standard_webhook_key(secret) is not None:
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(32)


def plan_cases(target: Target, payload: Mapping[str, Any], now: int) -> list[_Planned]:
    """The requests, in the order they are sent."""
    base = {**target.headers, "Content-Type": "application/json", "X-Sendai-Attempt": "1"}
    if target.bearer is not None:
        base["Authorization"] = f"Bearer {target.bearer}"

    def signed(event_id: str, body: bytes, secret: str = target.secret,
               at: int = now) -> dict[str, str]:
        return {**base, "X-Sendai-Event-Id": event_id,
                **signature_headers(secret, event_id, body, at)}

    def fresh(**changes: Any) -> tuple[str, bytes]:
        event_id = new_id("evt")
        return event_id, _dump({**payload, "id": event_id, **changes})

    planned = []
    valid_id, valid_body = fresh()
    valid = _Planned("valid", valid_id, valid_body, signed(valid_id, valid_body), "2xx")
    planned.append(valid)
    event_id, body = fresh()
    planned.append(_Planned("bad_signature", event_id, body,
                            signed(event_id, body, _other_secret(target.secret)), "4xx"))
    event_id, body = fresh()
    unsigned = {k: v for k, v in signed(event_id, body).items() if k not in _SIGNATURES}
    planned.append(_Planned("no_signature", event_id, body, unsigned, "4xx"))
    event_id, body = fresh()
    forged_project = "proj_" + secrets.token_hex(10)
    altered = _dump({**json.loads(body), "project_id": forged_project})
    planned.append(_Planned("altered_body", event_id, altered, signed(event_id, body), "4xx"))
    event_id, body = fresh()
    planned.append(_Planned("stale", event_id, body,
                            signed(event_id, body, at=now - STALE_SECONDS), "4xx"))
    planned.append(_Planned("replay", valid_id, valid_body, dict(valid.headers), "2xx"))
    event_id, body = fresh(event=UNKNOWN_EVENT)
    planned.append(_Planned("unknown_event", event_id, body, signed(event_id, body), "2xx"))
    event_id = new_id("evt")
    body = _dump({**payload, "id": event_id})[:-1] + b',"event":'  # cut off: not JSON
    planned.append(_Planned("malformed", event_id, body, signed(event_id, body), "4xx"))
    return planned


def _masked(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: ("Bearer " + MASK if name.lower() == "authorization" else value)
            for name, value in headers.items()}


# --- what the receiver answered -----------------------------------------------------------------

def _expected_text(planned: _Planned) -> str:
    if planned.name == "replay":
        return "2xx, acted on once"
    if planned.expected == "2xx":
        return f"2xx within {ANSWER_WITHIN_SECONDS:g} s"
    return "4xx (refused)"


def _seen(status_code: int | None, duration_ms: int | None, error: str | None) -> str:
    if status_code is None:
        return error or "no answer"
    return f"{status_code} in {duration_ms} ms" + ("" if error is None else " (too late)")


def _signature_header(secret: str) -> str:
    return "`webhook-signature`" if standard_webhook_key(secret) is not None \
        else "`X-Sendai-Signature`"


def _why(planned: _Planned, status: int | None, error: str | None, secret: str) -> str | None:
    """None when the answer is a safe receiver's; otherwise the one sentence to act on."""
    header = _signature_header(secret)
    if status is None:
        return (f"no answer ({error}): check that the receiver runs at this URL and answers "
                f"within {ANSWER_WITHIN_SECONDS:g} s")
    if error is not None:  # answered, but later than a delivery waits
        return (f"answered later than the {ANSWER_WITHIN_SECONDS:g} s a delivery waits: answer "
                "first and do the work afterwards (a queue), or the sender counts it as failed")
    if 300 <= status < 400:
        return (f"answered a redirect ({status}): deliveries do not follow redirects, so give "
                "the final URL")
    ok = 200 <= status < 300
    if planned.expected == "2xx":
        if ok:
            return None
        if planned.name == "valid":
            return (f"refused a correctly signed notification with {status}: verify {header} "
                    "with exactly this secret over the raw body bytes (before parsing), and "
                    "answer 2xx")
        if planned.name == "replay":
            return (f"answered {status} to a delivery it had already received: a sender "
                    "retries after a lost answer, so answer 2xx again for an event id you have "
                    "seen, and act on it once")
        return (f"answered {status} to a signed notification of an event it does not handle: "
                "answer 2xx and ignore it, or the sender retries it until it fails")
    if 400 <= status < 500:
        return None
    if status >= 500:
        if planned.name == "malformed":
            return (f"answered {status} to a signed body that is not JSON: catch the parse "
                    "error and answer 400 (a 5xx is retried, and this body never parses)")
        return (f"answered {status} instead of refusing: verify {header} first and answer "
                "401 or 400; a 5xx looks like an outage, and the sender retries it")
    return {
        "bad_signature": f"accepted a body whose signature was made with another secret: "
                         f"verify {header} with your secret before parsing",
        "no_signature": f"accepted a delivery with no signature: refuse a request whose "
                        f"{header} is missing, before parsing",
        "altered_body": "accepted a body changed after it was signed: compute the signature "
                        "over the raw request bytes as received, and refuse a mismatch",
        "stale": f"accepted a correctly signed delivery whose timestamp is "
                 f"{STALE_SECONDS // 60} minutes old: refuse a timestamp more than 5 minutes "
                 "from now (standardwebhooks' verify does), or a captured delivery can be "
                 "replayed forever",
        "malformed": "accepted a signed body that is not JSON: answer 400 when the body does "
                     "not parse",
    }[planned.name]


def _replay_note(event_id: str, times: int | None) -> str:
    if times is None:
        return (f"a safe receiver answers 2xx to the same delivery again and acts on event "
                f"{event_id} once. This check cannot see inside your receiver: look for "
                f"{event_id} (its `webhook-id` / `X-Sendai-Event-Id`) in what the receiver "
                "stored or did; it must be there exactly once")
    return f"the receiver acted on event {event_id} {times} time(s) (as `acted_on` says)"


# --- the check ----------------------------------------------------------------------------------

def check_receiver(target: Target, payload: Mapping[str, Any] | None = None, *,
                   source: str = "sample", timeout: float = ANSWER_WITHIN_SECONDS,
                   acted_on: ActedOn | None = None,
                   client: httpx.Client | None = None) -> ReceiverReport:
    """Send the cases to `target.url`, each once, and report. Never raises for what the
    receiver does (refuses connections, times out, answers anything)."""
    payload = dict(payload) if payload is not None else sample_notification()
    checked_at = clock.now()
    # Signed at the real time: the receiver judges freshness by its own clock, not the team's.
    planned = plan_cases(target, payload, int(clock.real_now().timestamp()))
    own = client is None
    if client is None:
        client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
            follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT})
    results: list[CaseResult] = []
    try:
        unreachable: str | None = None
        for case in planned:
            if unreachable is not None:
                results.append(_not_sent(case, target, unreachable))
                continue
            result = _send(client, target, case, timeout)
            results.append(result)
            if case.name == "valid" and result.status_code is None:
                unreachable = result.error
    finally:
        if own:
            client.close()
    _judge_replay(results, acted_on)
    schemes = ["X-Sendai-Signature (Stripe's scheme)"]
    if standard_webhook_key(target.secret) is not None:
        schemes.append("Standard Webhooks")
    return ReceiverReport(target.url, checked_at, schemes,
                          {"source": source, "event": payload.get("event")}, results)


def _send(client: httpx.Client, target: Target, case: _Planned, timeout: float) -> CaseResult:
    """One case, sent as a delivery's attempt is (deliveries.request_once): only the status
    counts; an answer later than `timeout` counts as none."""
    at = clock.real_now()
    started = time.monotonic()
    status, error, _ = request_once(client, target, case.body, case.headers, timeout)
    duration_ms = round((time.monotonic() - started) * 1000)
    why = _why(case, status, error, target.secret)
    return CaseResult(
        name=case.name, event_id=case.event_id,
        sent={"method": target.method, "url": target.url, "headers": _masked(case.headers),
              "body_bytes": len(case.body), "at": at.isoformat()},
        expected=_expected_text(case), seen=_seen(status, duration_ms, error),
        status_code=status, duration_ms=duration_ms if status is not None else None,
        error=error, passed=why is None, why=why)


def _not_sent(case: _Planned, target: Target, unreachable: str | None) -> CaseResult:
    return CaseResult(
        name=case.name, event_id=case.event_id,
        sent={"method": target.method, "url": target.url, "headers": _masked(case.headers),
              "body_bytes": len(case.body), "at": None},
        expected=_expected_text(case), seen="not sent", status_code=None, duration_ms=None,
        error=None, passed=False,
        why=f"not sent: the receiver did not answer the valid delivery ({unreachable})")


def _judge_replay(results: list[CaseResult], acted_on: ActedOn | None) -> None:
    replay = next(r for r in results if r.name == "replay")
    if replay.status_code is None:
        return
    times = None if acted_on is None else acted_on(replay.event_id)
    replay.note = _replay_note(replay.event_id, times)
    replay.acted_on = times
    if times is not None and times != 1 and replay.passed:
        replay.passed = False
        replay.why = (f"acted on the same event id {times} times: keep the `webhook-id` "
                      "(`X-Sendai-Event-Id`) of each delivery you act on, and answer 2xx "
                      "without acting again for one you have seen")


# --- a connector's own URL and secret ------------------------------------------------------------

def check_connector(uow: UnitOfWork, principal: Principal, team_id: str, connector_id: str,
                    timeout: float = ANSWER_WITHIN_SECONDS) -> ReceiverReport:
    """Check a connector's receiver with its URL, method, headers, bearer and secret, on the
    newest notification of its project; keep the report as its last check. A connector with
    a token endpoint (OAuth2, token exchange) gets no token: only its URL is contacted."""
    row = None
    if is_lookup_id(connector_id):
        with uow.read() as conn:
            row = conn.execute(
                select(Connector.id, Connector.project_id, Connector.url, Connector.method,
                       Connector.headers, Connector.bearer, Connector.secret)
                .join(Project, Project.id == Connector.project_id)
                .where(Connector.id == connector_id, Project.team_id == team_id)
            ).first()
    if row is None or row.project_id not in principal.project_ids:
        raise NotFound(f"Connector {connector_id[:64]!r} was not found.")
    if row.secret is None:
        raise ValidationError(
            "The connector has no secret: its deliveries are not signed, so there is nothing "
            "for its receiver to verify. Create it again with a secret.",
            {"fields": {"secret": ["The connector has no secret."]}})
    payload = newest_notification(uow, team_id, row.project_id)
    source = "real"
    if payload is None:
        payload, source = sample_notification(team_id, row.project_id), "sample"
    target = Target(url=row.url, secret=row.secret, method=row.method,
                    headers=dict(row.headers or {}), bearer=row.bearer)
    report = check_receiver(target, payload, source=source, timeout=timeout)
    save_last_check(uow, row.id, report.checked_at, report.passed, report.failed,
                    report.to_dict())
    return report
