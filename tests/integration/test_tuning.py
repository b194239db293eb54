"""Tuning: a search on 2 Dask workers through the training flow, nested MLflow runs, the
leaderboard, the choice of the best run, and reproducibility."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from flows.training import training_flow
from tasks.adapters import tracking
from tasks.config import load_params
from tasks.steps.evaluate import primary_metric
from tasks.steps.generate import Drift, generate_sessions
from tasks.steps.ingest import ingest_table
from tasks.steps.split import split_frame
from tasks.steps.tune import TuneError, search
from tests.integration.test_training_flow import add_generated_data
from tests.support import REPO

pytestmark = pytest.mark.integration

SMALL = [
    "models.hist_gradient_boosting.fixed.max_iter=30",
    "tune.families=[hist_gradient_boosting, logistic_regression]",
    "tune.trials=3",
]


def test_random_search_on_two_dask_workers_logs_nested_runs_and_keeps_the_best(
    prefect_server: str, project: Path
) -> None:
    add_generated_data(project, rows=2000)

    result = training_flow(
        project=str(project), overrides=[*SMALL, "tune.method=random", "tune.workers=2"]
    )

    tuning = json.loads((project / "reports/tuning.json").read_text())
    assert tuning["method"] == "random"
    assert tuning["workers"] == "dask local cluster of 2"
    assert len(tuning["trials"]) == 6
    assert [t["family"] for t in tuning["trials"]] == ["hist_gradient_boosting"] * 3 + [
        "logistic_regression"
    ] * 3
    finalists = [t for t in tuning["trials"] if t["valid"] is not None]
    assert len(finalists) == 2  # each family's best CV trial, scored on the validation split
    for family in ("hist_gradient_boosting", "logistic_regression"):
        mine = [t for t in tuning["trials"] if t["family"] == family]
        (finalist,) = [t for t in mine if t["valid"] is not None]
        assert finalist["cv_mean"] == max(t["cv_mean"] for t in mine)
    winner = max(finalists, key=lambda t: t["valid"])
    assert (tuning["best_family"], tuning["best_params"]) == (winner["family"], winner["params"])
    assert tuning["leaderboard"][0] == winner["number"]
    with (project / "reports/leaderboard.csv").open() as handle:
        board = list(csv.DictReader(handle))
    assert [int(row["trial"]) for row in board] == tuning["leaderboard"]
    assert board[0]["family"] == winner["family"]

    tracking.configure(project)
    client = MlflowClient()
    parent = client.get_run(
        client.get_model_version(result.registration.model_name, result.registration.version).run_id
    )
    assert parent.data.tags["tune.method"] == "random"
    assert parent.data.tags["model.family"] == winner["family"]
    assert parent.info.run_name.startswith(f"tune-random-{winner['family']}-")
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 6
    by_trial = {int(run.data.tags["tune.trial"]): run for run in children}
    for trial in tuning["trials"]:
        run = by_trial[trial["number"]]
        assert run.info.run_name == f"{trial['family']}-trial-{trial['number']:03d}"
        assert run.data.metrics["cv_roc_auc"] == pytest.approx(trial["cv_mean"], abs=1e-12)
        assert run.data.metrics["duration_seconds"] == pytest.approx(trial["seconds"])
        assert {k: str(v) for k, v in trial["params"].items()} == run.data.params
        assert run.data.tags["data.dvc_md5"] == parent.data.tags["data.dvc_md5"]
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {
        "plots/calibration.png",
        "plots/confusion_matrix.png",
        "plots/permutation_importance.png",
        "plots/pr.png",
        "plots/roc.png",
    }
    tuning_files = {a.path for a in client.list_artifacts(parent.info.run_id, "tuning")}
    assert tuning_files == {"tuning/tuning.json"}

    from tests.integration.test_training_flow import _artifact_markdown

    (table,) = _artifact_markdown("leaderboard", result_flow_run_id(project))
    rows = json.loads(table)
    assert [row["trial"] for row in rows] == tuning["leaderboard"]
    assert rows[0]["rank"] == 1


def result_flow_run_id(project: Path) -> str:
    """The Prefect flow run that registered the project's last version (an MLflow run tag)."""
    record = json.loads((project / "reports/registration.json").read_text())
    client = MlflowClient()
    run = client.get_run(client.get_model_version(record["model_name"], record["version"]).run_id)
    return str(run.data.tags["prefect.flow_run_id"])


def _frames(rows: int = 1500) -> tuple[object, ...]:
    params = load_params(REPO / "params.yaml")
    frame, schema, _ = ingest_table(generate_sessions(rows, 5, Drift()), params.ingest)
    train, valid, _ = split_frame(frame, schema, params.split)
    return train, valid, schema


def _search(*overrides: str) -> object:
    params = load_params(REPO / "params.yaml", [*SMALL, *overrides])
    train, valid, schema = _frames()
    return search(
        train,  # type: ignore[arg-type]
        valid,  # type: ignore[arg-type]
        schema,  # type: ignore[arg-type]
        params.features,
        params.models,
        params.train,
        params.tune,
        primary_metric(params.evaluate, "binary"),
        params.evaluate.threshold,
    )


def test_the_same_data_params_and_seed_give_identical_trials() -> None:
    first = _search("tune.method=bayes")
    second = _search("tune.method=bayes")

    def scored(result: object) -> list[dict[str, object]]:
        trials = result.to_dict()["trials"]  # type: ignore[attr-defined]
        return [{k: v for k, v in t.items() if k != "seconds"} for t in trials]

    assert scored(first) == scored(second)
    assert len(scored(first)) == 6
    assert first.best_params == second.best_params  # type: ignore[attr-defined]


def test_bayes_on_two_dask_workers_shares_one_study() -> None:
    result = _search("tune.method=bayes", "tune.workers=2", "tune.trials=4")

    trials = result.trials  # type: ignore[attr-defined]
    assert [t.family for t in trials] == ["hist_gradient_boosting"] * 4 + [
        "logistic_regression"
    ] * 4
    assert sorted(t.number for t in trials) == list(range(8))
    # two workers with one seed each: no point is proposed twice
    hgb = [tuple(sorted(t.params.items())) for t in trials if t.family == "hist_gradient_boosting"]
    assert len(set(hgb)) == 4


def test_an_existing_dask_cluster_is_used_by_address() -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = _search("tune.method=random", f"tune.dask_address={cluster.scheduler_address}")
        assert result.workers == f"dask {cluster.scheduler_address}"  # type: ignore[attr-defined]
        assert len(result.trials) == 6  # type: ignore[attr-defined]
        # the fits went through this cluster's scheduler (it runs in this process)
        assert cluster.scheduler.task_prefixes, "the cluster's scheduler saw no task"


def test_a_grid_over_the_budget_is_refused() -> None:
    message = (
        "tune.method=grid: the hist_gradient_boosting grid has 81 points, over the budget of "
        "tune.trials=3; lower tune.points_per_range or raise tune.trials"
    )
    with pytest.raises(TuneError, match=f"^{message}$"):
        _search("tune.method=grid")
