"""The inference log: every prediction the endpoint or a batch made, and labels that came later.

One SQLite file (``paths.inference_log``), append-only, in WAL mode so that the endpoint, batch
runs and the monitor can use it at once. A row is one scored input row: when, which request
(``request_id`` and ``row`` within it), which model version answered and in which role
(``champion`` or ``challenger``), whether its answer was returned (``answered``: 0 for a shadow
prediction), the source (``http`` or ``batch:<file>``), the latency, the features and the
prediction as JSON. Labels arrive later by request id (``POST /feedback`` or a CSV/Parquet file
with ``request_id`` and ``label`` columns dropped in ``paths.feedback``) and are joined at read
time; the latest label of a row wins, earlier ones stay in the table.
"""

from __future__ import annotations

import logging
import queue
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tasks import clock

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    request_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    role TEXT NOT NULL,
    answered INTEGER NOT NULL,
    source TEXT NOT NULL,
    latency_ms REAL,
    features TEXT NOT NULL,
    prediction TEXT NOT NULL,
    probabilities TEXT
);
CREATE INDEX IF NOT EXISTS predictions_time ON predictions (time);
CREATE INDEX IF NOT EXISTS predictions_request ON predictions (request_id, row);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    request_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    label TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id, row);
"""

COLUMNS = (
    "time",
    "request_id",
    "row",
    "model_name",
    "model_version",
    "role",
    "answered",
    "source",
    "latency_ms",
    "features",
    "prediction",
    "probabilities",
)
INSERT = f"INSERT INTO predictions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
FEEDBACK_FILES = ("*.csv", "*.parquet")


class FeedbackError(ValueError):
    """Labels that cannot be taken in (no request_id or label column, an unreadable file)."""


@dataclass(frozen=True)
class Prediction:
    """What one request (or batch) scored: shared fields, then one entry per row."""

    time: str
    request_id: str
    model_name: str
    model_version: str
    role: str
    answered: bool
    source: str
    latency_ms: float | None
    features: Sequence[dict[str, Any]]
    predictions: Sequence[Any]
    probabilities: Sequence[Sequence[float]] | None = None

    def rows(self) -> list[tuple[Any, ...]]:
        import orjson

        dumps = orjson.dumps
        options = orjson.OPT_SERIALIZE_NUMPY
        shared = (self.model_name, self.model_version, self.role, int(self.answered))
        probabilities: Sequence[Sequence[float] | None] = self.probabilities or [None] * len(
            self.predictions
        )
        return [
            (
                self.time,
                self.request_id,
                index,
                *shared,
                self.source,
                self.latency_ms,
                dumps(features, option=options).decode(),
                dumps(prediction, option=options).decode(),
                None if chance is None else dumps(chance, option=options).decode(),
            )
            for index, (features, prediction, chance) in enumerate(
                zip(self.features, self.predictions, probabilities, strict=True)
            )
        ]


def now() -> str:
    """UTC time as the log stores it (ISO 8601, microseconds: sortable as text)."""
    return clock.stamp()


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create) the log: WAL, so readers never block the writer; a busy timeout, so
    several writers (endpoint workers, batch runs) wait for each other instead of failing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    return connection


def append(path: Path, predictions: Iterable[Prediction]) -> int:
    """Write ``predictions`` in one transaction; returns the rows written."""
    rows = [row for prediction in predictions for row in prediction.rows()]
    connection = connect(path)
    try:
        with connection:
            connection.executemany(INSERT, rows)
    finally:
        connection.close()
    return len(rows)


class LogWriter:
    """Appends from a background thread, in one transaction every ``flush_seconds``, so that a
    request never waits for the disk. :meth:`close` writes what is queued; a crash of the
    process loses at most the last ``flush_seconds`` of records."""

    def __init__(self, path: Path, flush_seconds: float) -> None:
        self.path = path
        self.flush_seconds = flush_seconds
        self.written = 0
        self.failures = 0
        self._queue: queue.SimpleQueue[Prediction | None] = queue.SimpleQueue()
        self._connection = connect(path)
        self._flushed = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()

    def put(self, prediction: Prediction) -> None:
        with self._flushed:
            self._pending += 1
        self._queue.put(prediction)

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything put so far is written."""
        with self._flushed:
            self._flushed.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)
        self._connection.close()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[Prediction] = []
            deadline = time.monotonic() + self.flush_seconds
            while True:
                if item is None:
                    stop = True
                    break
                batch.append(item)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[Prediction]) -> None:
        rows = [row for prediction in batch for row in prediction.rows()]
        try:
            with self._connection:
                self._connection.executemany(INSERT, rows)
            self.written += len(rows)
        except sqlite3.Error as error:  # keep serving; the counter and the log say it
            self.failures += len(rows)
            logging.getLogger("mlops.inference_log").error(
                "inference log: %d row(s) not written: %s", len(rows), error
            )
        with self._flushed:
            self._pending -= len(batch)
            self._flushed.notify_all()


def add_feedback(
    path: Path, labels: Iterable[tuple[str, int, Any]], source: str
) -> tuple[int, int]:
    """Record ``(request_id, row, label)`` triples; returns (taken, matching a logged row)."""
    import orjson

    stamp = now()
    rows = [
        (
            stamp,
            str(request),
            int(row),
            orjson.dumps(label, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            source,
        )
        for request, row, label in labels
    ]
    connection = connect(path)
    try:
        with connection:
            connection.executemany(
                "INSERT INTO feedback (time, request_id, row, label, source) VALUES (?,?,?,?,?)",
                rows,
            )
        matched = sum(
            connection.execute(
                "SELECT COUNT(*) FROM predictions WHERE request_id=? AND row=?", (r[1], r[2])
            ).fetchone()[0]
            > 0
            for r in rows
        )
    finally:
        connection.close()
    return len(rows), matched


def read_feedback_file(path: Path) -> list[tuple[str, int, Any]]:
    """``(request_id, row, label)`` from a CSV or Parquet file of labels (``row`` defaults to 0)."""
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as error:
        raise FeedbackError(f"{path.name}: cannot be read as a table: {error}") from None
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise FeedbackError(
            f"{path.name}: missing column(s) {missing}; a feedback file needs request_id and "
            f"label (and optionally row), got {list(frame.columns)[:10]}"
        )
    if frame["request_id"].isna().any() or frame["label"].isna().any():
        bad = frame.index[frame["request_id"].isna() | frame["label"].isna()].tolist()[:5]
        raise FeedbackError(f"{path.name}: empty request_id or label at rows {bad}")
    rows = frame["row"].astype(int) if "row" in frame.columns else pd.Series(0, frame.index)
    return [
        (str(request), int(row), label.item() if hasattr(label, "item") else label)
        for request, row, label in zip(frame["request_id"], rows, frame["label"], strict=True)
    ]


def take_in_feedback_folder(log: Path, folder: Path) -> list[str]:
    """Load every label file in ``folder`` and move it to ``loaded/`` (or, when it cannot be
    read, to ``rejected/`` beside a note saying why); returns one line per file."""
    lines = []
    for pattern in FEEDBACK_FILES:
        for path in sorted(folder.glob(pattern)):
            try:
                labels = read_feedback_file(path)
                taken, matched = add_feedback(log, labels, f"file:{path.name}")
            except FeedbackError as error:
                rejected = folder / "rejected"
                rejected.mkdir(parents=True, exist_ok=True)
                shutil.move(path, rejected / path.name)
                (rejected / f"{path.name}.error.txt").write_text(f"{error}\n", encoding="utf-8")
                lines.append(f"rejected {path.name}: {error}")
                continue
            loaded = folder / "loaded"
            loaded.mkdir(parents=True, exist_ok=True)
            shutil.move(path, loaded / path.name)
            lines.append(f"loaded {path.name}: {taken} label(s), {matched} matching a prediction")
    return lines


def read_log(
    path: Path,
    since: str | None = None,
    until: str | None = None,
    answered_only: bool = True,
    limit: int | None = None,
    labelled_only: bool = False,
) -> pd.DataFrame:
    """The logged predictions (newest ``limit`` rows when given, returned oldest first), one
    column per feature plus ``_time``, ``_request_id``, ``_row``, ``_model_version``, ``_role``,
    ``_answered``, ``_source``, ``_latency_ms``, ``_prediction`` and ``_label`` (the latest label
    for the row, or None). ``labelled_only``: only rows that have a label."""
    import orjson

    where, args = ["1=1"], []
    if since is not None:
        where.append("p.time >= ?")
        args.append(since)
    if until is not None:
        where.append("p.time < ?")
        args.append(until)
    if answered_only:
        where.append("p.answered = 1")
    if labelled_only:
        where.append(
            "EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = p.request_id AND f.row = p.row)"
        )
    query = f"""
        SELECT p.time, p.request_id, p.row, p.model_version, p.role, p.answered, p.source,
               p.latency_ms, p.features, p.prediction,
               (SELECT f.label FROM feedback f WHERE f.request_id = p.request_id AND f.row = p.row
                ORDER BY f.id DESC LIMIT 1) AS label
        FROM predictions p WHERE {" AND ".join(where)} ORDER BY p.id DESC
        {f"LIMIT {int(limit)}" if limit is not None else ""}
    """
    connection = connect(path)
    try:
        rows = connection.execute(query, args).fetchall()[::-1]
    finally:
        connection.close()
    features = pd.DataFrame.from_records([orjson.loads(row[8]) for row in rows])
    meta = pd.DataFrame(
        {
            "_time": [row[0] for row in rows],
            "_request_id": [row[1] for row in rows],
            "_row": [row[2] for row in rows],
            "_model_version": [row[3] for row in rows],
            "_role": [row[4] for row in rows],
            "_answered": [bool(row[5]) for row in rows],
            "_source": [row[6] for row in rows],
            "_latency_ms": [row[7] for row in rows],
            "_prediction": pd.Series([orjson.loads(row[9]) for row in rows], dtype=object),
            # object: a missing label stays None, and labels keep their type (0 is not 0.0)
            "_label": pd.Series(
                [None if row[10] is None else orjson.loads(row[10]) for row in rows], dtype=object
            ),
        }
    )
    return pd.concat([features, meta], axis=1)
