"""The training flow: the stages of dvc.yaml, one Prefect task each, run in-process.

DVC decides whether a stage must run (content hashes of its deps, params and outs, exactly as
``dvc repro`` would); a stage that runs is recorded in dvc.lock, so a later ``dvc repro`` or
flow run finds it up to date. The flow only wires: each stage's work lives in tasks/pipeline/.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.adapters import io, tracking, versioning
from tasks.config import Params, load_params, write_overrides
from tasks.jsonsafe import plain
from tasks.pipeline.common import RunContext, read_record
from tasks.pipeline.promotion import promotion_markdown
from tasks.pipeline.stages import STAGES
from tasks.records import PromotionRecord, RegistrationRecord, ValidationRecord
from tasks.steps.validate import ValidationFailed


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage in a flow run."""

    name: str
    ran: bool
    seconds: float
    reason: str
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingResult:
    """The flow's answer: each stage's outcome and the registered model version."""

    stages: list[StageOutcome]
    registration: RegistrationRecord
    metrics: dict[str, Any]
    validation: ValidationRecord
    promotion: PromotionRecord

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": [asdict(stage) for stage in self.stages],
            "registration": self.registration.model_dump(mode="json"),
            "metrics": self.metrics,
            "validation": self.validation.model_dump(mode="json"),
            "promotion": self.promotion.model_dump(mode="json"),
        }


def _registration_is_current(root: Path, params: Params) -> bool:
    """The recorded version still exists, with the same model bytes and data, in the registry
    MLflow now points at."""
    path = root / params.paths.registration
    if not path.is_file():
        return False
    record = read_record(path, RegistrationRecord)
    tracking.configure(root)
    return tracking.version_exists(record.model_name, record.version, record.fingerprint)


def _promotion_is_current(root: Path, params: Params) -> bool:
    """The gate's last word on the recorded version still holds in the current registry: the
    version is the champion, or was judged against the champion of now."""
    from tasks.adapters import registry
    from tasks.pipeline.promote import already_judged

    if not (root / params.paths.promotion).is_file() or not _registration_is_current(root, params):
        return False
    version = read_record(root / params.paths.registration, RegistrationRecord).version
    champion = registry.alias_version(params.model_name, registry.CHAMPION)
    tags = registry.version_info(params.model_name, version).tags
    return already_judged(version, champion, tags) is not None


def _registry_state(root: Path, params: Params, name: str) -> str | None:
    """Why a stage DVC finds current must run anyway: its result lives in the MLflow registry,
    which DVC does not track (a fresh clone, another tracking server); None: it need not."""
    if name == "register" and not _registration_is_current(root, params):
        return "registered version missing from the current registry"
    if name == "promote" and not _promotion_is_current(root, params):
        return "the gate has not judged this version in the current registry"
    return None


@task(cache_policy=NO_CACHE, log_prints=True)
def run_stage(root: Path, name: str, params: Params, context: RunContext) -> StageOutcome:
    """Run stage ``name`` unless DVC finds its deps, params and outs unchanged."""
    started = time.perf_counter()
    status = versioning.stage_status(root, name)
    registry_reason = _registry_state(root, params, name) if not status.changed else None
    if not status.changed and registry_reason is None:
        print(f"{name}: up to date, skipped")
        return StageOutcome(name, False, time.perf_counter() - started, "up to date")
    reason = status.reason or str(registry_reason)
    print(f"{name}: running ({reason})")
    try:
        summary = STAGES[name](root, params, context)
    except ValidationFailed as failure:
        create_markdown_artifact(markdown=_validation_markdown(failure), key="validation-report")
        raise
    versioning.record_stage(root, name)
    if name == "train" and summary.get("trials"):
        from tasks.steps.tune import leaderboard_frame

        board = leaderboard_frame(io.read_json(root / params.paths.tuning))
        create_table_artifact(
            table=[plain(row) for row in board.to_dict(orient="records")],
            key="leaderboard",
            description=f"{summary['trials']} trials of {summary['method']} search, best first",
        )
    if name == "promote" and summary.get("judged"):
        outcome = read_record(root / params.paths.promotion, PromotionRecord)
        create_markdown_artifact(
            markdown=promotion_markdown(outcome.model_dump()), key="promotion-decision"
        )
    print(f"{name}: {summary}")
    return StageOutcome(name, True, time.perf_counter() - started, reason, summary)


def _validation_markdown(failure: ValidationFailed) -> str:
    report = failure.report
    rows = "\n".join(
        f"| {f.severity} | {f.column or ''} | {f.message.replace('|', '/')} |"
        for f in report.failures
    )
    return (
        f"# Validation failed: {report.source}\n\nSuite `{report.suite}`, {report.rows} rows.\n\n"
        f"| severity | column | what |\n|---|---|---|\n{rows}\n\n```\n{failure}\n```\n"
    )


def _summary_markdown(result: TrainingResult) -> str:
    rows = "\n".join(
        f"| {s.name} | {'ran' if s.ran else 'skipped'} | {s.seconds:.1f} | {s.reason} |"
        for s in result.stages
    )
    registration, validation, promotion = result.registration, result.validation, result.promotion
    warnings = [f.message for f in validation.warnings]
    lines = [
        "# Training run",
        "",
        f"Validation of `{validation.source}` against suite `{validation.suite}`: "
        f"passed, {validation.checks} checks, {len(warnings)} warning(s).",
        *[f"- warning: {w}" for w in warnings],
        "",
        "| stage | outcome | seconds | why |",
        "|---|---|---|---|",
        rows,
        "",
        f"Model **{registration.model_name}** version **{registration.version}**: "
        f"gate **{promotion.event}** ({promotion.reason}), "
        f"champion {promotion.champion_before or 'none'} -> {promotion.champion_after or 'none'}.",
    ]
    return "\n".join(lines)


@flow(name="training", log_prints=True)
def training_flow(
    project: str = ".",
    overrides: list[str] | None = None,
    trigger: str = "manual",
    drift_report: str | None = None,
) -> TrainingResult:
    """Run the pipeline of dvc.yaml on the project at ``project``.

    ``overrides`` are ``stage.key=value`` strings, validated and written to params.yaml as
    ``dvc exp run -S`` does, so that DVC's view of the params is the one the flow used.
    """
    from prefect.runtime import flow_run

    root = Path(project).resolve()
    params_path = root / "params.yaml"
    write_overrides(params_path, overrides or [])
    params = load_params(params_path)
    context = RunContext(
        flow_run_id=str(flow_run.id),
        trigger=trigger,
        orchestrator="prefect",
        drift_report=drift_report,
    )
    outcomes = []
    for name in versioning.pipeline_stages(root):
        stage = run_stage.with_options(name=name, task_run_name=name)
        outcomes.append(stage(root, name, params, context))
    result = TrainingResult(
        stages=outcomes,
        registration=read_record(root / params.paths.registration, RegistrationRecord),
        metrics=io.read_json(root / params.paths.metrics),
        validation=read_record(root / params.paths.validation, ValidationRecord),
        promotion=read_record(root / params.paths.promotion, PromotionRecord),
    )
    create_markdown_artifact(markdown=_summary_markdown(result), key="training-summary")
    return result
