"""The DVC and git adapter against a real git + DVC repository in a temporary folder."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tasks.adapters import versioning
from tests.support import dvc_cache_object, small_dvc_repo

CSV = b"session_id,visits,purchased\n1,3,0\n2,7,1\n3,1,0\n"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    small_dvc_repo(root, {"data/raw/sessions/sessions.csv": CSV})
    return root


def _cached(root: Path, md5: str) -> Path:
    return dvc_cache_object(root, md5)


def test_a_data_version_comes_back_from_the_cache(repo: Path, tmp_path: Path) -> None:
    md5 = versioning.tracked_md5(repo, repo / "data/raw/sessions/sessions.csv")
    target = tmp_path / "work" / "data" / "sessions.csv"

    assert versioning.fetch_data_version(repo, md5, target) == "DVC cache"
    assert target.read_bytes() == CSV
    assert [p.name for p in target.parent.iterdir()] == ["sessions.csv"]


def test_a_corrupted_cache_object_is_refused_and_nothing_is_written(
    repo: Path, tmp_path: Path
) -> None:
    md5 = versioning.tracked_md5(repo, repo / "data/raw/sessions/sessions.csv")
    cached = _cached(repo, md5)
    cached.write_bytes(CSV.replace(b"2,7,1", b"2,7,0"))  # one label flipped on disk
    target = tmp_path / "work" / "data" / "sessions.csv"

    message = (
        f"data version {md5}: the object {cached} (from the DVC cache) is corrupted: its "
        f"content hashes to {versioning.file_md5(cached)}; nothing was written to {target} "
        "(delete the object and fetch it again with `dvc fetch`)"
    )
    with pytest.raises(versioning.VersioningError, match=f"^{re.escape(message)}$"):
        versioning.fetch_data_version(repo, md5, target)
    assert list(target.parent.iterdir()) == []  # no file, no temporary left behind


def test_a_corrupted_object_does_not_replace_a_good_file(repo: Path, tmp_path: Path) -> None:
    md5 = versioning.tracked_md5(repo, repo / "data/raw/sessions/sessions.csv")
    target = tmp_path / "sessions.csv"
    target.write_bytes(b"kept\n")
    cached = _cached(repo, md5)
    cached.write_bytes(b"planted\n")

    with pytest.raises(versioning.VersioningError, match="is corrupted"):
        versioning.fetch_data_version(repo, md5, target)
    assert target.read_bytes() == b"kept\n"


def test_a_data_version_that_is_not_an_md5_is_refused(repo: Path, tmp_path: Path) -> None:
    message = "data version '../../etc/x' is not a DVC md5 (32 hex digits)"
    with pytest.raises(versioning.VersioningError, match=f"^{re.escape(message)}$"):
        versioning.fetch_data_version(repo, "../../etc/x", tmp_path / "x.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["project"]


def test_git_show_reads_a_file_at_a_commit(repo: Path) -> None:
    commit = _git(repo, "rev-parse", "HEAD")

    assert (
        versioning.git_show(repo, commit, "data/raw/sessions/sessions.csv.dvc")
        == (repo / "data/raw/sessions/sessions.csv.dvc").read_bytes()
    )
    assert versioning.git_show(repo, "0" * 40, "data/raw/sessions/sessions.csv.dvc") is None


def test_git_show_refuses_a_commit_that_is_not_a_hex_id(repo: Path, tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    message = f"git commit '--output={planted}' is not a full commit id (40 hex digits)"

    with pytest.raises(versioning.VersioningError, match=f"^{re.escape(message)}$"):
        versioning.git_show(repo, f"--output={planted}", "params.yaml")
    assert not planted.exists()
