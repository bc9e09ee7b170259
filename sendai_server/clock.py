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
from datetime import UTC, datetime

_FROZEN: ContextVar[datetime | None] = ContextVar("sendai_frozen_now", default=None)


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


@contextmanager
def frozen_at(moment: datetime | None) -> Iterator[None]:
    """Run the block at `moment` (an aware datetime): `now()` answers it. None: real time."""
    if moment is not None and moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
    token = _FROZEN.set(moment)
    try:
        yield
    finally:
        _FROZEN.reset(token)
