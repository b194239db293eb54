"""Hypothesis property tests of the two parsers that take outside bytes: the endpoint's request
parser (serving/protocol.py) and the platform's table reader (tasks/adapters/io.py). Whatever
the bytes: a parsed result or the parser's own user error (a RequestError with a 4xx status; a
TableReadError, or problems returned), never another exception; and a request the parser
accepts is one the real model can score and the inference log can store. The run's size:
tests/fuzzing.py (``make fuzz`` for the long run)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

import tests.fuzzing  # noqa: F401  (the Hypothesis profile)
from serving.protocol import FORMATS, Parsed, RequestError, frame_of, parse_request
from tasks.adapters.io import TableReadError, read_batch, read_table
from tasks.types import Column
from tests.served import shop_model

SIGNATURE = (
    Column("age", "double", True),
    Column("visits", "long", False),
    Column("device", "string", True),
    Column("member", "boolean", False),
)
NAMES = [c.name for c in SIGNATURE]
MAX_ROWS = 20


def parsed_or_refused(body: bytes, content_type: str, signature: Any = SIGNATURE) -> Any:
    try:
        return parse_request(body, content_type, signature, MAX_ROWS, {"probabilities": "1"})
    except RequestError as error:
        assert 400 <= error.status < 500, (error.status, error.message)
        assert error.message and len(error.message) < 2000
        return error


def well_formed(parsed: Parsed, signature: Any = SIGNATURE) -> None:
    """What the scorer and the inference log rely on: every column, one value per row, typed."""
    assert list(parsed.columns) == [c.name for c in signature]
    assert 1 <= parsed.rows <= MAX_ROWS
    for column in signature:
        values = parsed.columns[column.name]
        assert len(values) == parsed.rows
        if column.type == "double":
            assert all(v is None or (type(v) is float and abs(v) <= 1.8e308) for v in values)
        if column.type == "long":
            assert all(v is None or (type(v) is int and -(2**63) <= v < 2**63) for v in values)
    orjson.dumps(parsed.records())  # the inference log's encoding takes every row
    frame_of([parsed], signature)


CONTENT_TYPES = st.sampled_from(["application/json", "text/csv", "text/csv; charset=utf-8"])


@given(body=st.binary(max_size=2000), content_type=CONTENT_TYPES)
def test_any_bytes_parse_or_get_a_4xx(body: bytes, content_type: str) -> None:
    result = parsed_or_refused(body, content_type)
    if isinstance(result, Parsed):
        well_formed(result)


# any JSON value, with the numbers JSON can spell (huge integers, NaN and infinity literals)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(NAMES)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=40,
)
VALUE = {
    "double": st.none() | st.integers(-(10**400), 10**400) | st.floats() | st.text(max_size=5),
    "long": st.none() | st.integers(-(2**70), 2**70) | st.floats() | st.booleans(),
    "string": st.none() | st.text(max_size=10) | st.floats() | st.integers(),
    "boolean": st.none() | st.booleans() | st.integers(0, 1) | st.text(max_size=5),
}
RECORD = st.fixed_dictionaries(
    {}, optional={c.name: VALUE[c.type] for c in SIGNATURE} | {"extra": JSON}
)


def body_of(payload: Any) -> bytes:
    # the standard library writes NaN/Infinity literals and integers of any size, as a
    # careless (or MLflow's own) client would
    return json.dumps(payload).encode()


@given(shape=JSON, key=st.sampled_from([*FORMATS, "other"]), params=st.none() | JSON)
def test_any_json_shape_parses_or_gets_a_4xx(shape: Any, key: str, params: Any) -> None:
    payload: dict[str, Any] = {key: shape}
    if params is not None:
        payload["params"] = params
    result = parsed_or_refused(body_of(payload), "application/json")
    if isinstance(result, Parsed):
        well_formed(result)


@given(
    records=st.lists(RECORD, max_size=MAX_ROWS + 2),
    form=st.sampled_from(["dataframe_records", "instances", "dataframe_split", "inputs"]),
)
def test_records_of_any_values_parse_or_get_a_4xx(records: list[dict[str, Any]], form: str) -> None:
    if form == "dataframe_split":
        names = sorted({k for r in records for k in r})
        payload: Any = {"columns": names, "data": [[r.get(n) for n in names] for r in records]}
    elif form == "inputs":
        names = sorted({k for r in records for k in r})
        payload = {n: [r.get(n) for r in records] for n in names}
    else:
        payload = records
    result = parsed_or_refused(body_of({form: payload}), "application/json")
    if isinstance(result, Parsed):
        well_formed(result)


CELLS = st.text(max_size=8) | st.sampled_from(["nan", "inf", "-inf", "1e999", "1" * 30, "true"])


@given(
    header=st.lists(st.sampled_from(NAMES) | st.text(max_size=6), min_size=1, max_size=6),
    rows=st.lists(st.lists(CELLS, max_size=7), max_size=MAX_ROWS + 2),
)
def test_any_csv_parses_or_gets_a_4xx(header: list[str], rows: list[list[str]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    result = parsed_or_refused(text.getvalue().encode(), "text/csv")
    if isinstance(result, Parsed):
        well_formed(result)


@given(records=st.lists(RECORD, min_size=1, max_size=5))
def test_what_the_parser_accepts_the_real_model_scores(records: list[dict[str, Any]]) -> None:
    from tasks.steps.predict import score_frame

    served, rows = shop_model()
    # the model's own rows, with the generated values written over some of its columns
    base = orjson.loads(rows.head(len(records)).to_json(orient="records"))
    mapping = {"age": "customer_age", "visits": "pages_viewed", "device": "device"}
    sent = [
        {**row, **{mapping[k]: v for k, v in record.items() if k in mapping}}
        for row, record in zip(base, records, strict=False)
    ]
    result = parsed_or_refused(body_of({"dataframe_records": sent}), "application/json",
                               served.columns)  # fmt: skip
    if isinstance(result, Parsed):
        well_formed(result, served.columns)
        labels, proba = score_frame(served, frame_of([result], served.columns))
        assert len(labels) == result.rows and proba is not None and proba.shape[0] == result.rows


# -- the table reader ------------------------------------------------------------------------

SUFFIXES = (".csv", ".tsv", ".csv.gz", ".parquet")
DECLARED = {"age": "float64", "device": "str", "visits": "float64"}


def _parquet_bytes() -> bytes:
    frame = pd.DataFrame(
        {"age": [1.5, None, 3.0], "device": ["tv", None, "pc"], "visits": [1, 2, 3]}
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


PARQUET = _parquet_bytes()


@st.composite
def table_bytes(draw: Any) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(SUFFIXES))
    kind = draw(st.sampled_from(["random", "text", "mutated"]))
    if kind == "random":
        data = draw(st.binary(max_size=600))
    elif kind == "text":
        lines = draw(st.lists(st.lists(CELLS, max_size=5), max_size=8))
        header = draw(st.lists(st.sampled_from([*DECLARED, "x"]), min_size=1, max_size=4))
        sep = "\t" if suffix == ".tsv" else ","
        data = "\n".join(sep.join(cells) for cells in [header, *lines]).encode()
    else:  # a real Parquet (or gzip) file with a few bytes changed or cut
        data = bytearray(PARQUET if suffix == ".parquet" else gzip.compress(b"age,device\n1,tv\n"))
        for _ in range(draw(st.integers(0, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = data[: draw(st.integers(0, len(data)))]
    if suffix == ".csv.gz" and kind == "text":
        data = gzip.compress(data)
    return suffix, bytes(data)


@given(table=table_bytes())
def test_any_bytes_are_a_table_or_the_readers_own_error(table: tuple[str, bytes]) -> None:
    suffix, data = table
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"batch{suffix}"
        path.write_bytes(data)
        try:
            frame = read_table(path, ("NA",))
        except TableReadError as error:
            assert str(error)
        else:
            assert isinstance(frame, pd.DataFrame)
        frame, problems = read_batch(path, DECLARED, 3, ("NA",))
        assert frame is not None or problems
        assert all(p.message for p in problems)
