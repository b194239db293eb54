"""The import contracts of `make lint` (import-linter, pyproject.toml) fail the build on an
upward import, a cycle and an outside library imported outside its adapter.

Each case copies the four packages and pyproject.toml into a temporary folder, adds one bad
import and runs ``lint-imports`` there, exactly as ``make lint`` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tmp_path: Path, edits: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for package in ("tasks", "flows", "serving", "cli"):
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in edits.items():
        with (tmp_path / module).open("a", encoding="utf-8") as handle:
            handle.write(f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _broken(output: str) -> str:
    """The broken-contracts part of the report, blank lines dropped."""
    part = output[output.index("Broken contracts") :]
    return "\n".join(line for line in part.splitlines() if line.strip())


def test_the_tree_as_committed_keeps_every_contract(tmp_path: Path) -> None:
    done = _lint(tmp_path, {})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 7 kept, 0 broken." in done.stdout


def test_an_upward_import_fails(tmp_path: Path) -> None:
    done = _lint(tmp_path, {"tasks/steps/split.py": "from tasks.pipeline import common"})

    assert done.returncode == 1
    report = _broken(done.stdout)
    assert "tasks.steps is not allowed to import tasks.pipeline:" in report
    assert "- tasks.steps.split -> tasks.pipeline.common (l." in report


def test_a_cycle_between_sibling_modules_fails(tmp_path: Path) -> None:
    # tasks.steps.train imports tasks.steps.features; the reverse closes a cycle
    done = _lint(tmp_path, {"tasks/steps/features.py": "from tasks.steps import train"})

    assert done.returncode == 1
    report = _broken(done.stdout)
    assert "No cycles are allowed in tasks.steps." in report
    assert "It could be made acyclic by removing 1 dependency:" in report


@pytest.mark.parametrize(
    ("module", "library", "contract"),
    [
        ("tasks/steps/evaluate.py", "mlflow", "MLflow only in its adapters"),
        ("tasks/pipeline/train.py", "great_expectations", "Great Expectations only in"),
        ("flows/training.py", "evidently", "Evidently only in tasks/adapters/evidently.py"),
        ("serving/engine.py", "prefect", "Prefect only in the flows, the command line"),
        ("tasks/adapters/tracking.py", "dvc", "DVC only in tasks/adapters/versioning.py"),
    ],
)
def test_a_library_outside_its_adapter_fails(
    tmp_path: Path, module: str, library: str, contract: str
) -> None:
    done = _lint(tmp_path, {module: f"import {library}"})

    assert done.returncode == 1
    report = _broken(done.stdout)
    dotted = module.removesuffix(".py").replace("/", ".")
    assert contract in report
    assert f"-   {dotted} -> {library} (l." in report or f"- {dotted} -> {library} (l." in report
