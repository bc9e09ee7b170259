"""Reading tasks as their public objects (docs/api/tasks.md) in two queries, whatever their number
or size. Every function takes the unit of work's connection (from `uow.read()` or
`uow.write()`).

Tasks are read with SQLAlchemy Core rather than through the ORM's relationships: one query
for the task rows, and one for everything under them: meta, pages and every item of every
page (annotations, checkboxes, segments, signatures), as one UNION ALL whose rows say what
they are and which task they belong to. The count is the same for one task or a page of a
hundred, for one page or a thousand, and no ORM identity map is built for thousands of rows
that are only going to be serialized.

The result is a plain dict with the public field names; `api.schemas.TaskSchema` dumps it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    union_all,
)

from ..store.models import ITEM_KINDS, Page, Task, TaskMeta
from ..store.statements import Statement

PublicTask = dict[str, Any]

_TASK = Task.__table__
TASK_COLUMNS = tuple(_TASK.c)  # id, project_id, name, created_at, status, ... (§5's scalars)

# Statements are built once: building a select costs more than running it.
_TASK_ROW = select(*TASK_COLUMNS).where(
    _TASK.c.id == bindparam("task_id"), _TASK.c.project_id == bindparam("project_id")
)
_TASK_ROW_FOR_UPDATE = _TASK_ROW.with_for_update()
TASK_ROW = Statement(_TASK_ROW)
TASK_ROW_FOR_UPDATE = Statement(_TASK_ROW_FOR_UPDATE)
# The pipeline's lock: by id alone, in whichever project the task is by then (an upload may move
# while its file is read).
TASK_ROW_BY_ID_FOR_UPDATE = Statement(
    select(*TASK_COLUMNS).where(_TASK.c.id == bindparam("task_id")).with_for_update())

# The columns of the UNION: every row is a meta pair, a page or an item. A row selects NULL,
# cast to the column's type, for what its kind does not have, so that every branch agrees on
# the types (PostgreSQL insists) and the result converts booleans and JSON on every database.
# The items' columns come from their tables (models.ITEM_KINDS), in the order first seen.
_CHILD_COLUMNS: dict[str, Any] = {
    "kind": String, "rank": Integer, "task_id": String, "page_id": String, "position": Integer,
    "id": String, "name": String, "value": Text, "width": Integer, "height": Integer,
}
for _kind in ITEM_KINDS:
    for _name in _kind.public_columns:
        _CHILD_COLUMNS.setdefault(_name, type(_kind.table.c[_name].type))
_INDEX = {name: i for i, name in enumerate(_CHILD_COLUMNS)}
_ITEM_INDEXES = {
    kind.key: tuple((name, _INDEX[name]) for name in kind.public_columns) for kind in ITEM_KINDS
}
_EMPTY_ITEMS = tuple(kind.key for kind in ITEM_KINDS)
_KIND, _TASK_ID, _PAGE_ID, _ID, _NAME, _VALUE, _WIDTH, _HEIGHT = (
    _INDEX[name]
    for name in ("kind", "task_id", "page_id", "id", "name", "value", "width", "height")
)
_TASK_IDS: Any = bindparam("task_ids", expanding=True)


def _branch(kind: str, rank: int, columns: dict[str, Any], source: Any) -> Select[Any]:
    selected = [
        literal_column(f"'{kind}'", String).label("kind"),
        literal_column(str(rank), Integer).label("rank"),
        *(
            (columns[name] if name in columns else cast(null(), type_)).label(name)
            for name, type_ in list(_CHILD_COLUMNS.items())[2:]
        ),
    ]
    return select(*selected).select_from(source)


def _item_branch(kind: Any, task_filter: Any) -> Select[Any]:
    table = kind.table
    columns = {name: table.c[name] for name in ("page_id", "position", *kind.public_columns)}
    columns["task_id"] = Page.task_id
    return _branch(kind.key, 2, columns, table).join(Page, Page.id == table.c.page_id).where(
        task_filter(Page.task_id)
    )


def _children(task_filter: Any) -> Select[Any]:
    """Meta, pages and items of the tasks `task_filter(task_id_column)` selects: meta first,
    then pages, then items, each list in position order."""
    children = union_all(
        _branch("meta", 0, {"task_id": TaskMeta.task_id, "position": TaskMeta.position,
                            "name": TaskMeta.name, "value": TaskMeta.value}, TaskMeta)
        .where(task_filter(TaskMeta.task_id)),
        _branch("page", 1, {"task_id": Page.task_id, "id": Page.id, "position": Page.position,
                            "width": Page.width, "height": Page.height}, Page)
        .where(task_filter(Page.task_id)),
        *(_item_branch(kind, task_filter) for kind in ITEM_KINDS),
    )
    return select(children.subquery()).order_by("rank", "position")


_CHILDREN_ORDERED = _children(lambda column: column.in_(_TASK_IDS))
# One task (every GET and change): `=` rather than an expanding IN, which SQLAlchemy re-renders
# on every execution.
ONE_TASK_CHILDREN_ORDERED = Statement(_children(lambda column: column == bindparam("task_id")))


def select_task_row(
    conn: Connection, project_id: str, task_id: str, *, for_update: bool = False
) -> PublicTask | None:
    """The task's own columns as a dict, or None. `for_update` locks the row (PostgreSQL)."""
    query = TASK_ROW_FOR_UPDATE if for_update else TASK_ROW
    rows = query.dicts(conn, {"task_id": task_id, "project_id": project_id})
    return rows[0] if rows else None


def add_meta_and_pages(conn: Connection, tasks: list[PublicTask]) -> list[PublicTask]:
    """Fill in each task's `meta` and `pages` (with their items, in page and position order),
    in one statement for all of them."""
    if not tasks:
        return tasks
    by_id = {task["id"]: task for task in tasks}
    metas: dict[str, list[dict[str, Any]]] = {task_id: [] for task_id in by_id}
    pages: dict[str, dict[str, Any]] = {}
    page_lists: dict[str, list[dict[str, Any]]] = {task_id: [] for task_id in by_id}
    if len(by_id) == 1:
        rows: Any = ONE_TASK_CHILDREN_ORDERED.rows(conn, {"task_id": next(iter(by_id))})
    else:
        rows = conn.execute(_CHILDREN_ORDERED, {"task_ids": list(by_id)}).all()
    for row in rows:
        kind = row[_KIND]
        if kind == "meta":
            metas[row[_TASK_ID]].append({"name": row[_NAME], "value": row[_VALUE]})
        elif kind == "page":
            page = pages[row[_ID]] = {
                "id": row[_ID], "width": row[_WIDTH], "height": row[_HEIGHT],
                **{key: [] for key in _EMPTY_ITEMS},
            }
            page_lists[row[_TASK_ID]].append(page)
        else:
            pages[row[_PAGE_ID]][kind].append({name: row[i] for name, i in _ITEM_INDEXES[kind]})
    for task_id, task in by_id.items():
        task["meta"] = metas[task_id]
        task["pages"] = page_lists[task_id]
    return tasks


def load_public_task(conn: Connection, project_id: str, task_id: str) -> PublicTask | None:
    """The public task, or None when the project has no such task."""
    task = select_task_row(conn, project_id, task_id)
    if task is not None:
        add_meta_and_pages(conn, [task])
    return task
