"""The monitor's side of issue 22's findings #5 and #8: labels an old inference log holds that
do not parse are skipped and counted (never the run), and the incoming folder reads only
regular files under a size limit, one file's error setting that file aside and no other."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tasks.adapters import inference_log
from tasks.adapters.inference_log import Prediction
from tasks.config import load_params
from tasks.pipeline.monitor import from_incoming, from_log
from tasks.steps.retraining import parsed_labels
from tasks.types import ServedModel

REPO = Path(__file__).resolve().parents[2]


def _served(task: str, classes: tuple[object, ...]) -> ServedModel:
    return ServedModel("m", "4", None, (), classes, task, 0.5, "run", "d" * 32, {})


def _old_log_with_bad_labels(path: Path) -> None:
    """A log as code before the checks left it: labels of any JSON value, stored directly."""
    inference_log.append(
        path,
        [
            Prediction(inference_log.now(), "r", "m", "4", "champion", True, "http", 1.0,
                       [{"i": i} for i in range(4)], [0, 1, 0, 1])
        ],
    )  # fmt: skip
    connection = inference_log.connect(path)
    with connection:
        connection.executemany(
            "INSERT INTO feedback (time, request_id, row, label, source) VALUES (?,?,?,?,?)",
            [(inference_log.now(), "r", row, label, "old") for row, label in
             enumerate(['{"a":1}', '"x"', "1", "0.0"])],
        )  # fmt: skip
    connection.close()


def test_the_monitor_skips_and_counts_labels_that_are_no_class(tmp_path: Path) -> None:
    """Before: the labels reached the quality check as they were ({"a": 1}, "x" beside the
    integer classes) and the metric raised, failing every monitor run on this log."""
    params = load_params(REPO / "params.yaml", ["monitor.min_rows=100"])
    _old_log_with_bad_labels(tmp_path / params.paths.inference_log)

    current = from_log(tmp_path, params, _served("binary", (0, 1)), tmp_path, datetime.now(UTC))

    assert current.notes == [
        'inference log: 2 label(s) skipped that do not parse: {"a": 1} is not a class of m v4 '
        '(classes: [0, 1]); "x" is not a class of m v4 (classes: [0, 1])'
    ]
    assert current.labelled[params.ingest.target].tolist() == [1, 0]


def test_the_retraining_intake_skips_and_counts_labels_that_are_no_class(tmp_path: Path) -> None:
    """Before: production_rows' to_numeric(errors="raise") failed the intake on "x"."""
    _old_log_with_bad_labels(tmp_path / "inference.db")
    log = inference_log.read_log(tmp_path / "inference.db", labelled_only=True)

    kept, note = parsed_labels(log, {"task": "binary", "classes": [0, 1]})

    assert note == (
        '2 label(s) skipped that do not parse: {"a": 1} is not a class of the training data '
        '(classes: [0, 1]); "x" is not a class of the training data (classes: [0, 1])'
    )
    assert kept["_row"].tolist() == [2, 3] and kept["_label"].tolist() == [1, 0]


def test_the_incoming_folder_reads_regular_files_under_the_limit_and_goes_on(
    tmp_path: Path,
) -> None:
    """Before (#8): a symlink was read and copied to quarantine through the link, a file of any
    size was read, and an error other than a failed validation stopped the whole check."""
    params = load_params(REPO / "params.yaml", ["monitor.incoming_max_bytes=1024"])
    incoming = tmp_path / params.paths.incoming
    incoming.mkdir(parents=True)
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n", encoding="utf-8")
    (incoming / "a-link.csv").symlink_to(secret)
    (incoming / "b-big.csv").write_text("a\n" + "1\n" * 1000, encoding="utf-8")
    (incoming / "c-any.csv").write_text("a\n1\n", encoding="utf-8")  # no suite in this project
    folder = tmp_path / "reports" / "check-1"
    folder.mkdir(parents=True)

    current = from_incoming(tmp_path, params, _served("binary", (0, 1)), folder, datetime.now(UTC))

    assert current.notes[:2] == [
        "a-link.csv: set aside in data/incoming/rejected/: a-link.csv: not a regular file "
        "(a symlink); it is not read",
        "b-big.csv: set aside in data/incoming/rejected/: b-big.csv: 2002 bytes, over the limit "
        "of 1024; it is not read",
    ]
    assert current.notes[2].startswith("c-any.csv: set aside in data/incoming/rejected/: ")
    assert sorted(p.name for p in (incoming / "rejected").iterdir()) == [
        "a-link.csv",
        "a-link.csv.error.txt",
        "b-big.csv",
        "b-big.csv.error.txt",
        "c-any.csv",
        "c-any.csv.error.txt",
    ]
    assert (incoming / "rejected" / "a-link.csv").is_symlink() and secret.is_file()
    assert len(current.frame) == 0


def test_retraining_counts_only_labels_younger_than_the_limit_that_parse(tmp_path: Path) -> None:
    """Before (#13, #5): the plan counted (and the intake took) every labelled row the log
    ever held, whatever its age, and a label that does not parse failed the intake."""
    from flows.retraining import retraining_plan
    from tasks.adapters import io

    params = load_params(REPO / "params.yaml", ["retrain.label_max_age_days=30"])
    log = tmp_path / params.paths.inference_log
    _old_log_with_bad_labels(log)  # 4 labelled rows now, 2 of them parse
    old = Prediction("2020-01-01T00:00:00.000000Z", "old", "m", "4", "champion", True, "http",
                     1.0, [{"i": 9}], [1])  # fmt: skip
    inference_log.append(log, [old])
    inference_log.add_feedback(log, [("old", 0, 1)], "test")
    io.write_json({"task": "binary", "classes": [0, 1]}, tmp_path / params.paths.schema_)

    plan = retraining_plan(tmp_path, params, [], datetime.now(UTC))

    assert plan.reason == (
        "waiting for labels: 2 labelled production row(s) since the drift began (now), "
        f"retrain.min_labelled_rows is {params.retrain.min_labelled_rows}"
    )
