"""Prefect tasks more than one flow runs."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.types import ServedModel


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def load_model(model_name: str, alias: str) -> ServedModel:
    """The version ``alias`` points at now (IO: retried)."""
    from tasks.adapters import registry

    version = registry.alias_version(model_name, alias)
    if version is None:
        raise registry.RegistryError(
            f"model '{model_name}' has no '{alias}' version: train one first (mlops train)"
        )
    return registry.load_served(model_name, version)
