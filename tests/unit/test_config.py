"""Unit tests for the typed config: params.yaml parsing, overrides and their write-back."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.config import (
    ConfigError,
    Params,
    RegisterParams,
    apply_overrides,
    dotted_keys,
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

    assert params.ingest.target == "purchased"
    assert params.ingest.id_columns == ()
    assert params.validate_.min_rows == 50
    assert params.split.validation_size == 0.1
    assert params.split.test_size == 0.1
    assert params.features.missing.numeric_imputation == "median"
    assert params.features.transform.scaling == "standard"
    assert params.features.encoding.min_frequency == 0.01
    assert params.train.model == "hist_gradient_boosting"
    assert params.models.hist_gradient_boosting.fixed == {"max_iter": 200, "early_stopping": False}
    assert params.models.logistic_regression.fixed == {"max_iter": 1000}
    assert params.tune.method == "none"
    assert params.evaluate.primary_metric == "auto"
    assert params.evaluate.importance_repeats == 5
    assert params.register_.model_name == "auto"
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
        "max_iter": 200,
        "early_stopping": False,
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
        ("ingest.numeric=[a, b]", (("ingest", "numeric"), ["a", "b"])),
        ("ingest.numeric=[]", (("ingest", "numeric"), [])),
        ('register.model_name="yes"', (("register", "model_name"), "yes")),
        ("register.model_name='123'", (("register", "model_name"), "123")),
        ("register.model_name=churn", (("register", "model_name"), "churn")),
        (
            "models.logistic_regression.fixed.C=0.5",
            (("models", "logistic_regression", "fixed", "C"), 0.5),
        ),
        ("models.ridge.space={}", (("models", "ridge", "space"), {})),
        (" train . seed =7", (("train", "seed"), 7)),
        ("ingest.path=a=b.csv", (("ingest", "path"), "a=b.csv")),
        ("ingest.target=", (("ingest", "target"), "")),
        ("ingest.target=[unclosed", (("ingest", "target"), "[unclosed")),
    ],
)
def test_parse_override(text: str, expected: tuple[tuple[str, ...], Any]) -> None:
    parts, value = parse_override(text)

    assert (parts, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize("text", ["train=1", "nokey", "train.seed", ".seed=1", "train..seed=1"])
def test_parse_override_malformed(text: str) -> None:
    message = f"override '{text}': expected stage.key=value"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        parse_override(text)


def test_apply_overrides_does_not_mutate_its_input() -> None:
    raw = _raw()
    before = _raw()

    result = apply_overrides(
        raw, ["train.seed=7", "models.hist_gradient_boosting.fixed.max_iter=5"]
    )

    assert raw == before
    assert result["train"]["seed"] == 7
    assert result["models"]["hist_gradient_boosting"]["fixed"]["max_iter"] == 5
    assert raw["models"]["hist_gradient_boosting"]["fixed"]["max_iter"] == 200
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
    params = load_params(PARAMS_FILE, ["train.model=ridge", 'register.model_name="yes"'])

    assert params.train.model == "ridge"
    assert params.register_.model_name == "yes"


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
    assert params.models.hist_gradient_boosting.fixed == {"max_iter": 50, "early_stopping": False}
    assert params.split.test_size == 0.2
    assert params.features.transform.scaling == "none"
    text = params_copy.read_text(encoding="utf-8")
    assert (
        "    fixed: {max_iter: 50, early_stopping: false}   # boosting iterations; "
        "no internal hold-out\n"
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
        ["ingest.numeric=[]"],
        ["register.model_name=auto"],
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
    write_overrides(params_copy, ['register.model_name="yes"'])

    assert load_params(params_copy).register_.model_name == "yes"


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
        "ingest.path",
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

    # promote.floors (metric: bound) and each family's fixed and space (hyperparameter: value
    # or range) are free mappings: their keys are data, not config keys.
    free = re.compile(r"^(promote\.floors|models\.[a-z_]+\.(fixed|space))\.")
    in_file = {key for key in flatten(_raw()) if not free.match(key)}
    assert in_file == dotted_keys(Params)
    assert {"models.svm.fixed", "models.svm.space", "promote.floors"} <= in_file


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


def test_dvc_stage_params_exist_in_the_typed_config() -> None:
    keys = dotted_keys(Params)
    listed: list[str] = []
    for stage in _dvc()["stages"].values():
        for entry in stage.get("params", []):
            if isinstance(entry, dict):  # {file: [keys]} form
                for names in entry.values():
                    listed.extend(names)
            else:
                listed.append(entry)

    assert listed
    assert sorted(set(listed) - keys) == []


def test_dvc_templates_exist_in_the_typed_config() -> None:
    references = re.findall(r"\$\{\s*([^}\s]+)\s*\}", DVC_FILE.read_text(encoding="utf-8"))

    assert "paths.schema" in references
    assert sorted(set(references) - dotted_keys(Params)) == []


def test_dvc_stages_are_the_flow_stages() -> None:
    from flows.stages import STAGES

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
