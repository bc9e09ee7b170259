"""Reading tasks as their public objects (API.md §5) in two queries, whatever their number
or size.

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
    JSON,
    Boolean,
    Connection,
    Float,
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

from ..models import Annotation, Checkbox, Page, Segment, Signature, Task, TaskMeta

PublicTask = dict[str, Any]

_TASK = Task.__table__
TASK_COLUMNS = tuple(_TASK.c)  # id, project_id, name, created_at, status, ... (§5's scalars)

# Statements are built once: building a select costs more than running it.
_TASK_ROW = select(*TASK_COLUMNS).where(
    _TASK.c.id == bindparam("task_id"), _TASK.c.project_id == bindparam("project_id")
)
_TASK_ROW_FOR_UPDATE = _TASK_ROW.with_for_update()

# The public fields of each kind of page item, in the schema's order.
ITEM_FIELDS = {
    "annotations": ("id", "entity_id", "confidence", "content", "top", "left_of_line"),
    "checkboxes": ("id", "confidence", "checked", "coordinates"),
    "segments": ("id", "confidence", "coordinates"),
    "signatures": ("id", "confidence", "coordinates"),
}
_ITEM_MODELS: dict[str, Any] = {
    "annotations": Annotation, "checkboxes": Checkbox, "segments": Segment,
    "signatures": Signature,
}
# The columns of the UNION: every row is a meta pair, a page or an item. A row selects NULL,
# cast to the column's type, for what its kind does not have, so that every branch agrees on
# the types (PostgreSQL insists) and the result converts booleans and JSON on every database.
_CHILD_COLUMNS = {
    "kind": String, "rank": Integer, "task_id": String, "page_id": String, "position": Integer,
    "id": String, "name": String, "value": Text, "width": Integer, "height": Integer,
    "confidence": Float, "entity_id": String, "content": Text, "top": Float,
    "left_of_line": Float, "checked": Boolean, "coordinates": JSON,
}
_INDEX = {name: i for i, name in enumerate(_CHILD_COLUMNS)}
_ITEM_INDEXES = {
    kind: tuple((name, _INDEX[name]) for name in names) for kind, names in ITEM_FIELDS.items()
}
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


def _item_branch(kind: str, model: Any, task_filter: Any) -> Select[Any]:
    columns = {name: getattr(model, name) for name in ("page_id", "position", *ITEM_FIELDS[kind])}
    columns["task_id"] = Page.task_id
    return _branch(kind, 2, columns, model).join(Page, Page.id == model.page_id).where(
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
        *(_item_branch(kind, model, task_filter) for kind, model in _ITEM_MODELS.items()),
    )
    return select(children.subquery()).order_by("rank", "position")


_CHILDREN_ORDERED = _children(lambda column: column.in_(_TASK_IDS))
# One task (every GET and change): `=` rather than an expanding IN, which SQLAlchemy re-renders
# on every execution.
_ONE_TASK_CHILDREN_ORDERED = _children(lambda column: column == bindparam("task_id"))


def select_task_row(
    conn: Connection, project_id: str, task_id: str, *, for_update: bool = False
) -> PublicTask | None:
    """The task's own columns as a dict, or None. `for_update` locks the row (PostgreSQL)."""
    query = _TASK_ROW_FOR_UPDATE if for_update else _TASK_ROW
    row = conn.execute(query, {"task_id": task_id, "project_id": project_id}).first()
    return None if row is None else row._asdict()


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
        rows = conn.execute(_ONE_TASK_CHILDREN_ORDERED, {"task_id": next(iter(by_id))}).all()
    else:
        rows = conn.execute(_CHILDREN_ORDERED, {"task_ids": list(by_id)}).all()
    for row in rows:
        kind = row[_KIND]
        if kind == "meta":
            metas[row[_TASK_ID]].append({"name": row[_NAME], "value": row[_VALUE]})
        elif kind == "page":
            page = pages[row[_ID]] = {
                "id": row[_ID], "width": row[_WIDTH], "height": row[_HEIGHT],
                "annotations": [], "checkboxes": [], "segments": [], "signatures": [],
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
