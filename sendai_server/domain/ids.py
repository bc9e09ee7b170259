"""Public IDs: a type prefix and random [a-z0-9], unique across the whole server."""

from __future__ import annotations

import re
import secrets

PREFIXES = ("team", "proj", "folder", "task", "upl", "page", "ann", "cb", "seg", "sig", "key",
            "evt", "req", "con", "ntf", "conn")

# What a path segment may look like before the database is asked about it at all. Anything
# else (control bytes, 10,000 characters, traversal) is simply "not found".
# The request ids a client may send in X-Request-Id (docs/api/index.md); any other is replaced.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
LOOKUP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def new_id(prefix: str) -> str:
    # 20 hex characters: 80 random bits, a subset of [a-z0-9], and the fastest way to get them.
    return f"{prefix}_{secrets.token_hex(10)}"


def is_lookup_id(value: str) -> bool:
    return LOOKUP_ID.fullmatch(value) is not None
