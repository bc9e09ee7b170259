"""The receiver check in a team's tests (docs/receiver-check.md): `sendai.check_receiver(url,
secret)` returns the report; `assert_receiver_safe(report)` fails the test naming each case
that failed, and why, in one message.

    def test_our_receiver_is_safe(sendai, our_receiver):
        report = sendai.check_receiver(our_receiver.url, our_receiver.secret,
                                       acted_on=our_receiver.times_acted_on)
        assert_receiver_safe(report)
"""

from __future__ import annotations

from ..pipeline.receiver_check import ActedOn, ReceiverReport, Target, check_receiver

__all__ = ["ActedOn", "ReceiverReport", "Target", "assert_receiver_safe", "check_receiver"]


def assert_receiver_safe(report: ReceiverReport) -> None:
    """Raise AssertionError unless every case passed; the message names each failing case,
    what it expected, what it saw, and what to do."""
    if report.passed:
        return
    lines = [f"the receiver at {report.url} failed {len(report.failed)} of "
             f"{len(report.cases)} cases: {', '.join(report.failed)}"]
    for case in report.cases:
        if not case.passed:
            lines.append(f"- {case.name}: expected {case.expected}, saw {case.seen}: "
                         f"{case.why}")
    raise AssertionError("\n".join(lines))
