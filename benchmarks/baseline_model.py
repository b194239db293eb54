"""The model both baselines fit (benchmarks/bare_training.py and hand_training.py): the training
flow's default Pipeline written out by hand, so that the two cannot drift apart.

The demo's columns, split 80/10/10 stratified, median/most-frequent imputation, scaling and
one-hot encoding (infrequent categories grouped at 1%), 200 iterations of histogram gradient
boosting without early stopping; scored on validation and test at the 0.5 threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TARGET = "purchased"
HYPERPARAMETERS = {"max_iter": 200, "max_leaf_nodes": 31, "learning_rate": 0.1}


def feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns of the demo's table."""
    features = frame.drop(columns=[TARGET, "session_id"])
    numeric = features.select_dtypes("number").columns.tolist()
    return numeric, [c for c in features.columns if c not in numeric]


def splits(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """train, valid, test: 80/10/10, stratified by the target, seed 42."""
    train, rest = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame[TARGET])
    valid, test = train_test_split(rest, test_size=0.5, random_state=42, stratify=rest[TARGET])
    return train, valid, test


def pipeline(numeric: list[str], categorical: list[str]) -> Pipeline:
    encode = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=0.01, sparse_output=False
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "categorical",
                make_pipeline(SimpleImputer(strategy="most_frequent"), encode),
                categorical,
            ),
        ]
    )
    model = HistGradientBoostingClassifier(**HYPERPARAMETERS, early_stopping=False, random_state=42)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def scores(model: Pipeline, parts: dict[str, pd.DataFrame], columns: list[str]) -> dict[str, Any]:
    """ROC AUC, F1, accuracy and the confusion matrix of each part."""
    result = {}
    for name, part in parts.items():
        proba = model.predict_proba(part[columns])[:, 1]
        predicted = (proba >= 0.5).astype(int)
        result[name] = {
            "roc_auc": metrics.roc_auc_score(part[TARGET], proba),
            "f1": metrics.f1_score(part[TARGET], predicted),
            "accuracy": metrics.accuracy_score(part[TARGET], predicted),
            "confusion": np.asarray(metrics.confusion_matrix(part[TARGET], predicted)).tolist(),
        }
    return result
