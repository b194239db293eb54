"""Unit tests for the synthetic purchase-session generator."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from tasks.steps.generate import ID_COLUMN, TARGET, Drift, generate_sessions

EXPECTED_DTYPES = {
    "session_id": "int64",
    "session_duration_sec": "float64",
    "pages_viewed": "int64",
    "product_page_views": "int64",
    "cart_adds": "int64",
    "days_since_last_visit": "float64",
    "previous_purchases": "int64",
    "avg_order_value": "float64",
    "discount_seen": "int64",
    "customer_age": "float64",
    "device": "object",
    "traffic_source": "object",
    "region": "object",
    "membership": "object",
    "purchased": "int64",
}
EXPECTED_COLUMNS = list(EXPECTED_DTYPES)
FEATURE_COLUMNS = [c for c in EXPECTED_COLUMNS if c not in (ID_COLUMN, TARGET)]

# (low, high) inclusive bands for the fraction of missing values per column at 20k rows.
NULL_BANDS = {
    "session_id": (0.0, 0.0),
    "session_duration_sec": (0.0, 0.0),
    "pages_viewed": (0.0, 0.0),
    "product_page_views": (0.0, 0.0),
    "cart_adds": (0.0, 0.0),
    "days_since_last_visit": (0.06, 0.10),
    "previous_purchases": (0.0, 0.0),
    "avg_order_value": (0.45, 0.65),
    "discount_seen": (0.0, 0.0),
    "customer_age": (0.04, 0.08),
    "device": (0.0, 0.0),
    "traffic_source": (0.0, 0.0),
    "region": (0.0, 0.0),
    "membership": (0.02, 0.04),
    "purchased": (0.0, 0.0),
}


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return generate_sessions(20_000, seed=0)


def _design(df: pd.DataFrame, columns: pd.Index | None = None) -> pd.DataFrame:
    """One-hot encode categoricals; numeric NaN is left for HGB to handle."""
    x = pd.get_dummies(df.drop(columns=[ID_COLUMN, TARGET]), dtype=float)
    if columns is not None:
        x = x.reindex(columns=columns, fill_value=0.0)
    return x


@pytest.fixture(scope="module")
def trained_model() -> tuple[HistGradientBoostingClassifier, pd.Index]:
    train = generate_sessions(16_000, seed=1)
    x = _design(train)
    model = HistGradientBoostingClassifier(random_state=0).fit(x, train[TARGET])
    return model, x.columns


def _auc(
    model_and_columns: tuple[HistGradientBoostingClassifier, pd.Index], df: pd.DataFrame
) -> float:
    model, columns = model_and_columns
    scores = model.predict_proba(_design(df, columns))[:, 1]
    return float(roc_auc_score(df[TARGET], scores))


# --- schema -------------------------------------------------------------------------------


def test_exact_column_list(sessions: pd.DataFrame) -> None:
    assert list(sessions.columns) == EXPECTED_COLUMNS


def test_dtypes(sessions: pd.DataFrame) -> None:
    assert {c: str(t) for c, t in sessions.dtypes.items()} == EXPECTED_DTYPES


def test_row_count_and_single_row() -> None:
    assert len(generate_sessions(1, seed=3)) == 1
    assert len(generate_sessions(1234, seed=3)) == 1234


def test_categorical_levels(sessions: pd.DataFrame) -> None:
    assert set(sessions["device"]) == {"mobile", "desktop", "tablet"}
    assert set(sessions["traffic_source"]) == {
        "organic",
        "paid_search",
        "social",
        "email",
        "direct",
        "referral",
    }
    assert sessions["region"].nunique() == 5
    assert set(sessions["membership"].dropna()) == {"none", "basic", "premium"}
    assert all(isinstance(v, str) for v in sessions["device"])


def test_label_and_flags_are_binary(sessions: pd.DataFrame) -> None:
    assert set(sessions[TARGET].unique()) == {0, 1}
    assert set(sessions["discount_seen"].unique()) == {0, 1}


def test_counts_are_consistent(sessions: pd.DataFrame) -> None:
    assert (sessions["pages_viewed"] >= 1).all()
    assert (sessions["product_page_views"] <= sessions["pages_viewed"]).all()
    assert (sessions["cart_adds"] <= sessions["product_page_views"]).all()
    assert (sessions["cart_adds"] == 0).mean() > 0.6
    assert (sessions["session_duration_sec"] > 0).all()


# --- determinism and ids ------------------------------------------------------------------


def test_same_arguments_give_identical_frames() -> None:
    pd.testing.assert_frame_equal(generate_sessions(3_000, 7), generate_sessions(3_000, 7))
    drift = Drift(covariate=0.7, concept=0.4)
    pd.testing.assert_frame_equal(
        generate_sessions(3_000, 7, drift), generate_sessions(3_000, 7, drift)
    )


def test_different_seeds_give_different_frames() -> None:
    a = generate_sessions(3_000, 7)
    b = generate_sessions(3_000, 8)
    assert not a.equals(b)
    assert not np.array_equal(a["session_duration_sec"], b["session_duration_sec"])
    assert a[ID_COLUMN].iloc[0] != b[ID_COLUMN].iloc[0]


def test_session_id_is_unique_key(sessions: pd.DataFrame) -> None:
    ids = sessions[ID_COLUMN]
    assert ids.is_unique
    assert int(ids.min()) > 1_000_000
    assert (ids.diff().dropna() == 1).all()


# --- distributions ------------------------------------------------------------------------


def test_positive_rate(sessions: pd.DataFrame) -> None:
    assert 0.10 <= sessions[TARGET].mean() <= 0.20


@pytest.mark.parametrize(("column", "band"), sorted(NULL_BANDS.items()))
def test_null_fraction(sessions: pd.DataFrame, column: str, band: tuple[float, float]) -> None:
    low, high = band
    assert low <= sessions[column].isna().mean() <= high


def test_missingness_follows_the_story(sessions: pd.DataFrame) -> None:
    first_time = sessions["days_since_last_visit"].isna()
    assert (sessions.loc[first_time, "previous_purchases"] == 0).all()
    no_history = sessions["previous_purchases"] == 0
    assert sessions.loc[no_history, "avg_order_value"].isna().all()
    with_history = sessions.loc[~no_history, "avg_order_value"]
    assert 0.07 <= with_history.isna().mean() <= 0.13


def test_session_duration_is_right_skewed(sessions: pd.DataFrame) -> None:
    duration = sessions["session_duration_sec"]
    skew = duration.skew()
    assert isinstance(skew, float)
    assert skew > 2
    assert duration.mean() > duration.median()


def test_age_has_few_impossible_values(sessions: pd.DataFrame) -> None:
    impossible = (sessions["customer_age"] > 110).mean()
    assert 0.0 < impossible <= 0.002


# --- errors -------------------------------------------------------------------------------


def test_zero_rows_rejected() -> None:
    with pytest.raises(ValueError, match=re.escape("n_rows must be >= 1, got 0")):
        generate_sessions(0, seed=0)


def test_negative_rows_rejected() -> None:
    with pytest.raises(ValueError, match=re.escape("n_rows must be >= 1, got -5")):
        generate_sessions(-5, seed=0)


def test_negative_covariate_drift_rejected() -> None:
    message = "drift.covariate must be a finite number >= 0, got -1.0"
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_sessions(10, seed=0, drift=Drift(covariate=-1.0))


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf")])
def test_bad_concept_drift_rejected(value: float) -> None:
    message = f"drift.concept must be a finite number >= 0, got {value!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        generate_sessions(10, seed=0, drift=Drift(concept=value))


def test_concept_drift_above_one_rejected() -> None:
    with pytest.raises(ValueError, match=re.escape("drift.concept must be <= 1, got 1.5")):
        generate_sessions(10, seed=0, drift=Drift(concept=1.5))


# --- drift --------------------------------------------------------------------------------


def test_covariate_drift_moves_features() -> None:
    base = generate_sessions(20_000, seed=5)
    drifted = generate_sessions(20_000, seed=5, drift=Drift(covariate=1.0))

    median_ratio = drifted["session_duration_sec"].median() / base["session_duration_sec"].median()
    assert 1.7 <= median_ratio <= 2.3
    assert drifted["session_duration_sec"].mean() > 1.5 * base["session_duration_sec"].mean()

    mobile_gain = (drifted["device"] == "mobile").mean() - (base["device"] == "mobile").mean()
    assert 0.10 <= mobile_gain <= 0.20
    social_gain = (drifted["traffic_source"] == "social").mean() - (
        base["traffic_source"] == "social"
    ).mean()
    assert 0.15 <= social_gain <= 0.25
    assert drifted["days_since_last_visit"].median() > 1.5 * base["days_since_last_visit"].median()
    assert 0.05 <= drifted[TARGET].mean() <= 0.30


def test_concept_drift_leaves_features_unchanged() -> None:
    base = generate_sessions(20_000, seed=5)
    drifted = generate_sessions(20_000, seed=5, drift=Drift(concept=1.0))
    # Same seed: identical features, different labels.
    pd.testing.assert_frame_equal(base.drop(columns=TARGET), drifted.drop(columns=TARGET))
    assert not base[TARGET].equals(drifted[TARGET])
    assert 0.05 <= drifted[TARGET].mean() <= 0.30

    # Different seed: feature distributions agree within sampling noise.
    other = generate_sessions(20_000, seed=6, drift=Drift(concept=1.0))
    for column in ("pages_viewed", "cart_adds", "previous_purchases"):
        assert other[column].mean() == pytest.approx(base[column].mean(), rel=0.05)
    mobile_share = (other["device"] == "mobile").mean()
    assert mobile_share == pytest.approx((base["device"] == "mobile").mean(), abs=0.02)
    assert other["discount_seen"].mean() == pytest.approx(base["discount_seen"].mean(), abs=0.02)
    assert other["session_duration_sec"].median() == pytest.approx(
        base["session_duration_sec"].median(), rel=0.05
    )


# --- model behaviour ----------------------------------------------------------------------


def test_hgb_auc_in_band_and_drops_under_concept_drift(
    trained_model: tuple[HistGradientBoostingClassifier, pd.Index],
) -> None:
    auc = _auc(trained_model, generate_sessions(4_000, seed=2))
    assert 0.80 <= auc <= 0.90

    concept_auc = _auc(trained_model, generate_sessions(4_000, seed=2, drift=Drift(concept=1.0)))
    assert concept_auc <= auc - 0.08


def test_a_model_retrained_on_concept_drift_recovers_the_pre_drift_auc(
    trained_model: tuple[HistGradientBoostingClassifier, pd.Index],
) -> None:
    """The post-drift concept is as learnable as the training one, so a retraining can
    recover what the drift took (the old concept capped any model near AUC 0.72)."""
    before = _auc(trained_model, generate_sessions(4_000, seed=2))
    drifted = generate_sessions(6_000, seed=1, drift=Drift(covariate=1.0, concept=1.0))
    x = _design(drifted)
    retrained = HistGradientBoostingClassifier(random_state=0).fit(x, drifted[TARGET])
    after = _auc(
        (retrained, x.columns),
        generate_sessions(4_000, seed=2, drift=Drift(covariate=1.0, concept=1.0)),
    )
    assert after >= before - 0.02, (before, after)
    assert 0.12 <= drifted[TARGET].mean() <= 0.18


def test_covariate_drift_keeps_label_relation(
    trained_model: tuple[HistGradientBoostingClassifier, pd.Index],
) -> None:
    auc = _auc(trained_model, generate_sessions(4_000, seed=2))
    covariate_auc = _auc(
        trained_model, generate_sessions(4_000, seed=2, drift=Drift(covariate=1.0))
    )
    assert abs(covariate_auc - auc) <= 0.05
