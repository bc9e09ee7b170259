"""The one source of "now" (docs/clock.md): every time the server writes or waits on reads
`now()`, never `datetime.now` or `time.time` of its own (a unit test scans the package).

`now()` is the real time (UTC), unless the code runs for a team whose clock is frozen: then it
is that clock's time. Who knows the team says so with `frozen_at(moment)` around the work:
the request's authentication (a frozen team's key lookup brings its clock along, auth.py) and
an advance, which runs each due job at its own moment (pipeline/clock_advance.py). A
contextvar holds the moment, so it follows the request's or the job's thread and nothing else.

`real_now()` is for what stays on real time whatever the team's clock says: leases, rate
limits, a fault's delay (they protect the server and the client's own timeouts). Its callers
are named in the scanning test's allow-list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

_FROZEN: ContextVar[datetime | None] = ContextVar("sendai_frozen_now", default=None)
# How far the frozen moment is past the clock's own time: the microseconds that keep a frozen
# team's changes in order (services/team_clock.tick). What is scheduled waits from the clock's
# time, not from them (`due`).
_OFFSET: ContextVar[timedelta] = ContextVar("sendai_frozen_offset", default=timedelta(0))


def real_now() -> datetime:
    """The real time (UTC), whatever any team's clock says."""
    return datetime.now(UTC)


def now() -> datetime:
    """The time of the team this code runs for: its frozen clock's, or the real time."""
    frozen = _FROZEN.get()
    return real_now() if frozen is None else frozen


def now_seconds() -> float:
    """`now()` as Unix seconds (a signature's `t=`, a token's lifetime)."""
    return now().timestamp()


def frozen() -> datetime | None:
    """The frozen moment this code runs at; None on real time."""
    return _FROZEN.get()


def due(when: datetime) -> datetime:
    """When a job scheduled at `when` (now() + a wait) falls due: on the clock's own time,
    without the ordering microseconds of the moment it was scheduled at."""
    return when - _OFFSET.get()


@contextmanager
def frozen_at(moment: datetime | None, offset: timedelta = timedelta(0)) -> Iterator[None]:
    """Run the block at `moment` (an aware datetime): `now()` answers it. None: real time.
    `offset`: how far `moment` is past the clock's own time (for ordering only)."""
    if moment is not None and moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
    token = _FROZEN.set(moment)
    offset_token = _OFFSET.set(offset if moment is not None else timedelta(0))
    try:
        yield
    finally:
        _OFFSET.reset(offset_token)
        _FROZEN.reset(token)
