"""`sendai.clock`: the team's clock (docs/clock.md), over HTTP with the plugin's client, as a
test's own client would reach it.

    sendai.clock.freeze()                  # the team's time stops (now, or `at`)
    [task_id] = project.upload("a.pdf")["taskIds"]
    ran = sendai.clock.advance(seconds=2)  # what fell due ran, in order, deliveries included
    assert project.get_task(task_id)["status"] == "REVIEWING"

An advance answers once everything due up to the new time has run, so nothing after it waits
or polls. While the clock stands, no worker runs the team's jobs: only `advance` does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..domain.clock import real_now
from .client import SendAIHelperError
from .faults import TeamCall

CLOCK_PATH = "/test_helpers/clock"


class ClockNotSettled(AssertionError):
    """An advance stopped at the server's cap of jobs per call before reaching its target:
    `ran` and `now` say how far it got. Advancing again continues from there."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        super().__init__(f"the clock stopped at {answer.get('now')} after running "
                         f"{len(answer.get('ran') or [])} job(s), short of its target "
                         "(the server's cap per advance): advance again to go on")


class Ran(list[dict[str, Any]]):
    """What an advance ran, in the order it ran: `{"kind", "due_at", "subject", "outcome"}`
    each; `now` is the clock after it and `clock` the whole answer."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer.get("ran") or [])
        self.clock = answer
        self.now = parse_time(answer["now"])

    def kinds(self) -> list[str]:
        """The kinds of the jobs that ran, in order (a short thing to assert on)."""
        return [job["kind"] for job in self]


class Clock:
    """The clock of one team: `freeze`, `advance`, `now`, `resume`. Every project that team has
    shares it (`sendai.project()` makes another team, with a clock of its own)."""

    def __init__(self, team_call: TeamCall) -> None:
        self._team_call = team_call

    def freeze(self, at: datetime | str | None = None) -> datetime:
        """Stop the team's time at `at` (a datetime, naive ones taken as UTC, or ISO 8601
        text), or at the server's now; the clock's now. Freezing a frozen clock moves it to
        `at` (a new start; what is pending stays pending)."""
        body = {} if at is None else {"frozen_at": _iso(at)}
        answer = self._team_call("POST", CLOCK_PATH, body)["payload"]
        return parse_time(answer["now"])

    def advance(self, seconds: float = 0, minutes: float = 0, hours: float = 0,
                days: float = 0, *, to: datetime | str | None = None) -> Ran:
        """Move the frozen clock forward by the sum of the arguments (or `to` a time) and
        answer once everything of the team that fell due meanwhile has run: a `Ran` list of
        the jobs, in order. ClockNotSettled when the server stopped short at its cap;
        SendAIHelperError (400) when the clock is not frozen, the move is backwards or
        longer than the server allows."""
        if to is not None:
            if seconds or minutes or hours or days:
                raise TypeError("advance() takes a duration or `to`, not both")
            body: dict[str, Any] = {"to": _iso(to)}
        else:
            total = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
            body = {"seconds": _number(total.total_seconds())}
        answer = self._team_call("POST", CLOCK_PATH + "/advance", body)["payload"]
        if answer.get("settled") is False:
            raise ClockNotSettled(answer)
        return Ran(answer)

    @property
    def now(self) -> datetime:
        """The team's now: the frozen clock's time, or the real time (UTC) when it runs."""
        state = self.state()
        return real_now() if state is None else parse_time(state["now"])

    @property
    def frozen(self) -> bool:
        return self.state() is not None

    def state(self) -> dict[str, Any] | None:
        """The clock as the server shows it (`now`, `frozen_at`, `advanced_seconds`,
        `pending`: what is waiting for it), or None while the team runs on real time."""
        try:
            state: dict[str, Any] = self._team_call("GET", CLOCK_PATH)["payload"]
        except SendAIHelperError as error:
            if error.status == 404:
                return None
            raise
        return state

    def resume(self) -> None:
        """Back to real time; what fell due while the clock stood runs soon after, by the
        workers. Resuming a clock that runs already changes nothing."""
        try:
            self._team_call("DELETE", CLOCK_PATH)
        except SendAIHelperError as error:
            if error.status != 404:
                raise


def parse_time(text: str) -> datetime:
    """The API's date-time text as an aware datetime (UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | str) -> str:
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(seconds: float) -> float | int:
    """Whole seconds as an int (what a person would write in the JSON), else the float."""
    return int(seconds) if float(seconds).is_integer() else seconds
