"""The inference log: every prediction the endpoint or a batch made, and labels that came later.

One SQLite file (``paths.inference_log``), append-only, in WAL mode so that the endpoint, batch
runs and the monitor can use it at once. A row is one scored input row: when, which request
(``request_id`` and ``row`` within it), which model version answered and in which role
(``champion`` or ``challenger``), whether its answer was returned (``answered``: 0 for a shadow
prediction), the source (``http`` or ``batch:<file>``), the latency, the features and the
prediction as JSON. Labels arrive later by request id (``POST /feedback`` or a CSV/Parquet file
with ``request_id`` and ``label`` columns dropped in ``paths.feedback``) and are joined at read
time. A label is taken only for a row the log holds as answered, only when it is a class of the
model (a finite number for regression), and the first label of a row wins: a different one later
is refused (a log written before these checks may hold several; the first is read). Each label
records its source (``http:<token>`` or ``file:<name>``).

The file and its ``-wal``/``-shm`` are created 0600 (every feature of every request, maybe
personal data); the writer deletes what ``serve.log_retention_days``/``log_retention_rows`` no
longer keep and vacuums incrementally.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tasks import clock
from tasks.adapters.io import (
    DropFileError,
    drop_files,
    read_drop_file,
    real_folder,
    set_aside,
    single_consumer,
)
from tasks.steps.labels import LabelError, LabelRule
from tasks.types import clip

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


LOG_EVERY_SECONDS = 60.0  # a loss for the same reason is logged at most this often
MAX_REASONS = 20  # distinct reasons counted; any further one counts as "other"
FILE_MODE = 0o600  # the log holds every feature of every request: personal data, maybe


def _private(path: Path) -> None:
    """Create the log file (and its folder) readable by the service's user only; SQLite gives
    the ``-wal`` and ``-shm`` files the database file's mode. A log that exists is narrowed to
    0600 when it is wider, by path: never by opening it.

    An existing log is never opened here, not even to be closed at once: closing any file
    descriptor of the database file drops every POSIX lock this process holds on it, the
    locks of its open SQLite connections included (sqlite.org/howtocorrupt.html, 2.2). The
    endpoint keeps its writer's connection open and opens another for each /feedback call:
    an open-and-close here made the next statement fail with "disk I/O error" and let another
    process's connection take the file as its own ("file is not a database"), measured."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, mode=0o700)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode):
            kind = "a symlink" if stat.S_ISLNK(found.st_mode) else "not a regular file"
            raise OSError(errno.ELOOP, f"the inference log {path} is {kind}") from None
        if found.st_mode & 0o777 & ~FILE_MODE:
            os.chmod(path, FILE_MODE)
        return
    os.close(fd)  # new: no connection of this process has it open yet


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create, mode 0600) the log: WAL, so readers never block the writer; a busy
    timeout, so several writers (endpoint workers, batch runs) wait for each other instead of
    failing; incremental auto-vacuum, so retention gives the space back."""
    _private(path)
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    connection.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect on a new file only
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    for suffix in ("-wal", "-shm"):  # an old log's companions, created before 0600
        companion = path.with_name(path.name + suffix)
        if companion.is_file() and companion.stat().st_mode & 0o777 & ~FILE_MODE:
            companion.chmod(FILE_MODE)
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


@dataclass(frozen=True)
class Retention:
    """How long the log keeps predictions: ``days`` (0: no age limit) and at most ``rows``
    (0: no count limit), applied every ``every_seconds`` by the writer (and when it starts)."""

    days: float = 0.0
    rows: int = 0
    every_seconds: float = 3600.0

    @property
    def active(self) -> bool:
        return self.days > 0 or self.rows > 0


def apply_retention(connection: sqlite3.Connection, retention: Retention, at: str) -> int:
    """Delete the predictions older than ``retention.days`` before ``at`` and beyond the newest
    ``retention.rows``, and the labels left without a prediction, then give the freed pages
    back (incremental vacuum; an old log without auto-vacuum is vacuumed once to turn it on).
    Returns the predictions deleted."""
    from datetime import timedelta

    deleted = 0
    with connection:
        if retention.days > 0:
            cutoff = clock.stamp(clock.parse_time(at) - timedelta(days=retention.days))
            deleted += connection.execute(
                "DELETE FROM predictions WHERE time < ?", (cutoff,)
            ).rowcount
        if retention.rows > 0:
            deleted += connection.execute(
                "DELETE FROM predictions WHERE id <= (SELECT id FROM predictions "
                "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (retention.rows,),
            ).rowcount
        if deleted:
            connection.execute(
                "DELETE FROM feedback WHERE NOT EXISTS (SELECT 1 FROM predictions p "
                "WHERE p.request_id = feedback.request_id AND p.row = feedback.row)"
            )
    if deleted:
        if connection.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            connection.execute("VACUUM")
        connection.execute("PRAGMA incremental_vacuum")
    return deleted


def _reason(error: BaseException) -> str:
    """A short name for why rows were not stored (the key of the counts /health shows)."""
    text = str(error)
    if isinstance(error, sqlite3.Error):
        if "full" in text:
            return "disk full"
        return f"database: {text[:80]}"
    if isinstance(error, TypeError | ValueError | OverflowError):  # orjson's refusals
        return f"not serializable: {text[:80]}"
    return f"{type(error).__name__}: {text[:80]}"


class LogWriter:
    """Appends from a background thread, in one transaction every ``flush_seconds``, so that a
    request never waits for the disk. :meth:`close` writes what is queued; a crash of the
    process loses at most the last ``flush_seconds`` of records.

    Nothing a row holds or the disk does stops it: a prediction that cannot be converted is
    counted and left out (the rest of its batch is written), a batch the database refuses
    (disk full) is counted by its reason, and :meth:`put` restarts the thread if it ever died.
    At most ``queue_rows`` rows wait; more are dropped and counted (the endpoint never waits
    for, nor grows without bound behind, a slow disk)."""

    def __init__(
        self,
        path: Path,
        flush_seconds: float,
        queue_rows: int = 100_000,
        retention: Retention | None = None,
    ) -> None:
        self.path = path
        self.flush_seconds = flush_seconds
        self.queue_rows = queue_rows
        self.retention = retention or Retention()
        self.written = 0
        self.failures = 0  # rows not stored, for any reason (the sum of ``failed``)
        self.failed: dict[str, int] = {}
        self.dropped = 0  # rows refused because the queue was full
        self.restarts = 0
        self.retained_deleted = 0
        self.last_error: str | None = None
        self._queue: queue.SimpleQueue[Prediction | None] = queue.SimpleQueue()
        self._counting = threading.Lock()
        self._logged: dict[str, float] = {}  # reason -> when its loss was last logged
        self._connection = connect(path)
        self._flushed = threading.Condition()
        self._pending = 0  # predictions put and not yet handled
        self._queued_rows = 0
        self._next_retention = 0.0
        self._closing = False
        self._thread = self._start()

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        thread.start()
        return thread

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        """What /health shows: liveness and what was stored, failed (by reason) or dropped."""
        return {
            "alive": self.alive,
            "written": self.written,
            "failed": self.failures,
            "failed_by_reason": dict(self.failed),
            "dropped_queue_full": self.dropped,
            "queued_rows": self._queued_rows,
            "restarts": self.restarts,
            "retention_deleted": self.retained_deleted,
            "last_error": self.last_error,
        }

    def put(self, prediction: Prediction) -> None:
        rows = len(prediction.predictions)
        with self._flushed:
            if self._queued_rows + rows > self.queue_rows:
                self.dropped += rows
                self._count_failure("queue full", rows)
                return
            self._pending += 1
            self._queued_rows += rows
            if not self._thread.is_alive() and not self._closing:  # supervise: never silent
                self.restarts += 1
                logging.getLogger("mlops.inference_log").error(
                    "inference log: the writer thread had died; restarted (%d)", self.restarts
                )
                self._thread = self._start()
        self._queue.put(prediction)

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything put so far is written."""
        with self._flushed:
            self._flushed.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout=60)
        self._connection.close()

    def _run(self) -> None:
        stop = False
        while not stop:
            self._retain()
            try:
                item = self._queue.get(timeout=self._wait())
            except queue.Empty:
                continue
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
            try:
                self._write(batch)
            except Exception as error:  # never let the thread die; _write counts its own
                self._count_failure(_reason(error), sum(len(p.predictions) for p in batch))
            finally:
                self._done(batch)

    def _wait(self) -> float | None:
        if not self.retention.active:
            return None
        return max(self._next_retention - time.monotonic(), 0.01)

    def _retain(self) -> None:
        if not self.retention.active or time.monotonic() < self._next_retention:
            return
        self._next_retention = time.monotonic() + self.retention.every_seconds
        try:
            deleted = apply_retention(self._connection, self.retention, now())
        except Exception as error:  # the log keeps being written; the next round retries
            self.last_error = f"retention: {error}"
            logging.getLogger("mlops.inference_log").error("inference log retention: %s", error)
            return
        self.retained_deleted += deleted
        if deleted:
            logging.getLogger("mlops.inference_log").info(
                "inference log retention: %d prediction(s) deleted", deleted
            )

    def _write(self, batch: list[Prediction]) -> None:
        rows: list[tuple[Any, ...]] = []
        for prediction in batch:
            try:
                rows.extend(prediction.rows())
            except Exception as error:  # a value the log cannot hold: this request only
                self._count_failure(_reason(error), len(prediction.predictions), prediction)
        if not rows:
            return
        try:
            with self._connection:
                self._connection.executemany(INSERT, rows)
        except Exception as error:  # keep serving; the counters and the log say it
            self._count_failure(_reason(error), len(rows))
            return
        with self._counting:
            self.written += len(rows)

    def _count_failure(self, reason: str, rows: int, prediction: Prediction | None = None) -> None:
        """Count ``rows`` lost for ``reason`` and say it in the log: every time for a new
        reason, then at most every LOG_EVERY_SECONDS per reason with the total so far (a full
        disk under load must not flood the service's own log)."""
        with self._counting:
            self.failures += rows
            if reason not in self.failed and len(self.failed) >= MAX_REASONS:
                reason = "other"
            total = self.failed[reason] = self.failed.get(reason, 0) + rows
            self.last_error = reason
            last = self._logged.get(reason)
            if last is not None and time.monotonic() - last < LOG_EVERY_SECONDS:
                return
            self._logged[reason] = time.monotonic()
        which = f" of request {prediction.request_id}" if prediction is not None else ""
        logging.getLogger("mlops.inference_log").error(
            "inference log: %d row(s)%s not written: %s (%d so far for this reason)",
            rows,
            which,
            reason,
            total,
        )

    def _done(self, batch: list[Prediction]) -> None:
        with self._flushed:
            self._pending -= len(batch)
            self._queued_rows -= sum(len(p.predictions) for p in batch)
            self._flushed.notify_all()


class FeedbackRefused(FeedbackError):
    """Labels refused as a whole (nothing of the call or file is stored): ``status`` 400 for a
    label that is no class, 409 for a row never answered or a row labelled otherwise before;
    ``counts`` says how many labels were refused for which reason."""

    def __init__(self, status: int, message: str, counts: dict[str, int]) -> None:
        super().__init__(message)
        self.status = status
        self.counts = counts


@dataclass(frozen=True)
class FeedbackResult:
    """Labels stored (``taken``) and labels that repeat a row's label (``unchanged``)."""

    taken: int
    unchanged: int


def _problems(kind: str, lines: list[str]) -> str:
    shown = "; ".join(lines[:SAMPLE_PROBLEMS])
    more = f" (and {len(lines) - SAMPLE_PROBLEMS} more)" if len(lines) > SAMPLE_PROBLEMS else ""
    return f"{len(lines)} label(s) {kind}: {shown}{more}"


SAMPLE_PROBLEMS = 5
MAX_ROW = 2**63 - 1  # SQLite's INTEGER


def _checked(
    labels: Sequence[tuple[str, int, Any]], rule: LabelRule | None
) -> list[tuple[str, int, Any]]:
    """Each label as its class (or number); refused as a whole when any is not one."""
    good, bad = [], []
    for index, (request, row, label) in enumerate(labels):
        if type(row) is not int or not 0 <= row <= MAX_ROW:
            bad.append(f"label {index}: row {clip(row, 40)} is not a whole number in [0, 2^63)")
            continue
        try:
            good.append((request, row, label if rule is None else rule.check(label)))
        except LabelError as error:
            bad.append(f"label {index} (request_id {clip(request, 40)!r} row {row}): {error}")
    if bad:
        raise FeedbackRefused(400, _problems("refused", bad), {"invalid": len(bad)})
    return good


def add_feedback(
    path: Path,
    labels: Sequence[tuple[str, int, Any]],
    source: str,
    rule: LabelRule | None = None,
) -> FeedbackResult:
    """Record ``(request_id, row, label)`` triples from ``source`` (who sent them: the token or
    the file), all or nothing. A label must be a class of the model (``rule``), for a row the
    log holds as answered; the first label of a row wins: the same label again is
    ``unchanged``, a different one is refused (FeedbackRefused, 409), as is a label for a row
    never answered. Checked and written in one ``BEGIN IMMEDIATE`` transaction, so two workers
    cannot both label one row."""
    import orjson

    checked = _checked(labels, rule)
    stamp = now()
    connection = connect(path)
    try:
        connection.isolation_level = None  # the transaction below is ours
        connection.execute("BEGIN IMMEDIATE")
        try:
            rows, unchanged, unknown, conflicts = _sort_labels(connection, checked)
            if unknown or conflicts:
                connection.execute("ROLLBACK")
                message = "; ".join(
                    _problems(kind, lines)
                    for kind, lines in (("for rows never answered", unknown),
                                        ("conflicting with an earlier label", conflicts))
                    if lines
                )  # fmt: skip
                raise FeedbackRefused(
                    409, message, {"unknown": len(unknown), "conflict": len(conflicts)}
                )
            connection.executemany(
                "INSERT INTO feedback (time, request_id, row, label, source) VALUES (?,?,?,?,?)",
                [(stamp, r, row, orjson.dumps(label).decode(), source) for r, row, label in rows],
            )
            connection.execute("COMMIT")
        except sqlite3.Error:
            connection.execute("ROLLBACK")
            raise
    finally:
        connection.close()
    return FeedbackResult(len(rows), unchanged)


def _sort_labels(
    connection: sqlite3.Connection, labels: list[tuple[str, int, Any]]
) -> tuple[list[tuple[str, int, Any]], int, list[str], list[str]]:
    """(labels to store, repeats of a stored label, rows never answered, conflicts)."""
    import orjson

    new: dict[tuple[str, int], Any] = {}
    unchanged, unknown, conflicts = 0, [], []
    for index, (request, row, label) in enumerate(labels):
        key = (request, row)
        name = f"label {index}: request_id {clip(request, 40)!r} row {row}"
        answered = connection.execute(
            "SELECT 1 FROM predictions WHERE request_id=? AND row=? AND answered=1 LIMIT 1", key
        ).fetchone()
        if answered is None:
            unknown.append(f"{name} is not in the inference log")
            continue
        first = connection.execute(
            "SELECT label FROM feedback WHERE request_id=? AND row=? ORDER BY id LIMIT 1", key
        ).fetchone()
        earlier = orjson.loads(first[0]) if first is not None else new.get(key, _NONE)
        if earlier is _NONE:
            new[key] = label
        elif earlier == label and type(earlier) is type(label):
            unchanged += 1
        else:
            conflicts.append(
                f"{name} already has the label {_json_text(earlier)}, not {_json_text(label)}"
            )
    return [(r, row, label) for (r, row), label in new.items()], unchanged, unknown, conflicts


_NONE = object()


def _json_text(value: Any) -> str:
    import orjson

    try:
        return str(clip(orjson.dumps(value).decode(), 40))
    except TypeError:
        return str(clip(repr(value), 40))


def read_feedback_file(path: Path, max_bytes: int = 64 * 1024 * 1024) -> list[tuple[str, int, Any]]:
    """``(request_id, row, label)`` from a CSV or Parquet file of labels (``row`` defaults to
    0), read through :func:`tasks.adapters.io.read_drop_file` (a regular file, at most
    ``max_bytes``)."""
    import io as bytes_io

    data = read_drop_file(path, max_bytes)
    try:
        source = bytes_io.BytesIO(data)
        frame = pd.read_parquet(source) if path.suffix == ".parquet" else pd.read_csv(source)
    except Exception as error:
        raise FeedbackError(f"{path.name}: cannot be read as a table: {clip(error, 200)}") from None
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        shown = [clip(c, 40) for c in list(frame.columns)[:10]]
        raise FeedbackError(
            f"{path.name}: missing column(s) {missing}; a feedback file needs request_id and "
            f"label (and optionally row), got {shown}"
            + (f" and {len(frame.columns) - 10} more" if len(frame.columns) > 10 else "")
        )
    if frame["request_id"].isna().any() or frame["label"].isna().any():
        bad = frame.index[frame["request_id"].isna() | frame["label"].isna()].tolist()[:5]
        raise FeedbackError(f"{path.name}: empty request_id or label at rows {bad}")
    rows = frame["row"] if "row" in frame.columns else pd.Series(0, frame.index)
    whole = pd.to_numeric(rows, errors="coerce")
    bad_rows = frame.index[
        ~(whole.notna() & (whole == whole.round()) & (whole >= 0) & (whole <= MAX_ROW))
    ]
    if len(bad_rows):
        sample = [clip(v, 40) for v in rows[bad_rows[:5]].tolist()]
        raise FeedbackError(
            f"{path.name}: column 'row' must hold whole numbers >= 0; rows {bad_rows[:5].tolist()} "
            f"hold {sample}"
        )
    return [
        (str(request), int(row), label.item() if hasattr(label, "item") else label)
        for request, row, label in zip(frame["request_id"], whole, frame["label"], strict=True)
    ]


def take_in_feedback_folder(
    log: Path, folder: Path, rule: LabelRule | None = None, max_bytes: int = 64 * 1024 * 1024
) -> list[str]:
    """Load every label file in ``folder`` and move it to ``loaded/`` (or, when it cannot be
    taken in, to ``rejected/`` beside a note saying why); returns one line per file.

    One consumer at a time (an ``flock`` on the folder: another worker's call returns no
    lines). A file that is not a regular file (a symlink), is over ``max_bytes``, cannot be
    read, or holds a label ``rule`` refuses is rejected as a whole; no error of one file stops
    the others."""
    with single_consumer(real_folder(folder)) as mine:
        if not mine:
            return []
        lines = []
        for path in drop_files(folder, FEEDBACK_FILES):
            lines.append(_take_in_one(log, folder, path, rule, max_bytes))
        return lines


def _take_in_one(
    log: Path, folder: Path, path: Path, rule: LabelRule | None, max_bytes: int
) -> str:
    try:
        labels = read_feedback_file(path, max_bytes)
        result = add_feedback(log, labels, f"file:{path.name}", rule)
    except Exception as error:  # any failure sets this file aside, never the folder's intake
        reason = str(error) if isinstance(error, FeedbackError | DropFileError) else repr(error)
        try:
            set_aside(path, folder / "rejected", f"{reason}\n")
        except OSError as move:
            return f"could not set {path.name} aside: {move}; {reason}"
        return f"rejected {path.name}: {reason}"
    set_aside(path, folder / "loaded")
    return f"loaded {path.name}: {result.taken} label(s)" + (
        f", {result.unchanged} unchanged" if result.unchanged else ""
    )


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
    ``_answered``, ``_source``, ``_latency_ms``, ``_prediction`` and ``_label`` (the first label
    of the row, or None). ``labelled_only``: only rows that have a label."""
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
                ORDER BY f.id LIMIT 1) AS label
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
