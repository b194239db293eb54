"""Integration fixtures: one real Prefect server per test session, and throw-away projects
(a git repo with DVC, this repository's pipeline files, generated data)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import make_project


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect API server (Prefect's own test harness), shared by the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        from prefect.settings import PREFECT_API_URL

        yield str(PREFECT_API_URL.value())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project as the working directory, MLflow on SQLite inside it (the default)."""
    root = make_project(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """The corpus of real tables (tests/corpus.py), each in every dialect."""
    from tests import corpus

    return corpus.materialize(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def tables_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One project for a test file's share of the corpus: each table a data set of its own."""
    import os

    root = make_project(tmp_path_factory.mktemp("tables"))
    before = Path.cwd()
    os.chdir(root)
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        yield root
    finally:
        os.chdir(before)
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
