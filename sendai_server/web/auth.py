"""The HTTP side of authentication: the Bearer header, and the `requires(scope)` decorator
that runs docs/api/index.md's checks in order: 401, rate limit, 404 for what the key may not see,
403."""

from __future__ import annotations

import re
from collections.abc import Callable
from copy import deepcopy
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from ..domain import clock
from ..domain.errors import NotFound, Unauthenticated
from ..services.keys import SCOPES, Principal, authenticate, touch_key
from ..services.profiles import unseen
from ..services.team_clock import tick
from .context import current_uow

_BEARER = re.compile(r"Bearer +(\S+) *", re.IGNORECASE)
KEY_SHAPE = re.compile(r"sk_[A-Za-z0-9_-]{32,128}")

F = TypeVar("F", bound=Callable[..., Any])

# Called with the principal between authentication and the visibility check; the rate
# limiter hooks in here.
after_authentication: list[Callable[[Principal], None]] = []


def parse_bearer(header: str | None) -> str:
    """The key from 'Bearer <key>'; anything else, before the database is asked: 401."""
    if not header:
        raise Unauthenticated()
    match = _BEARER.fullmatch(header)
    if match is None or not KEY_SHAPE.fullmatch(match.group(1)):
        raise Unauthenticated()
    return match.group(1)


def requires(scope: str, *, changes_state: bool = True) -> Callable[[F], F]:
    """Authorize the request for `scope` on the path's team and project.

    `changes_state=False` marks a view about the team's state as a whole (its snapshots, its
    clock) rather than a change in it: a frozen team's request to it does not take the next
    moment of the team's clock (docs/clock.md), so a snapshot holds the clock as it was.

    Place it below `@blp.response` and above `@blp.arguments`, so that a request is
    authorized before its body is read. It also marks the view for the API docs: the
    Blueprint (api/blueprint.py) turns the mark into the bearer security requirement and the
    401/403/404/429 responses, so no view documents them by hand.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            plain_key = parse_bearer(request.headers.get("Authorization"))
            # The request's first statement: on a connection found dead it is run again on a
            # fresh one (uow.first_read). The service then goes on on the same connection.
            uow = current_uow()
            principal, last_used_at = uow.first_read(lambda conn: authenticate(conn, plain_key))
            config = current_app.config["SENDAI"]
            touch_key(uow, principal.key_id, last_used_at, config.key_touch_interval_seconds)
            g.principal = principal
            for hook in after_authentication:
                hook(principal)
            team_id, project_id = kwargs.get("team_id"), kwargs.get("project_id")
            if project_id is not None:
                try:
                    principal.check_visibility(team_id or "", project_id)
                except NotFound:  # 404, or 403 under no_access=forbidden (docs/profiles.md)
                    raise unseen(uow, principal, team_id or "", project_id=project_id) from None
            elif team_id is not None and team_id != principal.team_id:
                raise NotFound()  # a path with a team but no project: the key's team only
            principal.check_scope(scope)
            # A frozen team's request runs at its clock's time (docs/clock.md); one that may
            # change something, a microsecond after the team's last change (list order).
            moment = principal.clock_now
            if moment is None and clock.frozen() is None and not principal.fault_count:
                return view(*args, **kwargs)  # the common case: real time, no fault rules
            offset = timedelta(0)
            if moment is not None and changes_state and request.method not in ("GET", "HEAD"):
                moment, offset = tick(uow, principal.team_id) or (moment, offset)
            with clock.frozen_at(moment, offset):
                if principal.fault_count:  # the team has fault rules (docs/failures.md)
                    run_with_faults = current_app.extensions.get("sendai_faults")
                    if run_with_faults is not None:
                        return run_with_faults(principal, lambda: view(*args, **kwargs))
                return view(*args, **kwargs)

        # flask-smorest keeps a view's doc in `_apidoc`; copy it, never mutate the inner one.
        apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
        apidoc["sendai_scope"] = scope
        wrapper._apidoc = apidoc  # type: ignore[attr-defined]
        wrapper.sendai_scope = scope  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def check_scopes(app: Flask) -> None:
    """Every view's `requires(scope)` names a scope of services/keys.SCOPES. Run by create_app:
    a misspelt scope fails the app's build, instead of refusing every key a user presents."""
    for endpoint, view in app.view_functions.items():
        scope = getattr(view, "sendai_scope", None)
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"view {endpoint!r} requires the unknown scope {scope!r}; "
                             f"the scopes are {', '.join(SCOPES)}")
