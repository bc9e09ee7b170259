"""Keyset pagination (docs/api/tasks.md's paging), the one way every list pages: tasks, uploads,
notifications.

Pages are cut on (created_at, id), the order each list's index keeps, so a page is an index
range and rows added while a client walks the list neither repeat nor hide the rows it has not
seen yet. The token names the last row of the page, and is signed (itsdangerous) together with
what it was made for (`binding`: the team, project, filters and sort): a forged or altered
token, or one used with other filters, is a validation error, never another project's rows.
A page costs a constant number of statements: the count, the rows, and what `finish` reads
for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Connection, FromClause, Select, func, select, tuple_

from ..domain.errors import ValidationError
from ..store.uow import UnitOfWork

Item = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a list: its items, how many match the filters, whether there are more, and
    the token of the next page (None on the last)."""

    items: list[Item]
    count: int
    more: bool
    token: str | None


@dataclass(frozen=True)
class Keyset:
    """What a list pages over: its table, its (created_at, id) columns, and the salt that keeps
    one list's tokens from being taken by another."""

    table: FromClause
    created_at: Any
    id: Any
    salt: str


def fetch_page(
    uow: UnitOfWork,
    keyset: Keyset,
    rows: Select[Any],
    conditions: Sequence[Any],
    *,
    secret: str,
    binding: list[Any],
    descending: bool,
    limit: int,
    token: str | None,
    finish: Callable[[Connection, list[Item]], list[Item]],
) -> Page:
    """The page of `rows` (a select of the list's columns) matching `conditions` after the
    token's row, newest first when `descending`; ties in created_at are ordered by id.
    `finish(conn, items)` completes the items in the same read (their meta, files, ...)."""
    serializer = URLSafeSerializer(secret, salt=keyset.salt)
    after = read_token(serializer, token, binding) if token else None
    key = tuple_(keyset.created_at, keyset.id)
    page_conditions = list(conditions)
    if after is not None:
        page_conditions.append(key < after if descending else key > after)
    order = ((keyset.created_at.desc(), keyset.id.desc()) if descending
             else (keyset.created_at.asc(), keyset.id.asc()))
    with uow.read() as conn:
        count = conn.scalar(
            select(func.count()).select_from(keyset.table).where(*conditions)) or 0
        found = conn.execute(
            rows.where(*page_conditions).order_by(*order).limit(limit + 1)
        ).mappings().all()
        more = len(found) > limit
        items = finish(conn, [dict(row) for row in found[:limit]])
    next_token = make_token(serializer, binding, items[-1]) if more else None
    return Page(items=items, count=count, more=more, token=next_token)


def make_token(serializer: URLSafeSerializer, binding: list[Any], last: Item) -> str:
    return str(serializer.dumps({"b": binding, "a": [last["created_at"].isoformat(), last["id"]]}))


def _invalid_token(message: str) -> ValidationError:
    return ValidationError(message, {"fields": {"token": [message]}})


def read_token(
    serializer: URLSafeSerializer, token: str, binding: list[Any]
) -> tuple[datetime, str]:
    try:
        document = serializer.loads(token)
    except BadSignature as exc:
        raise _invalid_token(
            "The pagination token is not valid; use the paginationToken of a previous page."
        ) from exc
    if not isinstance(document, dict) or document.get("b") != binding:
        raise _invalid_token(
            "The pagination token was made for another project, other filters or another "
            "sort; repeat the query that produced it."
        )
    try:
        created_at, item_id = document["a"]
        after = datetime.fromisoformat(created_at), str(item_id)
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid_token("The pagination token is not valid.") from exc
    if after[0].tzinfo is None:
        raise _invalid_token("The pagination token is not valid.")
    return after
