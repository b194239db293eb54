"""The monitor's reference: the champion's training data fetched by its DVC version, from a
real git + DVC repository in a temporary folder, and refused when the object is corrupted."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tasks.adapters import versioning
from tasks.config import load_params
from tasks.pipeline.monitor import reference_frame
from tasks.steps.generate import generate_sessions
from tasks.types import ServedModel
from tests.support import REPO, dvc_cache_object, small_dvc_repo

RAW = "data/raw/customer-purchase/customer-purchase.csv"
SUITE = "gx/expectations/customer-purchase.json"


def _served(md5: str) -> ServedModel:
    return ServedModel(
        model_name="customer-purchase",
        version="4",
        model=None,
        columns=(),
        classes=(0, 1),
        task="binary",
        threshold=0.5,
        run_id="run-4",
        data_md5=md5,
        tags={"data.path": RAW},
    )


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, bytes, str]:
    root = tmp_path / "project"
    data = generate_sessions(300, seed=3).to_csv(index=False).encode()
    md5 = small_dvc_repo(root, {RAW: data})[RAW]
    shutil.copyfile(REPO / "params.yaml", root / "params.yaml")
    (root / SUITE).parent.mkdir(parents=True)
    shutil.copyfile(REPO / SUITE, root / SUITE)
    return root, data, md5


def test_the_reference_is_fetched_by_its_data_version(project: tuple[Path, bytes, str]) -> None:
    root, data, md5 = project

    frame = reference_frame(root, load_params(root / "params.yaml"), _served(md5))

    assert len(frame) == 300
    assert (root / "data/reference" / f"{md5}.csv").read_bytes() == data


def test_a_corrupted_cache_object_is_refused_and_no_reference_is_written(
    project: tuple[Path, bytes, str],
) -> None:
    root, data, md5 = project
    cached = dvc_cache_object(root, md5)
    cached.write_bytes(data.replace(b"\n1,", b"\n0,", 1) + b"planted\n")
    target = root / "data/reference" / f"{md5}.csv"

    message = (
        f"data version {md5}: the object {cached} (from the DVC cache) is corrupted: its "
        f"content hashes to {versioning.file_md5(cached)}; nothing was written to {target} "
        "(delete the object and fetch it again with `dvc fetch`)"
    )
    with pytest.raises(versioning.VersioningError, match=f"^{re.escape(message)}$"):
        reference_frame(root, load_params(root / "params.yaml"), _served(md5))
    assert list(target.parent.iterdir()) == []


def test_a_reference_copy_that_no_longer_hashes_to_its_name_is_fetched_again(
    project: tuple[Path, bytes, str],
) -> None:
    root, data, md5 = project
    stale = root / "data/reference" / f"{md5}.csv"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"session_id,planted\n1,2\n")

    frame = reference_frame(root, load_params(root / "params.yaml"), _served(md5))

    assert len(frame) == 300
    assert stale.read_bytes() == data


def test_a_data_version_tag_that_is_not_an_md5_is_refused(
    project: tuple[Path, bytes, str],
) -> None:
    root, _, _ = project

    message = (
        "customer-purchase version 4: tag data.dvc_md5 is '../../outside', not a DVC md5 "
        "(32 hex digits)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        reference_frame(root, load_params(root / "params.yaml"), _served("../../outside"))
    assert not (root / "data/reference").exists()
