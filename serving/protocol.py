"""MLflow's scoring protocol: request bodies in, validated columns out; predictions back.

Accepted, as ``mlflow models serve`` accepts them: ``application/json`` with exactly one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` (and optional
``params``), or ``text/csv``. Every value is checked against the model's signature here, before
the model sees it, so a bad request gets a 400 that names the column and shows a few bad values,
never an echo of the payload.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tasks.types import Column

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARAMS = ("probabilities",)
SHOWN = 3  # bad values quoted in an error
SHOWN_CHARS = 40
_INF = (float("inf"), float("-inf"))
MAX_NUMBER = 1.8e308  # |v| past this is no float64
INT64 = (-(2**63), 2**63 - 1)
MAX_UNKNOWN = 32  # distinct names a request may carry that are not the model's columns


class RequestError(ValueError):
    """A request the endpoint refuses: ``status`` (400, 413, 415) and a short message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Parsed:
    """A validated request: one list of values per signature column, in signature order."""

    columns: dict[str, list[Any]]
    rows: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def probabilities(self) -> bool:
        return bool(self.params.get("probabilities", False))

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts (what the inference log stores)."""
        names = list(self.columns)
        return [
            dict(zip(names, values, strict=True))
            for values in zip(*self.columns.values(), strict=True)
        ]


def _shown(values: Sequence[Any]) -> str:
    quoted = []
    for value in values[:SHOWN]:
        text = repr(value)
        quoted.append(text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "...")
    return "[" + ", ".join(quoted) + "]"


def _is_text(value: Any) -> bool:
    return value is None or type(value) is str or (type(value) is float and value != value)


def _is_bool(value: Any) -> bool:
    return value is None or type(value) is bool


def _as_number(value: Any) -> float | None:
    """A number cell as the model takes it (a float; None when missing), or raise ValueError.

    NaN is a missing value (MLflow's client sends NaN literals for gaps); infinity, values
    beyond float64's range (|v| > 1.8e308) and Python ints too big for a float are refused, so
    an integer of any size never reaches the model or the inference log."""
    if value is None:
        return None
    if type(value) is float:
        if value != value:
            return None
        number = value
    elif type(value) is int:
        number = float(value)  # OverflowError (a ValueError's cousin) past 1.8e308
    else:
        raise ValueError(value)
    if number in _INF or abs(number) > MAX_NUMBER:
        raise ValueError(value)
    return number


def _as_integer(value: Any) -> int | None:
    """An integer cell: a whole number within int64 (None when missing), or raise ValueError."""
    if value is None:
        return None
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not INT64[0] <= value <= INT64[1]:
        raise ValueError(value)
    return value


def _as_text(value: Any) -> Any:
    if not _is_text(value):
        raise ValueError(value)
    # scikit-learn's imputers take NaN, not None, as the missing marker of text columns
    return np.nan if value is None or value != value else value


def _as_bool(value: Any) -> bool | None:
    if not _is_bool(value):
        raise ValueError(value)
    return value  # type: ignore[no-any-return]


CHECKS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "double": (_as_number, "a number"),
    "float": (_as_number, "a number"),
    "long": (_as_integer, "an integer"),
    "integer": (_as_integer, "an integer"),
    "string": (_as_text, "text"),
    "boolean": (_as_bool, "true or false"),
}


def _bad_values(column: Column, wanted: str, bad: list[tuple[int, Any]]) -> RequestError:
    """The 400 for ``bad`` (row, value) pairs of ``column``: a count, a few values, their rows."""
    return RequestError(
        400,
        f"column '{column.name}' expects {wanted} ({column.type}); {len(bad)} value(s) are "
        f"not, e.g. {_shown([v for _, v in bad])} at rows {[r for r, _ in bad[:SHOWN]]}",
    )


def check_values(column: Column, values: list[Any]) -> list[Any]:
    """``values`` as the model takes them (numbers as floats, missing text as NaN), or a 400
    naming the column and a few of the values it refuses."""
    check = CHECKS.get(column.type)
    if check is None:
        return values
    convert, wanted = check
    converted: list[Any] = []
    bad: list[tuple[int, Any]] = []
    for row, value in enumerate(values):
        try:
            converted.append(convert(value))
        except (ValueError, OverflowError):
            bad.append((row, value))
    if bad:
        raise _bad_values(column, wanted, bad)
    return converted


def too_many_rows(rows: int, max_rows: int) -> RequestError:
    return RequestError(
        413, f"the request has {rows} rows; the limit is {max_rows} (serve.max_rows)"
    )


class _Names:
    """The signature's column names, and the other names a request may carry (at most
    ``MAX_UNKNOWN`` distinct ones: past that it is refused, before any per-row work)."""

    def __init__(self, signature: Sequence[Column]) -> None:
        self.known = {column.name for column in signature}
        self.unknown: dict[str, None] = {}

    def see(self, name: Any, key: str) -> None:
        if name in self.known or name in self.unknown:
            return
        self.unknown[name] = None
        if len(self.unknown) > MAX_UNKNOWN:
            shown = _shown([str(n) for n in self.unknown])
            raise RequestError(
                400,
                f"'{key}' has more than {MAX_UNKNOWN} names that are not input columns of "
                f"the model, e.g. {shown}: send only the model's columns (GET /metadata)",
            )


def _columns_from_records(
    records: Any, key: str, signature: Sequence[Column], max_rows: int
) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(records, list):
        raise RequestError(400, f"'{key}' must be a list of records (objects)")
    if len(records) > max_rows:
        raise too_many_rows(len(records), max_rows)
    names = _Names(signature)
    for record in records:
        if not isinstance(record, dict):
            raise RequestError(400, f"'{key}' must be a list of records (objects)")
        for name in record:
            names.see(name, key)
    columns = {
        column.name: [record.get(column.name) for record in records]
        for column in signature
        if any(column.name in record for record in records)
    }
    return columns, len(records)


def _columns_from_split(
    split: Any, signature: Sequence[Column], max_rows: int
) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(split, dict) or "columns" not in split or "data" not in split:
        raise RequestError(400, "'dataframe_split' must be an object with 'columns' and 'data'")
    names, data = split["columns"], split["data"]
    if not isinstance(names, list) or not isinstance(data, list):
        raise RequestError(400, "'dataframe_split': 'columns' and 'data' must be lists")
    if len(data) > max_rows:
        raise too_many_rows(len(data), max_rows)
    if not all(type(name) is str for name in names):
        raise RequestError(400, "'dataframe_split': 'columns' must be a list of names (text)")
    seen = _Names(signature)
    for name in names:
        seen.see(name, "dataframe_split")
    width = len(names)
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != width:
            size = len(values) if isinstance(values, list) else "not a list"
            raise RequestError(
                400, f"'dataframe_split': row {row} has {size} values, expected {width} columns"
            )
    where = {name: index for index, name in enumerate(names) if name in seen.known}
    return {name: [values[i] for values in data] for name, i in where.items()}, len(data)


def _columns_from_columnar(
    columnar: dict[Any, Any], key: str, signature: Sequence[Column], max_rows: int
) -> tuple[dict[str, list[Any]], int]:
    names = _Names(signature)
    for name in columnar:
        names.see(name, key)
    lists = {k: v if isinstance(v, list) else [v] for k, v in columnar.items()}
    sizes = {len(v) for v in lists.values()}
    if len(sizes) > 1:
        described = ", ".join(f"'{k}': {len(v)}" for k, v in list(lists.items())[:5])
        raise RequestError(400, f"'{key}': columns have different lengths ({described})")
    rows = sizes.pop() if sizes else 0
    if rows > max_rows:
        raise too_many_rows(rows, max_rows)
    return {k: v for k, v in lists.items() if k in names.known}, rows


def _refuse_constant(name: str) -> float:
    if name == "NaN":
        return float("nan")
    raise ValueError(f"{name} is not a number the endpoint takes")


def _bounded_int(text: str) -> int | float:
    """An integer literal of the NaN fallback: an int within int64, else a float (infinity
    past float64's range, refused by the column checks), never an unbounded Python int."""
    if len(text.lstrip("-")) <= 18:
        return int(text)
    return float(text)


def load_json(body: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        reason = error.args[0]
    if b"NaN" not in body:
        raise RequestError(400, f"the body is not valid JSON: {reason}")
    # MLflow's own client writes NaN for missing numbers, which strict JSON refuses: only for
    # that, the standard library's parser (NaN only, bounded integers; nesting deeper than
    # Python's recursion limit is a RecursionError, caught)
    try:
        return json.loads(body, parse_constant=_refuse_constant, parse_int=_bounded_int)
    except (ValueError, RecursionError) as error:
        detail = str(error) if isinstance(error, ValueError) else "nested too deeply"
        raise RequestError(400, f"the body is not valid JSON: {detail[:200]}") from None


def parse_json(
    body: bytes, signature: Sequence[Column], max_rows: int
) -> tuple[dict[str, list[Any]], int, dict[str, Any]]:
    """The signature's columns of a JSON body (other names ignored, up to a few), its row
    count and its params; the row count is checked against ``max_rows`` before any per-row
    work."""
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise RequestError(400, f"the body must be a JSON object with one of {list(FORMATS)}")
    found = [key for key in FORMATS if key in payload]
    if len(found) != 1:
        got = [str(k)[:SHOWN_CHARS] for k in list(payload)[:6]]
        raise RequestError(
            400, f"the body must have exactly one of {list(FORMATS)}; it has keys {got}"
        )
    key = found[0]
    data = payload[key]
    if key == "dataframe_split":
        columns, rows = _columns_from_split(data, signature, max_rows)
    elif key == "dataframe_records" or isinstance(data, list):
        columns, rows = _columns_from_records(data, key, signature, max_rows)
    elif isinstance(data, dict):
        columns, rows = _columns_from_columnar(data, key, signature, max_rows)
    else:
        raise RequestError(400, f"'{key}' must be a list of records or an object of columns")
    params = payload.get("params", {})
    if not isinstance(params, dict):  # "", 0, [] or null too: not silently "no params"
        raise RequestError(400, "'params' must be an object")
    return columns, rows, params


def parse_csv(
    body: bytes, signature: Sequence[Column], max_rows: int
) -> tuple[dict[str, list[Any]], int]:
    """The signature's columns of a CSV body (read with ``usecols``; at most ``max_rows`` + 1
    rows are read), as text with empty cells missing."""
    import pandas as pd

    wanted = {column.name for column in signature}
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
            dtype=str,
            keep_default_na=False,
            usecols=lambda name: name in wanted,
            nrows=max_rows + 1,
        )
    except pd.errors.EmptyDataError:
        raise RequestError(400, "the request has no rows") from None
    except (ValueError, UnicodeDecodeError, OverflowError) as error:
        raise RequestError(400, f"the body is not valid CSV: {str(error)[:200]}") from None
    if len(frame.columns) == 0:
        shown = ", ".join(f"'{c.name}'" for c in signature[:5])
        more = f" and {len(signature) - 5} more" if len(signature) > 5 else ""
        raise RequestError(400, f"the CSV has none of the model's columns {shown}{more}")
    if len(frame) > max_rows:
        raise RequestError(
            413,
            f"the request has more than {max_rows} rows; the limit is {max_rows} (serve.max_rows)",
        )
    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        columns[str(name)] = [None if v == "" else v for v in frame[name].tolist()]
    return columns, len(frame)


def _numbers_from_text(column: Column, values: list[Any]) -> list[Any]:
    """CSV cells are text: numbers for number columns (an empty cell is missing)."""
    converted: list[Any] = []
    bad: list[tuple[int, Any]] = []
    integers = column.type in ("long", "integer")
    for row, value in enumerate(values):
        if value is None:
            converted.append(None)
            continue
        try:
            number = float(value)
            converted.append(int(number) if integers else number)
        except (ValueError, OverflowError):
            bad.append((row, value))
    if bad:
        raise _bad_values(column, "a number", bad)
    return converted


def _from_csv_text(column: Column, values: list[Any]) -> list[Any]:
    if column.type == "boolean":
        return [
            None if v is None else {"true": True, "false": False}.get(v.lower(), v) for v in values
        ]
    return _numbers_from_text(column, values)


def parse_request(
    body: bytes,
    content_type: str,
    signature: Sequence[Column],
    max_rows: int,
    query_params: dict[str, str] | None = None,
) -> Parsed:
    """Parse and validate one ``/invocations`` body against ``signature``: work linear in the
    body's size, and the row limit checked before any per-row work."""
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json":
        columns, rows, params = parse_json(body, signature, max_rows)
    elif mime == "text/csv":
        (columns, rows), params = parse_csv(body, signature, max_rows), {}
        for column in signature:
            if column.name in columns and column.type in CHECKS and column.type != "string":
                columns[column.name] = _from_csv_text(column, columns[column.name])
    else:
        raise RequestError(
            415,
            f"content type '{mime[:SHOWN_CHARS]}' is not accepted; send application/json "
            "or text/csv",
        )
    query = query_params or {}
    strange = sorted(repr(name[:SHOWN_CHARS]) for name in query if name not in PARAMS)
    if strange:
        raise RequestError(
            400, f"unknown query parameter(s) {', '.join(strange[:5])}; known: {list(PARAMS)}"
        )
    for name, value in query.items():
        params.setdefault(name, value.lower() in ("1", "true", "yes"))
    unknown = sorted(str(k)[:SHOWN_CHARS] for k in set(params) - set(PARAMS))
    if unknown:
        raise RequestError(400, f"unknown param(s) {unknown[:5]}; known: {list(PARAMS)}")
    if type(params.get("probabilities", False)) is not bool:
        raise RequestError(400, "'params': 'probabilities' must be true or false")
    return validated(columns, rows, params, signature, max_rows)


def validated(
    columns: dict[str, list[Any]],
    rows: int,
    params: dict[str, Any],
    signature: Sequence[Column],
    max_rows: int,
) -> Parsed:
    """``columns`` (``rows`` values each, by name) checked against ``signature``: the rows,
    the required columns and every value, by the same rules whatever protocol carried them
    (MLflow's here, the open inference protocol's in :mod:`serving.v2`)."""
    if rows == 0:
        raise RequestError(400, "the request has no rows")
    if rows > max_rows:
        raise too_many_rows(rows, max_rows)
    missing = [c.name for c in signature if c.required and c.name not in columns]
    if missing:
        shown = ", ".join(f"'{name}'" for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise RequestError(400, f"missing column(s) {shown}{more}: the model needs them")
    ordered = {
        column.name: check_values(column, columns.get(column.name, [None] * rows))
        for column in signature
    }
    return Parsed(ordered, rows, params)


def frame_of(batch: Sequence[Parsed], signature: Sequence[Column]) -> Any:
    """One DataFrame of every row of ``batch``, typed as the signature says."""
    import pandas as pd

    data: dict[str, Any] = {}
    for column in signature:
        values = [v for parsed in batch for v in parsed.columns[column.name]]
        if column.type in ("double", "float"):
            data[column.name] = np.array(values, dtype=float)
        else:
            data[column.name] = np.array(values, dtype=object)
    return pd.DataFrame(data, copy=False)
