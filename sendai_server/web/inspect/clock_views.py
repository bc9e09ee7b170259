"""The team's clock in the inspector (docs/clock.md): while the signed-in key's team has a
frozen clock, every page shows the team's time under its header (the key lookup reads it
already: `Principal.clock_now`, no statement of its own) and, for a key with the
`test_helpers` scope on a server whose test helpers are on, an Advance form: a POST with the
session's CSRF token like the inspector's other actions, through the same advance as the test
helpers' endpoint, answered once what fell due has run."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ...domain.errors import NotFound, SendAIError
from ...pipeline.clock_advance import advance
from ...pipeline.worker import Handler, load_handlers
from ...services import team_clock
from ..context import current_uow
from .session import check_csrf, signed_in_principal
from .views import blp

UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_HANDLERS = "sendai_inspector_clock_handlers"


@blp.context_processor
def _clock_globals() -> dict[str, Any]:
    return {"team_clock": _team_clock, "clock_units": tuple(UNITS),
            "clock_can_advance": _can_advance}


def _team_clock(team_id: str) -> dict[str, Any] | None:
    """The frozen clock with what waits for it, read only for a page of a frozen team."""
    try:
        return team_clock.read_clock(current_uow(), team_id)
    except NotFound:  # resumed since the key was read
        return None


def _can_advance(scopes: frozenset[str]) -> bool:
    return "test_helpers" in scopes and bool(current_app.config["SENDAI"].test_helpers)


def _handlers(app: Flask) -> dict[str, Handler]:
    """The worker's job handlers, made once per process."""
    handlers: dict[str, Handler] | None = app.extensions.get(_HANDLERS)
    if handlers is None:
        handlers = app.extensions[_HANDLERS] = load_handlers(app.config["SENDAI"])
    return handlers


def _back() -> BaseResponse:
    """To the page the form was on (an inspector page only), else the projects."""
    page = request.form.get("next", "")
    if not page.startswith("/inspect/") or "//" in page or "\\" in page:
        page = url_for("inspect.projects")
    return redirect(page, 303)


def _seconds() -> float | None:
    """The form's amount in seconds; None (with the reason flashed) when it is not one."""
    unit = request.form.get("unit", "")
    try:
        amount = float(request.form.get("amount", ""))
    except ValueError:
        amount = math.nan
    if unit not in UNITS or not math.isfinite(amount) or amount < 0:
        flash("Advance: give a number of seconds, minutes, hours or days, 0 or more; the "
              "clock was not moved.", "error")
        return None
    return amount * UNITS[unit]


@blp.route("/<team_id>/clock/advance", methods=["POST"])
def clock_advance(team_id: str) -> BaseResponse:
    principal = signed_in_principal()
    check_csrf()
    if team_id != principal.team_id or not current_app.config["SENDAI"].test_helpers:
        raise NotFound()
    principal.check_scope("test_helpers")
    seconds = _seconds()
    if seconds is None:
        return _back()
    try:
        answer = advance(current_uow(), team_id, _handlers(current_app),
                         current_app.config["SENDAI"], seconds=seconds)
    except SendAIError as error:
        flash(f"Advance: {error.message}", "error")
        return _back()
    ran = answer["ran"]
    moved = timedelta(seconds=round(seconds))
    summary = ", ".join(f"{job['kind']} {job['subject'] or ''} → {job['outcome']}".replace(
        "  ", " ") for job in ran[:10]) + (f", and {len(ran) - 10} more" if len(ran) > 10 else "")
    flash(f"The clock moved {moved} to {answer['now']:%Y-%m-%d %H:%M:%S} UTC and ran "
          f"{len(ran)} job(s){': ' + summary if ran else ''}."
          + ("" if answer["settled"] else " It stopped at the cap per advance: advance again "
             "to go on."), "info")
    return _back()
