"""The ``promote`` stage of dvc.yaml: the gate for the version the register stage wrote."""

from __future__ import annotations

from pathlib import Path

from tasks.adapters import registry, tracking
from tasks.config import Params
from tasks.pipeline.common import RunContext, Summary, path_in, read_record, write_record
from tasks.pipeline.promotion import model_name
from tasks.pipeline.promotion import promote as run_gate
from tasks.records import PromotionRecord, RegistrationRecord


def promote(root: Path, params: Params, context: RunContext) -> Summary:
    """The promotion gate for the version just registered: promoted, refused or pending.

    A version already judged against the current champion is not judged again (the flow and
    ``dvc repro`` may both reach this stage with nothing new)."""

    version = read_record(path_in(root, params.paths.registration), RegistrationRecord).version
    tracking.configure(root)
    name = model_name(params)
    champion = registry.alias_version(name, registry.CHAMPION)
    tags = registry.version_info(name, version).tags
    reason = already_judged(version, champion, tags)
    if reason is not None:
        record = PromotionRecord(
            event="unchanged",
            version=version,
            champion_before=champion,
            champion_after=champion,
            moved=False,
            judged=False,
            reason=reason,
            decision=None,
        )
    else:
        outcome, _ = run_gate(root, params, version, actor=context.resolved_actor())
        record = PromotionRecord.model_validate({**outcome.to_dict(), "judged": True})
    write_record(record, path_in(root, params.paths.promotion))
    return {
        "version": version,
        "event": record.event,
        "champion": record.champion_after,
        "judged": record.judged,
    }


def already_judged(version: str, champion: str | None, tags: dict[str, str]) -> str | None:
    """Why ``version`` needs no judging now (it is the champion, or the gate already judged it
    against this same champion), or None when the gate must judge it."""
    if champion == version:
        return f"version {version} is the champion"
    if "gate.decision" in tags and tags.get("gate.against") == (champion or "none"):
        return (
            f"version {version} was already judged against champion {champion or 'none'}: "
            f"{tags['gate.decision']}"
        )
    return None
