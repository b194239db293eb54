"""``mlops promote`` as a Prefect flow: the gate's decision, visible in the Prefect UI.

The gate itself (judging, the lock, the alias move, the audit record) is
tasks/pipeline/promotion.py; this flow only runs it and publishes the decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from tasks.adapters import tracking
from tasks.config import load_params
from tasks.pipeline.promotion import promote, promotion_markdown


@flow(name="promotion", log_prints=True)
def promotion_flow(
    project: str, version: str, actor: str, force: bool = False, reason: str = ""
) -> dict[str, Any]:
    """``mlops promote``: the gate as a Prefect flow, so the decision is in the Prefect UI."""
    root = Path(project).resolve()
    params = load_params(root / "params.yaml")
    tracking.configure(root)
    outcome, _ = promote(root, params, version, actor=actor, force=force, reason=reason)
    data = outcome.to_dict()
    if outcome.decision is not None:
        create_markdown_artifact(markdown=promotion_markdown(data), key="promotion-decision")
    print(
        f"{outcome.event}: version {version}; champion {outcome.champion_before} -> "
        f"{outcome.champion_after}"
    )
    return data
