"""Faults on demand (docs/failures.md): a team's rules for how its requests and its notifications'
deliveries fail. Flask-free: the rule's shape and validation, matching, and the exact count.

A rule is `{"match", "effect", "times", "probability", "seed"}`. Request rules match on
`operation`, `method`, `path` (a glob on the path after `/v2/{team_id}`), `project_id` and
`task_id`; delivery rules on `event` (a connector subscription, `upload.in_review`) and
`connector_id`. Which of them a request meets is decided in Python over the team's live rules
(one SELECT), and a fault is taken by one conditional UPDATE (`... WHERE remaining > 0
RETURNING`), never a read then a write: sixteen racing requests against `times: 1` get exactly
one fault, on every worker and host. `probability` with `seed` decides for the n-th matching
request (n counted by the same kind of UPDATE) from `Random(f"{seed}:{n}")`: the same
sequence on every run, whatever the workers' interleaving.

`team.fault_count` is read with the API key (services/keys.py), so a team with no rules pays
no statement for them; every create and delete here keeps it in the same transaction.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError
from sqlalchemy import Connection, delete, insert, select, update

from ..domain import clock
from ..domain.errors import NotFound, ValidationError
from ..domain.ids import new_id
from ..domain.notification_events import SUBSCRIPTIONS
from ..store.models import Fault, Team
from ..store.uow import UnitOfWork

# docs/failures.md: the statuses a fault may answer, and the §2 code each has in a JSON body.
STATUS_CODES = {429: "rate_limited", 500: "internal_error", 502: "bad_gateway",
                503: "unavailable", 504: "gateway_timeout"}
STATUS_MESSAGES = {
    429: "Too many requests for this API key; retry later.",
    500: "An internal error occurred; it has been logged.",
    502: "The upstream server answered with an invalid response.",
    503: "The service is unavailable; retry shortly.",
    504: "The upstream server did not answer in time.",
}
STATUS_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable", 504: "Gateway Timeout"}
BODIES = ("json", "html", "empty")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Delivery rules match a connector's subscription names (notification_events.py's table).
DELIVERY_EVENTS = SUBSCRIPTIONS
REQUEST_MATCH = ("operation", "method", "path", "project_id", "task_id")
DELIVERY_MATCH = ("event", "connector_id")
EFFECTS = ("status", "delay_ms", "drop", "duplicate")
MAX_DELAY_MS = 60_000
MAX_TIMES = 10_000
MAX_RETRY_AFTER = 86_400
_GLOB = re.compile(r"\*\*|\*|[^*]+")
_PATH = re.compile(r"/[^\s]{0,499}")


# --- the rule's shape ---------------------------------------------------------------------------

class MatchSchema(Schema):
    class Meta:
        unknown = RAISE

    operation = fields.String(validate=validate.Length(1, 100), metadata={
        "description": "An operationId of /openapi.json (`discardTask`, `getTask`, ...)."})
    method = fields.String(validate=validate.OneOf(METHODS))
    path = fields.String(validate=validate.Regexp(_PATH, error="A path starting with '/', "
                                                  "without spaces, at most 500 characters."),
                         metadata={"description": "A glob on the path after `/v2/{team_id}`: "
                                   "`*` within a segment, `**` across segments."})
    project_id = fields.String(validate=validate.Length(1, 64))
    task_id = fields.String(validate=validate.Length(1, 64))
    event = fields.String(validate=validate.OneOf(DELIVERY_EVENTS), metadata={
        "description": "Delivery rules: the connector subscription whose notifications fail."})
    connector_id = fields.String(validate=validate.Length(1, 64))


class EffectSchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.Integer(validate=validate.OneOf(tuple(STATUS_CODES)), strict=True)
    retry_after = fields.Integer(validate=validate.Range(0, MAX_RETRY_AFTER), strict=True)
    body = fields.String(validate=validate.OneOf(BODIES))
    after = fields.Boolean(metadata={
        "description": "The operation runs and commits first; then its answer is replaced "
                       "(status), dropped (drop) or held (delay_ms)."})
    delay_ms = fields.Integer(validate=validate.Range(1, MAX_DELAY_MS), strict=True)
    drop = fields.Boolean(validate=validate.Equal(True, error="Only true: drop the connection."))
    duplicate = fields.Integer(validate=validate.OneOf((2, 3)), strict=True)


class FaultRuleSchema(Schema):
    """A fault rule as a client sends it (docs/failures.md)."""

    class Meta:
        unknown = RAISE

    match = fields.Nested(MatchSchema, required=True)
    effect = fields.Nested(EffectSchema, required=True)
    times = fields.Integer(load_default=1, allow_none=True, strict=True,
                           validate=validate.Range(1, MAX_TIMES), metadata={
                               "description": "How many matching requests are faulted; null: "
                                              "until the fault is deleted."})
    probability = fields.Float(load_default=1.0, validate=validate.Range(0, 1), allow_nan=False)
    seed = fields.Integer(load_default=None, allow_none=True, strict=True,
                          validate=validate.Range(0, 2**63 - 1))

    @validates_schema(skip_on_field_errors=False)
    def _one_kind_one_effect(self, data: dict[str, Any], **_kwargs: Any) -> None:
        """Reported with the fields' own errors: an empty match beside a bad status names both.
        A part that failed its own checks is missing from `data`: nothing more is said of it."""
        match, effect = data.get("match"), data.get("effect")
        if match is not None and not match:
            raise SchemaError("Give at least one field: "
                              + ", ".join(REQUEST_MATCH + DELIVERY_MATCH), field_name="match")
        if match is None or effect is None:
            return
        for problem in rule_problems(match, effect):
            raise SchemaError(problem[1], field_name=problem[0])


def rule_problems(match: Mapping[str, Any], effect: Mapping[str, Any]
                  ) -> Iterable[tuple[str, str]]:
    """What is wrong with a rule whose fields are each valid: (field, message)."""
    request_fields = [f for f in REQUEST_MATCH if f in match]
    delivery_fields = [f for f in DELIVERY_MATCH if f in match]
    if not match:
        yield "match", "Give at least one field: " + ", ".join(REQUEST_MATCH + DELIVERY_MATCH)
    if request_fields and delivery_fields:
        yield "match", (f"{', '.join(request_fields)} match requests and "
                        f"{', '.join(delivery_fields)} match deliveries; a rule does one.")
    if delivery_fields and "event" not in match:
        yield "match", "A delivery rule needs 'event'."
    effects = [e for e in EFFECTS if e in effect]
    if len(effects) != 1:
        yield "effect", ("Give exactly one of status, delay_ms, drop, duplicate"
                         + (f"; got {', '.join(effects)}." if effects else "."))
        return
    kind = "delivery" if delivery_fields else "request"
    if kind == "request" and "duplicate" in effect:
        yield "effect", "duplicate applies to deliveries: match an 'event'."
    if kind == "delivery" and ("status" in effect or "drop" in effect):
        yield "effect", "A delivery rule's effect is duplicate or delay_ms."
    for option in ("retry_after", "body"):
        if option in effect and "status" not in effect:
            yield "effect", f"{option} goes with status."
    if "after" in effect and ("duplicate" in effect or kind == "delivery"):
        yield "effect", "after goes with status, drop or delay_ms on a request."


def check_operation(rule: Mapping[str, Any], known: Collection[str]) -> None:
    """400 naming `match.operation`, with the known operationIds in `details`."""
    operation = rule["match"].get("operation")
    if operation is not None and operation not in known:
        close = difflib.get_close_matches(operation, sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise ValidationError(
            f"Unknown operation {operation!r}{hint} The known operations are in "
            "details.known_operations.",
            details={"fields": {"match": {"operation": [
                "Not an operationId of /openapi.json that a fault can match."]}},
                "known_operations": sorted(known)},
        )


def rule_kind(match: Mapping[str, Any]) -> str:
    return "delivery" if "event" in match else "request"


# --- storing ------------------------------------------------------------------------------------

_COLUMNS = (Fault.id, Fault.match, Fault.effect, Fault.times, Fault.probability, Fault.seed,
            Fault.hits, Fault.remaining, Fault.created_at)


def _public(row: Any) -> dict[str, Any]:
    return {"id": row.id, "match": row.match, "effect": row.effect, "times": row.times,
            "probability": row.probability, "seed": row.seed, "hits": row.hits,
            "remaining": row.remaining, "created_at": row.created_at}


def _team_exists(conn: Connection, team_id: str) -> None:
    if conn.scalar(select(Team.id).where(Team.id == team_id)) is None:
        raise NotFound(f"No team {team_id}.")


def create_fault(uow: UnitOfWork, team_id: str, rule: Mapping[str, Any]) -> dict[str, Any]:
    """Store a validated rule (FaultRuleSchema, check_operation) for `team_id`."""
    fault = {
        "id": new_id("flt"), "team_id": team_id, "kind": rule_kind(rule["match"]),
        "match": dict(rule["match"]), "effect": dict(rule["effect"]),
        "times": rule.get("times", 1), "remaining": rule.get("times", 1),
        "probability": float(rule.get("probability", 1.0)), "seed": rule.get("seed"),
        "matched": 0, "hits": 0, "created_at": clock.now(),
    }
    with uow.write() as conn:
        _team_exists(conn, team_id)
        conn.execute(insert(Fault), fault)
        conn.execute(update(Team).where(Team.id == team_id)
                     .values(fault_count=Team.fault_count + 1))
    return _public(_Row(fault))


class _Row:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)


def list_faults(uow: UnitOfWork, team_id: str) -> list[dict[str, Any]]:
    with uow.read() as conn:
        rows = conn.execute(select(*_COLUMNS).where(Fault.team_id == team_id)
                            .order_by(Fault.seq)).all()
    return [_public(row) for row in rows]


def delete_faults(uow: UnitOfWork, team_id: str, fault_id: str | None = None
                  ) -> list[dict[str, Any]]:
    """Delete one fault (404 when the team has no such fault) or, without an id, all of
    them; the deleted faults, as they were."""
    statement = delete(Fault).where(Fault.team_id == team_id)
    if fault_id is not None:
        statement = statement.where(Fault.id == fault_id)
    with uow.write() as conn:
        rows = conn.execute(statement.returning(*_COLUMNS)).all()
        if fault_id is not None and not rows:
            raise NotFound(f"No fault {fault_id}.")
        if rows:
            conn.execute(update(Team).where(Team.id == team_id)
                         .values(fault_count=Team.fault_count - len(rows)))
    return [_public(row) for row in rows]


# --- matching -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestFacts:
    """What a request rule can match: the request's operationId, method, path after
    `/v2/{team_id}`, and its project and task ids when the path has them."""

    operation: str | None
    method: str
    path: str
    project_id: str | None = None
    task_id: str | None = None


def glob_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for token in _GLOB.findall(pattern):
        parts.append(".*" if token == "**" else "[^/]*" if token == "*" else re.escape(token))
    return re.compile("".join(parts))


def matches_request(match: Mapping[str, Any], facts: RequestFacts) -> bool:
    for name in ("operation", "method", "project_id", "task_id"):
        if name in match and match[name] != getattr(facts, name):
            return False
    return "path" not in match or glob_regex(match["path"]).fullmatch(facts.path) is not None


def matches_delivery(match: Mapping[str, Any], event: str, connector_id: str) -> bool:
    return match.get("event") == event and match.get("connector_id", connector_id) == connector_id


def chosen(seed: int | None, n: int, probability: float) -> bool:
    """Whether the n-th matching request (1-based) is faulted: the same answer for the same
    seed on every run; a fresh draw without a seed."""
    if probability >= 1:
        return True
    draw = random.Random(f"{seed}:{n}").random() if seed is not None else random.random()
    return draw < probability


@dataclass(frozen=True)
class TakenFault:
    id: str
    effect: dict[str, Any]
    hits: int


_LIVE = (Fault.remaining.is_(None)) | (Fault.remaining > 0)


def _take(conn: Connection, seq: int, probability: float, seed: int | None) -> int | None:
    """Take one of the fault's remaining times for this matching request: its `hits` after,
    or None when none remained (another request took the last) or the seeded draw says no."""
    if probability < 1:
        n = conn.scalar(update(Fault).where(Fault.seq == seq, _LIVE)
                        .values(matched=Fault.matched + 1).returning(Fault.matched))
        if n is None or not chosen(seed, n, probability):
            return None
        values: dict[str, Any] = {}
    else:
        values = {"matched": Fault.matched + 1}
    hits: int | None = conn.scalar(
        update(Fault).where(Fault.seq == seq, _LIVE)
        .values(hits=Fault.hits + 1, remaining=Fault.remaining - 1, **values)
        .returning(Fault.hits)
    )
    return hits


def _take_first(conn: Connection, candidates: Iterable[Any]) -> TakenFault | None:
    for row in candidates:
        hits = _take(conn, row.seq, row.probability, row.seed)
        if hits is not None:
            return TakenFault(row.id, row.effect, hits)
    return None


def _live_rules(conn: Connection, team_id: str, kind: str) -> list[Any]:
    return list(conn.execute(
        select(Fault.seq, Fault.id, Fault.match, Fault.effect, Fault.probability, Fault.seed)
        .where(Fault.team_id == team_id, Fault.kind == kind, _LIVE).order_by(Fault.seq)
    ).all())


def take_request_fault(uow: UnitOfWork, team_id: str, facts: RequestFacts
                       ) -> TakenFault | None:
    """The team's oldest live rule that matches the request and is taken for it, if any."""
    with uow.read() as conn:
        rules = [r for r in _live_rules(conn, team_id, "request")
                 if matches_request(r.match, facts)]
    if not rules:
        return None
    with uow.write() as conn:
        return _take_first(conn, rules)


def take_delivery_fault(uow: UnitOfWork, team_id: str, event: str, connector_id: str,
                        effects: Collection[str] = EFFECTS) -> TakenFault | None:
    """The same for a notification's delivery (`event` is its subscription name), among the
    rules whose effect is one of `effects`."""
    with uow.read() as conn:
        rules = [r for r in _live_rules(conn, team_id, "delivery")
                 if matches_delivery(r.match, event, connector_id)
                 and any(e in r.effect for e in effects)]
    if not rules:
        return None
    with uow.write() as conn:
        return _take_first(conn, rules)
