"""The same work as the training flow, written by hand: what a data scientist would script.

Read the CSV, validate it with Great Expectations against the project's committed suite
(gx/expectations/customer-purchase.json, an ephemeral context, as the docs show), split 80/10/10
stratified, fit the same preprocessing + HistGradientBoosting pipeline (baseline_model.py),
score validation and test, and log the run (params, metrics) and the model (signature, input
example) to MLflow, then register it. No DVC, no Prefect. Prints its phase timings as one JSON
line. The store is MLFLOW_TRACKING_URI (the benchmark gives the flow's store).

    python -m benchmarks.hand_training data.csv
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

started = time.perf_counter()
import great_expectations as gx  # noqa: E402
import mlflow  # noqa: E402
import mlflow.sklearn  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402

from benchmarks.baseline_model import (  # noqa: E402
    HYPERPARAMETERS,
    TARGET,
    feature_columns,
    pipeline,
    scores,
    splits,
)

imported = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
numeric, categorical = feature_columns(frame)
read = time.perf_counter()

suite_file = Path(__file__).resolve().parents[1] / "gx" / "expectations" / "customer-purchase.json"
suite = json.loads(suite_file.read_text())
context = gx.get_context(mode="ephemeral")
batch = (
    context.data_sources.add_pandas("hand")
    .add_dataframe_asset("raw")
    .add_batch_definition_whole_dataframe("all")
    .get_batch(batch_parameters={"dataframe": frame})
)
checked = batch.validate(
    gx.ExpectationSuite(name=suite["name"], expectations=[dict(e) for e in suite["expectations"]]),
    result_format={"result_format": "SUMMARY"},
)
failed = [str(r.expectation_config and r.expectation_config.type) for r in checked.results
          if not r.success]  # fmt: skip
validated = time.perf_counter()

train, valid, test = splits(frame)
model = pipeline(numeric, categorical)
model.fit(train[numeric + categorical], train[TARGET])
fitted = time.perf_counter()
scored_parts = scores(model, {"valid": valid, "test": test}, numeric + categorical)
scored = time.perf_counter()
mlflow.set_experiment("hand-written")
with mlflow.start_run():
    mlflow.log_params(HYPERPARAMETERS)
    mlflow.log_metrics({f"{part}_{k}": v for part, s in scored_parts.items() for k, v in s.items()
                        if k != "confusion"})  # fmt: skip
    example = test[numeric + categorical].head(5)
    mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
        registered_model_name="hand-written",
        # MLflow 3 saves scikit-learn models with skops and asks which types to trust
        skops_trusted_types=[
            "numpy.dtype",
            "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        ],
    )
logged = time.perf_counter()
print(
    json.dumps(
        {
            "import": imported - started,
            "read": read - imported,
            "validate": validated - read,
            "fit": fitted - validated,
            "score": scored - fitted,
            "log_model": logged - scored,
            "failed_expectations": failed,
            "test_roc_auc": scored_parts["test"]["roc_auc"],
        }
    )
)
