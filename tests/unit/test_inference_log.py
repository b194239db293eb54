"""The inference log: rows in, labels joined by request id, label files taken in or set aside."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.adapters import inference_log
from tasks.adapters.inference_log import (
    FeedbackError,
    FeedbackRefused,
    FeedbackResult,
    LogWriter,
    Prediction,
    Retention,
)
from tasks.steps.labels import LabelError, LabelRule


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


def test_rows_come_back_with_features_and_the_first_label(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "inference.db"
    written = inference_log.append(
        log,
        [
            prediction("a", [{"age": 30.0, "device": "tv"}, {"age": None, "device": None}]),
            prediction("a", [{"age": 1.0, "device": "x"}], answered=False),
        ],
    )
    taken = inference_log.add_feedback(log, [("a", 1, 0)], "http:test")
    again = inference_log.add_feedback(log, [("a", 1, 0)], "http:test")

    frame = inference_log.read_log(log)

    assert written == 3
    assert taken == FeedbackResult(taken=1, unchanged=0)
    assert again == FeedbackResult(taken=0, unchanged=1)  # the same label again: nothing new
    assert frame["age"].tolist()[0] == 30.0 and pd.isna(frame["age"].tolist()[1])
    assert frame["device"].tolist() == ["tv", None]
    assert frame["_row"].tolist() == [0, 1]
    assert frame["_model_version"].tolist() == ["3", "3"]
    assert frame["_prediction"].tolist() == [1, 1]
    assert frame["_label"].tolist() == [None, 0]
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
        "loaded day1.csv: 2 label(s)",
    ]
    assert sorted(p.name for p in folder.rglob("*.*")) == [
        ".lock",  # the single consumer's flock
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


def test_a_row_orjson_cannot_dump_is_counted_and_the_rows_after_it_are_written(
    tmp_path: Path,
) -> None:
    """Before (#3): an integer above 2**64 in a feature made orjson raise in the writer thread,
    outside its try, and the thread died: every later row was lost and /health showed nothing."""
    log = tmp_path / "inference.db"
    writer = LogWriter(log, flush_seconds=0.01)
    writer.put(prediction("huge", [{"i": 2**70}]))
    writer.flush()
    for i in range(5):
        writer.put(prediction(f"r{i}", [{"i": i}]))
    writer.flush()
    status = writer.status()
    writer.close()

    assert inference_log.read_log(log)["_request_id"].tolist() == [f"r{i}" for i in range(5)]
    assert status["alive"] is True
    assert (status["written"], status["failed"]) == (5, 1)
    assert status["failed_by_reason"] == {"not serializable: Integer exceeds 64-bit range": 1}


def test_the_queue_is_bounded_and_what_it_drops_is_counted(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "inference.db", flush_seconds=30, queue_rows=3)
    writer.put(prediction("a", [{"i": 1}, {"i": 2}]))
    writer.put(prediction("b", [{"i": 3}, {"i": 4}]))  # 4 rows would wait: dropped
    status = writer.status()
    writer.close()

    assert status["dropped_queue_full"] == 2 and status["queued_rows"] == 2
    assert status["failed_by_reason"] == {"queue full": 2}
    assert inference_log.read_log(tmp_path / "inference.db")["_request_id"].tolist() == ["a"] * 2


def test_a_writer_thread_that_ended_is_restarted_by_the_next_put(tmp_path: Path) -> None:
    log = tmp_path / "inference.db"
    writer = LogWriter(log, flush_seconds=0.01)
    writer._queue.put(None)  # the thread's own stop signal, without close(): it ends
    writer._thread.join(timeout=10)
    assert writer.status()["alive"] is False
    writer.put(prediction("after", [{"i": 1}]))
    writer.flush()
    status = writer.status()
    writer.close()

    assert (status["alive"], status["restarts"], status["written"]) == (True, 1, 1)
    assert inference_log.read_log(log)["_request_id"].tolist() == ["after"]


def test_the_log_and_its_wal_and_shm_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    """Before (#13): the default umask (0644 here): anyone on the machine read every feature."""
    log = tmp_path / "logs" / "inference.db"
    writer = LogWriter(log, flush_seconds=0.01)
    writer.put(prediction("a", [{"i": 1}]))
    writer.flush()
    modes = {
        p.name: p.stat().st_mode & 0o777
        for p in log.parent.iterdir()
        if p.name.startswith("inference.db")
    }
    writer.close()

    assert modes == {"inference.db": 0o600, "inference.db-wal": 0o600, "inference.db-shm": 0o600}


def test_labels_and_other_processes_beside_the_endpoints_open_writer_lose_nothing(
    tmp_path: Path,
) -> None:
    """Before: each connect() opened and closed the file itself to check its mode, which drops
    every POSIX lock of the process on it, those of the writer's open connection too; the next
    /feedback call failed with "disk I/O error" and the writer then found "file is not a
    database" (seen in `mlops simulate --live`, the endpoint's 500 on /feedback)."""
    import subprocess
    import sys

    log = tmp_path / "logs" / "inference.db"
    writer = LogWriter(log, flush_seconds=0.01)
    reader = (
        "import sys; from pathlib import Path; from tasks.adapters.inference_log import read_log;"
        f" print(len(read_log(Path({str(log)!r}))))"
    )
    seen = []
    try:
        for batch in range(3):
            writer.put(prediction(f"b{batch}", [{"i": 1}, {"i": 2}]))
            writer.flush()
            inference_log.add_feedback(log, [(f"b{batch}", 0, 1)], "http:test")  # same process
            done = subprocess.run([sys.executable, "-c", reader], capture_output=True,
                                  text=True, check=True, cwd=Path(__file__).parents[2])  # fmt: skip
            seen.append(int(done.stdout))
        status = writer.status()
    finally:
        writer.close()
    frame = inference_log.read_log(log)

    assert seen == [2, 4, 6]
    assert (status["written"], status["failed"], status["last_error"]) == (6, 0, None)
    assert frame["_label"].tolist() == [1, None, 1, None, 1, None]


def test_a_log_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"")
    log = tmp_path / "inference.db"
    log.symlink_to(target)

    with pytest.raises(OSError, match=f"the inference log {log} is a symlink"):
        inference_log.connect(log)


def test_retention_deletes_by_age_and_by_count_and_the_labels_of_deleted_rows(
    tmp_path: Path,
) -> None:
    log = tmp_path / "inference.db"
    old = Prediction(
        **{**prediction("old", [{"i": 0}]).__dict__, "time": "2020-01-01T00:00:00.000000Z"}
    )
    inference_log.append(log, [old, *(prediction(f"r{i}", [{"i": i}]) for i in range(1, 5))])
    inference_log.add_feedback(log, [("old", 0, 1), ("r1", 0, 1), ("r4", 0, 0)], "http:test")

    writer = LogWriter(log, flush_seconds=0.01, retention=Retention(days=30, rows=3))
    writer.flush()
    writer.put(prediction("r5", [{"i": 5}]))  # the writer has run its first retention round
    writer.flush()
    deleted = writer.status()["retention_deleted"]
    writer.close()

    frame = inference_log.read_log(log)
    assert deleted == 2  # "old" by age, then r1 beyond the newest three
    assert frame["_request_id"].tolist() == ["r2", "r3", "r4", "r5"]
    assert frame["_label"].tolist() == [None, None, 0, None]
    connection = inference_log.connect(log)
    labels = connection.execute("SELECT request_id FROM feedback ORDER BY id").fetchall()
    vacuum = connection.execute("PRAGMA auto_vacuum").fetchone()[0]
    connection.close()
    assert labels == [("r4",)] and vacuum == 2  # 2: incremental


BINARY = LabelRule.of("binary", [0, 1], "m v3")


def test_labels_must_be_classes_for_answered_rows_and_the_first_label_wins(
    tmp_path: Path,
) -> None:
    """Before (#5): any JSON value was stored as the label of any request id, and a later
    label silently replaced an earlier one."""
    log = tmp_path / "inference.db"
    inference_log.append(log, [prediction("req-1", [{"i": 1}, {"i": 2}])])
    inference_log.append(log, [prediction("shadow", [{"i": 1}], answered=False)])

    with pytest.raises(FeedbackRefused) as invalid:
        inference_log.add_feedback(log, [("req-1", 0, {"a": 1}), ("req-1", 1, "x")], "t", BINARY)
    with pytest.raises(FeedbackRefused) as unknown:
        inference_log.add_feedback(
            log, [("req-1", 0, 1), ("nope", 0, 1), ("shadow", 0, 1)], "t", BINARY
        )
    stored = inference_log.add_feedback(
        log, [("req-1", 0, "1"), ("req-1", 1, 0.0)], "http:feedback-token", BINARY
    )
    with pytest.raises(FeedbackRefused) as conflict:
        inference_log.add_feedback(log, [("req-1", 0, 0)], "http:token", BINARY)

    assert (invalid.value.status, str(invalid.value)) == (
        400,
        "2 label(s) refused: label 0 (request_id 'req-1' row 0): {\"a\": 1} is not a class of "
        "m v3 (classes: [0, 1]); label 1 (request_id 'req-1' row 1): \"x\" is not a class of "
        "m v3 (classes: [0, 1])",
    )
    assert (unknown.value.status, str(unknown.value), unknown.value.counts) == (
        409,
        "2 label(s) for rows never answered: label 1: request_id 'nope' row 0 is not in the "
        "inference log; label 2: request_id 'shadow' row 0 is not in the inference log",
        {"unknown": 2, "conflict": 0},
    )
    assert stored == FeedbackResult(taken=2, unchanged=0)
    assert (conflict.value.status, str(conflict.value)) == (
        409,
        "1 label(s) conflicting with an earlier label: label 0: request_id 'req-1' row 0 "
        "already has the label 1, not 0",
    )
    assert inference_log.read_log(log)["_label"].tolist() == [1, 0]  # as the model's classes
    connection = inference_log.connect(log)
    sources = connection.execute("SELECT source FROM feedback").fetchall()
    connection.close()
    assert sources == [("http:feedback-token",), ("http:feedback-token",)]


def test_regression_labels_are_finite_numbers() -> None:
    rule = LabelRule.of("regression", [], "r v1")

    assert [rule.check(v) for v in (1, 2.5, "3")] == [1, 2.5, 3.0]
    assert [type(rule.check(v)) for v in (1, 2.5, "3")] == [int, float, float]
    bools, floats = LabelRule.of("binary", [False, True]), LabelRule.of("binary", [0.0, 1.0])
    assert (bools.check(True), floats.check(1), floats.check("0")) == (True, 1.0, 0.0)
    for value, message in (
        ("x", '"x" is not a number (r v1 is a regression)'),
        (float("inf"), "Infinity is not a finite number"),
        (10**400, f"{str(10**400)[:40]}... (401 characters) is not a finite number"),
        (True, "true is not a number (r v1 is a regression)"),
    ):
        with pytest.raises(LabelError) as caught:
            rule.check(value)
        assert str(caught.value) == message


def test_the_feedback_folder_refuses_links_large_files_and_bad_rows_and_goes_on(
    tmp_path: Path,
) -> None:
    """Before (#8): a symlink was read (any file the service can read), there was no size
    limit, a note was written through a planted symlink, and a ``row`` that is not a whole
    number raised outside the try: that file and every file after it stayed, poll after poll."""
    log, folder = tmp_path / "inference.db", tmp_path / "feedback"
    folder.mkdir()
    inference_log.append(log, [prediction("req-1", [{"i": 1}])])
    secret = tmp_path / "secret.csv"
    secret.write_text("request_id,label\nreq-1,1\n", encoding="utf-8")
    (folder / "a-link.csv").symlink_to(secret)
    (folder / "b-big.csv").write_text("request_id,label\n" + "req-1,1\n" * 200, encoding="utf-8")
    (folder / "c-row.csv").write_text("request_id,row,label\nreq-1,x,1\n", encoding="utf-8")
    (folder / "d-class.csv").write_text("request_id,label\nreq-1,7\n", encoding="utf-8")
    (folder / "e-good.csv").write_text("request_id,label\nreq-1,1\n", encoding="utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched", encoding="utf-8")
    (folder / "rejected").mkdir()
    (folder / "rejected" / "c-row.csv.error.txt").symlink_to(victim)  # a planted note link

    lines = inference_log.take_in_feedback_folder(log, folder, BINARY, max_bytes=1000)

    assert lines == [
        "rejected a-link.csv: a-link.csv: not a regular file (a symlink); it is not read",
        "rejected b-big.csv: b-big.csv: 1617 bytes, over the limit of 1000; it is not read",
        "rejected c-row.csv: c-row.csv: column 'row' must hold whole numbers >= 0; rows [0] "
        "hold ['x']",
        "rejected d-class.csv: 1 label(s) refused: label 0 (request_id 'req-1' row 0): 7 is not "
        "a class of m v3 (classes: [0, 1])",
        "loaded e-good.csv: 1 label(s)",
    ]
    assert victim.read_text(encoding="utf-8") == "untouched"
    assert (folder / "rejected" / "a-link.csv").is_symlink()  # the link moved, not its target
    assert secret.is_file()
    assert (folder / "rejected" / "c-row.csv.error.txt").is_symlink()  # left as it was
    assert (folder / "rejected" / "c-row.csv.2").is_file()  # ... the file under a free name
    assert (folder / "rejected" / "c-row.csv.2.error.txt").read_text(encoding="utf-8") == (
        "c-row.csv: column 'row' must hold whole numbers >= 0; rows [0] hold ['x']\n"
    )
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "loaded",
        "rejected",
    ]
    assert inference_log.read_log(log)["_label"].tolist() == [1]


def test_only_one_consumer_takes_in_the_feedback_folder(tmp_path: Path) -> None:
    from tasks.adapters.io import single_consumer

    log, folder = tmp_path / "inference.db", tmp_path / "feedback"
    folder.mkdir()
    inference_log.append(log, [prediction("req-1", [{"i": 1}])])
    (folder / "labels.csv").write_text("request_id,label\nreq-1,1\n", encoding="utf-8")

    with single_consumer(folder) as first:  # as another worker holding the folder
        meanwhile = inference_log.take_in_feedback_folder(log, folder, BINARY)
    after = inference_log.take_in_feedback_folder(log, folder, BINARY)

    assert (first, meanwhile) == (True, [])
    assert after == ["loaded labels.csv: 1 label(s)"]
