"""The baseline: what the training flow does, with pandas and scikit-learn alone.

Read the CSV, split 80/10/10 stratified, fit the same preprocessing + HistGradientBoosting
pipeline, predict and score validation and test. No DVC, no Prefect, no MLflow, no files.
Prints its phase timings as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

started = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn import metrics  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

imported = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
target = "purchased"
features = frame.drop(columns=[target, "session_id"])
numeric = features.select_dtypes("number").columns.tolist()
categorical = [c for c in features.columns if c not in numeric]
read = time.perf_counter()

train, rest = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame[target])
valid, test = train_test_split(rest, test_size=0.5, random_state=42, stratify=rest[target])
model = Pipeline(
    [
        (
            "preprocess",
            ColumnTransformer(
                [
                    (
                        "numeric",
                        make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                        numeric,
                    ),
                    (
                        "categorical",
                        make_pipeline(
                            SimpleImputer(strategy="most_frequent"),
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                min_frequency=0.01,
                                sparse_output=False,
                            ),
                        ),
                        categorical,
                    ),
                ]
            ),
        ),
        (
            "model",
            HistGradientBoostingClassifier(
                max_iter=200,
                max_leaf_nodes=31,
                learning_rate=0.1,
                early_stopping=False,
                random_state=42,
            ),
        ),
    ]
)
model.fit(train[numeric + categorical], train[target])
fitted = time.perf_counter()
scores = {}
for name, part in (("valid", valid), ("test", test)):
    proba = model.predict_proba(part[numeric + categorical])[:, 1]
    predicted = (proba >= 0.5).astype(int)
    scores[name] = {
        "roc_auc": metrics.roc_auc_score(part[target], proba),
        "f1": metrics.f1_score(part[target], predicted),
        "accuracy": metrics.accuracy_score(part[target], predicted),
        "confusion": np.asarray(metrics.confusion_matrix(part[target], predicted)).tolist(),
    }
scored = time.perf_counter()
print(
    json.dumps(
        {
            "import": imported - started,
            "read": read - imported,
            "fit": fitted - read,
            "score": scored - fitted,
            "test_roc_auc": scores["test"]["roc_auc"],
        }
    )
)
