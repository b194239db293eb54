"""The bad-input corpus: every broken batch is stopped at the gate with its exact reason,
quarantined with its report, and leaves the registry and data/raw untouched."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tasks.adapters import tracking, versioning
from tasks.config import Params, load_params
from tasks.pipeline.common import RunContext
from tasks.pipeline.gate import init_suite
from tasks.pipeline.stages import STAGES
from tasks.pipeline.validate import validate
from tasks.steps.generate import generate_sessions
from tasks.steps.validate import ValidationFailed
from tests.support import make_project

pytestmark = pytest.mark.integration

ROWS = 1500
MODEL = "customer-purchase"


@dataclass(frozen=True)
class Project:
    root: Path
    good: pd.DataFrame

    def params(self, data: Path) -> Params:
        """The data set's params with ``data`` (a file in its folder) as its raw table."""
        return load_params(self.root / "params.yaml", [f'datasets.{MODEL}.file="{data.name}"'])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project with a suite profiled from its training data and a champion model."""
    root = make_project(tmp_path_factory.mktemp("corpus"))
    params = load_params(root / "params.yaml", ["models.hist_gradient_boosting.fixed.max_iter=20"])
    raw = root / params.generate.path
    raw.parent.mkdir(parents=True)
    good = generate_sessions(ROWS, 11)
    good.to_csv(raw, index=False)
    versioning.add_data(root, raw)
    init_suite(root, params)
    for stage in STAGES.values():
        stage(root, params, RunContext())
    yield Project(root, good)


def _registry(root: Path) -> tuple[list[str], str]:
    tracking.configure(root)
    client = MlflowClient()
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name='{MODEL}'"))
    return versions, str(client.get_model_version_by_alias(MODEL, "champion").version)


def _raw_hashes(root: Path) -> dict[str, str]:
    return {
        p.name: hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted((root / "data/raw" / MODEL).iterdir())
    }


Writer = Callable[[pd.DataFrame, Path], str]


def csv_of(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Writer:
    def write(good: pd.DataFrame, path: Path) -> str:
        change(good.copy()).to_csv(path, index=False)
        return path.name

    return write


def bytes_of(change: Callable[[bytes], bytes]) -> Writer:
    def write(good: pd.DataFrame, path: Path) -> str:
        path.write_bytes(change(good.to_csv(index=False).encode()))
        return path.name

    return write


def _set(
    column: str, rows: list[int], values: list[object]
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        for row, value in zip(rows, values, strict=True):
            frame.loc[row, column] = value
        return frame

    return change


def _parquet_with_text_counts(good: pd.DataFrame, path: Path) -> str:
    target = path.with_suffix(".parquet")
    good.assign(cart_adds=good["cart_adds"].astype(str)).to_parquet(target, index=False)
    return target.name


def _duplicate_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.head(60)], ignore_index=True)


def _bad_byte(data: bytes) -> bytes:
    return data.replace(b",mobile,", b",mobil\xff,", 1)


CASES: dict[str, tuple[Writer, list[str]]] = {
    "empty_file": (bytes_of(lambda d: b""), ["{name}: file is empty (0 bytes)"]),
    "header_only": (
        bytes_of(lambda d: d.split(b"\n", 1)[0] + b"\n"),
        ["the batch has 0 rows; at least 50 expected"],
    ),
    "wrong_delimiter": (
        lambda good, path: (good.to_csv(path, index=False, sep=";"), path.name)[1],
        [
            "wrong delimiter: one column 'session_id;session_duration_sec;pages_viewed;"
            "product_page_vi... (207 characters)' was read; the file seems to be "
            "semicolon-separated, expected comma-separated"
        ],
    ),
    "non_utf8_bytes": (
        bytes_of(_bad_byte),
        [
            "{name}: not valid UTF-8: byte 0xff at line {line}, byte offset {offset} "
            "(invalid start byte); save the file as UTF-8"
        ],
    ),
    "missing_target_column": (
        csv_of(lambda f: f.drop(columns=["purchased"])),
        ["missing target column 'purchased'"],
    ),
    "missing_feature_column": (
        csv_of(lambda f: f.drop(columns=["device"])),
        ["missing column(s) ['device']"],
    ),
    "renamed_column": (
        csv_of(lambda f: f.rename(columns={"device": "device_type"})),
        [
            "missing column(s) ['device'] ('device_type' is unexpected: renamed?)",
            "unexpected column(s) ['device_type']: not in the suite",
        ],
    ),
    "extra_column": (
        csv_of(lambda f: f.assign(coupon_code="SPRING")),
        ["unexpected column(s) ['coupon_code']: not in the suite"],
    ),
    "numbers_as_quoted_strings": (
        _parquet_with_text_counts,
        ["column 'cart_adds' is stored as object (text) in the file; the suite declares a number"],
    ),
    "not_a_number_tokens": (
        csv_of(_set("customer_age", [0, 1, 2], ["n/a", "?", "--"])),
        [
            "column 'customer_age': 3 value(s) (0.20%) are not numbers, e.g. ['n/a', '?', '--'] "
            "at rows [0, 1, 2]"
        ],
    ),
    "all_null_column": (
        csv_of(lambda f: f.assign(customer_age=np.nan)),
        [
            "column 'customer_age' is entirely null (1500 rows)",
        ],
    ),
    "constant_column": (
        csv_of(lambda f: f.assign(pages_viewed=3)),
        ["column 'pages_viewed' is constant (1 distinct value); it varied in the reference data"],
    ),
    "unseen_category": (
        csv_of(_set("device", [5, 9], ["smartwatch", "smartwatch"])),
        [
            "column 'device': 2 of 1500 (0.13%) values are categories never seen in training, "
            "e.g. ['smartwatch', 'smartwatch'] at rows [5, 9]"
        ],
    ),
    "infinite_values": (
        csv_of(_set("session_duration_sec", [4, 8], [np.inf, -np.inf])),
        [
            "column 'session_duration_sec': 2 value(s) (0.13%) are infinite, "
            "e.g. [inf, -inf] at rows [4, 8]"
        ],
    ),
    "negative_count": (
        csv_of(_set("cart_adds", [12], [-3])),
        [
            "column 'cart_adds': 1 of 1500 (0.07%) values are negative (never negative in the "
            "reference data), e.g. [-3.0] at rows [12]"
        ],
    ),
    "duplicate_rows": (
        csv_of(_duplicate_rows),
        [
            "column 'session_id': 120 of 1560 (7.69%) values are duplicated (an ID must be "
            "unique), e.g. {ids} at rows [0, 1, 2, 3, 4]",
            "120 of 1560 rows (7.69%) are duplicates of other rows, more than the 1.0% allowed, "
            "e.g. rows [0, 1, 2, 3, 4]",
        ],
    ),
    "single_class_target": (
        csv_of(lambda f: f.assign(purchased=0)),
        ["target 'purchased' has a single class (1 distinct value); 2 or more needed"],
    ),
    "new_class_target": (
        csv_of(_set("purchased", [20, 30], [2, 2])),
        [
            "target 'purchased': 2 of 1500 (0.13%) values are a class never seen in training, "
            "e.g. [2.0, 2.0] at rows [20, 30]"
        ],
    ),
    "mostly_null_column": (
        csv_of(_set("pages_viewed", list(range(900)), [np.nan] * 900)),
        [
            "column 'pages_viewed': 900 of 1500 (60.00%) values are null, "
            "more than the 10.0% allowed"
        ],
    ),
    "truncated_file": (
        bytes_of(lambda d: d.rstrip(b"\n")[:-40]),
        [
            "{name}: truncated: the last row has {last_fields} of 15 fields and no line end "
            "(file cut mid-way?): {last_line}"
        ],
    ),
    "one_megabyte_cell": (
        csv_of(_set("region", [0], ["x" * 1_000_000])),
        [
            "column 'region': 1 of 1500 (0.07%) values are categories never seen in training, "
            "e.g. ['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... "
            "(1,000,000 characters)'] at rows [0]"
        ],
    ),
    "duplicate_column_names": (
        bytes_of(lambda d: d.replace(b",region,", b",device,", 1)),
        ["duplicate column names: ['device']"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_batch_is_stopped_and_quarantined(project: Project, case: str) -> None:
    writer, expected = CASES[case]
    incoming = project.root / "data" / "raw" / MODEL  # the data set's folder: the gate's input
    name = writer(project.good, incoming / f"{case}.csv")
    batch = incoming / name
    content = batch.read_bytes()
    before = (_registry(project.root), _raw_hashes(project.root))

    with pytest.raises(ValidationFailed) as failed:
        validate(project.root, project.params(batch), RunContext())

    report = failed.value.report
    assert report.success is False
    assert [f.message for f in report.errors] == [
        _expand(m, project, name, content) for m in expected
    ]
    folders = sorted((project.root / "data" / "quarantine").glob(f"*-{name}"))
    assert len(folders) == 1, folders
    assert (folders[0] / name).read_bytes() == content
    saved = json.loads((folders[0] / "validation.json").read_text())
    assert saved["success"] is False
    assert [f["message"] for f in saved["failures"] if f["severity"] == "fail"] == [
        f.message for f in report.errors
    ]
    assert "The input file was left where it was" in (folders[0] / "NOTE.md").read_text()
    assert batch.read_bytes() == content
    assert (_registry(project.root), _raw_hashes(project.root)) == before


def _expand(message: str, project: Project, name: str, content: bytes) -> str:
    """Fill in the parts of an expected message that come from the data or the suite."""
    if b"\xff" in content:
        offset = content.index(b"\xff")
        message = message.replace("{offset}", str(offset))
        message = message.replace("{line}", str(content.count(b"\n", 0, offset) + 1))
    last = content.rsplit(b"\n", 1)[-1].decode(errors="replace")
    message = message.replace("{last_fields}", str(last.count(",") + 1))
    message = message.replace("{last_line}", repr(last))
    ids = [float(v) for v in project.good["session_id"].head(5)]
    return message.replace("{ids}", str(ids)).replace("{name}", name)
