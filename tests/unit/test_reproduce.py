"""What ``mlops reproduce`` takes from a version's run tags before it touches anything."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from cli.reproduce import ReproduceError, recorded_inputs
from tasks.adapters.registry import VersionInfo

MD5 = "5859cf8cd030f13f8abbaefd94cd539f"
COMMIT = "5f93342" + "0" * 33


def _info(**run_tags: str) -> VersionInfo:
    return VersionInfo(
        model_name="customer-purchase",
        version="3",
        run_id="abc123",
        aliases=(),
        created=datetime(2026, 1, 1, tzinfo=UTC),
        tags={},
        run_tags=run_tags,
        metrics={},
        params={},
    )


def test_recorded_inputs_are_the_run_tags() -> None:
    info = _info(**{"data.dvc_md5": MD5, "data.path": "data/raw/x/x.csv", "git.commit": COMMIT})

    assert recorded_inputs(info) == (MD5, "data/raw/x/x.csv", COMMIT)


def test_a_run_outside_git_reproduces_with_the_work_tree_suite() -> None:
    info = _info(**{"data.dvc_md5": MD5, "data.path": "data/raw/x/x.csv", "git.commit": "unknown"})

    assert recorded_inputs(info) == (MD5, "data/raw/x/x.csv", "unknown")


def test_a_data_version_that_is_not_an_md5_is_refused_by_run_and_tag() -> None:
    info = _info(**{"data.dvc_md5": "../../../.venv/x.pth", "data.path": "x.csv"})

    message = (
        "customer-purchase version 3 (run abc123): tag data.dvc_md5 is '../../../.venv/x.pth', "
        "not a DVC md5 (32 hex digits)"
    )
    with pytest.raises(ReproduceError, match=f"^{re.escape(message)}$"):
        recorded_inputs(info)


def test_a_commit_that_is_not_a_hex_id_is_refused_by_run_and_tag() -> None:
    info = _info(**{"data.dvc_md5": MD5, "data.path": "x.csv", "git.commit": "--output=/tmp/x"})

    message = (
        "customer-purchase version 3 (run abc123): tag git.commit is '--output=/tmp/x', "
        "not a git commit id (40 hex digits)"
    )
    with pytest.raises(ReproduceError, match=f"^{re.escape(message)}$"):
        recorded_inputs(info)


def test_a_run_without_a_data_version_is_refused() -> None:
    message = "customer-purchase version 3 (run abc123): its run recorded no data version"
    with pytest.raises(ReproduceError, match=f"^{re.escape(message)}$"):
        recorded_inputs(_info(**{"git.commit": COMMIT}))
