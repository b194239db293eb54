"""What a drift-triggered retraining does, as pure rules: whether to retrain now, and on what.

The state lives in the model's history (tasks/adapters/registry.py): ``drift`` events written by the
monitor, ``retrain`` events written when a retraining starts, ``silence`` events written by
``mlops silence``, and the alias moves. No clock and no IO here: the caller passes ``now`` and
the frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd

from tasks.clock import parse_time, stamp
from tasks.types import MOVES, Event

Action = Literal["retrain", "in cooldown", "waiting for labels", "silenced"]


class IntakeError(ValueError):
    """Production rows cannot be added to the training data (a column the log lacks)."""


def last_event(events: Sequence[Event], kinds: set[str] | frozenset[str]) -> Event | None:
    """The newest event of one of ``kinds`` (events are oldest first)."""
    for event in reversed(events):
        if event.event in kinds:
            return event
    return None


def silenced_until(events: Sequence[Event], now: datetime) -> Event | None:
    """The ``silence`` event in force at ``now``, if any."""
    event = last_event(events, {"silence"})
    if event is None:
        return None
    return event if parse_time(event.details["until"]) > now else None


def cooldown_until(events: Sequence[Event], now: datetime, minutes: float) -> datetime | None:
    """When the cooldown of the last drift-triggered retraining ends, if it has not yet."""
    event = last_event(events, {"retrain"})
    if event is None or minutes <= 0:
        return None
    until = parse_time(event.time) + timedelta(minutes=minutes)
    return until if until > now else None


def episode_start(events: Sequence[Event]) -> str | None:
    """Where the current drift episode began: the window start of the first ``drift`` event
    after the last retraining or alias move (None: no drift since then)."""
    start = None
    for event in reversed(events):
        if event.event == "retrain" or event.event in MOVES:
            break
        if event.event == "drift":
            start = event.details.get("window_start") or event.time
    return start


def watermark(events: Sequence[Event]) -> str | None:
    """The newest inference-log time already taken into the training data."""
    event = last_event(events, {"retrain"})
    return None if event is None else event.details.get("taken_through")


def not_taken(times: Sequence[str], mark: str | None) -> int:
    """How many of the labelled rows at ``times`` no retraining took yet (newer than the
    watermark ``mark``)."""
    return sum(1 for time in times if time > mark) if mark else len(times)


@dataclass(frozen=True)
class Plan:
    """The decision on one drift event, with its reason in words."""

    action: Action
    reason: str
    episode_start: str | None = None
    watermark: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "episode_start": self.episode_start,
            "watermark": self.watermark,
        }


def labels_needed(
    data: str, window_rows: int, min_labelled_rows: int, window_after_drift: bool
) -> tuple[int, str]:
    """How many labelled rows since the drift began a retraining waits for, and the rule that
    says so. ``retrain.min_labelled_rows``; with ``data=window`` and ``window_after_drift``, at
    least ``window_rows``: the window keeps the newest rows, so once that many arrived since the
    drift began it holds drifted rows only, and so does the test split the gate compares the
    challenger and the champion on (a window reaching back before the drift would let rows of
    the old distribution decide, and teach the old concept)."""
    if data == "window" and window_after_drift and window_rows > min_labelled_rows:
        return window_rows, (
            f"retrain.window_rows is {window_rows} (data=window, window_after_drift: the "
            "window holds only rows since the drift began)"
        )
    return min_labelled_rows, f"retrain.min_labelled_rows is {min_labelled_rows}"


def plan_retraining(
    events: Sequence[Event],
    now: datetime,
    cooldown_minutes: float,
    labelled_in_episode: int,
    min_labelled_rows: int,
    rule: str | None = None,
) -> Plan:
    """Retrain now, or say why not: silenced, in cooldown, or too few labels since the drift
    began (fewer than ``min_labelled_rows``; ``rule`` names where that number comes from, by
    default ``retrain.min_labelled_rows``). Waiting for labels spends no cooldown: the next
    drift event asks again."""
    start, mark = episode_start(events), watermark(events)
    silence = silenced_until(events, now)
    if silence is not None:
        return Plan(
            "silenced",
            f"silenced until {silence.details['until']} by {silence.actor}: {silence.reason}",
            start,
            mark,
        )
    until = cooldown_until(events, now, cooldown_minutes)
    if until is not None:
        last = last_event(events, {"retrain"})
        assert last is not None
        return Plan(
            "in cooldown",
            f"in cooldown until {stamp(until)} (retraining for {last.details.get('report_id')} "
            f"started {last.time})",
            start,
            mark,
        )
    if labelled_in_episode < min_labelled_rows:
        return Plan(
            "waiting for labels",
            f"waiting for labels: {labelled_in_episode} labelled production row(s) since the "
            f"drift began ({start or 'now'}), "
            + (rule or f"retrain.min_labelled_rows is {min_labelled_rows}"),
            start,
            mark,
        )
    return Plan(
        "retrain",
        f"{labelled_in_episode} labelled production row(s) since the drift began ({start})",
        start,
        mark,
    )


def label_cutoff(now: datetime, max_age_days: float) -> str | None:
    """The oldest inference-log time a retraining takes labelled rows from
    (``retrain.label_max_age_days`` before ``now``; None: any age)."""
    return stamp(now - timedelta(days=max_age_days)) if max_age_days > 0 else None


def later(*times: str | None) -> str | None:
    """The latest of ``times`` that are given (ISO stamps compare as text)."""
    given = [t for t in times if t is not None]
    return max(given) if given else None


def parsed_labels(log: pd.DataFrame, schema: dict[str, Any]) -> tuple[pd.DataFrame, str | None]:
    """The labelled rows of ``log`` whose label is a class of the training data (a finite
    number for regression), the label in the class's own type; and a line saying how many were
    skipped and why (a log written before labels were checked may hold ``{"a": 1}`` or ``"x"``
    for integer classes: those rows are left out, never the whole intake)."""
    from tasks.steps.labels import LabelRule, usable

    rule = LabelRule.of(
        schema.get("task", "regression"), schema.get("classes", ()), "the training data"
    )
    checked, skipped, note = usable(log["_label"].tolist(), rule)
    kept = log.assign(_label=pd.Series(checked, index=log.index, dtype=object))
    if skipped:
        kept = kept.drop(index=log.index[skipped])
    return kept.reset_index(drop=True), note


def production_rows(
    log: pd.DataFrame,
    raw: pd.DataFrame,
    target: str,
    id_columns: Sequence[str],
) -> pd.DataFrame:
    """Labelled inference-log rows (``read_log``'s frame) in the raw table's columns.

    The label becomes ``target``; features keep their logged values. An ID column the log
    lacks gets new keys that cannot collide with the raw table's: numbers after its maximum,
    or ``<request_id>:<row>`` for text keys. Any other column the log lacks is an error, since
    the gate would refuse the new data version anyway.
    """
    labelled = log[log["_label"].notna()].reset_index(drop=True)
    columns: dict[str, Any] = {}
    for column in raw.columns:
        if column == target:
            columns[column] = labelled["_label"].to_numpy()
        elif column in labelled.columns and column not in id_columns:
            columns[column] = labelled[column].to_numpy()
        elif column in id_columns:
            existing = raw[column]
            if pd.api.types.is_numeric_dtype(existing):
                first = int(existing.max()) + 1 if existing.notna().any() else 0
                columns[column] = range(first, first + len(labelled))
            else:
                keys = labelled["_request_id"].astype(str) + ":" + labelled["_row"].astype(str)
                columns[column] = keys.to_numpy()
        else:
            raise IntakeError(
                f"the inference log has no column '{column}' of the training data: production "
                "rows cannot be added to it (is the endpoint sent every column?)"
            )
    rows = pd.DataFrame(columns, columns=list(raw.columns))
    for column in raw.columns:  # the raw table's dtypes, so the file reads back the same
        if pd.api.types.is_numeric_dtype(raw[column]):
            rows[column] = _like(raw[column], pd.to_numeric(rows[column], errors="raise"))
    return rows


def _like(existing: pd.Series, values: pd.Series) -> pd.Series:
    """``values`` with the integer type of an integer ``existing`` column when they are whole
    numbers: JSON gives 1.0 for a label or count that was 1, and a missing value (None) would
    turn the whole column into floats, so the appended table would write ``2.0`` for the class
    ``2`` (a new class type for the retrained model) and rewrite every old row's ``3`` as
    ``3.0``. A gap becomes pandas' nullable integer (an empty CSV cell); anything else stays."""
    if not pd.api.types.is_integer_dtype(existing) or pd.api.types.is_bool_dtype(existing):
        return values
    present = values.dropna()
    if not bool((present == present.round()).all()):
        return values
    if len(present) == len(values):
        return values.astype(existing.dtype)
    return values.astype("Int64")


def combine(raw: pd.DataFrame, rows: pd.DataFrame, mode: str, window_rows: int) -> pd.DataFrame:
    """The next training data: ``raw`` with ``rows`` appended, or (``window``) only the newest
    ``window_rows`` rows of that union."""
    union = pd.concat([raw, rows], ignore_index=True)
    if mode == "window" and len(union) > window_rows:
        union = union.iloc[len(union) - window_rows :].reset_index(drop=True)
    return union


def retrain_event(
    model_name: str,
    champion: str | None,
    drift_report: str,
    plan: Plan,
    intake: Any,
    flow_run_id: str,
) -> Event:
    """The ``retrain`` event of the history: what was taken in, and for which drift report
    (the cooldown and the next intake's watermark are read from it)."""
    from tasks.clock import stamp

    return Event(
        time=stamp(),
        event="retrain",
        model_name=model_name,
        version=champion,
        previous=None,
        actor=f"drift:{drift_report}",
        reason=plan.reason,
        details={
            "report_id": drift_report,
            "taken_through": intake.taken_through,
            "rows_added": intake.rows,
            "data_md5": intake.data_md5,
            "flow_run_id": flow_run_id,
        },
    )
