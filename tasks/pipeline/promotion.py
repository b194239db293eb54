"""Promotion, approval and rollback: the only code that moves the champion alias.

Each operation takes the model's promotion lock, reads the champion under it, judges or moves,
records the decision (version tags, an MLflow artifact on the challenger's run, one history
event) and only then returns. Whatever fails before the alias write leaves the champion where
it was; the write itself is one alias update.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.adapters import io, locks, registry
from tasks.config import Params
from tasks.jsonsafe import plain
from tasks.steps.ingest import TableSchema

if TYPE_CHECKING:
    from tasks.steps.evaluate import Outputs
    from tasks.steps.promotion import Decision


class PromotionError(ValueError):
    """A promotion, approval or rollback that cannot be done as asked (nothing moved)."""


@dataclass(frozen=True)
class Outcome:
    """What a promotion attempt did: the event recorded and the gate's decision."""

    event: str  # promote | force | refuse | pending | approve | reject | rollback | unchanged
    version: str
    champion_before: str | None
    champion_after: str | None
    reason: str
    decision: dict[str, Any] | None

    @property
    def moved(self) -> bool:
        return self.champion_before != self.champion_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "version": self.version,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "moved": self.moved,
            "reason": self.reason,
            "decision": self.decision,
        }


def model_name(params: Params) -> str:
    return params.register_.resolved_model_name(params.ingest.path)


def _outputs(
    name: str, version: str, test_frame: Any, schema: TableSchema, params: Params
) -> Outputs:
    from tasks.steps.evaluate import model_outputs

    model = registry.load_version(name, version)
    return model_outputs(model, test_frame, schema, params.evaluate.threshold)


def judge(root: Path, params: Params, version: str, champion: str | None) -> Decision:
    """Score ``version`` and ``champion`` on the project's current test split and decide."""
    from tasks.steps.evaluate import baseline_outputs, check_success_definition, primary_metric
    from tasks.steps.promotion import REFUSE, Decision, Rule, decide

    schema = TableSchema.from_dict(io.read_json(root / params.paths.schema_))
    test_frame = io.read_frame(root / params.paths.test)
    primary = primary_metric(params.evaluate, schema.task)
    check_success_definition(schema.task, primary, params.promote.floors, params.dataset)
    name = model_name(params)
    try:
        challenger = _outputs(name, version, test_frame, schema, params)
    except Exception as error:  # an evaluation error is a refusal, never a pass
        rule = Rule("challenger scored", False, f"version {version} could not be scored: {error!r}")
        return Decision(REFUSE, version, champion, primary, (rule,), {}, {})
    champion_outputs, champion_error = None, None
    if champion is not None:
        try:
            champion_outputs = _outputs(name, champion, test_frame, schema, params)
        except Exception as error:  # the champion stays; the challenger is refused
            champion_error = repr(error)
    baseline = None
    if params.promote.baseline.enabled:
        train_frame = io.read_frame(root / params.paths.train)
        baseline = baseline_outputs(train_frame, test_frame, schema, params.evaluate.threshold)
    return decide(
        challenger_version=version,
        challenger=challenger,
        champion_version=champion,
        champion=champion_outputs,
        champion_error=champion_error,
        primary=primary,
        params=params.promote,
        baseline=baseline,
        dataset=params.dataset,
    )


def _record(
    params: Params,
    decision: Decision,
    event: str,
    actor: str,
    reason: str,
    previous: str | None,
    after: str | None,
) -> None:
    """Tags on both versions and the decision as an artifact of the challenger's run."""
    name = model_name(params)
    when = registry.now()
    data = {
        **decision.to_dict(),
        "challenger_metrics": plain(decision.challenger_metrics),
        "champion_metrics": plain(decision.champion_metrics),
        "event": event,
        "actor": actor,
        "time": when,
    }
    tags = {
        "gate.decision": event,
        "gate.verdict": decision.verdict,
        "gate.against": previous or "none",
        "gate.time": when,
        "gate.reason": decision.reason[:4000],
        "gate.actor": actor,
    }
    for rule in decision.rules:
        tags[f"gate.rule.{rule.name.replace(' ', '_')}"] = (
            f"{'pass' if rule.passed else 'fail'}: {rule.detail}"[:4000]
        )
    registry.tag_version(name, decision.challenger, tags)
    if previous is not None:
        registry.tag_version(
            name,
            previous,
            {"gate.last_challenger": decision.challenger, "gate.last_decision": event},
        )
    info = registry.version_info(name, decision.challenger)
    if info.run_id:
        against = previous or "none"
        registry.log_json(
            info.run_id, data, f"gate/decision-v{decision.challenger}-vs-{against}.json"
        )
    registry.record_event(
        registry.Event(
            time=when,
            event=event,
            model_name=name,
            version=decision.challenger,
            previous=previous,
            actor=actor,
            reason=reason or decision.reason,
            details={
                "verdict": decision.verdict,
                "champion_after": after,
                "rules": [
                    {"name": r.name, "passed": r.passed, "detail": r.detail} for r in decision.rules
                ],
            },
        )
    )


def promote(
    root: Path,
    params: Params,
    version: str,
    *,
    actor: str,
    force: bool = False,
    reason: str = "",
) -> tuple[Outcome, Decision | None]:
    """Gate ``version`` against the champion and move the alias if it passes (or ``force``).

    Under the promotion lock the champion is read afresh, so a second promotion that waited
    is judged against the champion the first one installed.
    """
    name = model_name(params)
    if force and not reason.strip():
        raise PromotionError("--force needs --reason: a forced promotion is recorded with why")
    registry.version_info(name, version)  # unknown version: a clear error, nothing moved
    with locks.promotion_lock(root, name, params.promote):
        before = registry.alias_version(name, registry.CHAMPION)
        if before == version:
            return Outcome("unchanged", version, before, before, "already the champion", None), None
        decision = judge(root, params, version, before)
        if force:
            event = "force"
        elif not decision.promote:
            event = "refuse"
        elif params.register_.require_approval:
            event = "pending"
        else:
            event = "promote"
        after = version if event in ("force", "promote") else before
        if after != before:
            registry.move_alias(name, registry.CHAMPION, version)
        _record(params, decision, event, actor, reason, before, after)
        if event == "pending":
            registry.tag_version(name, version, {"approval": "pending"})
    outcome = Outcome(event, version, before, after, reason or decision.reason, decision.to_dict())
    return outcome, decision


def _pending(name: str, version: str, verb: str) -> None:
    """Refuse to ``verb`` a version that is not waiting for approval."""
    state = registry.version_info(name, version).tags.get("approval", "not awaiting approval")
    if state != "pending":
        raise PromotionError(
            f"{name} version {version} is {state}: only a pending version can be {verb}"
        )


def approve(root: Path, params: Params, version: str, *, actor: str, reason: str = "") -> Outcome:
    """Promote a pending version: it is judged again against the champion of now."""
    name = model_name(params)
    _pending(name, version, "approved")
    with locks.promotion_lock(root, name, params.promote):
        before = registry.alias_version(name, registry.CHAMPION)
        decision = judge(root, params, version, before)
        if not decision.promote:
            _record(
                params, decision, "refuse", actor, "approval: " + decision.reason, before, before
            )
            registry.tag_version(name, version, {"approval": "stale"})
            raise PromotionError(
                f"{name} version {version} no longer passes the gate against champion "
                f"{before}: {decision.reason}; nothing moved"
            )
        registry.move_alias(name, registry.CHAMPION, version)
        _record(params, decision, "approve", actor, reason or "approved", before, version)
        registry.tag_version(name, version, {"approval": "approved", "approval.actor": actor})
    return Outcome("approve", version, before, version, reason or "approved", decision.to_dict())


def reject(params: Params, version: str, *, actor: str, reason: str) -> Outcome:
    """Record that a pending version will not be promoted."""
    name = model_name(params)
    _pending(name, version, "rejected")
    champion = registry.alias_version(name, registry.CHAMPION)
    registry.tag_version(name, version, {"approval": "rejected", "approval.actor": actor})
    registry.record_event(
        registry.Event(
            registry.now(), "reject", name, version, champion, actor, reason or "rejected"
        )
    )
    return Outcome("reject", version, champion, champion, reason or "rejected", None)


def rollback(root: Path, params: Params, *, actor: str, reason: str = "") -> Outcome:
    """Point the champion back at the previous champion of the recorded history."""
    name = model_name(params)
    with locks.promotion_lock(root, name, params.promote):
        current = registry.alias_version(name, registry.CHAMPION)
        chain = registry.champion_chain(registry.history(name))
        if current is None:
            raise PromotionError(f"model '{name}' has no champion: nothing to roll back")
        if len(chain) < 2 or chain[-1] != current:
            raise PromotionError(
                f"no previous champion of '{name}' in its history (champion {current}, "
                f"recorded chain {chain or 'empty'}); use `mlops promote VERSION --force "
                "--reason ...` to choose one"
            )
        target = chain[-2]
        registry.move_alias(name, registry.CHAMPION, target)
        text = reason or f"rollback from {current} to {target}"
        registry.record_event(
            registry.Event(registry.now(), "rollback", name, target, current, actor, text)
        )
        registry.tag_version(name, current, {"rolled_back": registry.now()})
    return Outcome("rollback", target, current, target, text, None)


def promotion_markdown(outcome: dict[str, Any]) -> str:
    """A recorded :class:`Outcome` (as a dict) as Markdown, for the Prefect UI."""
    decision = outcome.get("decision") or {}
    rows = "\n".join(
        f"| {r['name']} | {'pass' if r['passed'] else '**fail**'} | "
        f"{r['detail'].replace('|', '/')} |"
        for r in decision.get("rules", [])
    )
    before, after = outcome.get("champion_before"), outcome.get("champion_after")
    moved = (
        f"champion moved {before} -> {after}"
        if before != after
        else f"champion unchanged ({before})"
    )
    return (
        f"# Promotion gate: version {outcome['version']}: {outcome['event']}\n\n{moved}.\n\n"
        f"| rule | result | numbers |\n|---|---|---|\n{rows}\n\nReason: {outcome['reason']}\n"
    )
