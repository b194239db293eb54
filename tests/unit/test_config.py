"""Unit tests for the typed config: params.yaml parsing, overrides and their write-back."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.config import (
    DATASET_KEYS,
    BaselineParams,
    ConfigError,
    DatasetParams,
    Params,
    RegisterParams,
    apply_overrides,
    dataset_name,
    dataset_overrides,
    dotted_keys,
    file_keys,
    load_params,
    parse_override,
    parse_params,
    read_raw,
    write_overrides,
)

REPO = Path(__file__).parents[2]
PARAMS_FILE = REPO / "params.yaml"
DVC_FILE = REPO / "dvc.yaml"


def _raw() -> dict[str, Any]:
    return yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def params_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "params.yaml"
    shutil.copyfile(PARAMS_FILE, copy)
    return copy


# --- parsing the repo's params.yaml --------------------------------------------------------


def test_repo_params_file_parses() -> None:
    params = load_params(PARAMS_FILE)

    assert params.dataset == "customer-purchase"
    assert list(params.datasets) == ["customer-purchase"]
    assert params.data == DatasetParams(
        file="customer-purchase.csv",
        target="purchased",
        task="auto",
        primary_metric="auto",
        floors={"roc_auc": 0.7},
        id_columns=(),
        drop_columns=(),
        categorical=(),
        numeric=(),
        model_name="auto",
    )
    # the active data set's settings, resolved into the stage slices that read them
    assert params.ingest.path == "data/raw/customer-purchase/customer-purchase.csv"
    assert params.ingest.target == "purchased"
    assert params.ingest.task == "auto"
    assert params.ingest.id_columns == ()
    assert params.ingest.drop_columns == ()
    assert params.ingest.categorical == ()
    assert params.ingest.numeric == ()
    assert params.validate_.suite == "customer-purchase"
    assert params.promote.floors == {"roc_auc": 0.7}
    assert params.generate.dataset == "customer-purchase"
    assert params.generate.path == "data/raw/customer-purchase/customer-purchase.csv"
    assert params.model_name == "customer-purchase"
    assert params.paths.raw == "data/raw"
    assert params.validate_.missing_tokens == (
        "NA",
        "N/A",
        "n/a",
        "NaN",
        "nan",
        "null",
        "NULL",
        "None",
        "#N/A",
        "<NA>",
        "?",
    )
    assert params.validate_.max_out_of_range == 0.5
    assert params.promote.baseline == BaselineParams(enabled=True, margin=0.01, mode="relative")
    assert params.validate_.min_rows == 50
    assert params.split.validation_size == 0.1
    assert params.split.test_size == 0.1
    assert params.features.missing.numeric_imputation == "median"
    assert params.features.transform.scaling == "standard"
    assert params.features.encoding.min_frequency == 0.01
    assert params.train.model == "hist_gradient_boosting"
    assert params.models.hist_gradient_boosting.fixed == {
        "max_iter": 1000,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 10,
    }
    assert params.models.logistic_regression.fixed == {"max_iter": 1000}
    assert params.tune.method == "none"
    assert params.evaluate.primary_metric == "auto"
    assert params.evaluate.importance_repeats == 5
    assert params.register_.model_name == "customer-purchase"  # auto: the data set's name
    assert params.paths.schema_ == "data/processed/schema.json"
    assert params.paths.tuning == "reports/tuning.json"


def test_params_are_frozen() -> None:
    params = load_params(PARAMS_FILE)

    with pytest.raises(ValueError, match=re.escape("Instance is frozen")):
        params.train.seed = 7  # type: ignore[misc]


def test_unknown_key_names_key_and_file() -> None:
    raw = _raw()
    raw["train"]["bogus"] = 1

    with pytest.raises(ConfigError, match=re.escape("params.yaml: unknown key 'train.bogus'")):
        parse_params(raw)


def test_unknown_nested_key_via_override_names_the_override() -> None:
    message = (
        f"{PARAMS_FILE} with --set features.selection.filter.bogus=1: "
        "unknown key 'features.selection.filter.bogus'"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, ["features.selection.filter.bogus=1"])


def test_unknown_key_in_a_family_names_the_override() -> None:
    message = (
        f"{PARAMS_FILE} with --set models.hist_gradient_boosting.bogus=1: "
        "unknown key 'models.hist_gradient_boosting.bogus'"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, ["models.hist_gradient_boosting.bogus=1"])


def test_fixed_hyperparameters_are_free_keys() -> None:
    params = load_params(
        PARAMS_FILE,
        [
            "models.hist_gradient_boosting.fixed.max_bins=63",
            "models.ridge.space={}",
            "models.ridge.fixed.alpha=2.0",
        ],
    )

    assert params.models.hist_gradient_boosting.fixed == {
        "max_iter": 1000,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 10,
        "max_bins": 63,
    }
    assert (params.models.ridge.fixed, params.models.ridge.space) == ({"alpha": 2.0}, {})


def test_a_fixed_hyperparameter_may_also_be_searched() -> None:
    # fixed: the value when one model is trained; space: what a search varies (it wins there)
    params = load_params(PARAMS_FILE, ["models.logistic_regression.fixed.C=0.5"])

    family = params.models.family("logistic_regression")
    assert family.fixed == {"max_iter": 1000, "C": 0.5}
    assert "C" in family.space


def test_an_unknown_family_is_named() -> None:
    params = load_params(PARAMS_FILE)
    message = "unknown model family 'xgb' (families: logistic_regression, linear, ridge, "
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        params.models.family("xgb")


def test_unknown_stage() -> None:
    with pytest.raises(ConfigError, match=re.escape("unknown key 'bogus'")):
        load_params(PARAMS_FILE, ["bogus.key=1"])


def test_missing_key(tmp_path: Path) -> None:
    raw = _raw()
    del raw["train"]["seed"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")

    message = f"{path}: missing key 'train.seed'"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(path)


def test_wrong_type() -> None:
    raw = _raw()
    raw["validate"]["min_rows"] = "many"

    message = (
        "params.yaml: 'validate.min_rows': Input should be a valid integer, "
        "unable to parse string as an integer (got 'many')"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        parse_params(raw)


def test_wrong_literal_lists_the_choices() -> None:
    message = (
        "'train.model': Input should be 'logistic_regression', 'linear', 'ridge', 'lasso', "
        "'svm', 'decision_tree', 'random_forest', 'hist_gradient_boosting' or 'knn' (got 'xgb')"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_params(PARAMS_FILE, ["train.model=xgb"])


def test_section_given_a_value_does_not_show_dict_inputs() -> None:
    message = (
        "'models.linear': Input should be a valid dictionary or instance of FamilyParams (got 5)"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_params(PARAMS_FILE, ["models.linear=5"])


def test_every_error_is_reported() -> None:
    raw = _raw()
    raw["train"]["bogus"] = 1
    del raw["split"]["seed"]

    with pytest.raises(ConfigError) as caught:
        parse_params(raw, "p.yaml")

    assert str(caught.value).splitlines() == [
        "p.yaml: missing key 'split.seed'",
        "p.yaml: unknown key 'train.bogus'",
    ]


def test_split_sizes_must_leave_training_rows() -> None:
    message = (
        "'split': Value error, split.validation_size + split.test_size must be below 1, "
        "got 0.5 + 0.5"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_params(PARAMS_FILE, ["split.validation_size=0.5", "split.test_size=0.5"])


def test_split_sizes_just_below_one_are_accepted() -> None:
    params = load_params(PARAMS_FILE, ["split.validation_size=0.4", "split.test_size=0.5"])

    assert (params.split.validation_size, params.split.test_size) == (0.4, 0.5)


def test_bounds_are_checked() -> None:
    message = "'features.selection.embedded.max_iter': Input should be greater than or equal to 1"
    with pytest.raises(ConfigError, match=re.escape(f"{message} (got 0)")):
        load_params(PARAMS_FILE, ["features.selection.embedded.max_iter=0"])


def test_up_ports_default_and_must_differ() -> None:
    assert load_params(PARAMS_FILE).up.ports() == {
        "prefect": 4200, "mlflow": 5000, "runner": 8081, "serving": 8080, "evidently": 8000,
    }  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        load_params(PARAMS_FILE, ["up.serving_port=5000"])
    assert str(raised.value) == (
        f"{PARAMS_FILE} with --set up.serving_port=5000: 'up': Value error, mlflow_port and "
        "serving_port share port 5000: each needs its own"
    )
    with pytest.raises(ConfigError, match=re.escape("'up.mlflow_port': Input should be less")):
        load_params(PARAMS_FILE, ["up.mlflow_port=70000"])


# --- read_raw ------------------------------------------------------------------------------


def test_read_raw_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"

    message = f"{path}: params file not found"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        read_raw(path)


def test_read_raw_empty_file_is_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("", encoding="utf-8")

    assert read_raw(path) == {}


def test_read_raw_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")

    with pytest.raises(
        ConfigError, match=re.escape(f"{path}: expected a mapping of stages, got list")
    ):
        read_raw(path)


def test_read_raw_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: [1,\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape(f"{path}: not valid YAML: ")):
        read_raw(path)


# --- overrides -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train.seed=7", (("train", "seed"), 7)),
        ("split.test_size=0.25", (("split", "test_size"), 0.25)),
        ("features.missing.indicators=false", (("features", "missing", "indicators"), False)),
        ("split.stratify=true", (("split", "stratify"), True)),
        ("datasets.churn.numeric=[a, b]", (("datasets", "churn", "numeric"), ["a", "b"])),
        ("datasets.churn.numeric=[]", (("datasets", "churn", "numeric"), [])),
        ('datasets.churn.model_name="yes"', (("datasets", "churn", "model_name"), "yes")),
        ("datasets.churn.model_name='123'", (("datasets", "churn", "model_name"), "123")),
        ("datasets.churn.model_name=churn", (("datasets", "churn", "model_name"), "churn")),
        ("dataset=churn", (("dataset",), "churn")),
        ("train=1", (("train",), 1)),
        (
            "datasets.customer-purchase.floors.rmse=3",
            (("datasets", "customer-purchase", "floors", "rmse"), 3),
        ),
        (
            "models.logistic_regression.fixed.C=0.5",
            (("models", "logistic_regression", "fixed", "C"), 0.5),
        ),
        ("models.ridge.space={}", (("models", "ridge", "space"), {})),
        (" train . seed =7", (("train", "seed"), 7)),
        ("datasets.churn.file=a=b.csv", (("datasets", "churn", "file"), "a=b.csv")),
        ("datasets.churn.target=", (("datasets", "churn", "target"), "")),
        ("datasets.churn.target=[unclosed", (("datasets", "churn", "target"), "[unclosed")),
    ],
)
def test_parse_override(text: str, expected: tuple[tuple[str, ...], Any]) -> None:
    parts, value = parse_override(text)

    assert (parts, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize(
    "text", ["nokey", "train.seed", ".seed=1", "train..seed=1", "=1", "train.=1", " =1"]
)
def test_parse_override_malformed(text: str) -> None:
    message = f"override '{text}': expected stage.key=value"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        parse_override(text)


def test_a_top_level_override_that_replaces_a_section_fails_in_validation() -> None:
    # `train=1` is a well-formed top-level override (like `dataset=churn`); the value is wrong
    message = (
        f"{PARAMS_FILE} with --set train=1: 'train': Input should be a valid dictionary or "
        "instance of TrainParams (got 1)"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, ["train=1"])


def test_apply_overrides_does_not_mutate_its_input() -> None:
    raw = _raw()
    before = _raw()

    result = apply_overrides(
        raw, ["train.seed=7", "models.hist_gradient_boosting.fixed.max_iter=5"]
    )

    assert raw == before
    assert result["train"]["seed"] == 7
    assert result["models"]["hist_gradient_boosting"]["fixed"]["max_iter"] == 5
    assert raw["models"]["hist_gradient_boosting"]["fixed"]["max_iter"] == 1000
    assert result["split"] == raw["split"]


def test_apply_overrides_last_one_wins() -> None:
    result = apply_overrides(_raw(), ["train.seed=1", "train.seed=2"])

    assert result["train"]["seed"] == 2


def test_apply_overrides_into_a_value_fails() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("override 'train.seed.x=1': 'seed' is a value, not a section")
    ):
        apply_overrides(_raw(), ["train.seed.x=1"])


def test_load_params_with_overrides() -> None:
    params = load_params(
        PARAMS_FILE, ["train.model=ridge", 'datasets.customer-purchase.model_name="yes"']
    )

    assert params.train.model == "ridge"
    assert params.data.model_name == "yes"
    assert params.register_.model_name == "yes"
    assert params.model_name == "yes"


def test_override_error_names_the_overrides() -> None:
    message = (
        f"{PARAMS_FILE} with --set train.seed=abc: 'train.seed': Input should be a valid "
        "integer, unable to parse string as an integer (got 'abc')"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, ["train.seed=abc"])


# --- write_overrides -----------------------------------------------------------------------


def test_write_overrides_changes_only_the_value_and_keeps_comments(params_copy: Path) -> None:
    before = params_copy.read_text(encoding="utf-8").splitlines()

    write_overrides(params_copy, ["train.seed=7"])

    after = params_copy.read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [
        (
            "  seed: 42                      # seed of the model, the preprocessing and "
            "training-row sampling",
            "  seed: 7                       # seed of the model, the preprocessing and "
            "training-row sampling",
        )
    ]
    comments = [line for line in before if line.lstrip().startswith("#")]
    assert comments
    assert all(line in after for line in comments)
    assert load_params(params_copy).train.seed == 7
    assert load_params(params_copy).split.seed == 42


def test_write_overrides_into_a_data_set_changes_only_that_line(params_copy: Path) -> None:
    before = params_copy.read_text(encoding="utf-8").splitlines()

    write_overrides(params_copy, ["datasets.customer-purchase.target=bought"])

    after = params_copy.read_text(encoding="utf-8").splitlines()
    assert [(old, new) for old, new in zip(before, after, strict=False) if old != new] == [
        (
            "    target: purchased           # the column to predict",
            "    target: bought              # the column to predict",
        )
    ]
    assert len(after) == len(before)
    assert load_params(params_copy).ingest.target == "bought"


def test_write_overrides_nested_and_several(params_copy: Path) -> None:
    write_overrides(
        params_copy,
        [
            "models.hist_gradient_boosting.fixed.max_iter=50",
            "split.test_size=0.2",
            "features.transform.scaling=none",
        ],
    )

    params = load_params(params_copy)
    assert params.models.hist_gradient_boosting.fixed == {
        "max_iter": 50,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 10,
    }
    assert params.split.test_size == 0.2
    assert params.features.transform.scaling == "none"
    text = params_copy.read_text(encoding="utf-8")
    assert (
        "    fixed: {max_iter: 50, early_stopping: true, validation_fraction: 0.1, "
        "n_iter_no_change: 10}\n    # up to 1000 iterations, stopped once the loss"
    ) in text
    assert "    fixed: {max_iter: 1000}     # solver iterations\n" in text
    assert (
        "    scaling: none               # standard | minmax | maxabs | robust | none: "
        "numeric scaling\n"
    ) in text


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.seed=42"],
        ["split.stratify=true"],
        ["split.test_size=0.1"],
        ["datasets.customer-purchase.numeric=[]"],
        ["datasets.customer-purchase.model_name=auto"],
        ["datasets.customer-purchase.floors.roc_auc=0.7"],
        ["dataset=customer-purchase"],
    ],
)
def test_write_overrides_equal_value_leaves_file_byte_identical(
    params_copy: Path, overrides: list[str]
) -> None:
    before = params_copy.read_bytes()

    write_overrides(params_copy, overrides)

    assert params_copy.read_bytes() == before


def test_write_overrides_no_overrides_is_a_no_op(params_copy: Path) -> None:
    before = params_copy.read_bytes()

    write_overrides(params_copy, [])

    assert params_copy.read_bytes() == before


def test_write_overrides_refuses_invalid_override_without_touching_file(
    params_copy: Path,
) -> None:
    before = params_copy.read_bytes()

    message = f"{params_copy} with --set train.seed=7 train.bogus=1: unknown key 'train.bogus'"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        write_overrides(params_copy, ["train.seed=7", "train.bogus=1"])

    assert params_copy.read_bytes() == before


def test_write_overrides_refuses_bad_split_without_touching_file(params_copy: Path) -> None:
    before = params_copy.read_bytes()

    with pytest.raises(ConfigError, match=re.escape("got 0.1 + 0.95")):
        write_overrides(params_copy, ["split.test_size=0.95"])

    assert params_copy.read_bytes() == before


def test_write_overrides_string_yes_survives_a_round_trip(params_copy: Path) -> None:
    write_overrides(params_copy, ['datasets.customer-purchase.model_name="yes"'])

    assert load_params(params_copy).register_.model_name == "yes"
    assert load_params(params_copy).data.model_name == "yes"


def test_write_overrides_exponent_float_is_written_as_a_number(params_copy: Path) -> None:
    from ruamel.yaml import YAML  # what DVC reads params.yaml with (YAML 1.2)

    write_overrides(
        params_copy,
        ["features.selection.embedded.alpha=1e-3", "models.lasso.fixed.tol=1e-3"],
    )

    as_dvc_sees_it = YAML(typ="safe").load(params_copy.read_text(encoding="utf-8"))
    assert as_dvc_sees_it["features"]["selection"]["embedded"]["alpha"] == 0.001
    assert as_dvc_sees_it["models"]["lasso"]["fixed"] == {"max_iter": 5000, "tol": 0.001}


# --- dotted keys and register names --------------------------------------------------------


def test_dotted_keys() -> None:
    keys = dotted_keys(Params)

    assert {
        "train",
        "train.model",
        "features.missing.numeric_imputation",
        "features.selection.filter.k",
        "models",
        "models.hist_gradient_boosting",
        "models.hist_gradient_boosting.fixed",
        "models.hist_gradient_boosting.space",
        "tune.method",
        "evaluate.importance_top",
        "paths.leaderboard",
        "validate",
        "validate.min_rows",
        "register.model_name",
        "paths.schema",
        "paths.raw",
        "ingest.path",
        "dataset",
        "datasets",
        "validate.missing_tokens",
        "validate.max_out_of_range",
        "promote.baseline",
        "promote.baseline.enabled",
        "promote.baseline.margin",
        "promote.baseline.mode",
    } <= keys
    assert "validate_" not in keys
    assert "register_" not in keys
    assert "paths.schema_" not in keys
    # fixed and space are free mappings (hyperparameter names are data, not config keys).
    assert "models.hist_gradient_boosting.fixed.max_iter" not in keys
    assert "models.hist_gradient_boosting.space.learning_rate" not in keys


def test_dotted_keys_match_the_repo_params_file() -> None:
    def flatten(node: dict[str, Any], prefix: str = "") -> set[str]:
        keys: set[str] = set()
        for name, value in node.items():
            keys.add(f"{prefix}{name}")
            if isinstance(value, dict):
                keys |= flatten(value, f"{prefix}{name}.")
        return keys

    # a data set's floors (metric: bound) and each family's fixed and space (hyperparameter:
    # value or range) are free mappings: their keys are data, not config keys.
    free = re.compile(r"^(datasets\.[^.]+\.floors|models\.[a-z_]+\.(fixed|space))\.")
    raw = _raw()
    in_file = {key for key in flatten(raw) if not free.match(key)}
    assert in_file == file_keys(raw["datasets"])
    assert {
        "models.svm.fixed",
        "models.svm.space",
        "datasets.customer-purchase.floors",
        "datasets.customer-purchase.file",
        "dataset",
        "promote.baseline.mode",
    } <= in_file
    # the resolved keys are the config's, never the file's
    assert not {".".join(key) for key in DATASET_KEYS} & in_file


def test_file_keys() -> None:
    keys = file_keys(["a", "b-2"])

    assert {"datasets.a", "datasets.a.target", "datasets.b-2.floors", "dataset"} <= keys
    assert {"ingest.target", "ingest.path", "promote.floors", "validate.suite"} & keys == set()
    assert {"ingest.max_classes", "validate.missing_tokens", "generate.dataset"} <= keys
    assert "generate.path" not in keys
    assert file_keys([]) == dotted_keys(Params) - {".".join(key) for key in DATASET_KEYS}


def _register(model_name: str, experiment: str) -> RegisterParams:
    return RegisterParams(
        model_name=model_name, experiment=experiment, input_example_rows=5, require_approval=False
    )


def test_register_names_auto() -> None:
    register = _register("auto", "auto")

    assert register.resolved_model_name("data/raw/customer-purchase.csv") == "customer-purchase"
    assert register.resolved_experiment("data/raw/customer-purchase.csv") == "customer-purchase"
    assert register.resolved_model_name("churn.parquet") == "churn"


def test_register_names_explicit() -> None:
    assert _register("churn", "auto").resolved_experiment("data/x.csv") == "churn"
    assert _register("churn", "auto").resolved_model_name("data/x.csv") == "churn"
    assert _register("auto", "nightly").resolved_model_name("data/x.csv") == "x"
    assert _register("auto", "nightly").resolved_experiment("data/x.csv") == "nightly"
    assert _register("churn", "nightly").resolved_experiment("data/x.csv") == "nightly"


# --- dvc.yaml consistency ------------------------------------------------------------------


def _dvc() -> dict[str, Any]:
    return yaml.safe_load(DVC_FILE.read_text(encoding="utf-8"))


def _with_dataset(key: str) -> str:
    # dvc.yaml names the active data set's keys as datasets.${dataset}.*
    return re.sub(r"\$\{\s*dataset\s*\}", _raw()["dataset"], key)


def test_dvc_stage_params_exist_in_the_typed_config() -> None:
    keys = file_keys(_raw()["datasets"])
    listed: list[str] = []
    for stage in _dvc()["stages"].values():
        for entry in stage.get("params", []):
            if isinstance(entry, dict):  # {file: [keys]} form
                for names in entry.values():
                    listed.extend(_with_dataset(name) for name in names)
            else:
                listed.append(_with_dataset(entry))

    assert listed
    assert "datasets.customer-purchase.target" in listed
    assert sorted(set(listed) - keys) == []


def test_dvc_templates_exist_in_the_typed_config() -> None:
    references = re.findall(r"\$\{\s*([^}\s]+)\s*\}", DVC_FILE.read_text(encoding="utf-8"))

    # DVC fills templates from the file, so each must be a key the file holds
    assert {"paths.schema", "paths.raw", "dataset"} <= set(references)
    assert sorted(set(references) - file_keys(_raw()["datasets"])) == []


def test_dvc_stages_are_the_flow_stages() -> None:
    from tasks.pipeline.stages import STAGES

    assert sorted(_dvc()["stages"]) == sorted(STAGES)


# --- monitor: drift methods ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        (
            "monitor.numerical_method=chisquare",
            "drift method 'chisquare' does not apply to numerical columns; numerical methods: "
            "anderson, cramer_von_mises, ed, es, hellinger, jensenshannon, kl_div, ks, mannw, "
            "psi, t_test, wasserstein",
        ),
        (
            "monitor.categorical_method=TVD",
            "drift method 'TVD' is not supported: its permutation test takes about 20 s per "
            "column at 20,000 rows; valid methods: anderson, chisquare, cramer_von_mises, ed, "
            "es, g_test, hellinger, jensenshannon, kl_div, ks, mannw, psi, t_test, wasserstein, z",
        ),
    ],
)
def test_monitor_methods_are_checked_against_their_column_kind(override: str, reason: str) -> None:
    message = f"{PARAMS_FILE} with --set {override}: 'monitor': Value error, {reason}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, [override])


def test_monitor_accepts_a_method_that_fits_both_kinds() -> None:
    params = load_params(PARAMS_FILE, ["monitor.numerical_method=psi"])

    assert params.monitor.numerical_method == "psi"
    assert params.monitor.categorical_method == "jensenshannon"


# --- data sets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ("ingest.path=x.csv", "belongs to the data set: set datasets.<name>.file"),
        ("ingest.target=x", "belongs to the data set: set datasets.<name>.target"),
        ("ingest.task=binary", "belongs to the data set: set datasets.<name>.task"),
        ("ingest.id_columns=[a]", "belongs to the data set: set datasets.<name>.id_columns"),
        ("ingest.drop_columns=[a]", "belongs to the data set: set datasets.<name>.drop_columns"),
        ("ingest.categorical=[a]", "belongs to the data set: set datasets.<name>.categorical"),
        ("ingest.numeric=[a]", "belongs to the data set: set datasets.<name>.numeric"),
        (
            "evaluate.primary_metric=f1",
            "belongs to the data set: set datasets.<name>.primary_metric",
        ),
        ("promote.floors={}", "belongs to the data set: set datasets.<name>.floors"),
        ("register.model_name=x", "belongs to the data set: set datasets.<name>.model_name"),
        (
            "validate.suite=x",
            "the suite is the data set's name now (gx/expectations/<dataset>.json); remove it",
        ),
        ("generate.path=x", "the demo writes the raw file of generate.dataset; remove it"),
    ],
)
def test_a_stage_key_that_belongs_to_the_data_set_is_refused(override: str, reason: str) -> None:
    key = override.partition("=")[0]
    message = f"{PARAMS_FILE} with --set {override}: '{key}': {reason}"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, [override])


def test_every_moved_key_in_a_file_is_reported() -> None:
    raw = _raw()
    raw["ingest"]["target"] = "purchased"
    raw["promote"]["floors"] = {"roc_auc": 0.7}
    raw["validate"]["suite"] = "auto"

    with pytest.raises(ConfigError) as caught:
        parse_params(raw)

    assert str(caught.value).splitlines() == [
        "params.yaml: 'ingest.target': belongs to the data set: set datasets.<name>.target",
        "params.yaml: 'promote.floors': belongs to the data set: set datasets.<name>.floors",
        "params.yaml: 'validate.suite': the suite is the data set's name now "
        "(gx/expectations/<dataset>.json); remove it",
    ]


def test_the_active_data_set_must_be_a_key_of_datasets() -> None:
    message = (
        f"{PARAMS_FILE} with --set dataset=churn: 'dataset': 'churn' is not a key of datasets "
        "(data sets: customer-purchase)"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, ["dataset=churn"])


def test_the_demo_data_set_must_be_a_key_of_datasets() -> None:
    message = (
        f"{PARAMS_FILE} with --set generate.dataset=zz: 'generate.dataset': 'zz' is not a key "
        "of datasets"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, ["generate.dataset=zz"])


def test_a_data_set_name_outside_the_allowed_characters_is_refused() -> None:
    raw = _raw()
    raw["datasets"]["bad name"] = dict(raw["datasets"]["customer-purchase"])

    message = "params.yaml: data set name(s) ['bad name']: use letters, digits, '-' and '_' only"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        parse_params(raw)


@pytest.mark.parametrize("file", ["a/b.csv", "..", "../x.csv"])
def test_a_data_set_file_is_a_plain_file_name(file: str) -> None:
    override = f"datasets.customer-purchase.file={file}"
    message = (
        f"{PARAMS_FILE} with --set {override}: 'datasets.customer-purchase': Value error, "
        f"file must be a file name inside the data set's folder, got '{file}'"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, [override])


def test_an_unknown_key_of_a_data_set_names_the_data_set() -> None:
    message = (
        f"{PARAMS_FILE} with --set datasets.customer-purchase.bogus=1: "
        "unknown key 'datasets.customer-purchase.bogus'"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, ["datasets.customer-purchase.bogus=1"])


def test_a_wrong_data_set_value_names_the_data_set_key() -> None:
    message = (
        f"{PARAMS_FILE} with --set datasets.customer-purchase.task=ordinal: "
        "'datasets.customer-purchase.task': Input should be 'auto', 'binary', 'multiclass' or "
        "'regression' (got 'ordinal')"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(PARAMS_FILE, ["datasets.customer-purchase.task=ordinal"])


def test_data_set_overrides_resolve_into_the_stage_slices() -> None:
    params = load_params(
        PARAMS_FILE,
        [
            "datasets.customer-purchase.numeric=[visits]",
            "datasets.customer-purchase.target=amount",
            "datasets.customer-purchase.task=regression",
            "datasets.customer-purchase.primary_metric=mae",
            "datasets.customer-purchase.floors={mae: 3.5}",
            "datasets.customer-purchase.file=sessions.tsv",
            "paths.raw=raw",
        ],
    )

    assert params.ingest.numeric == ("visits",)
    assert params.ingest.target == "amount"
    assert params.ingest.task == "regression"
    assert params.evaluate.primary_metric == "mae"
    assert params.promote.floors == {"mae": 3.5}
    assert params.ingest.path == "raw/customer-purchase/sessions.tsv"
    assert params.generate.path == "raw/customer-purchase/sessions.tsv"
    assert params.dataset_path("customer-purchase") == "raw/customer-purchase/sessions.tsv"


def test_dataset_overrides_add_a_new_data_set_and_make_it_active() -> None:
    overrides = dataset_overrides("churn", "My churn.csv", "Exited")

    assert overrides == [
        'datasets.churn.file="My churn.csv"',
        'datasets.churn.target="Exited"',
        "datasets.churn.task=auto",
        "datasets.churn.primary_metric=auto",
        "datasets.churn.floors={}",
        "datasets.churn.id_columns=[]",
        "datasets.churn.drop_columns=[]",
        "datasets.churn.categorical=[]",
        "datasets.churn.numeric=[]",
        "datasets.churn.model_name=auto",
        "dataset=churn",
    ]
    params = load_params(PARAMS_FILE, overrides)
    assert params.dataset == "churn"
    assert params.ingest.path == "data/raw/churn/My churn.csv"
    assert params.ingest.target == "Exited"
    assert params.validate_.suite == "churn"
    assert params.register_.model_name == "churn"
    assert params.model_name == "churn"
    assert params.promote.floors == {}
    # the demo's data set is still its own
    assert params.generate.path == "data/raw/customer-purchase/customer-purchase.csv"
    assert params.dataset_path("customer-purchase") == (
        "data/raw/customer-purchase/customer-purchase.csv"
    )


def test_dataset_overrides_update_an_existing_data_set() -> None:
    overrides = dataset_overrides("customer-purchase", "v2.csv", "bought", "binary", new=False)

    assert overrides == [
        'datasets.customer-purchase.file="v2.csv"',
        'datasets.customer-purchase.target="bought"',
        "datasets.customer-purchase.task=binary",
        "dataset=customer-purchase",
    ]
    params = load_params(PARAMS_FILE, overrides)
    assert params.ingest.path == "data/raw/customer-purchase/v2.csv"
    assert (params.ingest.target, params.ingest.task) == ("bought", "binary")
    assert params.promote.floors == {"roc_auc": 0.7}  # kept


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("My Data.csv.gz", "My-Data"),
        ("data/raw/sessions.tsv", "sessions"),
        ("x.parquet", "x"),
        ("b.pq", "b"),
        ("T.CSV", "T"),
        ("a.b.csv", "a-b"),
        ("__.csv", "data"),
        ("churn_2024.tsv.gz", "churn_2024"),
    ],
)
def test_dataset_name_from_a_file_name(path: str, name: str) -> None:
    assert dataset_name(path) == name
    assert dataset_name(Path(path)) == name


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "validate.max_out_of_range=0",
            "'validate.max_out_of_range': Input should be greater than 0 (got 0)",
        ),
        (
            "validate.max_out_of_range=1",
            "'validate.max_out_of_range': Input should be less than 1 (got 1)",
        ),
        (
            "promote.baseline.mode=share",
            "'promote.baseline.mode': Input should be 'absolute' or 'relative' (got 'share')",
        ),
        (
            "promote.baseline.margin=-1",
            "'promote.baseline.margin': Input should be greater than or equal to 0 (got -1)",
        ),
    ],
)
def test_new_keys_are_bounded(override: str, message: str) -> None:
    full = f"{PARAMS_FILE} with --set {override}: {message}"
    with pytest.raises(ConfigError, match=f"^{re.escape(full)}$"):
        load_params(PARAMS_FILE, [override])


# --- paths stay inside the project (security review #7) -------------------------------------


def test_an_absolute_path_is_refused_with_its_key_and_value(params_copy: Path) -> None:
    message = (
        f"{params_copy} with --set paths.model=/usr/lib/python3/site-packages/x.pth: "
        "'paths.model': '/usr/lib/python3/site-packages/x.pth' is absolute; a path must be "
        "relative and stay inside the project"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(params_copy, ["paths.model=/usr/lib/python3/site-packages/x.pth"])


def test_paths_that_climb_out_are_refused_each_by_its_key(params_copy: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_params(params_copy, ["paths.raw=../elsewhere", "paths.metrics=reports/../../m.json"])

    source = f"{params_copy} with --set paths.raw=../elsewhere paths.metrics=reports/../../m.json"
    rule = "climbs out with '..'; a path must be relative and stay inside the project"
    assert str(refused.value).splitlines() == [
        f"{source}: 'paths.raw': '../elsewhere' {rule}",
        f"{source}: 'paths.metrics': 'reports/../../m.json' {rule}",
        f"{source}: 'ingest.path': '../elsewhere/customer-purchase/customer-purchase.csv' {rule}",
        f"{source}: 'generate.path': '../elsewhere/customer-purchase/customer-purchase.csv' {rule}",
    ]


def test_a_path_through_a_link_out_of_the_project_is_refused(
    params_copy: Path, tmp_path: Path
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "logs").symlink_to(outside)

    message = (
        f"{params_copy}: 'paths.inference_log': 'logs/inference.db' resolves outside "
        f"{tmp_path.resolve()}; a path must be relative and stay inside the project"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        load_params(params_copy)


def test_parsing_without_a_root_still_refuses_absolute_paths() -> None:
    raw = apply_overrides(_raw(), ["validate.quarantine_dir=C:\\quarantine"])

    message = (
        "params.yaml: 'validate.quarantine_dir': 'C:\\\\quarantine' is absolute; a path must "
        "be relative and stay inside the project"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        parse_params(raw)


def test_the_pending_rows_limit_must_take_one_whole_request() -> None:
    with pytest.raises(ConfigError) as caught:
        load_params(PARAMS_FILE, ["serve.max_pending_rows=5"])

    assert str(caught.value) == (
        f"{PARAMS_FILE} with --set serve.max_pending_rows=5: 'serve': Value error, "
        "max_pending_rows=5 is below max_rows=10000: a request of max_rows rows could never "
        "be scored"
    )
