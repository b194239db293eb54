"""Behaviour tests of the demo model (Made-With-ML style): directional, invariance and
minimum-functionality checks on the model the demo pipeline trains.

The model is trained here, in-process, the way the pipeline's stages do it (ingest_table,
split_frame, fit_pipeline with this repository's params.yaml, nothing overridden): gradient
boosting with early stopping on 4,000 generated sessions (generate.seed 42; the demo itself
uses 20,000 rows). It fits in well under a second with one OpenMP thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from tasks.config import load_params
from tasks.steps.generate import ID_COLUMN, generate_sessions
from tasks.steps.ingest import TableSchema, ingest_table
from tasks.steps.predict import model_inputs, score_frame
from tasks.steps.split import split_frame
from tasks.steps.train import fit_pipeline
from tasks.types import Column, ServedModel
from tests.support import REPO

ROWS, SEED = 4000, 42  # generate.seed of params.yaml
CHECKED = 200  # test-split rows each perturbation is applied to


@dataclass(frozen=True)
class Demo:
    model: Any  # the fitted Pipeline
    schema: TableSchema
    rows: pd.DataFrame  # the first CHECKED rows of the test split, session_id included


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def demo() -> Demo:
    params = load_params(REPO / "params.yaml")
    assert (params.train.model, params.tune.method) == ("hist_gradient_boosting", "none")
    assert "monotonic_cst" not in params.models.family("hist_gradient_boosting").fixed
    frame, schema, _ = ingest_table(generate_sessions(ROWS, SEED), params.ingest)
    assert schema.id_columns == (ID_COLUMN,)  # detected as an ID: not a feature
    train, _, test = split_frame(frame, schema, params.split)
    with threadpool_limits(limits=1, user_api="openmp"):
        fitted = fit_pipeline(train, schema, params.features, params.models, params.train)
    return Demo(fitted.model, schema, test.head(CHECKED).reset_index(drop=True))


def p_buy(demo: Demo, rows: pd.DataFrame) -> np.ndarray:
    """P(purchased = 1) of each row."""
    assert list(demo.model.classes_) == [0, 1]
    return np.asarray(demo.model.predict_proba(rows)[:, 1])


def served(demo: Demo) -> ServedModel:
    """The fitted model as the endpoint and batch runs hold it (features only in the
    signature, as the register stage logs it)."""
    columns = tuple(
        Column(name, "double" if name in demo.schema.numeric else "string", True)
        for name in demo.schema.features
    )
    return ServedModel("customer-purchase", "1", demo.model, columns, (0, 1), "binary", 0.5,
                       "r" * 32, "d" * 32, {})  # fmt: skip


# --- directional: more cart adds, never a lower P(buy)? -------------------------------------


def test_more_cart_adds_raise_p_buy_on_average_and_for_almost_every_row(demo: Demo) -> None:
    """Adding items to the cart is the strongest purchase signal of the generator
    (1.7 per item up to 3, plus a discount x cart interaction), but gradient boosting has no
    monotonic constraint here (params.yaml sets none), so monotonicity is not guaranteed.

    Measured on the 200 rows: +2 and +3 cart adds lower P(buy) for no row; +1 lowers it for
    exactly 3 rows (1.5 %), all with 0 cart adds and 0 product page views, by at most 0.05
    (0.038, 0.040, 0.009): the model is not monotone in cart_adds. This pins that finding:
    a model that gets less monotone (or monotone) fails here and must be looked at."""
    base = p_buy(demo, demo.rows)
    decreased: dict[int, list[int]] = {}
    for more in (1, 2, 3):
        changed = demo.rows.assign(cart_adds=demo.rows["cart_adds"] + more)
        after = p_buy(demo, changed)
        decreased[more] = np.flatnonzero(after < base).tolist()
        assert float(np.mean(after - base)) > 0.2, more  # on average a large rise
        assert float(np.min(after - base)) > -0.05, more

    assert {more: len(rows) for more, rows in decreased.items()} == {1: 3, 2: 0, 3: 0}
    lowered = demo.rows.loc[decreased[1], ["cart_adds", "product_page_views"]]
    assert lowered.to_dict(orient="list") == {
        "cart_adds": [0.0, 0.0, 0.0],
        "product_page_views": [0.0, 0.0, 0.0],
    }


def test_from_any_cart_adds_one_more_never_lowers_p_buy_by_much(demo: Demo) -> None:
    """Every row set to 0, 1, ..., 6 cart adds in turn: each step up changes P(buy) of a row
    by at least -0.1; the first two items raise it for the rows on average by at least 0.2
    each; past the generator's cap of 3 items nothing changes any more."""
    steps = []
    for value in range(7):
        now = p_buy(demo, demo.rows.assign(cart_adds=float(value)))
        nxt = p_buy(demo, demo.rows.assign(cart_adds=float(value + 1)))
        steps.append(nxt - now)

    assert [bool(np.min(step) > -0.1) for step in steps] == [True] * 7
    assert [bool(np.mean(step) > 0.2) for step in steps[:2]] == [True, True]
    assert [bool(np.all(step == 0.0)) for step in steps[3:]] == [True] * 4


# --- invariance: the ID column is not a feature ---------------------------------------------


@pytest.mark.parametrize(
    "change",
    ["shuffled", "constant", "huge", "negative"],
)
def test_changing_session_id_never_changes_a_prediction(demo: Demo, change: str) -> None:
    rows = demo.rows
    ids = rows[ID_COLUMN].to_numpy()
    new_ids = {
        "shuffled": np.random.default_rng(0).permutation(ids),
        "constant": np.zeros_like(ids),
        "huge": ids + 10**12,
        "negative": -ids,
    }[change]
    changed = rows.assign(**{ID_COLUMN: new_ids})
    assert not np.array_equal(changed[ID_COLUMN].to_numpy(), ids)

    before, after = demo.model.predict_proba(rows), demo.model.predict_proba(changed)
    labels, proba = score_frame(served(demo), model_inputs(served(demo), rows, "test"))
    new_labels, new_proba = score_frame(served(demo), model_inputs(served(demo), changed, "test"))

    assert np.array_equal(after, before)  # exactly, every row and class
    assert new_labels == labels
    assert proba is not None and new_proba is not None and np.array_equal(new_proba, proba)
    assert np.array_equal(proba, before)


# --- minimum functionality: obvious sessions ------------------------------------------------


def _session(**values: Any) -> dict[str, Any]:
    base = {
        ID_COLUMN: 1,
        "session_duration_sec": 200.0,
        "pages_viewed": 6.0,
        "product_page_views": 2.0,
        "cart_adds": 0.0,
        "days_since_last_visit": 10.0,
        "previous_purchases": 1.0,
        "avg_order_value": 45.0,
        "discount_seen": 0.0,
        "customer_age": 37.0,
        "device": "desktop",
        "traffic_source": "organic",
        "region": "europe",
        "membership": "basic",
    }
    return {**base, **values}


# An eager buyer: a full cart, many product pages, a discount, a loyal premium member.
EAGER = _session(session_duration_sec=220.0, pages_viewed=14.0, product_page_views=10.0,
                 cart_adds=3.0, discount_seen=1.0, previous_purchases=6.0,
                 days_since_last_visit=2.0, membership="premium", traffic_source="email",
                 avg_order_value=80.0)  # fmt: skip
# Browsing only: a few product pages, nothing in the cart.
BROWSING = _session()
# No activity at all: one page, a few seconds, no product page, no history.
IDLE = _session(session_duration_sec=8.0, pages_viewed=1.0, product_page_views=0.0,
                previous_purchases=0.0, avg_order_value=np.nan, membership="none",
                traffic_source="social", device="mobile")  # fmt: skip


def test_an_eager_buyer_scores_high_and_an_idle_visit_low(demo: Demo) -> None:
    """Measured: 0.918, 0.145, 0.014."""
    rows = pd.DataFrame([EAGER, BROWSING, IDLE])

    eager, browsing, idle = p_buy(demo, rows)
    labels, _ = score_frame(served(demo), model_inputs(served(demo), rows, "test"))

    assert eager > 0.9, eager
    assert idle < 0.05, idle
    assert eager > browsing > idle, (eager, browsing, idle)
    assert labels == [1, 0, 0]


def test_the_cart_alone_separates_buyers_from_browsers(demo: Demo) -> None:
    """The same browsing session with 0, 1, 2 and 3 items in the cart: the first two items
    raise P(buy) a lot, and two or three items are a buy at the evaluated threshold (0.5).

    Measured: 0.158, 0.565, 0.910, 0.908. The third item lowers P(buy) by 0.0026 although the
    generator adds 1.7 to the logit for it (few training sessions have 3 items): the same
    non-monotonicity as in the directional test, pinned as at most 0.01."""
    rows = pd.DataFrame([_session(cart_adds=float(n), product_page_views=4.0) for n in range(4)])

    p = p_buy(demo, rows)
    labels, _ = score_frame(served(demo), model_inputs(served(demo), rows, "test"))

    assert p[0] + 0.3 < p[1] and p[1] + 0.3 < p[2], p.tolist()
    assert p[0] < 0.5 <= p[1], p.tolist()
    assert p[3] > 0.9 and p[3] - p[2] > -0.01, p.tolist()
    assert labels == [0, 1, 1, 1]
