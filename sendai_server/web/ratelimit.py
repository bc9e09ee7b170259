"""Per-team rate limits (docs/api/index.md) with Flask-Limiter's storage and strategy: Send AI's
keys "inherit team-level rate limits", so every key of a team draws on one budget.

The count is checked in auth.py's `after_authentication` hook: after the key is known (so it is
counted per team, never per address, and a request without a valid key is a 401, not a 429)
and before visibility, scope and the body. The limiter key is the team's id, never a key.
Only authenticated /v2 requests reach the hook: /healthz, /readyz, /openapi.json and /docs are
never limited. Storage: memory (each worker counts alone) or Redis (one count for every worker
and host) from SENDAI_RATE_LIMIT_STORAGE.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app
from flask_limiter import Limiter
from limits import RateLimitItem, parse

from ..domain.errors import RateLimited
from ..services.keys import Principal
from . import auth

log = logging.getLogger("sendai_server.web.ratelimit")

_EXTENSION = "sendai_rate_limit"


class _TeamLimit:
    def __init__(self, limiter: Limiter, item: RateLimitItem, prefix: str) -> None:
        self.limiter = limiter
        self.item = item
        self.prefix = prefix

    def hit(self, team_id: str) -> None:
        strategy = self.limiter.limiter
        try:
            allowed = strategy.hit(self.item, self.prefix, "team", team_id)
        except Exception:  # noqa: BLE001 - the store is down: serve, and say so in the log
            log.exception("rate limit storage failed; request not limited")
            return
        if allowed:
            return
        reset_at = strategy.get_window_stats(self.item, self.prefix, "team", team_id).reset_time
        # Real time, on any team's clock: the limits library's windows are (docs/clock.md).
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"This API key's team is over its limit of {self.item} (shared by every key of "
            f"the team); retry in {retry_after} s.",
            details={"limit": str(self.item), "retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


def check_rate_limit(principal: Principal) -> None:
    """auth.after_authentication hook: count this request against the key's team's limit."""
    team_limit: _TeamLimit | None = current_app.extensions.get(_EXTENSION)
    if team_limit is not None:
        team_limit.hit(principal.team_id)


def init_app(app: Flask) -> None:
    config = app.config["SENDAI"]
    if not config.rate_limit:
        return  # no hook: an unlimited server does no per-request work for limits
    if check_rate_limit not in auth.after_authentication:
        auth.after_authentication.append(check_rate_limit)
    # No default or application limits: Flask-Limiter's own before_request check has nothing
    # to do, and the per-team check runs where the errors' order (docs/api/index.md) puts it (the
    # hook above).
    limiter = Limiter(
        key_func=lambda: "", app=app, storage_uri=config.rate_limit_storage,
        strategy="fixed-window", headers_enabled=False,
    )
    app.extensions[_EXTENSION] = _TeamLimit(
        limiter, parse(config.rate_limit), config.rate_limit_key_prefix
    )
