"""The DVC and git adapter: the only module that calls DVC's Python API or git.

DVC decides whether a pipeline stage is up to date (content hashes of its deps, outs and
params, as ``dvc repro`` would) and records what a stage produced in ``dvc.lock``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from dvc.repo import Repo


class VersioningError(RuntimeError):
    """DVC or git could not do what was asked; the message says what and where."""


MD5 = re.compile(r"[0-9a-f]{32}")
GIT_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_md5(value: str) -> bool:
    """Whether ``value`` is a DVC md5: 32 lower-case hex digits (and so a safe file name)."""
    return MD5.fullmatch(value) is not None


def is_commit(value: str) -> bool:
    """Whether ``value`` is a full git commit id: 40 lower-case hex digits (never an option)."""
    return GIT_COMMIT.fullmatch(value) is not None


@dataclass(frozen=True)
class StageStatus:
    """Whether a stage must run, and DVC's reason when it must."""

    name: str
    changed: bool
    reason: str


@contextmanager
def open_repo(root: Path) -> Iterator[Repo]:
    """Open the DVC repository at ``root``, working from inside it.

    Parts of DVC (its run cache, relative targets) resolve paths against the working
    directory, so a flow run from elsewhere (a Prefect worker, a test) would fail with
    "outside of DVC repo"; the working directory is the project's for the duration.
    """
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    # DVC's INFO lines ("To track the changes with git, run: ...") are for its own CLI; our
    # commands say what to commit themselves.
    logging.getLogger("dvc").setLevel(logging.WARNING)
    with chdir(root):
        try:
            repo = Repo(str(root))
        except NotDvcRepoError:
            raise VersioningError(f"{root}: not a DVC repository (run `dvc init`)") from None
        try:
            yield repo
        finally:
            repo.close()


def _describe_status(entries: list[Any]) -> str:
    parts: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            parts.append(entry)
            continue
        for kind, detail in entry.items():
            if isinstance(detail, dict):
                for path, what in detail.items():
                    shown = (
                        ", ".join(f"{k} {v}" for k, v in what.items())
                        if isinstance(what, dict)
                        else str(what)
                    )
                    parts.append(f"{kind}: {path} ({shown})")
            else:
                parts.append(f"{kind}: {detail}")
    return "; ".join(parts)


def _stage_target(root: Path, name: str) -> str:
    # DVC resolves relative targets against the working directory, not the repo.
    return f"{(root / 'dvc.yaml').resolve()}:{name}"


def stage_status(root: Path, name: str) -> StageStatus:
    """Ask DVC whether stage ``name`` of dvc.yaml is up to date with its deps, params and outs."""
    with open_repo(root) as repo:
        status = repo.status(targets=[_stage_target(root, name)])
    entries: list[Any] = next(iter(status.values()), [])
    return StageStatus(name=name, changed=bool(entries), reason=_describe_status(entries))


def record_stage(root: Path, name: str) -> None:
    """Record stage ``name``'s deps, params and outs in dvc.lock and cache its outs."""
    with open_repo(root) as repo:
        repo.commit(_stage_target(root, name), force=True)


def pipeline_stages(root: Path) -> list[str]:
    """Stage names of dvc.yaml in the order they are declared."""
    dvc_yaml = root / "dvc.yaml"
    if not dvc_yaml.is_file():
        raise VersioningError(f"{dvc_yaml}: not found")
    stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")).get("stages", {})
    return list(stages)


def add_data(root: Path, path: Path) -> str:
    """Track ``path`` with DVC (``dvc add``) and return its content hash (md5)."""
    with open_repo(root) as repo:
        repo.add(str(path.resolve()))
    return tracked_md5(root, path)


def tracked_md5(root: Path, path: Path) -> str:
    """The md5 DVC recorded for ``path`` in its ``.dvc`` file."""
    dvc_file = path.with_name(path.name + ".dvc")
    if not dvc_file.is_file():
        raise VersioningError(f"{path}: not tracked by DVC (no {dvc_file.name}); run `dvc add`")
    outs = yaml.safe_load(dvc_file.read_text(encoding="utf-8")).get("outs", [])
    if not outs or "md5" not in outs[0]:
        raise VersioningError(f"{dvc_file}: has no md5 for {path.name}")
    return str(outs[0]["md5"])


def file_md5(path: Path) -> str:
    """DVC's content hash of a file (the same md5 ``dvc add`` records)."""
    from dvc_data.hashfile.hash import file_md5 as dvc_file_md5
    from dvc_objects.fs.local import LocalFileSystem

    return str(dvc_file_md5(str(path), LocalFileSystem()))  # type: ignore[no-untyped-call]


def data_version(root: Path, path: Path) -> tuple[str, bool]:
    """(md5, tracked): the recorded DVC hash, or DVC's hash of the file when it is untracked."""
    try:
        return tracked_md5(root, path), True
    except VersioningError:
        return file_md5(path), False


def push_data(root: Path, path: Path) -> bool:
    """Push ``path``'s data to the default DVC remote; False when no remote is configured."""
    with open_repo(root) as repo:
        if not repo.config.get("core", {}).get("remote"):
            return False
        repo.push(targets=[str(path.resolve()) + ".dvc"])
    return True


def git_commit(root: Path) -> str:
    """The current git commit of ``root`` ('unknown' outside git or before the first commit)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def git_is_dirty(root: Path) -> bool:
    """Whether tracked files of ``root`` have uncommitted changes."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return bool(result.stdout.strip())


def fetch_data_version(root: Path, md5: str, destination: Path) -> str:
    """Write the data of DVC version ``md5`` to ``destination``; return where it came from.

    The content-addressed cache is tried first, then the default remote (``dvc pull`` of that
    one object: a folder locally, S3-compatible storage in production). The object is copied
    to a temporary file beside ``destination`` and checked against ``md5``; only a copy that
    matches is moved into place, so a corrupted (or planted) object writes nothing there.
    """
    from dvc_data.hashfile.hash_info import HashInfo

    if not is_md5(md5):
        raise VersioningError(f"data version {md5!r} is not a DVC md5 (32 hex digits)")
    with open_repo(root) as repo:
        cache = repo.cache.local
        source = "DVC cache"
        if not cache.exists(md5):
            if not repo.config.get("core", {}).get("remote"):
                raise VersioningError(
                    f"data version {md5} is not in the DVC cache and no DVC remote is configured"
                )
            result = repo.cloud.pull([HashInfo("md5", md5)])
            if result.failed or not cache.exists(md5):
                raise VersioningError(
                    f"data version {md5} is in neither the DVC cache nor the default remote"
                )
            source = "DVC remote"
        cached = Path(cache.oid_to_path(md5))
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
    )
    partial = Path(name)
    try:
        with os.fdopen(handle, "wb") as out, cached.open("rb") as data:
            shutil.copyfileobj(data, out)
        got = file_md5(partial)
        if got != md5:
            raise VersioningError(
                f"data version {md5}: the object {cached} (from the {source}) is corrupted: "
                f"its content hashes to {got}; nothing was written to {destination} "
                "(delete the object and fetch it again with `dvc fetch`)"
            )
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    return source


def git_show(root: Path, commit: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``commit``, or None when git does not have it there.

    ``commit`` comes from a run's tags: it must be a full hex commit id, and git is told that
    no option follows (``--end-of-options``), so a tag such as ``--output=x`` is never one."""
    if not is_commit(commit):
        raise VersioningError(f"git commit {commit!r} is not a full commit id (40 hex digits)")
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "show", "--end-of-options", f"{commit}:{path}"],
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout
