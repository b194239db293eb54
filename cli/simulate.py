"""``mlops simulate``: the closed loop on generated data, in a sandbox project.

A sandbox (git + DVC + MLflow on SQLite, this project's pipeline files) is trained on the
generated training data; then N production batches are scored by the champion into the
inference log, drifting from batch ``onset`` on, with labels arriving ``label_delay`` batches
later. After each batch the real monitoring flow runs (drift check, alert, retraining inline
through the real retraining and training flows, the promotion gate). The timeline says per
batch: drift score, verdict, action, retraining, gate decision, the champion and its metric on
that batch's true labels. Hours are compressed into seconds, so the sandbox sets
``monitor.cooldown_minutes=0``: waiting for labels is what spaces retrainings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tasks.jsonsafe import plain

PROJECT_FILES = ("params.yaml", "dvc.yaml", "tasks", "flows", "serving", "cli")


@dataclass(frozen=True)
class Scenario:
    """One simulation's knobs (params.yaml's ``simulate:``, overridden by the options)."""

    batches: int
    onset: int
    label_delay: int
    batch_rows: int
    covariate: float
    concept: float
    training_rows: int
    seed: int
    retrain_batches: int  # retrain on a window of this many batches of post-onset labels


@dataclass(frozen=True)
class Step:
    batch: int
    drifting: bool
    drifted_share: float | None
    verdict: str
    action: str
    retrained: str  # "" or "v<N>"
    gate: str  # "" or the gate's event
    champion: str
    metric: float


@dataclass(frozen=True)
class Simulation:
    scenario: Scenario
    metric: str
    steps: list[Step]
    sandbox: str
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": asdict(self.scenario),
            "metric": self.metric,
            "sandbox": self.sandbox,
            "steps": [asdict(s) for s in self.steps],
            "summary": self.summary,
        }


def _run(command: list[str], cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)


def make_sandbox(source: Path, folder: Path) -> Path:
    """A new project in ``folder``: this project's pipeline files, git, DVC with a folder
    remote, no data and no suite yet."""
    root = folder / "project"
    root.mkdir(parents=True)
    for name in PROJECT_FILES:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, root / name)
    (root / "gx" / "expectations").mkdir(parents=True)
    _run(["git", "init", "-q"], root)
    _run([sys.executable, "-m", "dvc", "init", "-q"], root)
    _run(
        [sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(folder / "remote")], root
    )
    _run(["git", "add", "-A"], root)
    _run(["git", "-c", "user.name=mlops", "-c", "user.email=mlops@localhost", "commit", "-qm",
          "sandbox"], root)  # fmt: skip
    return root


def sandbox_overrides(s: Scenario) -> list[str]:
    """The sandbox's params (both modes): the monitor's window is one batch, and hours are
    compressed into seconds, so no cooldown: waiting for labels is what spaces retrainings."""
    return [
        f"generate.rows={s.training_rows}",
        f"monitor.window_rows={s.batch_rows}",
        "monitor.window_hours=10000",
        "monitor.cooldown_minutes=0",
        "monitor.action_wait_seconds=0",
        # retrain once retrain_batches batches of labels exist since the drift began, on
        # those rows only (window_after_drift): a window that reached back before the
        # onset would teach the old concept and let old rows decide the gate
        f"retrain.min_labelled_rows={s.batch_rows * s.retrain_batches}",
        "retrain.data=window",
        f"retrain.window_rows={s.batch_rows * s.retrain_batches}",
        "retrain.window_after_drift=true",
    ]


def batch_metric(served: Any, frame: Any, metric_name: str) -> float:
    """``metric_name`` of the served model on a generated batch and its true labels (both
    modes: the version that scored the batch)."""
    from tasks.steps.evaluate import compute_metrics, model_outputs
    from tasks.steps.generate import FEATURES, TARGET
    from tasks.steps.ingest import TableSchema

    schema = TableSchema(
        target=TARGET,
        task="binary",
        numeric=tuple(c for c in FEATURES if frame[c].dtype.kind in "if"),
        categorical=tuple(c for c in FEATURES if frame[c].dtype.kind not in "if"),
        classes=tuple(sorted(served.classes)),
    )
    outputs = model_outputs(served.model, frame, schema, served.threshold)
    return float(compute_metrics(outputs, [metric_name])[metric_name])


def summarize(steps: list[Step], onset: int) -> dict[str, Any]:
    """Detection delay, false retrainings before the onset, the recovery, and the champion's
    metric before drift, after drift (until the first promotion after the onset) and after that
    promotion.

    Each batch is scored by the champion in place when it arrives; the monitoring after it may
    promote a new one, which scores the next batch. ``recovered_at`` is the first batch at or
    after the onset scored by a champion the gate promoted after the onset (a version that beat
    the champion of the drift on the test split of post-onset rows); ``recovery_delay`` is
    ``recovered_at - onset`` (a promotion at batch ``p`` recovers batch ``p + 1``), None when no
    batch was scored so. The goal "answering within 3 batches" is ``recovery_delay <= 3``."""
    detected = next((s.batch for s in steps if s.batch >= onset and s.verdict == "drift"), None)
    false_alarms = sum(1 for s in steps if s.batch < onset and s.verdict == "drift")
    false_retrainings = sum(1 for s in steps if s.batch < onset and s.retrained)
    promoted = next(
        (s.batch for s in steps if s.batch >= onset and s.gate in ("promote", "force")), None
    )
    recovered = next((s.batch for s in steps if promoted is not None and s.batch > promoted), None)

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    before = mean([s.metric for s in steps if s.batch < onset])
    during = mean(
        [s.metric for s in steps if s.batch >= onset and (promoted is None or s.batch <= promoted)]
    )
    after = mean([s.metric for s in steps if promoted is not None and s.batch > promoted])
    return {
        "detected_at": detected,
        "detection_delay": None if detected is None else detected - onset,
        "false_alarms_before_onset": false_alarms,
        "false_retrainings_before_onset": false_retrainings,
        "retrainings": sum(1 for s in steps if s.retrained),
        "first_promotion_after_onset": promoted,
        "recovered_at": recovered,
        "recovery_delay": None if recovered is None else recovered - onset,
        "metric_before_drift": before,
        "metric_after_drift": during,
        "metric_after_retraining": after,
        "after_vs_before": None if after is None or not before else after / before - 1.0,
    }


# PLR0915: debt: the simulation script, to split into steps
def simulate(  # noqa: PLR0915
    source: Path,
    folder: Path,
    scenario: Scenario,
    echo: Any = print,
    overrides: tuple[str, ...] = (),
) -> Simulation:
    """Run the scenario in a new sandbox under ``folder``; ``echo`` gets one line per batch.
    ``overrides`` (``key=value``) go into the sandbox's params.yaml after the scenario's own
    (the recovery benchmark's variants)."""
    from datetime import UTC, datetime

    from flows.monitoring import monitoring_flow
    from flows.training import training_flow
    from tasks.adapters import inference_log, io, registry, tracking, versioning
    from tasks.config import load_params, write_overrides
    from tasks.pipeline.monitor import MonitorFailed
    from tasks.steps.evaluate import primary_metric
    from tasks.steps.generate import TARGET, Drift, generate_sessions
    from tasks.steps.predict import model_inputs, score_frame

    root = make_sandbox(source, folder)
    # the sandbox's own stores; no page to on-call from a simulation
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ.pop("MLOPS_WEBHOOK_URL", None)
    s = scenario
    write_overrides(root / "params.yaml", [*sandbox_overrides(s), *overrides])
    params = load_params(root / "params.yaml")
    data = root / params.generate.path
    data.parent.mkdir(parents=True, exist_ok=True)
    generate_sessions(s.training_rows, s.seed).to_csv(data, index=False)
    versioning.add_data(root, data)
    versioning.push_data(root, data)
    echo(f"sandbox {root}: training the first champion on {s.training_rows} rows")
    training_flow(project=str(root), trigger="manual")
    tracking.configure(root)
    model_name = params.register_.resolved_model_name(params.ingest.path)
    log = root / params.paths.inference_log
    batches: dict[int, Any] = {}
    steps: list[Step] = []
    metric_name = ""
    echo(HEADER)
    for batch in range(1, s.batches + 1):
        drifting = batch >= s.onset
        drift = Drift(covariate=s.covariate, concept=s.concept) if drifting else Drift()
        frame = generate_sessions(s.batch_rows, s.seed * 1000 + batch, drift)
        batches[batch] = frame
        champion = registry.alias_version(model_name, registry.CHAMPION)
        assert champion is not None
        served = registry.load_served(model_name, champion)
        inputs = model_inputs(served, frame, f"simulate:{batch}")
        labels, _ = score_frame(served, inputs)
        features = [c.name for c in served.columns]
        inference_log.append(
            log,
            [
                inference_log.Prediction(
                    time=inference_log.now(),
                    request_id=f"sim-{batch}",
                    model_name=model_name,
                    model_version=champion,
                    role="champion",
                    answered=True,
                    source=f"simulate:batch-{batch}",
                    latency_ms=None,
                    features=[plain(row) for row in frame[features].to_dict(orient="records")],
                    predictions=list(labels),
                )
            ],
        )
        metric_name = primary_metric(params.evaluate, "binary")
        metric = batch_metric(served, frame, metric_name)
        labelled = batch - s.label_delay
        if labelled in batches:
            truth = batches[labelled][TARGET]
            inference_log.add_feedback(
                log,
                [(f"sim-{labelled}", row, int(v)) for row, v in enumerate(truth)],
                "simulate",
            )
        before = len(registry.history(model_name))
        try:
            result = monitoring_flow(project=str(root), source="log", retrain="inline")
        except MonitorFailed as failure:
            result = failure.result
        new = registry.history(model_name)[before:]
        retrained = next((e for e in new if e.event == "retrain"), None)
        gate = next((e for e in new if e.event in ("promote", "refuse", "force", "pending")), None)
        check = io.read_json(Path(result.report_dir) / "result.json").get("check") or {}
        step = Step(
            batch=batch,
            drifting=drifting,
            drifted_share=check.get("drifted_share"),
            verdict=result.verdict,
            action=result.action,
            retrained=f"v{gate.version}" if retrained and gate else ("yes" if retrained else ""),
            gate=gate.event if gate else "",
            champion=champion,
            metric=metric,
        )
        steps.append(step)
        echo(format_step(step, metric_name))
    summary = summarize(steps, s.onset)
    summary["finished"] = datetime.now(UTC).isoformat()
    simulation = Simulation(s, metric_name, steps, str(root), summary)
    io.write_json(simulation.to_dict(), folder / "simulation.json")
    return simulation


HEADER = (
    f"{'batch':>5} {'drift':>5} {'share':>6} {'verdict':<17} {'retrain':<8} {'gate':<8} "
    f"{'champion':>8} {'metric':>7}  action"
)


def format_step(step: Step, metric: str) -> str:
    share = "-" if step.drifted_share is None else f"{step.drifted_share:.2f}"
    return (
        f"{step.batch:>5} {'yes' if step.drifting else 'no':>5} {share:>6} {step.verdict:<17} "
        f"{step.retrained or '-':<8} {step.gate or '-':<8} {'v' + step.champion:>8} "
        f"{step.metric:>7.4f}  {step.action}"
    )


def format_summary(simulation: Simulation) -> list[str]:
    s, m = simulation.summary, simulation.metric

    def value(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    delay = s["detection_delay"]
    return [
        f"detection delay: {'not detected' if delay is None else f'{delay} batch(es)'} "
        f"(onset at batch {simulation.scenario.onset}, detected at {s['detected_at']})",
        f"false alarms before the onset: {s['false_alarms_before_onset']}; false retrainings: "
        f"{s['false_retrainings_before_onset']}; retrainings in all: {s['retrainings']}",
        (
            f"recovery delay: {s['recovery_delay']} batch(es) (batch {s['recovered_at']} is the "
            f"first scored by a champion promoted after the onset, at batch "
            f"{s['first_promotion_after_onset']})"
            if s["recovered_at"] is not None
            else "recovery delay: not recovered (no batch scored by a champion promoted after "
            "the onset)"
        ),
        f"{m} before drift {value(s['metric_before_drift'])}, after drift "
        f"{value(s['metric_after_drift'])}, after retraining {value(s['metric_after_retraining'])}"
        + (
            ""
            if s["after_vs_before"] is None
            else f" ({s['after_vs_before'] * 100:+.1f}% against before drift)"
        ),
    ]
