"""Seeded synthetic dataset: will a website visitor buy, given their browsing behaviour.

Everything here is a pure function of ``(n_rows, seed, drift)``: no IO, no global random state.
Each feature family draws from its own child stream of ``np.random.default_rng(seed)``, so a
concept-drift batch has exactly the same features as the matching no-drift batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

TARGET = "purchased"
ID_COLUMN = "session_id"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEVICES = ("mobile", "desktop", "tablet")
TRAFFIC_SOURCES = ("organic", "paid_search", "social", "email", "direct", "referral")
REGIONS = ("north_america", "europe", "asia_pacific", "latin_america", "middle_east_africa")
MEMBERSHIPS = ("none", "basic", "premium")

FEATURES = (
    "session_duration_sec",
    "pages_viewed",
    "product_page_views",
    "cart_adds",
    "days_since_last_visit",
    "previous_purchases",
    "avg_order_value",
    "discount_seen",
    "customer_age",
    "device",
    "traffic_source",
    "region",
    "membership",
)
COLUMNS = (ID_COLUMN, *FEATURES, TARGET)

# Category mixes at drift zero and the mixes covariate drift pulls towards.
_DEVICE_P = (0.55, 0.35, 0.10)
_DEVICE_P_DRIFTED = (0.85, 0.10, 0.05)
_SOURCE_P = (0.30, 0.20, 0.15, 0.10, 0.15, 0.10)
_SOURCE_P_DRIFTED = (0.15, 0.10, 0.55, 0.05, 0.10, 0.05)
_REGION_P = (0.35, 0.30, 0.20, 0.10, 0.05)
_MEMBERSHIP_P = (0.60, 0.30, 0.10)

_FIRST_VISIT_RATE = 0.08
_MEMBERSHIP_MISSING_RATE = 0.03
_AGE_MISSING_RATE = 0.06
_AGE_OUTLIER_RATE = 0.001
_AOV_MISSING_RATE = 0.10
_DURATION_OUTLIER_RATE = 0.005

# Label intercepts, tuned so the positive rate is ~14% at drift zero (and similar at concept=1).
_BASE_INTERCEPT = -2.6
_CONCEPT_INTERCEPT = -3.1
_N_STREAMS = 10


@dataclass(frozen=True)
class Drift:
    """Knobs for production batches. All zero = the training distribution (no-drift control)."""

    covariate: float = 0.0  # 0..1+: feature distributions move; label relation unchanged
    concept: float = 0.0  # 0..1: relation between features and label changes; features unchanged


def _check_drift(drift: Drift) -> None:
    """Reject negative, non-finite or out-of-range drift knobs."""
    for name in ("covariate", "concept"):
        value = getattr(drift, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"drift.{name} must be a finite number >= 0, got {value!r}")
    if drift.concept > 1:
        raise ValueError(f"drift.concept must be <= 1, got {drift.concept!r}")


def _mix(base: tuple[float, ...], target: tuple[float, ...], strength: float) -> FloatArray:
    """Move a probability vector from ``base`` towards ``target``; weight c/(1+c) stays < 1."""
    w = strength / (1.0 + strength)
    p = (1.0 - w) * np.asarray(base, dtype=np.float64) + w * np.asarray(target, dtype=np.float64)
    out: FloatArray = p / p.sum()
    return out


def _categorical(u: FloatArray, probs: FloatArray) -> IntArray:
    """Inverse-CDF draw of category codes from uniforms ``u``."""
    cdf = np.cumsum(probs)
    codes = np.searchsorted(cdf, u, side="right")
    return np.minimum(codes, len(probs) - 1).astype(np.int64)


def _labels(codes: IntArray, names: tuple[str, ...]) -> npt.NDArray[np.object_]:
    """Map integer codes to an object array of category names."""
    return np.asarray(names, dtype=object)[codes]


def _sigmoid(x: FloatArray) -> FloatArray:
    """Numerically safe logistic function."""
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def _lookup(codes: IntArray, values: tuple[float, ...]) -> FloatArray:
    """Per-row effect for a categorical code."""
    return np.asarray(values, dtype=np.float64)[codes]


# PLR0915: a data recipe: one statement per generated column
def generate_sessions(n_rows: int, seed: int, drift: Drift = Drift()) -> pd.DataFrame:  # noqa: PLR0915
    """Generate ``n_rows`` browsing sessions with a binary ``purchased`` label."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    _check_drift(drift)
    c = float(drift.covariate)
    k = float(drift.concept)
    n = int(n_rows)

    root = np.random.default_rng(seed)
    id_offset = int(root.integers(10_000_000, 90_000_000)) * 10
    (
        r_cat,
        r_engage,
        r_pages,
        r_duration,
        r_visit,
        r_history,
        r_age,
        r_discount,
        r_missing,
        r_label,
    ) = root.spawn(_N_STREAMS)

    # Categorical context.
    u_cat = r_cat.random((4, n))
    device = _categorical(u_cat[0], _mix(_DEVICE_P, _DEVICE_P_DRIFTED, c))
    source = _categorical(u_cat[1], _mix(_SOURCE_P, _SOURCE_P_DRIFTED, c))
    region = _categorical(u_cat[2], np.asarray(_REGION_P, dtype=np.float64))
    member = _categorical(u_cat[3], np.asarray(_MEMBERSHIP_P, dtype=np.float64))

    # Latent engagement and purchase intent (unobserved).
    z = r_engage.standard_normal((2, n))
    engagement = z[0]
    intent = 0.5 * engagement + math.sqrt(0.75) * z[1]

    # Browsing counts.
    device_pages = _lookup(device, (-0.15, 0.15, 0.0))
    pages_viewed = 1 + r_pages.poisson(np.exp(1.55 + 0.45 * engagement + device_pages))
    product_page_views = r_pages.binomial(pages_viewed, _sigmoid(-1.0 + 0.5 * intent))
    discount_p = _lookup(source, (0.12, 0.30, 0.20, 0.50, 0.12, 0.15))
    discount_seen = (r_discount.random(n) < discount_p).astype(np.int64)
    cart_p = _sigmoid(-2.4 + 0.7 * intent + 0.4 * discount_seen)
    cart_adds = r_pages.binomial(product_page_views, cart_p)

    # Session duration: right-skewed, a few "left the tab open" outliers.
    d = r_duration.standard_normal(n)
    duration = np.exp(3.4 + 0.9 * np.log(pages_viewed) + 0.75 * d) * (1.0 + c)
    u_out = r_duration.random((2, n))
    outlier = u_out[0] < _DURATION_OUTLIER_RATE
    duration = np.where(outlier, duration * (20.0 + 80.0 * u_out[1]), duration)
    duration = np.round(duration, 1)

    # Visit history.
    u_visit = r_visit.random(n)
    first_visit = u_visit < _FIRST_VISIT_RATE
    gap = np.ceil(np.exp(2.2 + 1.0 * r_visit.standard_normal(n)) * (1.0 + c))
    days_since_last_visit = np.where(first_visit, np.nan, gap)
    purchase_rate = _lookup(member, (0.4, 1.5, 4.0)) * np.exp(0.3 * intent)
    previous_purchases = np.where(first_visit, 0, r_history.poisson(purchase_rate)).astype(np.int64)
    aov_true = np.exp(
        math.log(45.0) + _lookup(member, (0.0, 0.1, 0.35)) + 0.6 * r_history.standard_normal(n)
    )

    # Age: realistic spread, some missing, a few impossible values.
    age_true = np.clip(np.round(37.0 + 12.0 * r_age.standard_normal(n)), 18.0, 85.0)

    # Label: logistic model; concept drift blends in a different function of the same features.
    logit = np.zeros(n, dtype=np.float64)
    if k < 1.0:
        logit = logit + (1.0 - k) * _base_logit(
            cart_adds,
            product_page_views,
            discount_seen,
            duration,
            previous_purchases,
            days_since_last_visit,
            member,
            source,
            device,
        )
    if k > 0.0:
        logit = logit + k * _concept_logit(
            cart_adds,
            product_page_views,
            discount_seen,
            duration,
            previous_purchases,
            member,
            region,
            age_true,
        )
    purchased = (r_label.random(n) < _sigmoid(logit)).astype(np.int64)

    # Observation process: missing values and data-entry errors.
    u_miss = r_missing.random((4, n))
    avg_order_value = np.where(
        (previous_purchases == 0) | (u_miss[0] < _AOV_MISSING_RATE), np.nan, np.round(aov_true, 2)
    )
    customer_age = np.where(u_miss[1] < _AGE_MISSING_RATE, np.nan, age_true)
    customer_age = np.where(u_miss[2] < _AGE_OUTLIER_RATE, 150.0, customer_age)
    membership = _labels(member, MEMBERSHIPS)
    membership[u_miss[3] < _MEMBERSHIP_MISSING_RATE] = np.nan

    frame = pd.DataFrame(
        {
            ID_COLUMN: id_offset + np.arange(n, dtype=np.int64),
            "session_duration_sec": duration.astype(np.float64, copy=False),
            "pages_viewed": pages_viewed.astype(np.int64, copy=False),
            "product_page_views": product_page_views.astype(np.int64, copy=False),
            "cart_adds": cart_adds.astype(np.int64, copy=False),
            "days_since_last_visit": days_since_last_visit.astype(np.float64, copy=False),
            "previous_purchases": previous_purchases,
            "avg_order_value": avg_order_value.astype(np.float64, copy=False),
            "discount_seen": discount_seen,
            "customer_age": customer_age.astype(np.float64, copy=False),
            "device": _labels(device, DEVICES),
            "traffic_source": _labels(source, TRAFFIC_SOURCES),
            "region": _labels(region, REGIONS),
            "membership": membership,
            TARGET: purchased,
        },
        copy=False,
    )
    return frame


def _base_logit(  # noqa: PLR0913  (each input of the purchase model)
    cart_adds: IntArray,
    product_page_views: IntArray,
    discount_seen: IntArray,
    duration: FloatArray,
    previous_purchases: IntArray,
    days_since_last_visit: FloatArray,
    member: IntArray,
    source: IntArray,
    device: IntArray,
) -> FloatArray:
    """Training-time purchase logit (with a discount x cart interaction and a duration hump)."""
    has_cart = (cart_adds > 0).astype(np.float64)
    log_dur = np.log(np.maximum(duration, 1.0))
    recency = np.where(
        np.isnan(days_since_last_visit), -0.4, -0.25 * np.log1p(days_since_last_visit)
    )
    logit: FloatArray = (
        _BASE_INTERCEPT
        + 1.7 * np.minimum(cart_adds, 3)
        + 0.5 * np.log1p(product_page_views)
        + 0.2 * discount_seen
        + 1.0 * discount_seen * has_cart
        - 0.7 * (log_dur - 5.3) ** 2
        + 0.4 * np.log1p(previous_purchases)
        + recency
        + _lookup(member, (0.0, 0.4, 0.9))
        + _lookup(source, (0.0, 0.2, -0.5, 0.5, 0.1, 0.05))
        + _lookup(device, (-0.35, 0.3, 0.0))
    )
    return logit


def _concept_logit(
    cart_adds: IntArray,
    product_page_views: IntArray,
    discount_seen: IntArray,
    duration: FloatArray,
    previous_purchases: IntArray,
    member: IntArray,
    region: IntArray,
    age: FloatArray,
) -> FloatArray:
    """Post-drift logit: cart and discount effects flip, region and age start to matter. As
    informative as the base logit (a model retrained on 6,000 drifted rows reaches about the
    pre-drift AUC), so retraining can recover what the drift took."""
    log_dur = np.log(np.maximum(duration, 1.0))
    logit: FloatArray = (
        _CONCEPT_INTERCEPT
        - 0.44 * np.minimum(cart_adds, 3)
        + 0.77 * np.log1p(product_page_views)
        - 1.32 * discount_seen
        - 0.77 * (log_dur - 5.3) ** 2
        + 0.66 * np.log1p(previous_purchases)
        + _lookup(member, (0.0, 0.55, 1.32))
        + _lookup(region, (-0.66, -1.1, 2.2, 1.32, 0.0))
        - 0.088 * (age - 37.0)
    )
    return logit
