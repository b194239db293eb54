"""Hyperparameter search over model families: grid and random (scikit-learn's search CV) and
Bayesian (Optuna's TPE, with median pruning), cross-validated on the training split.

Parallelism comes from existing engines only: scikit-learn's searches fan out over joblib (all
local cores, or joblib's Dask backend when a Dask client is given), Optuna's trials run on Dask
workers that share one study through ``optuna_integration.DaskStorage``. Model selection uses
the validation split (each family's best trial, refit on the whole training split); the test
split is not touched here.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tasks.config import Family, FeaturesParams, ModelsParams, TrainParams, TuneParams
from tasks.jsonsafe import plain
from tasks.steps.evaluate import LOWER_IS_BETTER, compute_metrics, importance_scoring, model_outputs
from tasks.steps.ingest import TableSchema
from tasks.steps.train import build_pipeline

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client
    from sklearn.pipeline import Pipeline


class TuneError(ValueError):
    """The search cannot run as configured (a grid over budget, a family that cannot do the
    task)."""


@dataclass(frozen=True)
class Trial:
    """One candidate: a family and its hyperparameters, scored by cross-validation."""

    family: str
    number: int
    params: dict[str, Any]
    state: str  # complete | pruned | failed
    cv_mean: float
    cv_std: float
    cv_scores: list[float]
    seconds: float
    valid: float | None = None  # the primary metric on the validation split (finalists only)


@dataclass(frozen=True)
class SearchResult:
    """Every trial, the chosen family and hyperparameters, and the refit winner."""

    method: str
    primary: str
    trials: list[Trial]
    best_family: str
    best_params: dict[str, Any]
    seconds: float
    search_seconds: float  # the trials themselves (cross-validation), without the refits
    workers: str
    model: Any = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("model")
        data["leaderboard"] = [trial.number for trial in self.leaderboard()]
        return data

    def leaderboard(self) -> list[Trial]:
        """Finalists by validation score first, then every trial by its CV score; best first."""
        sign = -1.0 if self.primary in LOWER_IS_BETTER else 1.0

        def key(trial: Trial) -> tuple[int, float, float]:
            valid = sign * trial.valid if trial.valid is not None else -math.inf
            cv = sign * trial.cv_mean if math.isfinite(trial.cv_mean) else -math.inf
            return (trial.valid is None, -valid, -cv)

        return sorted(self.trials, key=key)


def leaderboard_frame(tuning: dict[str, Any]) -> pd.DataFrame:
    """The trials of a search (as ``SearchResult.to_dict`` wrote them), best first: rank,
    family, trial, state, CV mean and spread, validation score of finalists, seconds, params."""
    import pandas as pd

    by_number = {trial["number"]: trial for trial in tuning["trials"]}
    primary = tuning["primary"]
    columns = ["rank", "family", "trial", "state", f"cv_{primary}", f"cv_{primary}_std"]
    columns += [f"valid_{primary}", "seconds", "params"]
    rows = []
    for rank, number in enumerate(tuning["leaderboard"], start=1):
        trial = by_number[number]
        rows.append(
            {
                "rank": rank,
                "family": trial["family"],
                "trial": number,
                "state": trial["state"],
                f"cv_{primary}": trial["cv_mean"],
                f"cv_{primary}_std": trial["cv_std"],
                f"valid_{primary}": trial["valid"],
                "seconds": round(trial["seconds"], 3),
                "params": ", ".join(f"{k}={v}" for k, v in sorted(trial["params"].items())),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _natural(metric: str, score: float) -> float:
    """A scikit-learn score back in the metric's own units (errors are negated there)."""
    return -score if metric in LOWER_IS_BETTER else score


@contextmanager
def dask_client(params: TuneParams) -> Iterator[Client | None]:
    """A Dask client: the cluster at ``tune.dask_address``, or a local cluster of
    ``tune.workers`` processes, or None (joblib's own processes on this machine's cores)."""
    if not params.dask_address and params.workers <= 1:
        yield None
        return
    from distributed import Client, LocalCluster

    if params.dask_address:
        with Client(params.dask_address) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=params.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


@dataclass(frozen=True)
class _Search:
    """What the searches of every family share."""

    train: pd.DataFrame
    schema: TableSchema
    features: FeaturesParams
    models: ModelsParams
    params: TuneParams
    primary: str
    base: TrainParams
    client: Client | None
    deadline: float

    def pipeline(self, family: str, hyperparams: dict[str, Any] | None = None) -> Pipeline:
        """``family``'s pipeline with its fixed hyperparameters and ``hyperparams`` on top."""
        return build_pipeline(
            self.schema, self.features, self.models, self.base, hyperparams, family
        )


def _folds(schema: TableSchema, params: TuneParams) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    kind = KFold if schema.task == "regression" else StratifiedKFold
    return kind(n_splits=params.cv_folds, shuffle=True, random_state=params.seed)


def _sklearn_search(job: _Search, family: Family, first_number: int) -> list[Trial]:
    """scikit-learn's grid or randomized search over ``family``'s space."""
    import joblib
    from sklearn.model_selection import GridSearchCV, ParameterGrid, RandomizedSearchCV

    from tasks.steps.models import distributions, grid

    train, schema, params, primary = job.train, job.schema, job.params, job.primary

    family_params = job.models.family(family)
    base = job.pipeline(family)
    scoring = importance_scoring(primary, schema)
    common: dict[str, Any] = {
        "scoring": scoring,
        "cv": _folds(schema, params),
        "n_jobs": -1,
        "refit": False,
        "error_score": float("nan"),
    }
    if params.method == "grid":
        values = {
            f"model__{k}": v for k, v in grid(family_params.space, params.points_per_range).items()
        }
        size = len(ParameterGrid(values))
        if size > params.trials:
            raise TuneError(
                f"tune.method=grid: the {family} grid has {size} points, over the budget of "
                f"tune.trials={params.trials}; lower tune.points_per_range or raise tune.trials"
            )
        search: Any = GridSearchCV(base, values, **common)
    else:
        space = {f"model__{k}": v for k, v in distributions(family_params.space).items()}
        search = RandomizedSearchCV(
            base, space, n_iter=params.trials, random_state=params.seed, **common
        )
    x, y = train[list(schema.features)], train[schema.target]
    backend = joblib.parallel_backend("dask") if job.client is not None else nullcontext()
    with backend:
        search.fit(x, y)
    results = search.cv_results_
    trials = []
    for index, candidate in enumerate(results["params"]):
        scores = [
            _natural(primary, float(results[f"split{k}_test_score"][index]))
            for k in range(params.cv_folds)
        ]
        finite = all(math.isfinite(s) for s in scores)
        seconds = float(results["mean_fit_time"][index] + results["mean_score_time"][index])
        trials.append(
            Trial(
                family=family,
                number=first_number + index,
                params={k.removeprefix("model__"): plain(v) for k, v in candidate.items()},
                state="complete" if finite else "failed",
                cv_mean=float(sum(scores) / len(scores)) if finite else float("nan"),
                cv_std=float(_std(scores)) if finite else float("nan"),
                cv_scores=scores,
                seconds=seconds * params.cv_folds,
            )
        )
    return trials


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _objective_scores(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: pd.Series,
    folds: list[tuple[Any, Any]],
    scoring: Any,
    primary: str,
    report: Any,
) -> list[float]:
    """Cross-validate fold by fold, reporting the running mean so a pruner can stop early."""
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    scorer = get_scorer(scoring)
    scores: list[float] = []
    for step, (fit_rows, score_rows) in enumerate(folds):
        model = clone(pipeline).fit(x.iloc[fit_rows], y.iloc[fit_rows])
        scores.append(
            _natural(primary, float(scorer(model, x.iloc[score_rows], y.iloc[score_rows])))
        )
        report(sum(scores) / len(scores), step)
    return scores


# PLR0915: debt: the Optuna search, to split
def _optuna_search(job: _Search, family: Family, first_number: int) -> list[Trial]:  # noqa: PLR0915
    """Optuna's TPE over ``family``'s space, fold-by-fold so the pruner can stop a trial."""
    import optuna

    train, schema, params, primary, client = (
        job.train,
        job.schema,
        job.params,
        job.primary,
        job.client,
    )
    job = replace(job, client=None)  # the objective travels to the workers; the client stays

    from tasks.steps.models import suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    family_params = job.models.family(family)
    x, y = train[list(schema.features)], train[schema.target]
    folds = list(_folds(schema, params).split(x, y))
    scoring = importance_scoring(primary, schema)
    direction = "minimize" if primary in LOWER_IS_BETTER else "maximize"
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=params.pruner.startup_trials,
            n_warmup_steps=params.pruner.warmup_steps,
        )
        if params.pruning
        else optuna.pruners.NopPruner()
    )

    def objective(trial: optuna.Trial) -> float:
        chosen = suggest(trial, family_params.space)
        pipeline = job.pipeline(family, chosen)

        def report(value: float, step: int) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        scores = _objective_scores(pipeline, x, y, folds, scoring, primary, report)
        trial.set_user_attr("cv_scores", scores)
        return float(sum(scores) / len(scores))

    sampler = optuna.samplers.TPESampler(seed=params.seed)
    timeout = max(job.deadline - time.monotonic(), 1.0)
    if client is None:
        study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
        study.optimize(objective, n_trials=params.trials, timeout=timeout)
    else:
        from optuna_integration import DaskStorage

        with warnings.catch_warnings():  # "DaskStorage is experimental": the documented way
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = DaskStorage(client=client)
        storage_name = storage.name  # the workers reach the same storage on the scheduler
        name = f"{family}-{time.time_ns()}"
        study = optuna.create_study(
            study_name=name, storage=storage, direction=direction, sampler=sampler, pruner=pruner
        )
        workers = max(len(client.scheduler_info()["workers"]), 1)
        shares = [params.trials // workers + (i < params.trials % workers) for i in range(workers)]

        def run_share(count: int, offset: int) -> None:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            # One seed per worker: workers sharing a seed would propose the same points.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                worker_storage = DaskStorage(name=storage_name)
            shared = optuna.load_study(
                study_name=name,
                storage=worker_storage,
                sampler=optuna.samplers.TPESampler(seed=params.seed + offset),
                pruner=pruner,
            )
            shared.optimize(objective, n_trials=count, timeout=timeout)

        futures = [
            client.submit(run_share, count, offset, pure=False)
            for offset, count in enumerate(shares)
            if count
        ]
        client.gather(futures)  # type: ignore[no-untyped-call]
    trials = []
    for found in sorted(study.trials, key=lambda t: t.number):
        state = {"COMPLETE": "complete", "PRUNED": "pruned"}.get(found.state.name, "failed")
        scores = [float(s) for s in found.user_attrs.get("cv_scores", [])]
        if state == "pruned":
            scores = [float(v) for _, v in sorted(found.intermediate_values.items())]
        seconds = found.duration.total_seconds() if found.duration else 0.0
        trials.append(
            Trial(
                family=family,
                number=first_number + found.number,
                params={k: plain(v) for k, v in found.params.items()},
                state=state,
                cv_mean=float(found.value)
                if state == "complete" and found.value is not None
                else float("nan"),
                cv_std=float(_std(scores)) if state == "complete" and scores else float("nan"),
                cv_scores=scores,
                seconds=seconds,
            )
        )
    return trials


def search(  # noqa: PLR0913  (each input of the search, all from its own params slice)
    train: pd.DataFrame,
    valid: pd.DataFrame,
    schema: TableSchema,
    features: FeaturesParams,
    models: ModelsParams,
    base_params: TrainParams,
    params: TuneParams,
    primary: str,
    threshold: float,
) -> SearchResult:
    """Search every family of ``tune.families``; the best trial of each is refit on ``train``
    and scored on ``valid``; the best on ``valid`` wins and is returned fitted."""
    if params.method == "none":
        raise TuneError("tune.method is none: nothing to search")
    started = time.monotonic()
    deadline = started + params.minutes * 60
    trials: list[Trial] = []
    finalists: list[tuple[Trial, Any, float]] = []
    search_seconds = 0.0
    sign = -1.0 if primary in LOWER_IS_BETTER else 1.0
    with dask_client(params) as client:
        where = (
            f"dask {params.dask_address}"
            if params.dask_address
            else f"dask local cluster of {params.workers}"
            if client is not None
            else "joblib (local cores)"
        )
        job = _Search(
            train, schema, features, models, params, primary, base_params, client, deadline
        )
        for family in params.families:
            if time.monotonic() > deadline and finalists:
                break  # the budget is spent: families not reached are not searched
            run = _optuna_search if params.method == "bayes" else _sklearn_search
            searching = time.monotonic()
            found = run(job, family, len(trials))
            search_seconds += time.monotonic() - searching
            complete = [t for t in found if t.state == "complete"]
            if not complete:
                trials.extend(found)
                continue
            best = max(complete, key=lambda t: sign * t.cv_mean)
            model = job.pipeline(family, best.params)
            model.fit(train[list(schema.features)], train[schema.target])
            outputs = model_outputs(model, valid, schema, threshold)
            valid_score = compute_metrics(outputs, [primary])[primary]
            found = [
                Trial(**{**asdict(t), "valid": valid_score}) if t is best else t for t in found
            ]
            trials.extend(found)
            finalists.append((best, model, valid_score))
    if not finalists:
        raise TuneError(
            f"no trial of {list(params.families)} completed: every candidate failed or was "
            "pruned; see the trials in reports/tuning.json"
        )
    scored = [f for f in finalists if math.isfinite(f[2])] or finalists
    winner, model, _ = max(scored, key=lambda f: sign * f[2])
    return SearchResult(
        method=params.method,
        primary=primary,
        trials=trials,
        best_family=winner.family,
        best_params=winner.params,
        seconds=time.monotonic() - started,
        search_seconds=search_seconds,
        workers=where,
        model=model,
    )
