"""Shared test set-up: telemetry off and every store in a temporary folder, before any library
reads its settings."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="mlops-tests-"))
os.environ.update(
    {
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(_HOME / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "GIT_AUTHOR_NAME": "tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    }
)
for _key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "PREFECT_API_URL"):
    os.environ.pop(_key, None)


# The heaviest test files first, longest first (seconds of one file on one of two pytest
# workers, from `--durations` of a CI run). `make test` hands whole files to two workers in
# collection order (--dist loadfile --no-loadscope-reorder): the long ones start at once and
# the many short unit files fill in around them, instead of one long file starting last.
_HEAVY_FIRST = (
    "tests/integration/test_live.py",  # ~400 s: `mlops simulate --live`, five services, 6 batches
    "tests/integration/test_production.py",  # ~440 s: the whole stack as processes
    "tests/integration/test_training_flow.py",  # ~300 s: dvc repro is 7 processes
    "tests/integration/test_promotion.py",  # ~250 s: a real mlflow server, restarted
    "tests/integration/test_faults.py",  # ~240 s: 14 dvc stage processes, a killed mlflow server
    "tests/integration/test_monitoring.py",  # ~170 s
    "tests/integration/test_compile_registration.py",  # ~160 s: dvc repro, compiled, served
    "tests/integration/test_up.py",  # ~150 s here: `mlops up` (five servers), `down`
    "tests/integration/test_real_tables.py",  # the corpus: its invariant, half of it trained
    "tests/integration/test_real_tables_train.py",  # the other half of the corpus trained
    "tests/integration/test_tasks_loop.py",  # binary, multiclass, regression: the whole loop
    "tests/integration/test_tuning.py",  # ~110 s: Dask clusters
    "tests/integration/test_batch.py",  # ~100 s
    "tests/unit/test_drift.py",  # ~90 s: 40 same-distribution batches
    "tests/integration/test_mlflow_ui.py",  # ~70 s: headless Chromium
    "tests/integration/test_serving.py",  # ~60 s
    "tests/integration/test_evidently_ui.py",  # ~30-50 s: evidently ui and headless Chromium
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(_HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(params=("sklearn", "onnx"))
def runtime(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test that uses it twice: the endpoint's shop model (tests/served.py) scored by
    scikit-learn, then by its compiled graph on ONNX Runtime."""
    from tests.served import CURRENT

    CURRENT["runtime"] = request.param
    yield request.param
    CURRENT["runtime"] = "sklearn"
