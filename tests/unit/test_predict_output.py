"""``mlops predict --output`` (and the batch-predict flow's ``output``) never overwrites the
pipeline's own data unless forced (security review #20)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tasks.config import Params, load_params
from tasks.pipeline.predict import OutputRefused, check_output
from tests.support import REPO

RAW = "data/raw/customer-purchase/customer-purchase.csv"
FORCE = (
    "; predictions are not written over the pipeline's data (mlops predict --force, or the "
    "batch-predict flow's force=True, writes there anyway)"
)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Params]:
    shutil.copyfile(REPO / "params.yaml", tmp_path / "params.yaml")
    return tmp_path, load_params(tmp_path / "params.yaml")


def _refused(target: Path, reason: str) -> str:
    return f"^{re.escape(f'output {target}: refused: {reason}{FORCE}')}$"


def test_the_training_data_is_refused(project: tuple[Path, Params]) -> None:
    root, params = project
    target = root / RAW

    with pytest.raises(OutputRefused, match=_refused(target, f"it is ingest.path ({RAW})")):
        check_output(root, params, target)


def test_anything_under_data_raw_is_refused(project: tuple[Path, Params]) -> None:
    root, params = project
    target = root / "data/raw/other/scores.parquet"

    reason = "it is under paths.raw (data/raw), the immutable raw data"
    with pytest.raises(OutputRefused, match=_refused(target, reason)):
        check_output(root, params, target)


def test_a_path_that_climbs_into_data_raw_is_refused(project: tuple[Path, Params]) -> None:
    root, params = project
    target = root / "data/predictions/../raw/x.csv"

    reason = "it is under paths.raw (data/raw), the immutable raw data"
    with pytest.raises(OutputRefused, match=_refused(target, reason)):
        check_output(root, params, target)


def test_a_stage_output_is_refused(project: tuple[Path, Params]) -> None:
    root, params = project
    target = root / "data/processed/train.parquet"

    reason = "it is paths.train (data/processed/train.parquet)"
    with pytest.raises(OutputRefused, match=_refused(target, reason)):
        check_output(root, params, target)


def test_a_dvc_tracked_file_or_folder_is_refused(project: tuple[Path, Params]) -> None:
    root, params = project
    (root / "extra").mkdir()
    (root / "extra" / "labels.csv.dvc").write_text("outs:\n- md5: x\n  path: labels.csv\n")
    (root / "archive.dvc").write_text("outs:\n- md5: x.dir\n  path: archive\n")

    with pytest.raises(
        OutputRefused,
        match=_refused(root / "extra/labels.csv", "it is tracked by DVC (labels.csv.dvc)"),
    ):
        check_output(root, params, root / "extra/labels.csv")
    with pytest.raises(
        OutputRefused,
        match=_refused(root / "archive/2026/a.csv", "it is tracked by DVC (archive.dvc)"),
    ):
        check_output(root, params, root / "archive/2026/a.csv")


def test_other_outputs_and_forced_ones_are_written(project: tuple[Path, Params]) -> None:
    root, params = project

    check_output(root, params, root / "data/predictions/scores.csv")
    check_output(root, params, root.parent / "elsewhere.parquet")
    check_output(root, params, root / RAW, force=True)
