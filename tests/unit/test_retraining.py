"""The retraining rules: silence, cooldown, waiting for labels, the intake of production rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from tasks.steps.retraining import (
    IntakeError,
    combine,
    cooldown_until,
    episode_start,
    labels_needed,
    not_taken,
    plan_retraining,
    production_rows,
    watermark,
)
from tasks.types import Event

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


def test_a_window_after_the_drift_waits_for_a_window_of_drifted_labels() -> None:
    """data=window keeps the newest window_rows rows: with window_after_drift a retraining waits
    until that many labelled rows exist since the drift began, so no row of the window (nor of
    the gate's test split, cut from it) is from before the drift."""
    window = labels_needed("window", 4000, 2000, True)

    assert window == (
        4000,
        "retrain.window_rows is 4000 (data=window, window_after_drift: the window holds only "
        "rows since the drift began)",
    )
    assert labels_needed("window", 4000, 2000, False) == (
        2000,
        "retrain.min_labelled_rows is 2000",
    )
    assert labels_needed("window", 2000, 4000, True) == (4000, "retrain.min_labelled_rows is 4000")
    assert labels_needed("append", 20000, 500, True) == (500, "retrain.min_labelled_rows is 500")
    events = [_event("2026-11-21T10:00:00.000000Z", "drift", window_start="2026-11-21T09:00Z")]
    waiting = plan_retraining(events, NOW, 0, 3999, *window)
    assert waiting.action == "waiting for labels"
    assert waiting.reason == (
        "waiting for labels: 3999 labelled production row(s) since the drift began "
        "(2026-11-21T09:00Z), retrain.window_rows is 4000 (data=window, window_after_drift: the "
        "window holds only rows since the drift began)"
    )
    assert plan_retraining(events, NOW, 0, 4000, *window).action == "retrain"


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


def _labelled(labels: list[Any], pages: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pages": pd.Series(pages, dtype=object),
            "x": [1.5, None],
            "_time": ["t1", "t2"],
            "_request_id": ["r1", "r1"],
            "_row": [0, 1],
            "_label": pd.Series(labels, dtype=object),
        }
    )


def test_integer_classes_and_counts_stay_integers_with_gaps_as_empty_cells() -> None:
    """Before: a label logged as 1.0 and a missing count turned the class column and the count
    column into floats, so the appended file read `0.0,2.0,1.0` (a new class type) and rewrote
    every old count `3` as `3.0`."""
    raw = pd.DataFrame({"pages": [3, 5], "x": [0.5, 0.7], "y": [0, 2]})

    rows = production_rows(_labelled([1.0, 2], [4, None]), raw, "y", [])
    data = combine(raw, rows, "append", 0)

    assert str(rows["y"].dtype) == "int64" and rows["y"].tolist() == [1, 2]
    assert str(rows["pages"].dtype) == "Int64"
    assert data.to_csv(index=False) == "pages,x,y\n3,0.5,0\n5,0.7,2\n4,1.5,1\n,,2\n"


def test_text_classes_and_float_targets_keep_their_type() -> None:
    classes = pd.DataFrame({"pages": [3.0, 5.0], "x": [0.5, 0.7], "y": ["Gentoo", None]})
    values = pd.DataFrame({"pages": [3.0, 5.0], "x": [0.5, 0.7], "y": [151.5, 75.0]})

    text = combine(classes, production_rows(_labelled(["Adelie", "Chinstrap"], [4, 2]), classes, "y", []), "append", 0)  # fmt: skip # noqa: E501
    number = production_rows(_labelled([150, 80.25], [None, 2]), values, "y", [])

    assert text.to_csv(index=False) == (
        "pages,x,y\n3.0,0.5,Gentoo\n5.0,0.7,\n4.0,1.5,Adelie\n2.0,,Chinstrap\n"
    )
    assert str(number["y"].dtype) == "float64" and number["y"].tolist() == [150.0, 80.25]
    assert number["pages"].isna().tolist() == [True, False]


def test_a_label_that_is_not_a_whole_number_is_left_for_the_gate() -> None:
    raw = pd.DataFrame({"pages": [3], "x": [0.5], "y": [0]})

    rows = production_rows(_labelled([1.5, 2], [1, 2]), raw, "y", [])

    assert rows["y"].tolist() == [1.5, 2.0]  # the suite's value set refuses 1.5
    assert str(rows["pages"].dtype) == "int64"
