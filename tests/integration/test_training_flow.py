"""The training flow against a real Prefect server, MLflow on SQLite and a real DVC repo."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from flows.training import training_flow
from tasks.adapters import tracking, versioning
from tasks.config import load_params
from tasks.records import PromotionRecord
from tasks.steps.generate import Drift, generate_sessions
from tests.support import dvc_cache_object, make_project, run

pytestmark = pytest.mark.integration

ROWS = 3000
STAGES = ["validate", "ingest", "split", "train", "evaluate", "register", "promote"]
FAST = ["models.hist_gradient_boosting.fixed.max_iter=40", "evaluate.importance_repeats=1"]


def add_generated_data(root: Path, rows: int = ROWS, seed: int = 7) -> Path:
    params = load_params(root / "params.yaml")
    path = root / params.generate.path
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_sessions(rows, seed, Drift()).to_csv(path, index=False)
    versioning.add_data(root, path)
    return path


def _artifact_markdown(key: str, flow_run_id: object) -> list[str]:
    """The Markdown of the Prefect artifacts with ``key`` made by one flow run."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    async def read() -> list[str]:
        async with get_client() as prefect:
            found = await prefect.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[key]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),  # type: ignore[list-item]
                )
            )
        return [str(a.data) for a in sorted(found, key=lambda a: a.created or 0)]

    return asyncio.run(read())


def ran(result: object) -> list[str]:
    return [s.name for s in result.stages if s.ran]  # type: ignore[attr-defined]


def test_flow_trains_registers_and_skips_unchanged_stages(
    prefect_server: str, project: Path
) -> None:
    data = add_generated_data(project)
    dvc_md5 = versioning.tracked_md5(project, data)
    assert dvc_md5 == hashlib.md5(data.read_bytes()).hexdigest()

    state = training_flow(project=str(project), overrides=FAST, return_state=True)
    first = state.result()
    assert ran(first) == STAGES
    assert first.registration.version == "1"
    assert first.promotion.event == "promote"
    assert first.promotion.champion_before is None
    assert first.promotion.champion_after == "1"

    tracking.configure(project)
    client = MlflowClient()
    assert client.tracking_uri == f"sqlite:///{project / 'mlflow.db'}"
    champion = client.get_model_version_by_alias("customer-purchase", "champion")
    assert str(champion.version) == "1"
    # register gave the new version the challenger alias, the gate then made it champion
    assert sorted(champion.aliases) == ["challenger", "champion"]
    run_data = client.get_run(champion.run_id).data
    metrics = json.loads((project / "reports/metrics.json").read_text())
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "specificity"):
        assert run_data.metrics[f"test_{name}"] == metrics["test"][name]
        assert run_data.metrics[f"valid_{name}"] == metrics["valid"][name]
    assert 0.7 < metrics["test"]["roc_auc"] < 0.95
    assert run_data.tags["data.dvc_md5"] == dvc_md5
    assert run_data.tags["validation.success"] == "true"
    assert run_data.tags["validation.suite"] == "customer-purchase"
    artifacts = {a.path for a in client.list_artifacts(champion.run_id, "validation")}
    assert artifacts == {"validation/validation.json"}
    head = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    assert run_data.tags["git.commit"] == head
    assert run_data.tags["prefect.flow_run_id"] == str(state.state_details.flow_run_id)
    assert run_data.params["models.hist_gradient_boosting.fixed.max_iter"] == "40"
    assert run_data.params["split.seed"] == "42"
    inputs = client.get_run(champion.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == [f"customer-purchase.csv@{dvc_md5[:8]}"]
    version_tags = client.get_model_version("customer-purchase", "1").tags
    assert version_tags["data.dvc_md5"] == dvc_md5
    assert version_tags["git.commit"] == head
    assert version_tags["trigger"] == "manual"
    assert version_tags["validation.success"] == "true"
    assert version_tags["gate.decision"] == "promote"
    assert version_tags["gate.against"] == "none"
    params_sha = hashlib.sha256((project / "params.yaml").read_bytes()).hexdigest()
    assert version_tags["params.sha256"] == params_sha
    flow_run_id = state.state_details.flow_run_id
    # the prior baseline's probabilities are constant: its ROC AUC is 0.5
    auc = metrics["test"]["roc_auc"]
    baseline = (
        f"roc_auc {auc:.4f} vs trivial baseline 0.5000: improvement {auc - 0.5:+.4f} (higher "
        "is better), needed >= 0.0050 (relative margin 0.01)"
    )
    assert _artifact_markdown("promotion-decision", flow_run_id) == [
        f"# Promotion gate: version 1: promote\n\nchampion moved None -> 1.\n\n"
        "| rule | result | numbers |\n|---|---|---|\n"
        f"| floor roc_auc | pass | roc_auc {auc:.4f} >= 0.7 |\n"
        f"| beats baseline | pass | {baseline} |\n"
        "| beats champion | pass | no champion yet: the first version leads |\n\n"
        f"Reason: floor roc_auc: roc_auc {auc:.4f} >= 0.7; beats baseline: {baseline}; "
        "beats champion: no champion yet: the first version leads\n"
    ]

    # Rebuilt from its recorded data version (through DVC) and params: the same metrics.
    from cli.reproduce import reproduce_version

    rebuilt = reproduce_version(project, "customer-purchase", "1")
    assert rebuilt.identical
    assert rebuilt.metrics["test_roc_auc"] == (metrics["test"]["roc_auc"],) * 2
    assert len(rebuilt.metrics) == 16  # 8 metrics on each of the validation and test splits
    raw = "data/raw/customer-purchase/customer-purchase.csv"
    assert rebuilt.notes[0] == f"data: {raw} md5 {dvc_md5} from the DVC cache"

    # A corrupted object in the DVC cache: refused by its md5, named, nothing rebuilt from it.
    cached = dvc_cache_object(project, dvc_md5)
    good = cached.read_bytes()
    cached.write_bytes(good.replace(b"\n", b"\n0,", 1))
    with pytest.raises(versioning.VersioningError) as corrupted:
        reproduce_version(project, "customer-purchase", "1")
    assert re.fullmatch(
        f"data version {dvc_md5}: the object {re.escape(str(cached))} \\(from the DVC cache\\) "
        f"is corrupted: its content hashes to {versioning.file_md5(cached)}; nothing was "
        f"written to .*/reproduce-v1-[^/]+/{re.escape(raw)} \\(delete the object and fetch "
        "it again with `dvc fetch`\\)",
        str(corrupted.value),
    ), str(corrupted.value)
    cached.write_bytes(good)

    # Nothing changed: every stage is skipped and no version is added.
    second = training_flow(project=str(project), overrides=FAST)
    assert ran(second) == []
    assert [s.reason for s in second.stages] == ["up to date"] * 7
    versions = client.search_model_versions("name='customer-purchase'")
    assert [str(v.version) for v in versions] == ["1"]

    # dvc sees what the flow recorded in dvc.lock.
    assert (
        "Data and pipelines are up to date."
        in run([sys.executable, "-m", "dvc", "status"], project).stdout
    )

    # A train param changed: upstream stages stay cached, the challenger moves; a gate that no
    # model can pass (a gain of 1 in ROC AUC) keeps the champion.
    third = training_flow(
        project=str(project),
        overrides=["models.hist_gradient_boosting.fixed.max_iter=60", "promote.min_delta=1.0"],
    )
    assert ran(third) == ["train", "evaluate", "register", "promote"]
    assert third.registration.version == "2"
    assert third.promotion.event == "refuse"
    assert third.promotion.champion_after == "1"
    assert client.get_model_version_by_alias("customer-purchase", "champion").version == 1
    assert client.get_model_version_by_alias("customer-purchase", "challenger").version == 2
    assert "fixed: {max_iter: 60, early_stopping: true," in (project / "params.yaml").read_text()

    # Back to the first params: the same model bytes from the same data are version 1 again,
    # not a duplicate version 3.
    fourth = training_flow(project=str(project), overrides=FAST)
    assert ran(fourth) == ["train", "evaluate", "register", "promote"]
    assert fourth.registration.version == "1"
    assert fourth.promotion == PromotionRecord(
        event="unchanged",
        version="1",
        champion_before="1",
        champion_after="1",
        moved=False,
        judged=False,
        reason="version 1 is the champion",
        decision=None,
    )
    # the report file has the same one shape
    assert (project / "reports/promotion.json").read_text() == (
        json.dumps(fourth.promotion.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    )
    versions = client.search_model_versions("name='customer-purchase'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]


def test_dvc_repro_and_flow_give_the_same_metrics(
    prefect_server: str, project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    add_generated_data(project)
    flow_result = training_flow(project=str(project), overrides=FAST)

    other = make_project(tmp_path_factory.mktemp("repro"))
    add_generated_data(other)
    params = other / "params.yaml"
    text = params.read_text().replace("{max_iter: 1000,", "{max_iter: 40,")
    params.write_text(text.replace("importance_repeats: 5 ", "importance_repeats: 1 "))
    run([sys.executable, "-m", "dvc", "repro"], other, timeout=600)
    repro_metrics = json.loads((other / "reports/metrics.json").read_text())
    assert repro_metrics == flow_result.metrics
    # Every stage records the same hashes, except promote: its input is the registration in
    # each project's own registry (another run id).
    lock = yaml.safe_load((other / "dvc.lock").read_text())["stages"]
    flow_lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert list(lock) == list(flow_lock) == STAGES
    assert {k: v for k, v in lock.items() if k != "promote"} == {
        k: v for k, v in flow_lock.items() if k != "promote"
    }
    second = run([sys.executable, "-m", "dvc", "repro"], other, timeout=600)
    assert "didn't change, skipping" in second.stdout
    assert "Running stage" not in second.stdout


def test_validation_failure_stops_the_flow_and_keeps_the_champion(
    prefect_server: str, project: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.steps.validate import ValidationFailed

    data = add_generated_data(project)
    training_flow(project=str(project), overrides=FAST)
    downstream = ["data/processed/train.parquet", "models/model.skops", "reports/metrics.json"]
    before = {name: (project / name).read_bytes() for name in downstream}
    frame = pd.read_csv(data)
    frame.loc[[3, 5], "device"] = "smartwatch"
    frame.to_csv(data, index=False)
    versioning.add_data(project, data)
    bad = data.read_bytes()

    with pytest.raises(ValidationFailed) as failed:
        training_flow(project=str(project), overrides=FAST)

    message = str(failed.value)
    assert (
        "  FAIL column 'device': 2 of 3000 (0.07%) values are categories never seen in "
        "training, e.g. ['smartwatch', 'smartwatch'] at rows [3, 5]"
    ) in message
    quarantined = sorted((project / "data/quarantine").glob("*-customer-purchase.csv"))
    assert len(quarantined) == 1
    assert f"quarantined: data/quarantine/{quarantined[0].name}/" in message
    assert (quarantined[0] / "customer-purchase.csv").read_bytes() == bad
    assert data.read_bytes() == bad
    docs = project / "gx/uncommitted/docs/gx/uncommitted/data_docs/local_site/index.html"
    assert f"data docs: {docs}" in message
    assert docs.is_file()

    tracking.configure(project)
    client = MlflowClient()
    assert [str(v.version) for v in client.search_model_versions("name='customer-purchase'")] == [
        "1"
    ]
    assert str(client.get_model_version_by_alias("customer-purchase", "champion").version) == "1"
    runs = client.search_runs(
        [client.get_experiment_by_name("customer-purchase").experiment_id],
        "tags.`validation.success` = 'false'",
    )
    assert [r.info.run_name for r in runs] == ["validation-failed-customer-purchase.csv"]
    assert {name: (project / name).read_bytes() for name in downstream} == before

    async def artifacts() -> list[str]:
        async with get_client() as prefect:
            found = await prefect.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["validation-report"]))
            )
        return [a.description or a.data for a in found]

    import asyncio

    markdown = asyncio.run(artifacts())
    assert any("categories never seen in training" in str(m) for m in markdown)


def test_flow_runs_from_another_working_directory(
    prefect_server: str, project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A Prefect worker does not run in the project folder; DVC's run cache must not mind.
    add_generated_data(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    import os

    os.chdir(elsewhere)
    result = training_flow(project=str(project), overrides=FAST)

    assert ran(result) == STAGES
    assert Path.cwd() == elsewhere
    assert "Data and pipelines are up to date." in (
        run([sys.executable, "-m", "dvc", "status"], project).stdout
    )
