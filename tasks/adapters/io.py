"""The named places where the pipeline reads and writes files: tables, JSON and models."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tasks.jsonsafe import plain
from tasks.types import BOOLEANS, ReadProblem, clip

# what reading a cut or corrupt gzip stream raises (zlib.error is no OSError)
GZIP_ERRORS: tuple[type[Exception], ...] = (EOFError, OSError, zlib.error)
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".tab", ".parquet", ".pq")


class TableReadError(ValueError):
    """A table file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class TableFormat:
    """How a table file is read, from its name: CSV (comma or tab, maybe gzip) or Parquet."""

    kind: str  # csv | parquet
    sep: str = ","
    compression: Literal["gzip"] | None = None

    @property
    def label(self) -> str:
        name = "Parquet" if self.kind == "parquet" else ("TSV" if self.sep == "\t" else "CSV")
        return f"gzip-compressed {name}" if self.compression else name


def table_format(path: Path) -> TableFormat:
    """The format a file's name promises (``.csv``, ``.tsv``/``.tab``, either ``.gz``,
    ``.parquet``/``.pq``); any other name is refused with the names that are read."""
    name = path.name.lower()
    compression: Literal["gzip"] | None = "gzip" if name.endswith(".gz") else None
    base = name[:-3] if compression else name
    if base.endswith((".parquet", ".pq")) and not compression:
        return TableFormat("parquet")
    if base.endswith(".csv"):
        return TableFormat("csv", ",", compression)
    if base.endswith((".tsv", ".tab")):
        return TableFormat("csv", "\t", compression)
    raise TableReadError(
        f"{path.name}: unsupported file type; name the file .csv, .tsv, .csv.gz, .tsv.gz or "
        ".parquet (Excel and JSON: export the table as CSV first)"
    )


_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 .xls workbook"),
)


def _looks_like(head: bytes) -> str:
    """What the first bytes of a file look like: a known binary format, JSON or text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{") or (text.startswith(b"[") and text[1:].lstrip()[:1] in b'{["'):
        return "JSON"
    return "text"


def sniff(path: Path, fmt: TableFormat) -> str | None:
    """Why the file's bytes do not match its name (None when they do): one message that says
    what the file looks like and what to do."""
    with path.open("rb") as handle:
        head = handle.read(64)
    looks = _looks_like(head)
    if fmt.kind == "parquet":
        if looks == "a Parquet file":
            return None
        hint = f"; name it {path.stem}.csv if it is CSV" if looks == "text" else ""
        return f"{path.name}: not a Parquet file: it looks like {looks}{hint}"
    if fmt.compression == "gzip":
        if looks == "gzip-compressed data":
            return None
        hint = f"; name it {path.name[:-3]} if it is not compressed" if looks == "text" else ""
        return f"{path.name}: named .gz but not gzip-compressed: it looks like {looks}{hint}"
    advice = {
        "gzip-compressed data": f"name it {path.name}.gz",
        "a Parquet file": f"name it {path.stem}.parquet",
        "JSON": "export the table as CSV (or Parquet)",
    }
    if looks == "text":
        return None
    return f"{path.name}: not a {fmt.label} file: it looks like {looks}; " + advice.get(
        looks, "export the table as CSV (or Parquet)"
    )


def _read_text_csv(
    path: Path, fmt: TableFormat, dtype: Any, missing: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Only empty cells and the data set's ``missing`` tokens are missing; a row never becomes
    the index; a byte-order mark is not part of the first column's name; a row with more
    fields than the header is an error (pandas would drop its extra values with a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(
                path,
                sep=fmt.sep,
                compression=fmt.compression,
                dtype=dtype,
                keep_default_na=False,
                na_values=["", *missing],
                encoding="utf-8-sig",
                low_memory=False,
                index_col=False,
            )
        except pd.errors.ParserWarning:
            raise pd.errors.ParserError(
                "a row has more fields than the header has names, so its last values would be "
                "lost (a table written with unnamed row names, as R's write.table does? name "
                "every column in the header, or write it with write.csv)"
            ) from None


def read_table(path: Path, missing: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a table file with pandas' own type inference, only empty cells and ``missing``
    tokens missing; errors name the file and what is wrong with it."""
    fmt = table_format(path)
    if not path.is_file():
        raise TableReadError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise TableReadError(f"{path}: file is empty (0 bytes)")
    wrong = sniff(path, fmt)
    if wrong:
        raise TableReadError(wrong)
    try:
        if fmt.kind == "csv":
            return _read_text_csv(path, fmt, None, missing)
        frame = pd.read_parquet(path)
        _text_missing(frame, missing)
        return frame
    except (ValueError, pd.errors.ParserError, EOFError, OSError, zlib.error) as error:
        raise TableReadError(f"{path}: cannot be read as {fmt.label}: {error}") from None


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path`` that replaces it only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a Parquet file atomically (a reader never sees half a file)."""
    with _atomic(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a table in the format ``path``'s name says (see :func:`table_format`),
    atomically; missing values are empty cells in CSV and TSV."""
    fmt = table_format(path)
    with _atomic(path) as tmp:
        if fmt.kind == "csv":
            frame.to_csv(tmp, index=False, sep=fmt.sep, compression=fmt.compression)
        else:
            frame.to_parquet(tmp, index=False)


def read_frame(path: Path) -> pd.DataFrame:
    """Read a Parquet file the pipeline wrote; missing text values come back as NaN (Parquet
    returns None, which scikit-learn's imputers do not count as missing)."""
    frame = pd.read_parquet(path)
    for name in frame.select_dtypes(include="object").columns:
        frame[name] = frame[name].where(frame[name].notna(), np.nan)
    return frame


def write_json(data: Any, path: Path) -> None:
    """Write JSON with sorted keys and a trailing newline, atomically, so diffs stay clean."""
    with _atomic(path) as tmp:
        text = json.dumps(plain(data), indent=2, sort_keys=True, default=str, allow_nan=False)
        tmp.write_text(text + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV (plots data) atomically."""
    with _atomic(path) as tmp:
        frame.to_csv(tmp, index=False)


class ModelFileRefused(ValueError):
    """A model file of the pipeline that our loader will not load (a type nobody reviewed, a
    file that is not skops): nothing of it ran."""


_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest time: the same bytes every run


def _canonical_skops(raw: bytes) -> bytes:
    """The skops file ``raw`` with its process-dependent parts made stable: skops names the
    objects (``__id__``) and array members by ``id()`` and stamps the zip with the time, so the
    same model would give other bytes on every run. They are renumbered in the order the schema
    lists them, with one fixed time, so the register stage's fingerprint (same model bytes from
    the same data: the same version) holds as it did with joblib."""
    import zipfile
    from io import BytesIO

    with zipfile.ZipFile(BytesIO(raw)) as source:
        schema = json.loads(source.read("schema.json"))
        ids: dict[int, int] = {}
        files: dict[str, str] = {}

        def renumber(node: Any) -> Any:
            if isinstance(node, list):
                return [renumber(item) for item in node]
            if not isinstance(node, dict):
                return node
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = ids.setdefault(value, len(ids))
                elif key == "file" and isinstance(value, str):
                    out[key] = files.setdefault(value, f"{len(files)}{Path(value).suffix}")
                else:
                    out[key] = renumber(value)
            return out

        stable = renumber(schema)
        buffer = BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as target:
            for old, new in files.items():
                target.writestr(zipfile.ZipInfo(new, _FIXED_TIME), source.read(old))
            target.writestr(
                zipfile.ZipInfo("schema.json", _FIXED_TIME), json.dumps(stable, indent=2)
            )
    return buffer.getvalue()


def save_model(model: object, path: Path) -> None:
    """Persist a fitted scikit-learn object as a skops file, atomically; the same model gives
    the same bytes (see :func:`_canonical_skops`)."""
    import skops.io

    content = _canonical_skops(skops.io.dumps(model))
    with _atomic(path) as tmp:
        tmp.write_bytes(content)


def load_model(path: Path, trusted: Sequence[str]) -> Any:
    """Load a model that :func:`save_model` wrote, by the rules of the registry's loader:
    skops, and only skops' own safe types plus ``trusted`` (the reviewed list,
    ``tasks.adapters.registry.reviewed_types``), never a list the file brings. A pickle
    (joblib) file is refused, not read: unpickling can run code."""
    import zipfile

    import skops.io

    if not zipfile.is_zipfile(path):
        raise ModelFileRefused(
            f"{path}: not a skops file (a pickle or joblib file is not loaded: reading one can "
            "run code); rerun the train stage"
        )
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as error:  # a damaged zip or schema
        raise ModelFileRefused(f"{path}: skops cannot read it: {error}") from None
    unreviewed = sorted(set(untrusted) - set(trusted))
    if unreviewed:
        raise ModelFileRefused(
            f"{path}: holds types nobody reviewed: {unreviewed[:5]}"
            + (f" and {len(unreviewed) - 5} more" if len(unreviewed) > 5 else "")
            + "; it is not loaded"
        )
    return skops.io.load(path, trusted=list(trusted))


# --- Reading a batch explicitly, with the types its expectation suite declares -------------


def _open_text(path: Path, fmt: TableFormat) -> Any:
    """The file as text (decompressed), UTF-8 with or without a byte-order mark."""
    if fmt.compression == "gzip":
        import gzip

        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _raw_bytes(path: Path, fmt: TableFormat) -> bytes:
    if fmt.compression == "gzip":
        import gzip

        return gzip.decompress(path.read_bytes())
    return path.read_bytes()


def csv_header(path: Path, fmt: TableFormat) -> tuple[list[str] | None, ReadProblem | None]:
    import csv

    try:
        with _open_text(path, fmt) as handle:
            header = next(csv.reader(handle, delimiter=fmt.sep), None)
    except UnicodeDecodeError:
        return None, _not_utf8(path, fmt)
    except GZIP_ERRORS as error:  # a cut or corrupt gzip stream
        return None, _undecompressed(path, error)
    return header, None


def _undecompressed(path: Path, error: Exception) -> ReadProblem:
    return ReadProblem("parse", None, f"{path.name}: cannot be decompressed: {error}")


def _not_utf8(path: Path, fmt: TableFormat) -> ReadProblem:
    """Where the first byte that is not UTF-8 is: line and byte offset in the whole file."""
    try:
        data = _raw_bytes(path, fmt)
    except GZIP_ERRORS as error:  # a gzip stream cut after the bad byte
        return _undecompressed(path, error)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return ReadProblem(
            "utf8",
            None,
            f"{path.name}: not valid UTF-8: byte 0x{data[error.start]:02x} at line {line}, "
            f"byte offset {error.start} ({error.reason}); save the file as UTF-8",
        )
    return ReadProblem("utf8", None, f"{path.name}: not valid UTF-8")


def _truncated(path: Path, n_fields: int, fmt: TableFormat) -> ReadProblem | None:
    """The last line cut mid-way: no final newline and fewer fields than the header.

    (A cut gzip stream fails to decompress instead, and is reported when it is read.)"""
    import csv

    if fmt.compression:
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 65536))
        tail = handle.read()
    if tail.endswith(b"\n"):
        return None
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    try:
        n_last = len(next(csv.reader([last], delimiter=fmt.sep), []))
    except csv.Error:  # a field beyond the csv module's size limit: count separators instead
        n_last = last.count(fmt.sep) + 1
    if n_last >= n_fields:
        return None
    return ReadProblem(
        "truncated",
        None,
        f"{path.name}: truncated: the last row has {n_last} of {n_fields} fields and no "
        f"line end (file cut mid-way?): {clip(last)!r}",
    )


def _first_row_width(path: Path, n_fields: int, fmt: TableFormat) -> ReadProblem | None:
    """The first data row must have the header's number of fields: more would shift values."""
    import csv

    try:
        with _open_text(path, fmt) as handle:
            reader = csv.reader(handle, delimiter=fmt.sep)
            next(reader, None)
            first = next(reader, None)
    except csv.Error:
        return None
    except UnicodeDecodeError:
        return _not_utf8(path, fmt)
    except GZIP_ERRORS as error:  # a gzip stream cut or corrupt after the header
        return _undecompressed(path, error)
    if first is None or len(first) == n_fields:
        return None
    more = len(first) > n_fields
    hint = " (a trailing delimiter?)" if more and first[-1] == "" else ""
    return ReadProblem(
        "row_width",
        None,
        f"{path.name}: the first row has {len(first)} fields but the header has {n_fields}"
        f"{hint}; values would land in the wrong columns",
    )


def _cast_numbers(frame: pd.DataFrame, column: str, sample_size: int) -> ReadProblem | None:
    """Cast a text column to float64 in place; report values that are not numbers.

    ``True``/``False`` are 1 and 0, as when the reference data was profiled."""
    text = frame[column]
    numbers = pd.to_numeric(text.replace(BOOLEANS), errors="coerce")
    bad = text.notna() & numbers.isna()
    frame[column] = numbers.astype("float64")
    if not bad.any():
        return _infinite(frame[column], sample_size)
    values = text[bad]
    count = int(bad.sum())
    return ReadProblem(
        "numeric_type",
        column,
        f"column '{column}': {count} value(s) ({count / len(text):.2%}) are not numbers, "
        f"e.g. {[clip(v) for v in values.head(sample_size)]} at rows "
        f"{[int(i) for i in values.index[:sample_size]]}",
        count=count,
        sample=tuple(clip(v) for v in values.head(sample_size)),
        rows=tuple(int(i) for i in values.index[:sample_size]),
    )


def _infinite(numbers: pd.Series, sample_size: int) -> ReadProblem | None:
    """Report inf and -inf: a measurement is a finite number."""
    infinite = numbers[np.isinf(numbers.to_numpy(dtype="float64", na_value=np.nan))]
    if infinite.empty:
        return None
    count = len(infinite)
    sample = tuple(float(v) for v in infinite.head(sample_size))
    rows = tuple(int(i) for i in infinite.index[:sample_size])
    return ReadProblem(
        "finite",
        str(numbers.name),
        f"column '{numbers.name}': {count} value(s) ({count / len(numbers):.2%}) are infinite, "
        f"e.g. {list(sample)} at rows {list(rows)}",
        count=count,
        sample=sample,
        rows=rows,
    )


def _text_missing(frame: pd.DataFrame, missing: tuple[str, ...]) -> None:
    """Parquet text columns: the data set's missing tokens are missing there too, in place."""
    if not missing:
        return
    for name in frame.select_dtypes(include="object").columns:
        frame[name] = frame[name].where(~frame[name].isin(missing), np.nan)


def read_batch(  # noqa: C901, PLR0915  (debt: read_batch, one branch per file dialect, to split)
    path: Path,
    declared: dict[str, str],
    sample_size: int = 5,
    missing: tuple[str, ...] = (),
) -> tuple[pd.DataFrame | None, list[ReadProblem]]:
    """Read ``path`` with the declared types: ``float64`` columns as numbers, ``str`` as text.

    Only empty cells and the data set's ``missing`` tokens (its suite's
    ``meta.missing_values``) are missing: any other text in a number column (``?``, ``--``)
    is reported, never turned into NaN. Problems are returned, not raised: the gate reports
    them all. Row numbers are 0-based data rows (the header is not a row).
    """
    if not path.is_file():
        return None, [ReadProblem("exists", None, f"{path}: file not found")]
    if path.stat().st_size == 0:
        return None, [ReadProblem("empty", None, f"{path.name}: file is empty (0 bytes)")]
    try:
        fmt = table_format(path)
    except TableReadError as error:
        return None, [ReadProblem("suffix", None, str(error))]
    wrong = sniff(path, fmt)
    if wrong:
        return None, [ReadProblem("format", None, wrong)]
    problems: list[ReadProblem] = []
    if fmt.kind == "csv":
        header, problem = csv_header(path, fmt)
        if problem is not None:
            return None, [problem]
        header = header or []
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated:
            return None, [
                ReadProblem("duplicate_columns", None, f"duplicate column names: {duplicated}")
            ]
        truncated = _truncated(path, len(header), fmt)
        if truncated is not None:
            return None, [truncated]
        ragged = _first_row_width(path, len(header), fmt)
        if ragged is not None:
            return None, [ragged]
        try:
            # Fast path: the C parser reads each column with its declared type; any value that
            # is not a number makes it raise, and the slow path below finds and reports them.
            numbers = {c: "float64" for c, k in declared.items() if k == "float64"}
            frame = _read_text_csv(path, fmt, defaultdict(lambda: "object", numbers), missing)
        except UnicodeDecodeError:
            return None, [_not_utf8(path, fmt)]
        except GZIP_ERRORS as error:
            return None, [ReadProblem("parse", None, f"{path.name}: cannot be read: {error}")]
        except (ValueError, TypeError, pd.errors.ParserError):
            frame = None
        if frame is not None:
            for column, kind in declared.items():
                if kind == "float64" and column in frame.columns:
                    infinite = _infinite(frame[column], sample_size)
                    if infinite is not None:
                        problems.append(infinite)
            return frame, problems
        try:
            frame = _read_text_csv(path, fmt, defaultdict(lambda: "object"), missing)
        except (ValueError, pd.errors.ParserError, EOFError, OSError, zlib.error) as error:
            return None, [ReadProblem("parse", None, f"{path.name}: cannot be parsed: {error}")]
    else:
        try:
            frame = pd.read_parquet(path)
        except (ValueError, OSError) as error:
            return None, [ReadProblem("parse", None, f"{path.name}: not readable Parquet: {error}")]
        _text_missing(frame, missing)
        for column, kind in declared.items():
            if kind == "str" and column in frame and not ptypes.is_object_dtype(frame[column]):
                # text as a CSV of the same table holds it (a date, a boolean stored as text):
                # the model's categories are strings
                values = frame[column]
                frame[column] = values.astype(object).where(values.isna(), values.astype(str))
            if kind == "float64" and column in frame and ptypes.is_numeric_dtype(frame[column]):
                infinite = _infinite(frame[column].astype("float64"), sample_size)
                if infinite is not None:
                    problems.append(infinite)
            elif kind == "float64" and column in frame:
                problems.append(
                    ReadProblem(
                        "numeric_type",
                        column,
                        f"column '{column}' is stored as {frame[column].dtype} (text) in the "
                        "file; the suite declares a number",
                    )
                )
        return frame, problems
    for column, kind in declared.items():
        if column not in frame.columns:
            continue
        if kind == "float64":
            problem = _cast_numbers(frame, column, sample_size)
            if problem is not None:
                problems.append(problem)
    return frame, problems


def quarantine(path: Path, report: dict[str, Any], note: str, base: Path, when: str) -> Path:
    """Copy a failed batch to ``base/<when>-<name>/`` with its validation result and a note.

    The input stays where it was: nothing is moved or deleted.
    """
    folder = base / f"{when}-{path.name}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = base / f"{when}-{path.name}-{suffix}"
    folder.mkdir(parents=True)
    if path.is_file():
        shutil.copy2(path, folder / path.name)
    write_json(report, folder / "validation.json")
    (folder / "NOTE.md").write_text(note, encoding="utf-8")
    return folder


class DropFileError(ValueError):
    """A file in a drop folder that is not read: not a regular file, or too large."""


def drop_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The names in ``folder`` that match ``patterns``, sorted (not followed: a symlink or a
    folder is listed too, and :func:`read_drop_file` refuses it)."""
    return sorted({p for pattern in patterns for p in folder.glob(pattern)})


def read_drop_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a file someone dropped in a watched folder, read through one descriptor
    opened with ``O_NOFOLLOW``: a symlink, a folder, a pipe or a device is refused (it could
    point the service at any file it can read, or block it), and so is a file over
    ``max_bytes`` (checked before any of it is read, and again while reading)."""
    import stat

    kind = _kind(path)
    if kind != "regular file":
        raise DropFileError(f"{path.name}: not a regular file ({kind}); it is not read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise DropFileError(f"{path.name}: cannot be opened: {error.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise DropFileError(f"{path.name}: not a regular file; it is not read")
        if info.st_size > max_bytes:
            raise DropFileError(
                f"{path.name}: {info.st_size} bytes, over the limit of {max_bytes}; it is not read"
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DropFileError(f"{path.name}: over the limit of {max_bytes} bytes; it is not read")
    return data


def _kind(path: Path) -> str:
    import stat

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "gone"
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def real_folder(path: Path) -> Path:
    """``path`` as a folder of its own (created when missing); a symlink or a file in its place
    is refused, so nothing is moved or written through a planted link."""
    import stat

    path.mkdir(parents=True, exist_ok=True)
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise DropFileError(f"{path}: expected a folder, found {_kind(path)}; nothing is moved")
    return path


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name.2``, ``name.3``...: the first whose note is free too."""
    target, suffix = folder / name, 1
    while os.path.lexists(target) or os.path.lexists(folder / f"{target.name}.error.txt"):
        suffix += 1
        target = folder / f"{name}.{suffix}"
    return target


def set_aside(path: Path, folder: Path, note: str | None = None) -> Path:
    """Move ``path`` (the link itself, never what it points at) into ``folder`` under a name
    not yet taken, and write ``note`` beside it as ``<name>.error.txt`` (created new, never
    through an existing file or link); returns where the file went."""
    target = _free_name(real_folder(folder), path.name)
    os.rename(path, target)
    if note is not None:
        write_new(folder / f"{target.name}.error.txt", note)
    return target


def write_new(path: Path, content: str | bytes) -> None:
    """Write ``content`` to a file that must not exist yet (``O_CREAT | O_EXCL | O_NOFOLLOW``,
    mode 0600): a planted file or symlink of that name is never written through."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content.encode() if isinstance(content, str) else content)


@contextmanager
def single_consumer(folder: Path) -> Iterator[bool]:
    """An exclusive, non-blocking ``flock`` on ``folder/.lock``: True for the one process that
    holds it, False for any other (several serving workers, or a second monitor, never take in
    the same file)."""
    import fcntl

    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
