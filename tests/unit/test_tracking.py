"""The MLflow adapter's choice of tracking store, and param flattening."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.adapters import tracking
from tasks.steps.register import flatten


def test_default_store_follows_the_project_even_after_mlflow_exported_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = tmp_path / "a", tmp_path / "b"

    assert tracking.configure(first) == f"sqlite:///{first}/mlflow.db"
    # mlflow.set_tracking_uri exported the first store to the environment ...
    assert tracking.configure(second) == f"sqlite:///{second}/mlflow.db"


def test_the_users_tracking_uri_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////srv/shared/mlflow.db")

    assert tracking.configure(tmp_path / "a") == "sqlite:////srv/shared/mlflow.db"
    assert tracking.configure(tmp_path / "b") == "sqlite:////srv/shared/mlflow.db"


def test_flatten_nested_params() -> None:
    nested = {"train": {"seed": 1, "hgb": {"max_iter": 5}}, "ingest": {"id_columns": ["a"]}}

    assert flatten(nested) == {
        "train.seed": 1,
        "train.hgb.max_iter": 5,
        "ingest.id_columns": ["a"],
    }


def test_dataset_schema_comes_from_the_dtypes() -> None:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {"age": [31.0, np.nan], "visits": [2.0, 3.0], "device": ["mobile", None], "y": [0, 1]}
    )

    schema = tracking._frame_schema(frame)

    assert [(c.name, c.type.name, c.required) for c in schema.inputs] == [
        ("age", "double", False),
        ("visits", "double", True),
        ("device", "string", False),
        ("y", "long", True),
    ]


def test_log_model_checks_its_example_without_opening_mlflows_loaders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false (our default), MLflow's own check of the
    serving input example fails and warns at every registration; the register stage lets it
    load the model it just wrote, for that call only."""
    import mlflow
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.configure(tmp_path)
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1])
    warned = {}
    for guarded in (False, True):
        caplog.clear()
        with mlflow.start_run(), caplog.at_level("WARNING"):
            if guarded:
                with tracking._mlflow_may_load_what_it_just_wrote():
                    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "true"
                    mlflow.sklearn.log_model(model, name="model", input_example=frame.head(2))
            else:
                mlflow.sklearn.log_model(model, name="model", input_example=frame.head(2))
        warned[guarded] = "Failed to validate serving input example" in caplog.text

    assert warned == {False: True, True: False}
    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
