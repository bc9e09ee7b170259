"""Text a database can store: no NUL (PostgreSQL's text cannot hold one; SQLite would keep it)
and no lone UTF-16 surrogate (not text at all). Every text that reaches the database from
outside is checked here, so both databases refuse the same input the same way: a 400
`validation_error` naming the field, before anything is kept. The places that call it are the
ones where outside text enters: the JSON body and the query (api/parser.py), the schemas' `Text`
fields (objects.py, the multipart form among them), and the names an upload stores, its files'
and an email's attachments' (services/uploads.py)."""

from __future__ import annotations

import re
from typing import Any

from .errors import ValidationError

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "NUL characters and lone surrogates are not allowed."


def is_storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None


def shown(text: str) -> str:
    """`text` printable in a message or a `details` key: a NUL as `\\x00`."""
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def unstorable_fields(data: Any) -> Any:
    """Where the text no database stores is in a decoded JSON value, nested like marshmallow's
    errors (so that `details.fields` names the field); None when there is none."""
    if isinstance(data, str):
        return None if is_storable(data) else [MESSAGE]
    if isinstance(data, dict):
        errors = {}
        for key, value in data.items():
            if not is_storable(key):
                errors[key.encode("utf-8", "backslashreplace").decode()] = [MESSAGE]
            elif (error := unstorable_fields(value)) is not None:
                errors[key] = error
        return errors or None
    if isinstance(data, list):
        found = {i: e for i, v in enumerate(data) if (e := unstorable_fields(v)) is not None}
        return found or None
    return None


def refuse_unstorable(field: str, text: str, what: str | None = None) -> None:
    """400 `validation_error` naming `field` when `text` cannot be stored; `what` says which
    text it is in the message (default: the field)."""
    if is_storable(text):
        return
    message = f"{what or field} {shown(text)!r}: {MESSAGE}"
    raise ValidationError(message, {"fields": {field: [message]}})
