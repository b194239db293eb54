"""The promotion lock: one holder at a time per model and purpose (promotion, or the start of
a drift-triggered retraining), through a file lock on one machine or a Prefect global
concurrency limit across machines. The one module of tasks/ that imports Prefect.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tasks.adapters.registry import RegistryError
from tasks.config import PromoteParams

_NOUNS = {"promote": "promotion", "retrain": "retraining"}


def lock_backend(params: PromoteParams) -> str:
    if params.lock != "auto":
        return params.lock
    return "prefect" if os.environ.get("PREFECT_API_URL") else "file"


@contextmanager
def promotion_lock(
    root: Path, model_name: str, params: PromoteParams, purpose: str = "promote"
) -> Iterator[str]:
    """Hold the one ``purpose`` slot of ``model_name`` (promotion, or the start of a
    drift-triggered retraining); yields the backend used.

    ``file``: an exclusive ``flock`` under ``<project>/.mlops/locks`` (threads and processes
    of one machine). ``prefect``: a Prefect global concurrency limit of 1 named
    ``<purpose>:<model>``, held through the Prefect server, so workers on several machines are
    serialized too.
    """
    backend = lock_backend(params)
    if backend == "prefect":
        with _prefect_lock(f"{purpose}:{model_name}", params.lock_timeout_seconds):
            yield backend
        return
    folder = root / ".mlops" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + params.lock_timeout_seconds
    with (folder / f"{purpose}-{model_name}.lock").open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(
                        f"another {_NOUNS.get(purpose, purpose)} of '{model_name}' held the "
                        f"lock for more than {params.lock_timeout_seconds:g} s ({handle.name}); "
                        "try again later"
                    ) from None
                time.sleep(0.05)
        try:
            yield backend
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _prefect_lock(name: str, timeout: float) -> Iterator[None]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    try:
        with concurrency(name, occupy=1, timeout_seconds=timeout, strict=True):
            yield
    except TimeoutError:
        raise RegistryError(
            f"another holder of Prefect's '{name}' limit kept it for more "
            f"than {timeout:g} s; try again later"
        ) from None
