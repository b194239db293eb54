"""What a drift check says of the retraining it asked for through the event."""

from __future__ import annotations

from tasks.pipeline.monitor import requested_but_not_seen


def test_a_run_not_seen_within_the_wait_asks_whether_the_automation_runs() -> None:
    assert requested_but_not_seen("retraining/retraining", 20) == (
        "retraining requested through the event (no 'retraining/retraining' flow run seen "
        "within 20 s: is `mlops deploy` running with its automation?)"
    )


def test_no_wait_says_so_instead_of_suspecting_the_automation() -> None:
    assert requested_but_not_seen("retraining/retraining", 0) == (
        "retraining requested through the event (the 'retraining/retraining' flow run not "
        "waited for: monitor.action_wait_seconds is 0)"
    )
