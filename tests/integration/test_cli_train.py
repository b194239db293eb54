"""`mlops train --data` on a table that is not ours: an index column, a text target, gaps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from cli.main import app
from tasks.adapters import tracking, versioning
from tasks.config import load_params

pytestmark = pytest.mark.integration


def churn_table(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows).astype(float)
    charges = rng.normal(70, 20, rows).round(2)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    churn_score = -0.05 * tenure + 0.03 * charges + (plan == "basic") * 1.0
    churned = np.where(churn_score + rng.normal(0, 1, rows) > 0.8, "yes", "no").astype(object)
    tenure[rng.choice(rows, 20, replace=False)] = np.nan
    plan = plan.astype(object)
    plan[rng.choice(rows, 15, replace=False)] = None
    churned[[3, 50, 200]] = None
    return pd.DataFrame(
        {"monthly_charges": charges, "tenure_months": tenure, "plan": plan, "churned": churned}
    )


def test_train_on_any_csv(prefect_server: str, project: Path, tmp_path: Path) -> None:
    source = tmp_path / "churn.csv"
    churn_table().to_csv(source)  # writes the row index as an unnamed first column

    result = CliRunner().invoke(
        app, ["train", "--data", str(source), "--target", "churned"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output

    copied = project / "data/raw/churn/churn.csv"
    assert copied.read_bytes() == source.read_bytes()
    assert versioning.tracked_md5(project, copied) in result.output
    schema = json.loads((project / "data/processed/schema.json").read_text())
    assert schema["id_columns"] == ["Unnamed: 0"]
    assert schema["task"] == "binary"
    assert schema["classes"] == ["no", "yes"]
    assert schema["numeric"] == ["monthly_charges", "tenure_months"]
    assert schema["categorical"] == ["plan"]
    report = json.loads((project / "reports/ingest.json").read_text())
    assert report["rows_in"] == 400
    assert report["rows_missing_target"] == 3
    assert report["rows_out"] == 397
    assert report["id_columns"] == {
        "Unnamed: 0": "sequential integers, one per row (a row index or key)"
    }
    assert "Champion: churn version 1" in result.output

    tracking.configure(project)
    champion = MlflowClient().get_model_version_by_alias("churn", "champion")
    assert str(champion.version) == "1"
    params = load_params(project / "params.yaml")
    assert params.dataset == "churn"
    assert params.data.file == "churn.csv"
    assert params.data.target == "churned"
    assert params.data.floors == {}
    assert params.ingest.path == "data/raw/churn/churn.csv"
    assert "customer-purchase" in params.datasets  # the demo's data set keeps its own settings


def test_train_without_target_is_refused(project: Path, tmp_path: Path) -> None:
    source = tmp_path / "churn.csv"
    churn_table().to_csv(source, index=False)
    result = CliRunner().invoke(app, ["train", "--data", str(source)])
    assert result.exit_code == 1
    assert "--target is required with --data" in result.output


def test_missing_target_column_names_the_column(
    prefect_server: str, project: Path, tmp_path: Path
) -> None:
    source = tmp_path / "churn.csv"
    churn_table().to_csv(source, index=False)
    result = CliRunner().invoke(app, ["train", "--data", str(source), "--target", "label"])
    assert result.exit_code == 1
    assert "target column 'label' not found; columns are" in result.output
    assert "'monthly_charges', 'tenure_months', 'plan', 'churned'" in result.output


def test_an_unknown_data_set_is_refused_with_the_known_ones(project: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--dataset", "nope"])

    assert result.exit_code == 1
    assert "no data set 'nope' in params.yaml (data sets: customer-purchase)" in result.output


def test_a_file_type_that_is_not_a_table_is_refused_before_anything_is_copied(
    project: Path, tmp_path: Path
) -> None:
    source = tmp_path / "churn.xlsx"
    source.write_bytes(b"PK\x03\x04 not really a workbook")

    result = CliRunner().invoke(app, ["train", "--data", str(source), "--target", "churned"])

    assert result.exit_code == 1
    assert "churn.xlsx: unsupported file type; name the file .csv, .tsv, .csv.gz" in result.output
    assert not (project / "data/raw/churn").exists()
