"""Unit tests for the promotion gate: each rule with hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.config import BaselineParams, BootstrapParams, PromoteParams
from tasks.steps.evaluate import Outputs
from tasks.steps.promotion import PROMOTE, REFUSE, Rule, bootstrap_interval, decide

# Four positives, four negatives. The good scores rank every positive above every negative
# (ROC AUC 1); the poor ones misorder 4 of the 16 pairs (ROC AUC 12/16 = 0.75).
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
GOOD = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
POOR = np.array([0.9, 0.8, 0.35, 0.15, 0.4, 0.3, 0.2, 0.1])
# misorders 6 of 16 pairs (ROC AUC 10/16 = 0.625) and 7 of 16 (9/16 = 0.5625)
WEAK = np.array([0.9, 0.35, 0.25, 0.15, 0.4, 0.3, 0.2, 0.1])
WEAKER = np.array([0.9, 0.25, 0.22, 0.15, 0.4, 0.3, 0.2, 0.1])
# the prior baseline: every row gets the training split's positive share; ROC AUC 0.5
PRIOR = np.full(8, 0.5)


def _binary(score: np.ndarray, y: np.ndarray = Y) -> Outputs:
    predicted = np.where(score >= 0.5, 1, 0)
    return Outputs("binary", y, predicted, score, (0, 1), 1)


def _regression(predicted: list[float], actual: list[float]) -> Outputs:
    return Outputs("regression", np.array(actual), np.array(predicted))


def _params(
    floors: dict[str, float] | None = None,
    min_delta: float = 0.01,
    mode: str = "absolute",
    bootstrap: bool = False,
    samples: int = 200,
    baseline: bool = True,
    margin: float = 0.01,
    baseline_mode: str = "relative",
) -> PromoteParams:
    return PromoteParams(
        floors=floors or {},  # type: ignore[arg-type]
        baseline=BaselineParams(
            enabled=baseline,
            margin=margin,
            mode=baseline_mode,  # type: ignore[arg-type]
        ),
        min_delta=min_delta,
        delta_mode=mode,  # type: ignore[arg-type]
        bootstrap=BootstrapParams(enabled=bootstrap, samples=samples, confidence=0.95, seed=0),
        lock="file",
        lock_timeout_seconds=5,
    )


def _decide(  # type: ignore[no-untyped-def]
    new: Outputs,
    old: Outputs | None,
    params: PromoteParams,
    primary: str = "roc_auc",
    baseline: Outputs | None = None,
    **kwargs,
):
    return decide(
        challenger_version="2",
        challenger=new,
        champion_version=None if old is None else "1",
        champion=old,
        champion_error=None,
        primary=primary,
        params=params,
        baseline=baseline,
        **kwargs,
    )


def test_a_better_challenger_is_promoted_with_its_numbers() -> None:
    decision = _decide(_binary(GOOD), _binary(POOR), _params(min_delta=0.2))

    assert decision.verdict == PROMOTE
    assert decision.challenger_metrics == {"roc_auc": 1.0}
    assert decision.champion_metrics == {"roc_auc": 0.75}
    (rule,) = decision.rules
    assert rule.name == "beats champion"
    assert rule.values == {"challenger": 1.0, "champion": 0.75, "improvement": 0.25, "needed": 0.2}


def test_a_worse_challenger_is_refused() -> None:
    decision = _decide(_binary(POOR), _binary(GOOD), _params())

    assert decision.verdict == REFUSE
    assert decision.reason == (
        "beats champion: roc_auc 0.7500 vs champion 1.0000: improvement -0.2500 "
        "(higher is better), needed >= 0.0100 (absolute min_delta 0.01)"
    )


def test_an_equal_challenger_is_refused_even_with_a_zero_min_delta() -> None:
    decision = _decide(_binary(GOOD), _binary(GOOD), _params(min_delta=0.0))

    assert decision.verdict == REFUSE
    assert decision.rules[0].values["improvement"] == 0.0


def test_a_gain_below_min_delta_is_refused() -> None:
    decision = _decide(_binary(GOOD), _binary(POOR), _params(min_delta=0.3))

    assert decision.verdict == REFUSE
    assert decision.rules[0].values["needed"] == 0.3


def test_relative_min_delta_is_a_share_of_the_champion_value() -> None:
    # champion 0.75, relative 0.4 -> needed 0.3 > gain 0.25; relative 0.3 -> needed 0.225
    refused = _decide(_binary(GOOD), _binary(POOR), _params(min_delta=0.4, mode="relative"))
    passed = _decide(_binary(GOOD), _binary(POOR), _params(min_delta=0.3, mode="relative"))

    assert refused.verdict == REFUSE
    assert refused.rules[0].values["needed"] == pytest.approx(0.3)
    assert passed.verdict == PROMOTE
    assert passed.rules[0].values["needed"] == pytest.approx(0.225)


def test_lower_is_better_for_error_metrics() -> None:
    actual = [1.0, 2.0, 3.0, 4.0]
    close = _regression([1.0, 2.0, 3.0, 5.0], actual)  # rmse 0.5
    far = _regression([2.0, 3.0, 4.0, 5.0], actual)  # rmse 1.0

    promoted = _decide(close, far, _params(min_delta=0.1), primary="rmse")
    refused = _decide(far, close, _params(min_delta=0.1), primary="rmse")

    assert promoted.verdict == PROMOTE
    assert promoted.rules[0].values == {
        "challenger": 0.5,
        "champion": 1.0,
        "improvement": 0.5,
        "needed": 0.1,
    }
    assert refused.verdict == REFUSE
    assert refused.rules[0].values["improvement"] == -0.5


def test_a_failing_floor_refuses_even_a_better_challenger() -> None:
    decision = _decide(
        _binary(GOOD), _binary(POOR), _params(floors={"recall": 1.0, "accuracy": 0.9})
    )

    # GOOD at threshold 0.5: all four positives found (recall 1.0), accuracy 8/8
    assert decision.verdict == PROMOTE
    strict = _decide(_binary(POOR), None, _params(floors={"recall": 0.75}))
    # POOR at 0.5: positives .9 .8 found, .35 .25 missed -> recall 0.5
    assert strict.verdict == REFUSE
    assert strict.reason == (
        "floor recall: recall 0.5000 fails >= 0.75 (the floor is datasets.<name>.floors.recall)"
    )


def test_a_failing_floor_names_the_data_set_key_to_change() -> None:
    decision = _decide(
        _binary(POOR), None, _params(floors={"recall": 0.75}), dataset="customer-purchase"
    )

    assert decision.verdict == REFUSE
    assert decision.rules[0] == Rule(
        "floor recall",
        False,
        "recall 0.5000 fails >= 0.75 (the floor is datasets.customer-purchase.floors.recall)",
        {"value": 0.5, "bound": 0.75},
    )


def test_a_passing_floor_does_not_name_the_key() -> None:
    decision = _decide(_binary(GOOD), None, _params(floors={"recall": 0.75}), dataset="shop")

    assert decision.rules[0].detail == "recall 1.0000 >= 0.75"


def test_an_error_metric_floor_is_a_ceiling() -> None:
    actual = [1.0, 2.0, 3.0, 4.0]
    decision = _decide(
        _regression([2.0, 3.0, 4.0, 5.0], actual), None, _params(floors={"mae": 0.5}), "rmse"
    )

    assert decision.verdict == REFUSE
    assert decision.reason == (
        "floor mae: mae 1.0000 fails <= 0.5 (the floor is datasets.<name>.floors.mae)"
    )


def test_the_first_version_needs_only_the_floors() -> None:
    decision = _decide(_binary(POOR), None, _params(floors={"roc_auc": 0.7}))

    assert decision.verdict == PROMOTE
    assert decision.champion is None
    assert [r.name for r in decision.rules] == ["floor roc_auc", "beats champion"]


def test_a_nan_metric_is_a_refusal() -> None:
    one_class = np.array([1, 1, 1, 1, 1, 1, 1, 1])  # ROC AUC undefined
    decision = _decide(_binary(GOOD, one_class), _binary(POOR, one_class), _params())

    assert decision.verdict == REFUSE
    assert decision.reason == (
        "metrics are numbers: challenger's roc_auc is NaN; "
        "metrics are numbers: champion's roc_auc is NaN"
    )
    assert math.isnan(decision.challenger_metrics["roc_auc"])


def test_a_champion_that_cannot_be_scored_is_a_refusal() -> None:
    decision = decide(
        challenger_version="2",
        challenger=_binary(GOOD),
        champion_version="1",
        champion=None,
        champion_error="KeyError('x')",
        primary="roc_auc",
        params=_params(),
    )

    assert decision.verdict == REFUSE
    assert (
        decision.reason == "champion scored: champion version 1 could not be scored: KeyError('x')"
    )


def test_bootstrap_interval_excludes_zero_for_a_clear_gain() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    good = np.clip(y * 0.6 + rng.normal(0.2, 0.15, 400), 0, 1)
    poor = rng.uniform(0, 1, 400)

    low, high, used = bootstrap_interval("roc_auc", _binary(good, y), _binary(poor, y), _params())
    decision = _decide(_binary(good, y), _binary(poor, y), _params(bootstrap=True))

    assert used == 200
    assert 0 < low < high
    assert decision.verdict == PROMOTE
    assert decision.rules[-1].name == "bootstrap"
    assert decision.rules[-1].values == {"low": low, "high": high, "resamples": 200.0}


def test_bootstrap_interval_including_zero_refuses() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    a = rng.uniform(0, 1, 300)
    b = np.clip(a + rng.normal(0, 0.05, 300), 0, 1)  # the same model, give or take noise

    decision = _decide(_binary(a, y), _binary(b, y), _params(min_delta=0.0, bootstrap=True))
    low, high, _ = bootstrap_interval("roc_auc", _binary(a, y), _binary(b, y), _params())

    assert low < 0 < high
    assert decision.verdict == REFUSE
    bootstrap = decision.rules[-1]
    assert bootstrap.name == "bootstrap"
    assert not bootstrap.passed
    assert bootstrap.detail.endswith("over 200 resamples, includes zero")
    assert bootstrap.values == {"low": low, "high": high, "resamples": 200.0}


# --- beats baseline ------------------------------------------------------------------------


def test_a_challenger_that_beats_the_prior_baseline_is_promoted() -> None:
    # ROC AUC 1.0 against 0.5; relative margin 0.01 of 0.5: 0.005 needed
    decision = _decide(_binary(GOOD), None, _params(), baseline=_binary(PRIOR))

    assert decision.verdict == PROMOTE
    assert [r.name for r in decision.rules] == ["beats baseline", "beats champion"]
    assert decision.rules[0] == Rule(
        "beats baseline",
        True,
        "roc_auc 1.0000 vs trivial baseline 0.5000: improvement +0.5000 (higher is better), "
        "needed >= 0.0050 (relative margin 0.01)",
        {"challenger": 1.0, "baseline": 0.5, "improvement": 0.5, "needed": 0.005},
    )


def test_a_challenger_that_does_not_beat_the_baseline_by_the_margin_is_refused() -> None:
    # ROC AUC 0.5625: 0.0625 over the baseline, 0.1 needed
    decision = _decide(
        _binary(WEAKER),
        None,
        _params(margin=0.1, baseline_mode="absolute"),
        baseline=_binary(PRIOR),
    )

    assert decision.verdict == REFUSE
    assert decision.reason == (
        "beats baseline: roc_auc 0.5625 vs trivial baseline 0.5000: improvement +0.0625 "
        "(higher is better), needed >= 0.1000 (absolute margin 0.1); the model has learned "
        "too little over predicting the training split's class shares: check the target and "
        "features, or set promote.baseline.margin"
    )
    assert decision.rules[0].values == {
        "challenger": 0.5625,
        "baseline": 0.5,
        "improvement": 0.0625,
        "needed": 0.1,
    }


def test_a_challenger_no_better_than_the_baseline_is_refused_even_with_a_zero_margin() -> None:
    decision = _decide(
        _binary(PRIOR), None, _params(margin=0.0, baseline_mode="absolute"), baseline=_binary(PRIOR)
    )

    assert decision.verdict == REFUSE
    assert decision.rules[0].values["improvement"] == 0.0
    assert decision.rules[0].values["needed"] == 0.0


@pytest.mark.parametrize(
    ("mode", "needed", "verdict"),
    [
        # gain 0.125: margin 0.2 is 0.2 absolute (refused) or 0.2 x 0.5 = 0.1 relative (passes)
        ("absolute", 0.2, REFUSE),
        ("relative", 0.1, PROMOTE),
    ],
)
def test_relative_and_absolute_baseline_margin(mode: str, needed: float, verdict: str) -> None:
    decision = _decide(
        _binary(WEAK), None, _params(margin=0.2, baseline_mode=mode), baseline=_binary(PRIOR)
    )

    assert decision.verdict == verdict
    rule = decision.rules[0]
    assert rule.name == "beats baseline"
    assert rule.values["improvement"] == 0.125
    assert rule.values["needed"] == pytest.approx(needed)
    assert rule.detail.startswith(
        "roc_auc 0.6250 vs trivial baseline 0.5000: improvement +0.1250 (higher is better), "
        f"needed >= {needed:.4f} ({mode} margin 0.2)"
    )


ACTUAL = [1.0, 2.0, 3.0, 4.0]
MEAN = _regression([2.5, 2.5, 2.5, 2.5], ACTUAL)  # the training mean: rmse sqrt(1.25)


def test_regression_rmse_beats_the_mean_baseline_lower_is_better() -> None:
    close = _regression([1.0, 2.0, 3.0, 5.0], ACTUAL)  # rmse 0.5

    decision = _decide(close, None, _params(), "rmse", baseline=MEAN)

    assert decision.verdict == PROMOTE
    rule = decision.rules[0]
    assert rule.values == pytest.approx(
        {
            "challenger": 0.5,
            "baseline": math.sqrt(1.25),
            "improvement": math.sqrt(1.25) - 0.5,
            "needed": 0.01 * math.sqrt(1.25),
        }
    )
    assert rule.detail == (
        "rmse 0.5000 vs trivial baseline 1.1180: improvement +0.6180 (lower is better), "
        "needed >= 0.0112 (relative margin 0.01)"
    )


def test_regression_worse_than_the_mean_baseline_is_refused() -> None:
    far = _regression([2.0, 3.0, 4.0, 5.0], ACTUAL)  # rmse 1.0: 0.118 better than the mean

    decision = _decide(far, None, _params(margin=0.2, baseline_mode="absolute"), "rmse", MEAN)

    assert decision.verdict == REFUSE
    assert decision.reason == (
        "beats baseline: rmse 1.0000 vs trivial baseline 1.1180: improvement +0.1180 "
        "(lower is better), needed >= 0.2000 (absolute margin 0.2); the model has learned too "
        "little over predicting the training split's mean: check the target and features, or "
        "set promote.baseline.margin"
    )
    worse = _decide(_regression([5.0] * 4, ACTUAL), None, _params(), "rmse", MEAN)
    assert worse.verdict == REFUSE
    assert worse.rules[0].values["improvement"] == pytest.approx(math.sqrt(1.25) - math.sqrt(7.5))


def test_the_baseline_rule_is_off_when_disabled() -> None:
    decision = _decide(
        _binary(PRIOR), None, _params(baseline=False, margin=0.5), baseline=_binary(PRIOR)
    )

    assert decision.verdict == PROMOTE
    assert [r.name for r in decision.rules] == ["beats champion"]


def test_without_baseline_outputs_there_is_no_baseline_rule() -> None:
    decision = _decide(_binary(PRIOR), None, _params(margin=0.5))

    assert [r.name for r in decision.rules] == ["beats champion"]


def test_floors_baseline_and_champion_are_all_judged_in_order() -> None:
    decision = _decide(
        _binary(GOOD),
        _binary(POOR),
        _params(floors={"roc_auc": 0.7}, min_delta=0.2),
        baseline=_binary(PRIOR),
    )

    assert decision.verdict == PROMOTE
    assert [r.name for r in decision.rules] == ["floor roc_auc", "beats baseline", "beats champion"]


def test_a_baseline_failure_refuses_a_challenger_that_beats_the_champion() -> None:
    decision = _decide(
        _binary(WEAK),
        _binary(WEAKER),
        _params(min_delta=0.01, margin=0.5),  # relative: 0.25 needed over the baseline
        baseline=_binary(PRIOR),
    )

    assert decision.verdict == REFUSE
    assert [(r.name, r.passed) for r in decision.rules] == [
        ("beats baseline", False),
        ("beats champion", True),
    ]


def test_a_baseline_metric_that_is_not_a_number_has_nothing_to_beat() -> None:
    one_class = np.array([1, 1, 1, 1, 1, 1, 1, 1])  # the baseline's ROC AUC is undefined

    decision = _decide(_binary(GOOD), None, _params(), baseline=_binary(PRIOR, one_class))

    assert decision.verdict == PROMOTE
    assert decision.rules[0] == Rule(
        "beats baseline",
        True,
        "the trivial baseline's roc_auc is not a number: nothing to beat",
        {"baseline": None},
    )


def test_a_nan_challenger_gets_no_baseline_rule() -> None:
    one_class = np.array([1, 1, 1, 1, 1, 1, 1, 1])

    decision = _decide(
        _binary(GOOD, one_class), None, _params(), baseline=_binary(PRIOR, one_class)
    )

    assert decision.verdict == REFUSE
    assert [r.name for r in decision.rules] == ["metrics are numbers", "beats champion"]


def test_metric_noise_is_z_standard_deviations_of_the_bootstrap() -> None:
    from tasks.steps.promotion import metric_noise

    perfect = _regression([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    # every resample of a perfect model has RMSE 0: no noise at all
    assert metric_noise(perfect, "rmse", 200, 1.96, 42) == 0.0
    noisy = _regression([1.0, 2.5, 2.0, 6.0, 5.0, 5.5], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    one = metric_noise(noisy, "rmse", 200, 1.0, 42)
    # the same resamples (same seed): z scales the same standard deviation
    assert metric_noise(noisy, "rmse", 200, 1.96, 42) == pytest.approx(1.96 * one, rel=1e-12)
    rng = np.random.default_rng(42)
    errors = noisy.predicted - noisy.actual
    values = [float(np.sqrt(np.mean(errors[rng.integers(0, 6, 6)] ** 2))) for _ in range(200)]
    assert one == pytest.approx(float(np.std(values)), rel=1e-12)
    assert metric_noise(noisy, "rmse", 0, 1.96, 42) == 0.0  # no resamples: no allowance
