"""The inference log: rows in, labels joined by request id, label files taken in or set aside."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.adapters import inference_log
from tasks.adapters.inference_log import FeedbackError, LogWriter, Prediction


def prediction(request_id: str, rows: list[dict[str, object]], answered: bool = True) -> Prediction:
    return Prediction(
        time=inference_log.now(),
        request_id=request_id,
        model_name="m",
        model_version="3",
        role="champion" if answered else "challenger",
        answered=answered,
        source="http",
        latency_ms=12.5,
        features=rows,
        predictions=[1] * len(rows),
        probabilities=[[0.25, 0.75]] * len(rows),
    )


def test_rows_come_back_with_features_and_the_latest_label(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "inference.db"
    written = inference_log.append(
        log,
        [
            prediction("a", [{"age": 30.0, "device": "tv"}, {"age": None, "device": None}]),
            prediction("a", [{"age": 1.0, "device": "x"}], answered=False),
        ],
    )
    taken = inference_log.add_feedback(log, [("a", 1, 0), ("a", 1, 1), ("zzz", 0, 1)], "http")

    frame = inference_log.read_log(log)

    assert written == 3
    assert taken == (3, 2)  # the unknown request id is kept, and counted as not matching
    assert frame["age"].tolist()[0] == 30.0 and pd.isna(frame["age"].tolist()[1])
    assert frame["device"].tolist() == ["tv", None]
    assert frame["_row"].tolist() == [0, 1]
    assert frame["_model_version"].tolist() == ["3", "3"]
    assert frame["_prediction"].tolist() == [1, 1]
    assert frame["_label"].tolist() == [None, 1]  # the later label of row 1 wins
    everything = inference_log.read_log(log, answered_only=False)
    assert everything["_role"].tolist() == ["champion", "champion", "challenger"]
    assert everything["_answered"].tolist() == [True, True, False]


def test_the_window_is_by_time_and_limit(tmp_path: Path) -> None:
    log = tmp_path / "inference.db"
    inference_log.append(log, [prediction(str(i), [{"i": i}]) for i in range(5)])

    newest = inference_log.read_log(log, limit=2)
    later = inference_log.read_log(log, since="2999-01-01T00:00:00Z")

    assert newest["i"].tolist() == [3, 4]
    assert later.empty


def test_the_writer_flushes_in_batches_and_on_close(tmp_path: Path) -> None:
    log = tmp_path / "inference.db"
    writer = LogWriter(log, flush_seconds=0.05)
    for i in range(30):
        writer.put(prediction(f"r{i}", [{"i": i}]))
    writer.flush()
    assert writer.written == 30
    writer.put(prediction("last", [{"i": 99}]))
    writer.close()

    assert inference_log.read_log(log)["i"].tolist() == [*range(30), 99]


def test_label_files_are_taken_in_or_set_aside_with_the_reason(tmp_path: Path) -> None:
    log, folder = tmp_path / "inference.db", tmp_path / "feedback"
    folder.mkdir()
    inference_log.append(log, [prediction("req-1", [{"i": 1}, {"i": 2}])])
    pd.DataFrame({"request_id": ["req-1", "req-1"], "row": [0, 1], "label": [0, 1]}).to_csv(
        folder / "day1.csv", index=False
    )
    pd.DataFrame({"id": ["req-1"], "label": [1]}).to_csv(folder / "bad.csv", index=False)

    lines = inference_log.take_in_feedback_folder(log, folder)

    assert lines == [
        "rejected bad.csv: bad.csv: missing column(s) ['request_id']; a feedback file needs "
        "request_id and label (and optionally row), got ['id', 'label']",
        "loaded day1.csv: 2 label(s), 2 matching a prediction",
    ]
    assert sorted(p.name for p in folder.rglob("*.*")) == [
        "bad.csv",
        "bad.csv.error.txt",
        "day1.csv",
    ]
    assert (folder / "loaded" / "day1.csv").is_file()
    assert (folder / "rejected" / "bad.csv").is_file()
    assert inference_log.read_log(log)["_label"].tolist() == [0, 1]


def test_an_empty_label_is_an_error_naming_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ["a", "b"], "label": [1, None]}).to_csv(path, index=False)

    with pytest.raises(FeedbackError) as caught:
        inference_log.read_feedback_file(path)

    assert str(caught.value) == "labels.csv: empty request_id or label at rows [1]"
