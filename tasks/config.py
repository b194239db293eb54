"""The one typed config: ``params.yaml`` parsed once, at the edge, into frozen models.

Every stage receives only its own slice (``params.train``, ``params.split`` ...). Unknown keys
are rejected with an error that names the key and the file. Command-line overrides use the same
dotted keys as ``dvc exp run -S`` (``train.seed=7``) and are validated the same way.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PARAMS_FILE = "params.yaml"

TaskKind = Literal["binary", "multiclass", "regression"]


class ConfigError(ValueError):
    """A params file or an override that does not fit the typed config."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GenerateParams(_Section):
    dataset: str = Field(min_length=1)  # the data set `mlops demo` writes the example data for
    path: str  # resolved: that data set's raw file
    rows: int = Field(ge=1)
    seed: int


class IngestParams(_Section):
    path: str  # resolved: the active data set's raw file (paths.raw/<name>/<file>)
    target: str
    task: Literal["auto", "binary", "multiclass", "regression"]
    max_classes: int = Field(ge=2)
    detect_id_columns: bool
    id_columns: tuple[str, ...]
    drop_columns: tuple[str, ...]
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]


class ValidateParams(_Section):
    suite: str = Field(min_length=1)  # resolved: the active data set's name
    missing_tokens: tuple[str, ...]
    min_rows: int = Field(ge=1)
    null_fraction_margin: float = Field(ge=0.0, le=1.0)
    range_margin: float = Field(ge=0.0)
    max_out_of_range: float = Field(gt=0.0, lt=1.0)
    max_duplicate_fraction: float = Field(ge=0.0, le=1.0)
    sample_size: int = Field(ge=1)
    quarantine_dir: str = Field(min_length=1)

    def resolved_suite(self, data_path: str) -> str:
        """``suite``, or the data file's stem when it is ``auto``."""
        return PurePosixPath(data_path).stem if self.suite == "auto" else self.suite


class SplitParams(_Section):
    validation_size: float = Field(gt=0.0, lt=1.0)
    test_size: float = Field(gt=0.0, lt=1.0)
    stratify: bool
    seed: int

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> SplitParams:
        if self.validation_size + self.test_size >= 1.0:
            raise ValueError(
                "split.validation_size + split.test_size must be below 1, got "
                f"{self.validation_size} + {self.test_size}"
            )
        return self


# ---------------------------------------------------------------------------------------------
# The ``features`` section (used by tasks/steps/features.py).


PositiveShare = Annotated[float, Field(gt=0.0, lt=1.0)]
PositiveCount = Annotated[int, Field(ge=1)]


class MissingParams(_Section):
    numeric_imputation: Literal["mean", "median", "most_frequent", "constant"]
    numeric_fill_value: float
    categorical_imputation: Literal["most_frequent", "constant"]
    categorical_fill_value: str = Field(min_length=1)
    indicators: bool
    max_null_fraction: float = Field(ge=0.0, le=1.0)


class OutliersParams(_Section):
    clip: Literal["none", "iqr", "zscore"]
    iqr_factor: float = Field(gt=0.0)
    zscore_threshold: float = Field(gt=0.0)
    rows: Literal["none", "isolation_forest", "local_outlier_factor"]
    contamination: Literal["auto"] | Annotated[float, Field(gt=0.0, le=0.5)]
    n_estimators: int = Field(ge=1)
    n_neighbors: int = Field(ge=1)


class TransformParams(_Section):
    skew: Literal["none", "log", "yeo_johnson"]
    skew_columns: Literal["auto"] | tuple[str, ...]
    skew_threshold: float = Field(ge=0.0)
    binning: Literal["none", "quantile", "uniform"]
    bin_columns: tuple[str, ...]
    n_bins: int = Field(ge=2)
    scaling: Literal["standard", "minmax", "maxabs", "robust", "none"]


class EncodingParams(_Section):
    method: Literal["one_hot", "ordinal"]
    min_frequency: float = Field(ge=0.0, lt=1.0)
    unknown_value: int


class FilterParams(_Section):
    score: Literal["mutual_info", "f_test"]
    k: int = Field(ge=1)


class EmbeddedParams(_Section):
    model: Literal["l1", "extra_trees", "random_forest"]
    l1_solver: Literal["liblinear", "saga"]
    C: float = Field(gt=0.0)
    alpha: float = Field(gt=0.0)
    max_iter: int = Field(ge=1)
    n_estimators: int = Field(ge=1)
    threshold: Literal["mean", "median"] | float | None
    max_features: PositiveCount | None


class WrapperParams(_Section):
    method: Literal["rfe", "rfecv"]
    n_features_to_select: PositiveCount | PositiveShare
    min_features_to_select: int = Field(ge=1)
    step: PositiveCount | PositiveShare
    cv: int = Field(ge=2)
    C: float = Field(gt=0.0)
    alpha: float = Field(gt=0.0)
    max_iter: int = Field(ge=1)


class SelectionParams(_Section):
    method: Literal["none", "variance", "filter", "embedded", "wrapper"]
    variance_threshold: float = Field(ge=0.0)
    filter: FilterParams
    embedded: EmbeddedParams
    wrapper: WrapperParams


class PcaParams(_Section):
    n_components: PositiveCount | PositiveShare | None


class ImbalanceParams(_Section):
    class_weight: Literal["balanced", "none"]
    sampling: Literal["none", "over", "under"]
    sampling_ratio: float = Field(gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_correction(self) -> ImbalanceParams:
        if self.class_weight != "none" and self.sampling != "none":
            raise ValueError(
                f"class_weight={self.class_weight} and sampling={self.sampling} both correct "
                "the class balance; choose one"
            )
        return self


class FeaturesParams(_Section):
    """The ``features`` section: everything between the typed table and the model."""

    missing: MissingParams
    outliers: OutliersParams
    transform: TransformParams
    encoding: EncodingParams
    selection: SelectionParams
    pca: PcaParams
    imbalance: ImbalanceParams


# ---------------------------------------------------------------------------------------------
# The ``models`` section (used by tasks/steps/models.py).

Family = Literal[
    "logistic_regression",
    "linear",
    "ridge",
    "lasso",
    "svm",
    "decision_tree",
    "random_forest",
    "hist_gradient_boosting",
    "knn",
]

Scalar = bool | int | float | str | None


class RangeParams(_Section):
    """A range to search: ``low`` to ``high`` inclusive, log-scaled or not, int or float."""

    low: float
    high: float
    log: bool
    type: Literal["int", "float"]

    @model_validator(mode="after")
    def _sound(self) -> RangeParams:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.type == "int" and not (self.low.is_integer() and self.high.is_integer()):
            raise ValueError(f"an int range needs whole bounds, got {self.low} and {self.high}")
        return self


Choices = Annotated[tuple[Scalar, ...], Field(min_length=1)]
SpaceEntry = Choices | RangeParams
Space = Mapping[str, SpaceEntry]


class FamilyParams(_Section):
    """One family's ``fixed`` hyperparameters and the ``space`` searched around them."""

    fixed: dict[str, Scalar]
    space: dict[str, SpaceEntry]


class ModelsParams(_Section):
    """The ``models`` section: every family's default search space."""

    logistic_regression: FamilyParams
    linear: FamilyParams
    ridge: FamilyParams
    lasso: FamilyParams
    svm: FamilyParams
    decision_tree: FamilyParams
    random_forest: FamilyParams
    hist_gradient_boosting: FamilyParams
    knn: FamilyParams

    def family(self, name: str) -> FamilyParams:
        """The params of family ``name``."""
        if name not in type(self).model_fields:
            raise ConfigError(
                f"unknown model family '{name}' (families: {', '.join(type(self).model_fields)})"
            )
        params: FamilyParams = getattr(self, name)
        return params


class TrainParams(_Section):
    model: Family
    seed: int


class PrunerParams(_Section):
    """Optuna's median pruner: after ``startup_trials`` complete trials, a trial whose first
    ``warmup_steps`` folds trail the median of the others' is stopped."""

    startup_trials: int = Field(ge=0)
    warmup_steps: int = Field(ge=0)


class TuneParams(_Section):
    method: Literal["none", "grid", "random", "bayes"]
    families: tuple[Family, ...] = Field(min_length=1)
    cv_folds: int = Field(ge=2)
    trials: int = Field(ge=1)
    minutes: float = Field(gt=0.0)
    points_per_range: int = Field(ge=2)
    workers: int = Field(ge=1)
    dask_address: str
    pruning: bool
    pruner: PrunerParams
    seed: int


MetricName = Literal[
    "auto",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "specificity",
    "f1_macro",
    "log_loss",
    "rmse",
    "mae",
    "r2",
    "mse",
]


class EvaluateParams(_Section):
    primary_metric: MetricName
    threshold: float = Field(gt=0.0, lt=1.0)
    importance_repeats: int = Field(ge=1)
    importance_rows: int = Field(ge=1)
    calibration_bins: int = Field(ge=2)
    importance_top: int = Field(ge=1)


class RegisterParams(_Section):
    model_name: str = Field(min_length=1)
    experiment: str = Field(min_length=1)
    input_example_rows: int = Field(ge=1)
    require_approval: bool

    def resolved_model_name(self, data_path: str) -> str:
        """``model_name``, or the data file's stem when it is ``auto``."""
        return PurePosixPath(data_path).stem if self.model_name == "auto" else self.model_name

    def resolved_experiment(self, data_path: str) -> str:
        """``experiment``, or the model name when it is ``auto``."""
        return self.resolved_model_name(data_path) if self.experiment == "auto" else self.experiment


GateMetric = Literal[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "f1_macro",
    "roc_auc",
    "specificity",
    "log_loss",
    "rmse",
    "mae",
    "r2",
    "mse",
]


class BootstrapParams(_Section):
    enabled: bool
    samples: int = Field(ge=100)
    confidence: float = Field(gt=0.5, lt=1.0)
    seed: int


class BaselineParams(_Section):
    """The default floor: beat the trivial baseline on the same test split."""

    enabled: bool
    margin: float = Field(ge=0.0)
    mode: Literal["absolute", "relative"]


class PromoteParams(_Section):
    floors: dict[GateMetric, float]  # resolved: the active data set's floors
    baseline: BaselineParams
    min_delta: float = Field(ge=0.0)
    delta_mode: Literal["absolute", "relative"]
    bootstrap: BootstrapParams
    lock: Literal["auto", "file", "prefect"]
    lock_timeout_seconds: float = Field(gt=0.0)


class ServeParams(_Section):
    alias: str = Field(min_length=1)
    poll_seconds: float = Field(gt=0.0)
    canary_fraction: float = Field(ge=0.0, le=1.0)
    shadow: bool
    max_batch_rows: int = Field(ge=1)
    max_body_bytes: int = Field(ge=1024)
    max_rows: int = Field(ge=1)
    timeout_seconds: float = Field(gt=0.0)
    log_flush_seconds: float = Field(gt=0.0)
    log_queue_rows: int = Field(ge=1)  # rows waiting for the log writer; more are dropped
    log_retention_days: float = Field(ge=0.0)  # 0: no age limit
    log_retention_rows: int = Field(ge=0)  # 0: no count limit
    log_retention_seconds: float = Field(gt=0.0)  # how often the writer applies retention
    feedback_max_labels: int = Field(ge=1)  # labels in one POST /feedback
    feedback_max_bytes: int = Field(ge=1024)  # a larger file in paths.feedback is rejected
    max_pending_rows: int = Field(ge=1)
    limit_concurrency: int = Field(ge=1)
    # what scores: auto = the version's compiled graph (ONNX Runtime) when its parity passed at
    # registration, else scikit-learn; onnx = the graph only (a version without one is
    # refused); sklearn = the Pipeline always
    runtime: Literal["auto", "onnx", "sklearn"]
    onnx_threads: int = Field(ge=1)  # ONNX Runtime's intra-op threads per loaded version

    @model_validator(mode="after")
    def _pending_takes_one_request(self) -> ServeParams:
        if self.max_pending_rows < self.max_rows:
            raise ValueError(
                f"max_pending_rows={self.max_pending_rows} is below max_rows={self.max_rows}: "
                "a request of max_rows rows could never be scored"
            )
        return self

    @model_validator(mode="after")
    def _one_challenger_role(self) -> ServeParams:
        if self.shadow and self.canary_fraction > 0:
            raise ValueError(
                f"shadow=true and canary_fraction={self.canary_fraction} both send traffic to "
                "the challenger; choose one"
            )
        return self


class PredictParams(_Section):
    chunk_rows: int = Field(ge=1)
    probabilities: bool


class QualityNoiseParams(_Section):
    """How much of a quality drop is noise: ``z`` standard deviations of the metric over
    ``samples`` bootstrap resamples of the labelled rows (0 samples: none)."""

    samples: int = Field(ge=0)
    z: float = Field(gt=0.0)


class MonitorParams(_Section):
    schedule: str = Field(min_length=9)
    source: Literal["log", "incoming"]
    window_hours: float = Field(gt=0.0)
    window_rows: int = Field(ge=1)
    min_rows: int = Field(ge=1)
    sample_rows: int = Field(ge=0)
    seed: int
    numerical_method: (
        str  # an Evidently method name, checked below (tasks/drift_methods.py lists them)
    )
    numerical_threshold: float = Field(gt=0.0)
    categorical_method: str
    categorical_threshold: float = Field(gt=0.0)
    drift_share: float = Field(gt=0.0, le=1.0)
    prediction_threshold: float = Field(gt=0.0)
    attribution_rows: int = Field(ge=0)
    attribution_repeats: int = Field(ge=1)
    attribution_threshold: float = Field(gt=0.0, le=1.0)
    attribution_top: int = Field(ge=1)
    top_columns: int = Field(ge=1)
    quality_min_labels: int = Field(ge=1)
    quality_max_drop: float = Field(ge=0.0)
    quality_noise: QualityNoiseParams
    retrain: bool
    cooldown_minutes: float = Field(ge=0.0)
    action_wait_seconds: float = Field(ge=0.0)
    incoming_max_bytes: int = Field(ge=1024)  # a larger file in paths.incoming is set aside

    @model_validator(mode="after")
    def _methods_fit_their_kind(self) -> MonitorParams:
        from tasks.drift_methods import drift_method

        drift_method(self.numerical_method, "numerical")
        drift_method(self.categorical_method, "categorical")
        return self


class RetrainParams(_Section):
    data: Literal["append", "window"]
    window_rows: int = Field(ge=100)
    min_labelled_rows: int = Field(ge=1)
    # data=window: wait until the window holds only rows since the drift began, so the gate's
    # test split (a share of the window) is drifted rows only
    window_after_drift: bool
    schedule: str
    label_max_age_days: float = Field(ge=0.0)  # older labelled rows are not taken in (0: all)


class PathsParams(_Section):
    raw: str
    validated: str
    ingested: str
    schema_: str = Field(alias="schema")
    ingest_report: str
    validation: str
    train: str
    valid: str
    test: str
    model: str
    tuning: str
    leaderboard: str
    metrics: str
    plots: str
    roc: str
    predictions: str
    registration: str
    promotion: str
    inference_log: str
    feedback: str
    predictions_dir: str
    incoming: str
    reference: str
    monitoring: str
    workspace: str


DATASET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
TaskSetting = Literal["auto", "binary", "multiclass", "regression"]


class DatasetParams(_Section):
    """What depends on one data set: its file, target, task, success definition, columns."""

    file: str = Field(min_length=1)
    target: str = Field(min_length=1)
    task: TaskSetting
    primary_metric: MetricName
    floors: dict[GateMetric, float]
    id_columns: tuple[str, ...]
    drop_columns: tuple[str, ...]
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    model_name: str = Field(min_length=1)

    @model_validator(mode="after")
    def _plain_file_name(self) -> DatasetParams:
        if PurePosixPath(self.file).name != self.file or self.file in (".", ".."):
            raise ValueError(
                f"file must be a file name inside the data set's folder, got {self.file!r}"
            )
        return self


# Keys of the stage sections that belong to the active data set: the file holds them under
# ``datasets.<name>``; the parsed Params carries them in the stage slices that use them.
DATASET_KEYS: dict[tuple[str, str], str] = {
    ("ingest", "path"): "file",
    ("ingest", "target"): "target",
    ("ingest", "task"): "task",
    ("ingest", "id_columns"): "id_columns",
    ("ingest", "drop_columns"): "drop_columns",
    ("ingest", "categorical"): "categorical",
    ("ingest", "numeric"): "numeric",
    ("evaluate", "primary_metric"): "primary_metric",
    ("promote", "floors"): "floors",
    ("register", "model_name"): "model_name",
    ("validate", "suite"): "",
    ("generate", "path"): "",
}


class NotifyParams(_Section):
    """How the webhook (``MLOPS_WEBHOOK_URL``) is called."""

    timeout_seconds: float = Field(gt=0.0)
    attempts: int = Field(ge=1)
    backoff_seconds: float = Field(ge=0.0)

    def send_options(self) -> dict[str, Any]:
        """The keyword arguments of ``tasks.adapters.webhook.send``."""
        return {
            "timeout": self.timeout_seconds,
            "attempts": self.attempts,
            "backoff": self.backoff_seconds,
        }


class SimulateParams(_Section):
    """``mlops simulate``'s scenario (each a command-line option too)."""

    batches: int = Field(ge=2)
    onset: int = Field(ge=1)
    label_delay: int = Field(ge=0)
    batch_rows: int = Field(ge=50)
    covariate: float = Field(ge=0.0)
    concept: float = Field(ge=0.0, le=1.0)
    training_rows: int = Field(ge=500)
    seed: int
    retrain_batches: int = Field(ge=1)  # the sandbox's retrain.min_labelled_rows and window_rows
    live_schedule: str = Field(min_length=9)  # --live: the monitoring deployment's cron
    live_wait_seconds: float = Field(gt=0)  # --live: the longest wait for any one step


Port = Annotated[int, Field(ge=1, le=65535)]


class UpParams(_Section):
    """``mlops up``: the local services' ports (all on 127.0.0.1) and how long to wait."""

    prefect_port: Port
    mlflow_port: Port
    serving_port: Port
    evidently_port: Port
    runner_port: Port  # the deployments runner's health endpoint
    start_timeout_seconds: float = Field(gt=0.0)
    stop_timeout_seconds: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _distinct_ports(self) -> UpParams:
        ports = self.ports()
        shared = sorted({p for p in ports.values() if list(ports.values()).count(p) > 1})
        if shared:
            names = [f"{k}_port" for k, v in ports.items() if v in shared]
            raise ValueError(f"{' and '.join(names)} share port {shared[0]}: each needs its own")
        return self

    def ports(self) -> dict[str, int]:
        """The port of each service, by service name."""
        return {
            "prefect": self.prefect_port,
            "mlflow": self.mlflow_port,
            "runner": self.runner_port,
            "serving": self.serving_port,
            "evidently": self.evidently_port,
        }


class Params(_Section):
    """All of params.yaml. Each attribute is one stage's slice; ``dataset`` names the active
    data set, whose settings (``datasets[dataset]``) are also in the slices that use them."""

    dataset: str = Field(pattern=DATASET_NAME)
    datasets: dict[str, DatasetParams]
    generate: GenerateParams
    ingest: IngestParams
    validate_: ValidateParams = Field(alias="validate")
    split: SplitParams
    features: FeaturesParams
    models: ModelsParams
    train: TrainParams
    tune: TuneParams
    evaluate: EvaluateParams
    register_: RegisterParams = Field(alias="register")
    promote: PromoteParams
    serve: ServeParams
    predict: PredictParams
    monitor: MonitorParams
    notify: NotifyParams
    retrain: RetrainParams
    simulate: SimulateParams
    up: UpParams
    paths: PathsParams

    @property
    def data(self) -> DatasetParams:
        """The active data set's settings."""
        return self.datasets[self.dataset]

    @property
    def model_name(self) -> str:
        """The registered model of the active data set."""
        return self.register_.model_name

    @property
    def monitoring_experiment(self) -> str:
        """The MLflow experiment the monitor's drift checks are recorded in."""
        return self.register_.resolved_experiment(self.ingest.path) + "-monitoring"

    def dataset_path(self, name: str) -> str:
        """The raw file of data set ``name``: ``paths.raw/<name>/<file>``."""
        return f"{self.paths.raw}/{name}/{self.datasets[name].file}"


def dataset_name(path: str | Path) -> str:
    """A data set name from a file name: its stem without table suffixes, in the characters a
    params key allows (``My Data.csv.gz`` -> ``My-Data``)."""
    name = PurePosixPath(str(path)).name
    for suffix in (".gz", ".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")
    return cleaned or "data"


# C901: one branch per stage slice the data set's settings fill in
def _resolve(raw: dict[str, Any], source: str) -> dict[str, Any]:  # noqa: C901
    """Put the active data set's settings into the stage slices that use them.

    The file keeps them under ``datasets.<name>`` only: a stage section that still holds one
    is an error that says where it belongs now.
    """
    derived = {
        "validate.suite": "the suite is the data set's name now (gx/expectations/<dataset>.json); "
        "remove it",
        "generate.path": "the demo writes the raw file of generate.dataset; remove it",
    }
    moved = [
        f"{source}: '{section}.{key}': "
        + (
            derived[f"{section}.{key}"]
            if not field_name
            else f"belongs to the data set: set datasets.<name>.{field_name}"
        )
        for (section, key), field_name in DATASET_KEYS.items()
        if isinstance(raw.get(section), dict) and key in raw[section]
    ]
    if moved:
        raise ConfigError("\n".join(moved))
    name, datasets = raw.get("dataset"), raw.get("datasets")
    if "dataset" not in raw or "datasets" not in raw:
        absent = [key for key in ("dataset", "datasets") if key not in raw]
        raise ConfigError("\n".join(f"{source}: missing key '{key}'" for key in absent))
    if not isinstance(name, str) or not isinstance(datasets, dict):
        return raw  # the model's own validation names the wrong type
    settings: dict[str, DatasetParams] = {}
    problems: list[str] = []
    for key, value in datasets.items():
        try:
            settings[str(key)] = DatasetParams.model_validate(value)
        except ValidationError as error:
            problems.append(_describe(error, source, prefix=("datasets", str(key))))
    if problems:
        raise ConfigError("\n".join(problems))
    bad = sorted(k for k in settings if not re.match(DATASET_NAME, k))
    if bad:
        raise ConfigError(
            f"{source}: data set name(s) {bad}: use letters, digits, '-' and '_' only"
        )
    if name not in settings:
        raise ConfigError(
            f"{source}: 'dataset': {name!r} is not a key of datasets "
            f"(data sets: {', '.join(sorted(settings)) or 'none'})"
        )
    data = settings[name]
    paths: dict[str, Any] = raw["paths"] if isinstance(raw.get("paths"), dict) else {}
    base = str(paths.get("raw", "data/raw"))  # a missing paths.raw is reported by the model
    folder = f"{base}/{name}"
    resolved = _deep_copy(raw)

    def put(section: str, key: str, value: Any) -> None:
        if isinstance(resolved.get(section), dict):
            resolved[section][key] = value

    for (section, key), field_name in DATASET_KEYS.items():
        if field_name:
            put(section, key, getattr(data, field_name))
    put("ingest", "path", f"{folder}/{data.file}")
    put("validate", "suite", name)
    put("register", "model_name", name if data.model_name == "auto" else data.model_name)
    generate = resolved.get("generate")
    demo = generate.get("dataset") if isinstance(generate, dict) else None
    if isinstance(demo, str) and demo in settings:
        put("generate", "path", f"{base}/{demo}/{settings[demo].file}")
    elif isinstance(demo, str):
        raise ConfigError(f"{source}: 'generate.dataset': {demo!r} is not a key of datasets")
    return resolved


def _describe(error: ValidationError, source: str, prefix: tuple[str, ...] = ()) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in (*prefix, *item["loc"]))
        if item["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'")
        elif item["type"] == "missing":
            lines.append(f"{source}: missing key '{key}'")
        else:
            got = item.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            lines.append(f"{source}: '{key}': {item['msg']}{shown}")
    return "\n".join(lines)


def project_paths(params: Params) -> dict[str, str]:
    """Every path of ``params`` that the stages read or write, by its dotted key."""
    found = {
        f"paths.{field.alias or name}": str(getattr(params.paths, name))
        for name, field in PathsParams.model_fields.items()
    }
    found["ingest.path"] = params.ingest.path
    found["generate.path"] = params.generate.path
    found["validate.quarantine_dir"] = params.validate_.quarantine_dir
    return found


def _unsafe_path(value: str) -> str | None:
    """Why ``value`` cannot be a path inside the project (None when it can)."""
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    if not value.strip():
        return "is empty"
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        return "is absolute"
    if ".." in posix.parts or ".." in windows.parts:
        return "climbs out with '..'"
    return None


def check_paths(params: Params, source: str, root: Path | None = None) -> None:
    """Refuse any path of ``params`` that could leave the project: an absolute path, a '..',
    and with ``root`` a path that resolves outside ``root`` (through a symbolic link). A
    params file may come from elsewhere (``mlops reproduce`` reads a run's recorded one), and
    the stages write to these paths."""
    base = root.resolve() if root is not None else None
    problems = []
    for key, value in project_paths(params).items():
        why = _unsafe_path(value)
        inside = root is None or base is None or (root / value).resolve().is_relative_to(base)
        if why is None and not inside:
            why = f"resolves outside {base}"
        if why is not None:
            problems.append(
                f"{source}: '{key}': {value!r} {why}; a path must be relative and stay inside "
                "the project"
            )
    if problems:
        raise ConfigError("\n".join(problems))


def parse_params(
    raw: Mapping[str, Any], source: str = PARAMS_FILE, root: Path | None = None
) -> Params:
    """Validate a parsed params mapping; errors name the key and ``source``. With ``root``,
    every path must also resolve inside it."""
    resolved = _resolve(dict(raw), source)
    try:
        params = Params.model_validate(resolved)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None
    check_paths(params, source, root)
    return params


def _yaml_load(text: str) -> Any:
    """YAML 1.2, as DVC reads params.yaml: ``yes`` is text and ``1e-3`` a number. A copy of
    the parse of this exact text: a command parses params.yaml once however often its stages
    load it (the pure-Python parser takes ~0.1 s), and the warm command server parses the
    project's file before it forks (cli/warm.py)."""
    import copy

    return copy.deepcopy(_parse_yaml(text))


@functools.lru_cache(maxsize=16)
def _parse_yaml(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def read_raw(path: Path) -> dict[str, Any]:
    """Read a params file as a plain mapping (an empty file is an empty mapping)."""
    from ruamel.yaml.error import YAMLError

    try:
        loaded = _yaml_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of stages, got {type(loaded).__name__}")
    return loaded


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Split ``stage.key=value`` into its dotted key and a YAML-typed value."""
    key, sep, value = text.partition("=")
    parts = tuple(part.strip() for part in key.split("."))
    if not sep or not all(parts):
        raise ConfigError(f"override '{text}': expected stage.key=value")
    from ruamel.yaml.error import YAMLError

    try:
        parsed = _yaml_load(value) if value.strip() else ""
    except YAMLError:
        parsed = value
    return parts, parsed


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``stage.key=value`` override set."""
    result: dict[str, Any] = _deep_copy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{text}': '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in raw.items()}


def load_params(path: Path, overrides: Iterable[str] = ()) -> Params:
    """Parse ``path`` with ``overrides`` applied; the one place params are read."""
    overrides = list(overrides)
    raw = apply_overrides(read_raw(path), overrides)
    source = f"{path}" if not overrides else f"{path} with --set {' '.join(overrides)}"
    return parse_params(raw, source, root=path.parent)


def write_overrides(path: Path, overrides: Iterable[str]) -> None:
    """Write validated overrides into ``path`` keeping its comments, as ``dvc exp run -S`` does.

    DVC decides whether a stage is up to date from the values in params.yaml, so an override
    must land there for ``dvc repro``, ``dvc.lock`` and the flow to agree.
    """
    overrides = list(overrides)
    if not overrides:
        return
    load_params(path, overrides)  # validate everything before touching the file
    from ruamel.yaml import YAML

    rt = YAML()
    rt.width = 4096  # never re-wrap a long line the override does not touch
    rt.preserve_quotes = True
    # ruamel writes a block-style null as an empty value; keep the file's own spelling.
    rt.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    document = rt.load(path.read_text(encoding="utf-8"))
    changed = False
    for text in overrides:
        parts, value = parse_override(text)
        node = document
        for part in parts[:-1]:
            if part not in node:
                node[part] = {}
            node = node[part]
        if parts[-1] in node and node[parts[-1]] == value:
            continue
        node[parts[-1]] = value
        changed = True
    if not changed:
        return
    with path.open("w", encoding="utf-8") as handle:
        rt.dump(document, handle)


def dotted_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted key the typed config accepts, e.g. ``features.missing.indicators``."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        keys.add(key)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= dotted_keys(annotation, f"{key}.")
    return keys


def file_keys(datasets: Iterable[str]) -> set[str]:
    """Every dotted key a params file holds: the stage sections without the data sets' keys,
    and each data set's keys under ``datasets.<name>``."""
    keys = dotted_keys(Params) - {".".join(k) for k in DATASET_KEYS}
    for name in datasets:
        keys |= {f"datasets.{name}"} | dotted_keys(DatasetParams, f"datasets.{name}.")
    return keys


def dataset_overrides(
    name: str, file: str, target: str, task: str = "auto", new: bool = True
) -> list[str]:
    """The overrides that add data set ``name`` (``new``) or update its file, target and task,
    and make it the active one. A new data set starts with everything else inferred or empty:
    the task and primary metric from the target, no absolute floors (the baseline rule
    applies), the ID columns detected, the model named after the data set."""
    key = f"datasets.{name}"
    fresh = [
        f"{key}.primary_metric=auto",
        f"{key}.floors={{}}",
        *(f"{key}.{part}=[]" for part in ("id_columns", "drop_columns", "categorical", "numeric")),
        f"{key}.model_name=auto",
    ]
    return [
        f"{key}.file={json.dumps(file)}",
        f"{key}.target={json.dumps(target)}",
        f"{key}.task={task}",
        *(fresh if new else []),
        f"dataset={name}",
    ]
