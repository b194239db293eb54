"""The named places where the pipeline reads and writes files: tables, JSON and models."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


class TableReadError(ValueError):
    """A table file that cannot be read; the message names the file."""


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; errors name the file and what is wrong with it."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise TableReadError(f"{path}: unsupported file type '{suffix}'; use .csv or .parquet")
    if not path.is_file():
        raise TableReadError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise TableReadError(f"{path}: file is empty (0 bytes)")
    try:
        if suffix == ".csv":
            return pd.read_csv(path, low_memory=False)
        return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise TableReadError(f"{path}: cannot be read as {suffix[1:]}: {error}") from None


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
        text = json.dumps(_finite(data), indent=2, sort_keys=True, default=str, allow_nan=False)
        tmp.write_text(text + "\n")


def _finite(data: Any) -> Any:
    """NaN and infinities become null: strict JSON has no such numbers."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV (plots data) atomically."""
    with _atomic(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_model(model: object, path: Path) -> None:
    """Persist a fitted scikit-learn object with joblib, atomically."""
    import joblib

    with _atomic(path) as tmp:
        joblib.dump(model, tmp)


def load_model(path: Path) -> Any:
    """Load a model that :func:`save_model` wrote (only our own files: joblib is pickle)."""
    import joblib

    return joblib.load(path)
