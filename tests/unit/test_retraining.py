"""The retraining rules: silence, cooldown, waiting for labels, the intake of production rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from tasks.registry import Event
from tasks.retraining import (
    IntakeError,
    combine,
    cooldown_until,
    episode_start,
    not_taken,
    plan_retraining,
    production_rows,
    watermark,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _event(time: str, kind: str, **details: Any) -> Event:
    return Event(time, kind, "m", "1", None, "tests", f"{kind} at {time}", details)


def test_no_history_and_enough_labels_retrains() -> None:
    plan = plan_retraining([], NOW, 360, 800, 500)

    assert plan.action == "retrain"
    assert plan.reason == "800 labelled production row(s) since the drift began (None)"


def test_too_few_labels_waits_and_says_how_many() -> None:
    events = [_event("2026-11-21T10:00:00.000000Z", "drift", window_start="2026-11-21T09:00Z")]

    plan = plan_retraining(events, NOW, 360, 120, 500)

    assert plan.action == "waiting for labels"
    assert plan.reason == (
        "waiting for labels: 120 labelled production row(s) since the drift began "
        "(2026-11-21T09:00Z), retrain.min_labelled_rows is 500"
    )


def test_a_retraining_inside_the_cooldown_blocks_the_next() -> None:
    events = [
        _event("2026-11-21T10:00:00.000000Z", "drift", window_start="2026-11-21T09:00Z"),
        _event("2026-11-21T11:00:00.000000Z", "retrain", report_id="drift-a", taken_through="x"),
        _event("2026-11-21T11:30:00.000000Z", "drift", window_start="2026-11-21T11:00Z"),
    ]

    plan = plan_retraining(events, NOW, 360, 10_000, 500)

    assert plan.action == "in cooldown"
    assert plan.reason == (
        "in cooldown until 2026-11-21T17:00:00.000000Z (retraining for drift-a started "
        "2026-11-21T11:00:00.000000Z)"
    )
    assert plan.episode_start == "2026-11-21T11:00Z"
    assert plan.watermark == "x"


def test_the_cooldown_ends() -> None:
    events = [_event("2026-11-21T05:00:00.000000Z", "retrain", report_id="drift-a")]

    assert cooldown_until(events, NOW, 360) is None
    assert cooldown_until(events, NOW, 0) is None
    assert plan_retraining(events, NOW, 360, 500, 500).action == "retrain"


def test_a_silence_in_force_wins_over_everything() -> None:
    events = [
        Event(
            "2026-11-21T11:00:00.000000Z",
            "silence",
            "m",
            "1",
            None,
            "user:ana",
            "known upstream change",
            {"until": "2026-11-21T15:00:00.000000Z"},
        )
    ]

    plan = plan_retraining(events, NOW, 0, 10_000, 1)

    assert plan.action == "silenced"
    assert plan.reason == (
        "silenced until 2026-11-21T15:00:00.000000Z by user:ana: known upstream change"
    )
    assert plan_retraining(events, datetime(2026, 11, 21, 16, tzinfo=UTC), 0, 1, 1).action == (
        "retrain"
    )


def test_the_episode_starts_at_the_first_drift_after_the_last_retraining_or_move() -> None:
    events = [
        _event("2026-11-20T01:00:00.000000Z", "drift", window_start="A"),
        _event("2026-11-20T02:00:00.000000Z", "promote"),
        _event("2026-11-20T03:00:00.000000Z", "drift", window_start="B"),
        _event("2026-11-20T04:00:00.000000Z", "drift", window_start="C"),
    ]

    assert episode_start(events) == "B"
    assert episode_start(events[:2]) is None
    assert watermark(events) is None


def _log(labels: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.5, 2.5, 3.5],
            "color": ["red", None, "blue"],
            "_time": ["t1", "t2", "t3"],
            "_request_id": ["r1", "r1", "r2"],
            "_row": [0, 1, 0],
            "_label": pd.Series(labels, dtype=object),
        }
    )


def test_production_rows_take_labelled_rows_with_new_numeric_keys() -> None:
    raw = pd.DataFrame({"id": [10, 11], "x": [0.5, 0.7], "color": ["red", "red"], "y": [0, 1]})

    rows = production_rows(_log([1, None, 0]), raw, "y", ["id"])

    assert rows.to_dict(orient="list") == {
        "id": [12, 13],
        "x": [1.5, 3.5],
        "color": ["red", "blue"],
        "y": [1, 0],
    }


def test_production_rows_key_text_ids_by_request_and_row() -> None:
    raw = pd.DataFrame({"key": ["a"], "x": [0.5], "color": ["red"], "y": [0]})

    rows = production_rows(_log([1, 1, 1]), raw, "y", ["key"])

    assert rows["key"].tolist() == ["r1:0", "r1:1", "r2:0"]


def test_a_training_column_the_log_lacks_is_an_error() -> None:
    raw = pd.DataFrame({"x": [0.5], "color": ["red"], "extra": [1], "y": [0]})

    with pytest.raises(IntakeError, match="the inference log has no column 'extra'"):
        production_rows(_log([1, 1, 1]), raw, "y", [])


def test_combine_appends_or_keeps_the_newest_window() -> None:
    raw = pd.DataFrame({"x": [1, 2, 3]})
    new = pd.DataFrame({"x": [4, 5]})

    assert combine(raw, new, "append", 100)["x"].tolist() == [1, 2, 3, 4, 5]
    assert combine(raw, new, "window", 3)["x"].tolist() == [3, 4, 5]
    assert combine(raw, new, "window", 10)["x"].tolist() == [1, 2, 3, 4, 5]


def test_rows_an_earlier_retraining_took_do_not_count_again() -> None:
    times = ["2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z", "2026-11-21T12:00:00Z"]

    assert not_taken(times, None) == 3
    assert not_taken(times, "2026-11-21T11:00:00Z") == 1
    assert not_taken(times, "2026-11-21T12:00:00Z") == 0
