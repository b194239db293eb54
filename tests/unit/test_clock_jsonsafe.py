"""The one time format helper and the one JSON-cleaning helper every module uses."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import numpy as np

from tasks.clock import compact_stamp, parse_time, stamp
from tasks.jsonsafe import plain

MOMENT = datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=UTC)


def test_the_two_formats_and_parsing_back() -> None:
    assert stamp(MOMENT) == "2026-12-04T01:02:03.456789Z"
    assert compact_stamp(MOMENT) == "20261204T010203Z"
    assert parse_time("2026-12-04T01:02:03.456789Z") == MOMENT
    assert parse_time("2026-12-04T02:02:03.456789+01:00") == MOMENT
    # another zone is written as UTC
    assert stamp(MOMENT.astimezone(timezone(timedelta(hours=-5)))) == stamp(MOMENT)
    assert sorted([stamp(MOMENT + timedelta(microseconds=1)), stamp(MOMENT)])[0] == stamp(MOMENT)


@dataclass(frozen=True)
class _Result:
    value: float
    counts: tuple[int, ...]


def test_plain_makes_strict_json() -> None:
    data = {
        "nan": float("nan"),
        "inf": math.inf,
        1: np.float64(0.5),
        "n": np.int64(7),
        "flag": np.bool_(True),
        "nested": [_Result(float("-inf"), (np.int32(1), 2))],
        "text": "NaN",
    }

    out = plain(data)

    assert out == {
        "nan": None,
        "inf": None,
        "1": 0.5,
        "n": 7,
        "flag": True,
        "nested": [{"value": None, "counts": [1, 2]}],
        "text": "NaN",
    }
    assert [type(out["1"]), type(out["n"]), type(out["flag"])] == [float, int, bool]
    assert json.loads(json.dumps(out, allow_nan=False)) == out
