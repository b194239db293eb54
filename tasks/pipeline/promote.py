"""The ``promote`` stage of dvc.yaml: the gate for the version the register stage wrote."""

from __future__ import annotations

from pathlib import Path

from tasks.adapters import io, registry, tracking
from tasks.config import Params
from tasks.pipeline.common import RunContext, Summary, path_in
from tasks.pipeline.promotion import model_name
from tasks.pipeline.promotion import promote as run_gate


def promote(root: Path, params: Params, context: RunContext) -> Summary:
    """The promotion gate for the version just registered: promoted, refused or pending.

    A version already judged against the current champion is not judged again (the flow and
    ``dvc repro`` may both reach this stage with nothing new)."""

    record = io.read_json(path_in(root, params.paths.registration))
    version = str(record["version"])
    tracking.configure(root)
    name = model_name(params)
    champion = registry.alias_version(name, registry.CHAMPION)
    tags = registry.version_info(name, version).tags
    if champion == version or (
        "gate.decision" in tags and tags.get("gate.against") == (champion or "none")
    ):
        state = "champion" if champion == version else tags["gate.decision"]
        summary = {"version": version, "decision": state, "champion": champion, "judged": False}
        io.write_json(summary, path_in(root, params.paths.promotion))
        return summary
    outcome, _ = run_gate(root, params, version, actor=context.resolved_actor())
    io.write_json(outcome.to_dict(), path_in(root, params.paths.promotion))
    return {
        "version": version,
        "decision": outcome.event,
        "champion": outcome.champion_after,
        "judged": True,
    }
