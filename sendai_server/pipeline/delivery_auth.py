"""A connector's token for its deliveries (docs/notifications.md): OAuth2 client credentials, or a
custom token exchange.

A token is fetched from the connector's token endpoint on first need and kept (in this
process, per connector) until shortly before it expires; a 401 from the receiver forgets it,
so the next fetch is a fresh one. Token endpoints are reached with the deliveries' own client
(the same timeouts, no redirects followed). A token endpoint that fails raises `TokenFailure`,
whose message is the attempt's `error`: what it answered, never its body or any secret.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ..domain import clock as team_clock

OAUTH2 = "oauth2"
TOKEN_EXCHANGE = "token_exchange"
EXPIRY_TYPES = ("datetime", "seconds", "milliseconds")
# A token is renewed this long before it expires (at most a tenth of its lifetime): "shortly
# before", so that a delivery never goes out with a token that expires on its way.
RENEW_MARGIN_SECONDS = 30.0

# A token's lifetime runs on the team's clock (docs/clock.md): an advance past it renews it.
clock: Callable[[], float] = team_clock.now_seconds  # the tests move it


class TokenFailure(Exception):
    """The token endpoint did not give a token; the message says what it answered."""


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: float | None  # clock() time; None: kept until a 401


class TokenCache:
    """Tokens by connector id, shared by the worker's delivery threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def get(self, key: str) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is None or (token.renew_at is not None and clock() >= token.renew_at):
                return None
            return token.value

    def put(self, key: str, value: str, lifetime: float | None) -> None:
        renew_at = None
        if lifetime is not None:
            renew_at = clock() + lifetime - min(RENEW_MARGIN_SECONDS, lifetime / 10)
        with self._lock:
            self._tokens[key] = _Token(value, renew_at)

    def forget(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


TOKENS = TokenCache()


def kind_of(auth: Mapping[str, Any] | None) -> str | None:
    """"oauth2", "token_exchange", or None for a connector without a token endpoint."""
    if not auth:
        return None
    return OAUTH2 if OAUTH2 in auth else TOKEN_EXCHANGE if TOKEN_EXCHANGE in auth else None


def token_for(client: httpx.Client, connector_id: str, auth: Mapping[str, Any],
              timeout: float) -> str:
    """The connector's token: the kept one, or a fresh one from its endpoint."""
    kept = TOKENS.get(connector_id)
    if kept is not None:
        return kept
    if OAUTH2 in auth:
        value, lifetime = _client_credentials(client, auth[OAUTH2], timeout)
    else:
        value, lifetime = _exchange(client, auth[TOKEN_EXCHANGE], timeout)
    TOKENS.put(connector_id, value, lifetime)
    return value


def forget(connector_id: str) -> None:
    """After a 401: the next delivery fetches a new token."""
    TOKENS.forget(connector_id)


def _client_credentials(client: httpx.Client, spec: Mapping[str, Any],
                        timeout: float) -> tuple[str, float | None]:
    """RFC 6749 §4.4: the client authenticates with HTTP Basic (§2.3.1)."""
    form = {"grant_type": "client_credentials"}
    if spec.get("scope"):
        form["scope"] = spec["scope"]
    answer = _call(client, "POST", spec["token_url"], timeout, data=form,
                   auth=httpx.BasicAuth(spec["client_id"], spec["client_secret"]))
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise TokenFailure("token endpoint answered without an access_token")
    return token, _lifetime(answer.get("expires_in"), "seconds")


def _exchange(client: httpx.Client, spec: Mapping[str, Any],
              timeout: float) -> tuple[str, float | None]:
    method = spec.get("method", "POST")
    answer = _call(client, method, spec["url"], timeout, params=spec.get("query") or None,
                   data=(spec.get("form") or None) if method == "POST" else None)
    token = _dig(answer, spec["token_key"])
    if not isinstance(token, str) or not token:
        raise TokenFailure(f"token endpoint answered without {spec['token_key']!r}")
    expiry = _dig(answer, spec["expiry_key"]) if spec.get("expiry_key") else None
    return token, _lifetime(expiry, spec.get("expiry_type", "seconds"))


def _call(client: httpx.Client, method: str, url: str, timeout: float,
          **kwargs: Any) -> Mapping[str, Any]:
    try:
        response = client.request(method, url, headers={"Accept": "application/json"},
                                  **kwargs)
    except httpx.TimeoutException as exc:
        raise TokenFailure(f"token endpoint: no answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise TokenFailure(f"token endpoint: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise TokenFailure(f"token endpoint answered {response.status_code}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise TokenFailure("token endpoint answered something other than JSON") from exc
    if not isinstance(answer, dict):
        raise TokenFailure("token endpoint answered something other than a JSON object")
    return answer


def _dig(answer: Mapping[str, Any], key: str) -> Any:
    """`key` in the answer; a dotted key reaches into nested objects (`data.token`)."""
    found: Any = answer
    for part in key.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return answer.get(key)
        found = found[part]
    return found


def _lifetime(value: Any, expiry_type: str) -> float | None:
    """Seconds the token lives from now; None when the endpoint did not say (or said nonsense):
    it is then kept until a 401."""
    if value is None or isinstance(value, bool):
        return None
    if expiry_type == "datetime":
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - team_clock.now()).total_seconds())
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if expiry_type == "milliseconds":
        seconds /= 1000
    return max(0.0, seconds)
