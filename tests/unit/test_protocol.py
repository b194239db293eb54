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


# -- bounded work (security review #2, #3, #11) ---------------------------------------------


class CountingRecord(dict):  # type: ignore[type-arg]
    """A record that counts the look-ups of its values (the per-row work of the transposition)."""

    gets = 0

    def get(self, *args: object) -> object:
        CountingRecord.gets += 1
        return super().get(*args)


def test_many_distinct_keys_are_refused_before_any_per_row_work() -> None:
    from serving.protocol import _columns_from_records

    records = [CountingRecord({f"k{i}": 1}) for i in range(5000)]
    CountingRecord.gets = 0
    with pytest.raises(RequestError) as caught:
        _columns_from_records(records, "dataframe_records", SIGNATURE, 10_000)
    body = orjson.dumps({"dataframe_records": [{f"k{i}": 1} for i in range(5000)]})
    whole = refused(body, max_rows=10_000)

    message = (
        "'dataframe_records' has more than 32 names that are not input columns of the model, "
        "e.g. ['k0', 'k1', 'k2']: send only the model's columns (GET /metadata)"
    )
    assert (caught.value.status, caught.value.message) == (400, message)
    assert CountingRecord.gets == 0  # refused before one value was looked up
    assert (whole.status, whole.message) == (400, message)


def test_a_few_unknown_keys_are_ignored_and_only_the_signature_is_built() -> None:
    extra = {f"extra{i}": i for i in range(32)}
    parsed = parse({"dataframe_records": [{"age": 1, "device": "tv", **extra}]})
    split = parse({"dataframe_split": {"columns": ["age", "device", *extra],
                                       "data": [[2, "pc", *extra.values()]]}})  # fmt: skip

    assert parsed.columns == {"age": [1.0], "visits": [None], "device": ["tv"]}
    assert split.columns == {"age": [2.0], "visits": [None], "device": ["pc"]}
    wide = refused({"inputs": {"age": [1], "device": ["tv"], **extra, "one_more": 0}})
    assert wide.message.startswith("'inputs' has more than 32 names that are not input columns")


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_records": [0] * 101},  # not records, but counted first
        {"dataframe_split": {"columns": ["age"], "data": [0] * 101}},
        {"inputs": {"age": list(range(101)), "device": ["tv"] * 101}},
    ],
    ids=["records", "split", "columns"],
)
def test_the_row_limit_is_checked_before_the_rows_are_looked_at(payload: object) -> None:
    error = refused(payload, max_rows=100)

    assert (error.status, error.message) == (
        413,
        "the request has 101 rows; the limit is 100 (serve.max_rows)",
    )


def test_csv_reads_only_the_signature_and_at_most_max_rows_plus_one() -> None:
    body = b"age,device,junk\n" + b"1,tv,x\n" * 1000
    error = refused(body, "text/csv", max_rows=10)
    none = refused(b"x,y\n1,2\n", "text/csv")

    assert (error.status, error.message) == (
        413,
        "the request has more than 10 rows; the limit is 10 (serve.max_rows)",
    )
    assert parse(body[:30], "text/csv").columns == {
        "age": [1.0, 1.0],
        "visits": [None, None],
        "device": ["tv", "tv"],
    }
    assert (none.status, none.message) == (
        400,
        "the CSV has none of the model's columns 'age', 'visits', 'device'",
    )


def test_numbers_become_floats_and_huge_integers_never_stay_python_ints() -> None:
    # a NaN literal (MLflow's client) takes the standard library's parser
    body = (
        b'{"dataframe_records": [{"age": NaN, "device": "a"},'
        b' {"age": 1000000000000000000000000000000, "device": "b"}, {"age": 3, "device": "c"}]}'
    )
    parsed = parse(body)

    assert parsed.columns["age"] == [None, 1e30, 3.0]
    assert [type(v) for v in parsed.columns["age"]] == [type(None), float, float]
    # the inference log (orjson) takes every row: no integer beyond 64 bits is left
    assert orjson.loads(orjson.dumps(parsed.records()))[1] == {
        "age": 1e30,
        "visits": None,
        "device": "b",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"inputs": {"age": [NaN, 1e999, 2], "device": ["a", "b", "c"]}}',
            "column 'age' expects a number (double); 1 value(s) are not, e.g. [inf] at rows [1]",
        ),
        (
            b'{"inputs": {"age": [NaN, 1' + b"0" * 400 + b'], "device": ["a", "b"]}}',
            "column 'age' expects a number (double); 1 value(s) are not, e.g. [inf] at rows [1]",
        ),
        (
            b'{"inputs": {"age": [NaN, Infinity], "device": ["a", "b"]}}',
            "the body is not valid JSON: Infinity is not a number the endpoint takes",
        ),
        (
            b'{"inputs": {"age": [NaN], "device": [1' + b"0" * 30 + b"]}}",
            "column 'device' expects text (string); 1 value(s) are not, e.g. [1e+30] at rows [0]",
        ),
    ],
    ids=["1e999", "400-digit-int", "Infinity", "int-as-text"],
)
def test_non_finite_and_out_of_range_numbers_are_refused(body: bytes, message: str) -> None:
    error = refused(body)

    assert (error.status, error.message) == (400, message)


def test_a_python_int_beyond_float_range_is_refused_naming_the_column() -> None:
    from serving.protocol import check_values

    with pytest.raises(RequestError) as caught:
        check_values(Column("age", "double", True), [1.0, 10**400])
    with pytest.raises(RequestError) as long:
        check_values(Column("n", "long", True), [2**63, 1])

    assert caught.value.message.startswith(
        "column 'age' expects a number (double); 1 value(s) are not, e.g. [1000000000000"
    )
    assert caught.value.message.endswith("...] at rows [1]")
    assert long.value.message == (
        "column 'n' expects an integer (long); 1 value(s) are not, e.g. [9223372036854775808] "
        "at rows [0]"
    )


def test_deep_nesting_is_a_400_in_both_parsers() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    strict = refused(b'{"inputs": ' + deep + b"}")
    with_nan = refused(b'{"x": NaN, "inputs": ' + deep + b"}")

    assert (strict.status, strict.message) == (
        400,
        "the body is not valid JSON: depth limit exceeded: line 1 column 1036 (char 1035)",
    )
    assert (with_nan.status, with_nan.message) == (
        400,
        "the body is not valid JSON: nested too deeply",
    )


def test_csv_nan_and_infinity_in_an_integer_column_are_a_400() -> None:
    signature = (Column("n", "long", True),)

    for cell in (b"nan", b"inf", b"1e400"):
        with pytest.raises(RequestError) as caught:
            parse_request(b"n\n" + cell + b"\n", "text/csv", signature, 10)
        assert (caught.value.status, caught.value.message) == (
            400,
            f"column 'n' expects a number (long); 1 value(s) are not, e.g. ['{cell.decode()}'] "
            "at rows [0]",
        )


def test_an_unknown_query_parameter_is_refused_not_ignored() -> None:
    # found by tests/unit/test_fuzz_endpoint.py: "?=-1420..." was answered as if absent
    body = orjson.dumps({"inputs": {"age": [1], "device": ["tv"]}})
    with pytest.raises(RequestError) as caught:
        parse_request(body, JSON, SIGNATURE, 10, {"": "-142037144266493607936", "probabilty": "1"})

    assert (caught.value.status, caught.value.message) == (
        400,
        "unknown query parameter(s) '', 'probabilty'; known: ['probabilities']",
    )


@pytest.mark.parametrize("params", ["", 0, [], None, False])
def test_params_that_are_not_an_object_are_refused_even_when_empty(params: object) -> None:
    # found by tests/unit/test_fuzz_endpoint.py: "params": "" was taken as no params
    error = refused({"inputs": {"age": [1], "device": ["tv"]}, "params": params})

    assert (error.status, error.message) == (400, "'params' must be an object")


@pytest.mark.parametrize("value", [[], [1], "yes", 1, None])
def test_probabilities_must_be_true_or_false(value: object) -> None:
    # found by make fuzz: "probabilities": [] was taken as false, [1] as true
    error = refused({"inputs": {"age": [1], "device": ["tv"]}, "params": {"probabilities": value}})

    assert (error.status, error.message) == (400, "'params': 'probabilities' must be true or false")
