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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tasks.types import Column

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARAMS = ("probabilities",)
SHOWN = 3  # bad values quoted in an error
SHOWN_CHARS = 40
_INF = (float("inf"), float("-inf"))


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


def _is_number(value: Any) -> bool:
    # NaN is a missing value (MLflow's client sends NaN literals); infinity is not a number
    return value is None or type(value) is int or (type(value) is float and value not in _INF)


def _is_integer(value: Any) -> bool:
    return value is None or type(value) is int or (type(value) is float and value.is_integer())


def _is_text(value: Any) -> bool:
    return value is None or type(value) is str or (type(value) is float and value != value)


def _is_bool(value: Any) -> bool:
    return value is None or type(value) is bool


CHECKS = {
    "double": (_is_number, "a number"),
    "float": (_is_number, "a number"),
    "long": (_is_integer, "an integer"),
    "integer": (_is_integer, "an integer"),
    "string": (_is_text, "text"),
    "boolean": (_is_bool, "true or false"),
}


def _bad_values(column: Column, wanted: str, bad: list[tuple[int, Any]]) -> RequestError:
    """The 400 for ``bad`` (row, value) pairs of ``column``: a count, a few values, their rows."""
    return RequestError(
        400,
        f"column '{column.name}' expects {wanted} ({column.type}); {len(bad)} value(s) are "
        f"not, e.g. {_shown([v for _, v in bad])} at rows {[r for r, _ in bad[:SHOWN]]}",
    )


def check_values(column: Column, values: list[Any]) -> list[Any]:
    """``values`` as the model takes them (missing text as NaN), or a 400 naming the column."""
    check = CHECKS.get(column.type)
    if check is not None:
        ok, wanted = check
        bad = [(row, value) for row, value in enumerate(values) if not ok(value)]
        if bad:
            raise _bad_values(column, wanted, bad)
    if column.type == "string":
        # scikit-learn's imputers take NaN, not None, as the missing marker of text columns
        return [np.nan if value is None or value != value else value for value in values]
    return values


def _columns_from_records(records: Any, key: str) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise RequestError(400, f"'{key}' must be a list of records (objects)")
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return {name: [record.get(name) for record in records] for name in names}, len(records)


def _columns_from_split(split: Any) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(split, dict) or "columns" not in split or "data" not in split:
        raise RequestError(400, "'dataframe_split' must be an object with 'columns' and 'data'")
    names, data = split["columns"], split["data"]
    if not isinstance(names, list) or not isinstance(data, list):
        raise RequestError(400, "'dataframe_split': 'columns' and 'data' must be lists")
    width = len(names)
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != width:
            size = len(values) if isinstance(values, list) else "not a list"
            raise RequestError(
                400, f"'dataframe_split': row {row} has {size} values, expected {width} columns"
            )
    transposed = list(zip(*data, strict=True)) if data else [() for _ in names]
    return {str(name): list(values) for name, values in zip(names, transposed, strict=True)}, len(
        data
    )


def _columns_from_columnar(columnar: dict[str, Any], key: str) -> tuple[dict[str, list[Any]], int]:
    lists = {str(k): v if isinstance(v, list) else [v] for k, v in columnar.items()}
    sizes = {len(v) for v in lists.values()}
    if len(sizes) > 1:
        described = ", ".join(f"'{k}': {len(v)}" for k, v in list(lists.items())[:5])
        raise RequestError(400, f"'{key}': columns have different lengths ({described})")
    return lists, sizes.pop() if sizes else 0


def parse_json(body: bytes) -> tuple[dict[str, list[Any]], int, dict[str, Any]]:
    import orjson

    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        # MLflow's own client writes NaN for missing numbers, which strict JSON refuses
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RequestError(400, f"the body is not valid JSON: {error.args[0]}") from None
    if not isinstance(payload, dict):
        raise RequestError(400, f"the body must be a JSON object with one of {list(FORMATS)}")
    found = [key for key in FORMATS if key in payload]
    if len(found) != 1:
        got = [str(k) for k in payload][:6]
        raise RequestError(
            400, f"the body must have exactly one of {list(FORMATS)}; it has keys {got}"
        )
    key = found[0]
    data = payload[key]
    if key == "dataframe_split":
        columns, rows = _columns_from_split(data)
    elif key == "dataframe_records" or isinstance(data, list):
        columns, rows = _columns_from_records(data, key)
    elif isinstance(data, dict):
        columns, rows = _columns_from_columnar(data, key)
    else:
        raise RequestError(400, f"'{key}' must be a list of records or an object of columns")
    params = payload.get("params") or {}
    if not isinstance(params, dict):
        raise RequestError(400, "'params' must be an object")
    return columns, rows, params


def parse_csv(body: bytes) -> tuple[dict[str, list[Any]], int]:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"the body is not valid CSV: {error}") from None
    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        columns[str(name)] = [None if v == "" else v for v in frame[name].tolist()]
    return columns, len(frame)


def _numbers_from_text(column: Column, values: list[Any]) -> list[Any]:
    """CSV cells are text: numbers for number columns (an empty cell is missing)."""
    converted: list[Any] = []
    bad: list[tuple[int, Any]] = []
    for row, value in enumerate(values):
        if value is None:
            converted.append(None)
            continue
        try:
            number = float(value)
        except ValueError:
            bad.append((row, value))
            continue
        converted.append(int(number) if column.type in ("long", "integer") else number)
    if bad:
        raise _bad_values(column, "a number", bad)
    return converted


def parse_request(
    body: bytes,
    content_type: str,
    signature: Sequence[Column],
    max_rows: int,
    query_params: dict[str, str] | None = None,
) -> Parsed:
    """Parse and validate one ``/invocations`` body against ``signature``."""
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json":
        columns, rows, params = parse_json(body)
    elif mime == "text/csv":
        (columns, rows), params = parse_csv(body), {}
        for column in signature:
            if column.name in columns and column.type in CHECKS and column.type != "string":
                if column.type == "boolean":
                    columns[column.name] = [
                        None if v is None else {"true": True, "false": False}.get(v.lower(), v)
                        for v in columns[column.name]
                    ]
                else:
                    columns[column.name] = _numbers_from_text(column, columns[column.name])
    else:
        raise RequestError(
            415, f"content type '{mime}' is not accepted; send application/json or text/csv"
        )
    for name, value in (query_params or {}).items():
        if name in PARAMS:
            params.setdefault(name, value.lower() in ("1", "true", "yes"))
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise RequestError(400, f"unknown param(s) {unknown}; known: {list(PARAMS)}")
    if rows == 0:
        raise RequestError(400, "the request has no rows")
    if rows > max_rows:
        raise RequestError(
            413, f"the request has {rows} rows; the limit is {max_rows} (serve.max_rows)"
        )
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
