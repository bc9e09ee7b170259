"""A connector's token endpoint (docs/notifications.md): OAuth2 client credentials
(`{"oauth2": {"token_url", "client_id", "client_secret", "scope"?}}`) or a custom token
exchange (`{"token_exchange": {"method", "url", "query"?, "form"?, "token_key", "expiry_key"?,
"expiry_type"}}`): what is accepted, and what anyone may see of it (secrets as `***`).

The token itself is fetched and kept by pipeline/delivery_auth.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

MASK = "***"
EXCHANGE_METHODS = ("GET", "POST")
EXPIRY_TYPES = ("datetime", "seconds", "milliseconds")
_OAUTH2_KEYS = {"token_url", "client_id", "client_secret", "scope"}
_EXCHANGE_KEYS = {"method", "url", "query", "form", "token_key", "expiry_key", "expiry_type"}
MAX_PAIRS = 50


def check_token_auth(bearer: str | None, oauth2: Mapping[str, Any] | None,
                     token_exchange: Mapping[str, Any] | None) -> Iterator[tuple[str, str]]:
    """(field, problem) for each thing wrong with a connector's authentication."""
    given = [name for name, value in (("bearer", bearer), ("oauth2", oauth2),
                                       ("token_exchange", token_exchange)) if value is not None]
    if len(given) > 1:
        yield given[1], f"One authentication at most: {' or '.join(given)}, not both."
    if oauth2 is not None:
        yield from _check_oauth2(oauth2)
    if token_exchange is not None:
        yield from _check_exchange(token_exchange)


def _check_oauth2(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if not isinstance(spec, Mapping) or set(spec) - _OAUTH2_KEYS:
        yield "oauth2", f"An object of {', '.join(sorted(_OAUTH2_KEYS))}."
        return
    if not _http_url(spec.get("token_url")):
        yield "oauth2", "token_url: an http:// or https:// URL, at most 2000 characters."
    for key in ("client_id", "client_secret"):
        if not _text(spec.get(key)):
            yield "oauth2", f"{key}: 1 to 2000 characters, no control characters."
    if spec.get("scope") is not None and not _text(spec.get("scope")):
        yield "oauth2", "scope: 1 to 2000 characters, no control characters."


def _check_exchange(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if not isinstance(spec, Mapping) or set(spec) - _EXCHANGE_KEYS:
        yield "token_exchange", f"An object of {', '.join(sorted(_EXCHANGE_KEYS))}."
        return
    if spec.get("method", "POST") not in EXCHANGE_METHODS:
        yield "token_exchange", "method: GET or POST."
    if not _http_url(spec.get("url")):
        yield "token_exchange", "url: an http:// or https:// URL, at most 2000 characters."
    for key in ("query", "form"):
        pairs = spec.get(key)
        if pairs is not None and not (
                isinstance(pairs, Mapping) and len(pairs) <= MAX_PAIRS
                and all(_text(k, 200) and isinstance(v, str) and _text(v or "-")
                        for k, v in pairs.items())):
            yield "token_exchange", f"{key}: at most {MAX_PAIRS} names and text values."
    if spec.get("form") and spec.get("method", "POST") != "POST":
        yield "token_exchange", "form: only with method POST."
    if not _text(spec.get("token_key"), 200):
        yield "token_exchange", "token_key: the answer's field holding the token."
    if spec.get("expiry_key") is not None and not _text(spec.get("expiry_key"), 200):
        yield "token_exchange", "expiry_key: the answer's field holding the expiry."
    if spec.get("expiry_type", "seconds") not in EXPIRY_TYPES:
        yield "token_exchange", f"expiry_type: one of {', '.join(EXPIRY_TYPES)}."


def _text(value: Any, most: int = 2000) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= most \
        and not any(ord(c) < 32 or ord(c) == 127 for c in value)


def _http_url(value: Any) -> bool:
    if not _text(value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def masked_token_auth(auth: Mapping[str, Any] | None) -> dict[str, Any]:
    """The connector's public `oauth2` and `token_exchange`: the client secret and the
    exchange's form values as `***`."""
    auth = auth or {}
    oauth2 = auth.get("oauth2")
    exchange = auth.get("token_exchange")
    return {
        "oauth2": None if oauth2 is None else {
            **{k: v for k, v in oauth2.items() if k != "client_secret"},
            "client_secret": MASK},
        "token_exchange": None if exchange is None else {
            **exchange,
            **({"form": {k: MASK for k in exchange["form"]}} if exchange.get("form") else {})},
    }


def auth_kind(connector: Mapping[str, Any]) -> str:
    """none, bearer, oauth2 or token_exchange: how the connector authenticates (the
    inspector shows it)."""
    for kind in ("oauth2", "token_exchange", "bearer"):
        if connector.get(kind) is not None:
            return kind
    return "none"
