"""The baseline: what the training flow does, with pandas and scikit-learn alone.

Read the CSV, split 80/10/10 stratified, fit the same preprocessing + HistGradientBoosting
pipeline (benchmarks/baseline_model.py), predict and score validation and test. No DVC, no
Prefect, no MLflow, no files. Prints its phase timings as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

started = time.perf_counter()
import pandas as pd  # noqa: E402

from benchmarks.baseline_model import TARGET, feature_columns, pipeline, scores, splits  # noqa: E402

imported = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
numeric, categorical = feature_columns(frame)
read = time.perf_counter()

train, valid, test = splits(frame)
model = pipeline(numeric, categorical)
model.fit(train[numeric + categorical], train[TARGET])
fitted = time.perf_counter()
scored_parts = scores(model, {"valid": valid, "test": test}, numeric + categorical)
scored = time.perf_counter()
print(
    json.dumps(
        {
            "import": imported - started,
            "read": read - imported,
            "fit": fitted - read,
            "score": scored - fitted,
            "test_roc_auc": scored_parts["test"]["roc_auc"],
        }
    )
)
