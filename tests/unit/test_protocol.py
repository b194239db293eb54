"""MLflow's scoring protocol: every input format, and every refusal with its exact message."""

from __future__ import annotations

import math

import orjson
import pytest

from serving.protocol import RequestError, frame_of, parse_request
from tasks.types import Column

SIGNATURE = (
    Column("age", "double", True),
    Column("visits", "double", False),
    Column("device", "string", True),
)
JSON = "application/json"


def parse(payload: object, content_type: str = JSON, max_rows: int = 100, **query: str):  # type: ignore[no-untyped-def]
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return parse_request(body, content_type, SIGNATURE, max_rows, query)


def refused(payload: object, content_type: str = JSON, max_rows: int = 100) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse(payload, content_type, max_rows)
    return caught.value


EXPECTED = {"age": [30, 41.5], "visits": [2, None], "device": ["mobile", "desktop"]}


@pytest.mark.parametrize(
    "payload",
    [
        {
            "dataframe_split": {
                "columns": ["age", "visits", "device"],
                "data": [[30, 2, "mobile"], [41.5, None, "desktop"]],
            }
        },
        {
            "dataframe_records": [
                {"age": 30, "visits": 2, "device": "mobile"},
                {"age": 41.5, "device": "desktop"},
            ]
        },
        {
            "instances": [
                {"age": 30, "visits": 2, "device": "mobile"},
                {"age": 41.5, "visits": None, "device": "desktop"},
            ]
        },
        {"inputs": {"age": [30, 41.5], "visits": [2, None], "device": ["mobile", "desktop"]}},
        {"instances": {"age": [30, 41.5], "visits": [2, None], "device": ["mobile", "desktop"]}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances-records", "inputs", "instances-cols"],
)
def test_every_json_format_gives_the_same_columns(payload: dict[str, object]) -> None:
    parsed = parse(payload)

    assert parsed.rows == 2
    assert parsed.columns == EXPECTED
    assert parsed.params == {}


def test_csv_cells_become_numbers_and_empty_cells_missing() -> None:
    body = b"device,age,visits,extra\nmobile,30,2,x\ndesktop,41.5,,y\n"

    parsed = parse(body, "text/csv; charset=utf-8")

    assert parsed.columns == {
        "age": [30.0, 41.5],
        "visits": [2.0, None],
        "device": EXPECTED["device"],
    }


def test_an_optional_column_may_be_absent_and_extra_columns_are_ignored() -> None:
    parsed = parse({"dataframe_records": [{"age": 1, "device": "tv", "session": 9}]})

    assert parsed.columns == {"age": [1], "visits": [None], "device": ["tv"]}


def test_missing_text_becomes_nan_for_the_imputers() -> None:
    parsed = parse({"inputs": {"age": [1], "device": [None]}})

    assert math.isnan(parsed.columns["device"][0])
    frame = frame_of([parsed, parsed], SIGNATURE)
    assert list(frame.columns) == ["age", "visits", "device"]
    assert [str(t) for t in frame.dtypes] == ["float64", "float64", "object"]
    assert frame["visits"].isna().all() and len(frame) == 2


def test_probabilities_from_params_or_the_query_string() -> None:
    assert parse(
        {"inputs": {"age": [1], "device": ["tv"]}, "params": {"probabilities": True}}
    ).probabilities
    assert parse({"inputs": {"age": [1], "device": ["tv"]}}, probabilities="true").probabilities
    assert not parse({"inputs": {"age": [1], "device": ["tv"]}}).probabilities


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"dataframe_records": [{"age": "thirty", "device": "tv"}, {"age": 3, "device": "tv"}]},
            "column 'age' expects a number (double); 1 value(s) are not, e.g. ['thirty'] at rows "
            "[0]",
        ),
        (
            {"inputs": {"age": [1, 2], "device": [5, "tv"]}},
            "column 'device' expects text (string); 1 value(s) are not, e.g. [5] at rows [0]",
        ),
        (
            {"inputs": {"age": [True], "device": ["tv"]}},
            "column 'age' expects a number (double); 1 value(s) are not, e.g. [True] at rows [0]",
        ),
        (
            {"dataframe_records": [{"visits": 1}]},
            "missing column(s) 'age', 'device': the model needs them",
        ),
        (
            {"dataframe_split": {"columns": ["age", "device"], "data": [[1, "tv"], [2]]}},
            "'dataframe_split': row 1 has 1 values, expected 2 columns",
        ),
        (
            {"inputs": {"age": [1, 2], "device": ["tv"]}},
            "'inputs': columns have different lengths ('age': 2, 'device': 1)",
        ),
        (
            {"data": [1]},
            "the body must have exactly one of ['dataframe_split', 'dataframe_records', "
            "'instances', 'inputs']; it has keys ['data']",
        ),
        (
            {"inputs": {"age": [1], "device": ["tv"]}, "params": {"top_k": 3}},
            "unknown param(s) ['top_k']; known: ['probabilities']",
        ),
        ({"dataframe_records": []}, "the request has no rows"),
    ],
)
def test_bad_requests_get_a_400_naming_the_problem(payload: object, message: str) -> None:
    error = refused(payload)

    assert (error.status, error.message) == (400, message)


def test_a_long_bad_value_is_cut_short_never_echoed_whole() -> None:
    error = refused({"inputs": {"age": ["x" * 5000], "device": ["tv"]}})

    assert error.message == (
        "column 'age' expects a number (double); 1 value(s) are not, e.g. "
        "['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...] at rows [0]"
    )


def test_invalid_json_csv_and_content_type() -> None:
    assert refused(b"{not json").message.startswith("the body is not valid JSON: ")
    csv = refused(b"age,device\nabc,tv\n", "text/csv")
    assert csv.message == (
        "column 'age' expects a number (double); 1 value(s) are not, e.g. ['abc'] at rows [0]"
    )
    wrong = refused(b"age=1", "application/x-www-form-urlencoded")
    assert (wrong.status, wrong.message) == (
        415,
        "content type 'application/x-www-form-urlencoded' is not accepted; send "
        "application/json or text/csv",
    )


def test_too_many_rows_is_413() -> None:
    error = refused({"inputs": {"age": [1, 2, 3], "device": ["a", "b", "c"]}}, max_rows=2)

    assert (error.status, error.message) == (
        413,
        "the request has 3 rows; the limit is 2 (serve.max_rows)",
    )
