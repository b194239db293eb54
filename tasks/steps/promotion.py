"""The promotion gate: does a challenger beat the champion on the same test split?

Pure: outputs of both models in, a :class:`Decision` with each rule's numbers out. Anything
that cannot be judged (a NaN metric, a champion that could not be scored) is a refusal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tasks.config import PromoteParams
from tasks.steps.evaluate import LOWER_IS_BETTER, Outputs, compute_metrics

PROMOTE = "promote"
REFUSE = "refuse"


@dataclass(frozen=True)
class Rule:
    """One rule of the gate with the numbers it was judged on."""

    name: str
    passed: bool
    detail: str
    values: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The gate's verdict for ``challenger`` against ``champion`` (None: there is none)."""

    verdict: str
    challenger: str
    champion: str | None
    primary_metric: str
    rules: tuple[Rule, ...]
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float]

    @property
    def promote(self) -> bool:
        return self.verdict == PROMOTE

    @property
    def reason(self) -> str:
        """One line: the failed rules, or why it passed."""
        failed = [r for r in self.rules if not r.passed]
        shown = failed or list(self.rules)
        return "; ".join(f"{r.name}: {r.detail}" for r in shown)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rules"] = [asdict(r) for r in self.rules]
        return data


def _better(primary: str, delta: float) -> float:
    """``delta`` (challenger - champion) signed so that positive means the challenger is better."""
    return -delta if primary in LOWER_IS_BETTER else delta


def _not_finite(values: dict[str, float]) -> list[str]:
    return sorted(name for name, value in values.items() if not math.isfinite(value))


def _floor_rule(metric: str, bound: float, value: float | None, where: str) -> Rule:
    ceiling = metric in LOWER_IS_BETTER
    sign = "<=" if ceiling else ">="
    if value is None or not math.isfinite(value):
        return Rule(f"floor {metric}", False, f"{metric} is {value}, not a number", {})
    passed = value <= bound if ceiling else value >= bound
    detail = (
        f"{metric} {value:.4f} {sign} {bound}"
        if passed
        else (f"{metric} {value:.4f} fails {sign} {bound} (the floor is {where}.{metric})")
    )
    return Rule(f"floor {metric}", passed, detail, {"value": value, "bound": bound})


def _baseline_rule(primary: str, new: float, base: float, params: PromoteParams) -> Rule:
    """The challenger's primary metric beats the trivial baseline's by ``baseline.margin``."""
    settings = params.baseline
    improvement = _better(primary, new - base)
    needed = settings.margin * (abs(base) if settings.mode == "relative" else 1.0)
    passed = improvement > 0 and improvement >= needed
    direction = "lower" if primary in LOWER_IS_BETTER else "higher"
    detail = (
        f"{primary} {new:.4f} vs trivial baseline {base:.4f}: improvement {improvement:+.4f} "
        f"({direction} is better), needed >= {needed:.4f} ({settings.mode} margin "
        f"{settings.margin})"
    )
    if not passed:
        detail += (
            "; the model has learned too little over predicting the training split's "
            f"{'mean' if primary in ('rmse', 'mae', 'mse', 'r2') else 'class shares'}: "
            "check the target and features, or set promote.baseline.margin"
        )
    values: dict[str, float | None] = {
        "challenger": new,
        "baseline": base,
        "improvement": improvement,
        "needed": needed,
    }
    return Rule("beats baseline", passed, detail, values)


def _delta_rule(primary: str, new: float, old: float, params: PromoteParams) -> Rule:
    improvement = _better(primary, new - old)
    needed = params.min_delta * (abs(old) if params.delta_mode == "relative" else 1.0)
    passed = improvement >= needed and improvement > 0
    direction = "lower" if primary in LOWER_IS_BETTER else "higher"
    detail = (
        f"{primary} {new:.4f} vs champion {old:.4f}: improvement {improvement:+.4f} "
        f"({direction} is better), needed >= {needed:.4f} ({params.delta_mode} min_delta "
        f"{params.min_delta})"
    )
    return Rule(
        "beats champion",
        passed,
        detail,
        {"challenger": new, "champion": old, "improvement": improvement, "needed": needed},
    )


def bootstrap_interval(
    primary: str, challenger: Outputs, champion: Outputs, params: PromoteParams
) -> tuple[float, float, int]:
    """Paired bootstrap of (challenger - champion) on the primary metric, signed so that
    positive favours the challenger: the interval's bounds and the resamples that counted."""
    settings = params.bootstrap
    rng = np.random.default_rng(settings.seed)
    n = len(challenger.actual)
    differences = []
    for _ in range(settings.samples):
        rows = rng.integers(0, n, n)
        new = compute_metrics(challenger.take(rows), [primary])[primary]
        old = compute_metrics(champion.take(rows), [primary])[primary]
        if math.isfinite(new) and math.isfinite(old):  # e.g. a resample with one class only
            differences.append(_better(primary, new - old))
    if not differences:
        return float("nan"), float("nan"), 0
    tail = (1.0 - settings.confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return float(low), float(high), len(differences)


def metric_noise(outputs: Outputs, metric: str, samples: int, z: float, seed: int) -> float:
    """``z`` standard deviations of ``metric`` over ``samples`` bootstrap resamples of
    ``outputs`` (0 with fewer than two usable resamples: a resample with one class has no
    ROC AUC): how far the metric moves on these rows by chance alone."""
    rng = np.random.default_rng(seed)
    n = len(outputs.actual)
    values = []
    for _ in range(samples):
        value = compute_metrics(outputs.take(rng.integers(0, n, n)), [metric])[metric]
        if math.isfinite(value):
            values.append(value)
    return z * float(np.std(values)) if len(values) > 1 else 0.0


def _bootstrap_rule(
    primary: str, challenger: Outputs, champion: Outputs, params: PromoteParams
) -> Rule:
    low, high, used = bootstrap_interval(primary, challenger, champion, params)
    level = f"{params.bootstrap.confidence:.0%}"
    values: dict[str, float | None] = {"low": low, "high": high, "resamples": float(used)}
    if not (math.isfinite(low) and math.isfinite(high)):
        return Rule("bootstrap", False, f"no usable resamples ({used})", values)
    passed = low > 0
    detail = (
        f"{level} interval of the improvement in {primary}: [{low:+.4f}, {high:+.4f}] over "
        f"{used} resamples, {'excludes' if passed else 'includes'} zero"
    )
    return Rule("bootstrap", passed, detail, values)


def decide(  # noqa: PLR0913  (keyword-only: each input of the gate's decision)
    *,
    challenger_version: str,
    challenger: Outputs,
    champion_version: str | None,
    champion: Outputs | None,
    champion_error: str | None,
    primary: str,
    params: PromoteParams,
    baseline: Outputs | None = None,
    dataset: str = "<name>",
) -> Decision:
    """Judge the challenger. With no champion at all only the floors and the baseline apply;
    a champion that exists but could not be scored (``champion_error``) is a refusal.

    ``baseline``: the trivial baseline's outputs on the same test split (``beats baseline``
    when ``promote.baseline.enabled``); ``dataset`` names where the floors are set."""
    names = sorted({primary, *params.floors})
    new_metrics = compute_metrics(challenger, names)
    old_metrics = compute_metrics(champion, names) if champion is not None else {}
    where = f"datasets.{dataset}.floors"
    rules = [_floor_rule(m, bound, new_metrics.get(m), where) for m, bound in params.floors.items()]
    bad = _not_finite(new_metrics)
    if bad:
        rules.append(Rule("metrics are numbers", False, f"challenger's {', '.join(bad)} is NaN"))
    if params.baseline.enabled and baseline is not None and not bad:
        base = compute_metrics(baseline, [primary])[primary]
        if math.isfinite(base):
            rules.append(_baseline_rule(primary, new_metrics[primary], base, params))
        else:  # e.g. ROC AUC of a constant score on a one-class test split
            detail = f"the trivial baseline's {primary} is not a number: nothing to beat"
            rules.append(Rule("beats baseline", True, detail, {"baseline": None}))
    if champion_version is not None:
        if champion is None:
            detail = f"champion version {champion_version} could not be scored: {champion_error}"
            rules.append(Rule("champion scored", False, detail))
        elif _not_finite(old_metrics):
            detail = f"champion's {', '.join(_not_finite(old_metrics))} is NaN"
            rules.append(Rule("metrics are numbers", False, detail))
        elif not bad:
            rules.append(_delta_rule(primary, new_metrics[primary], old_metrics[primary], params))
            if params.bootstrap.enabled:
                rules.append(_bootstrap_rule(primary, challenger, champion, params))
    else:
        rules.append(Rule("beats champion", True, "no champion yet: the first version leads"))
    verdict = PROMOTE if all(rule.passed for rule in rules) else REFUSE
    return Decision(
        verdict=verdict,
        challenger=challenger_version,
        champion=champion_version,
        primary_metric=primary,
        rules=tuple(rules),
        challenger_metrics=new_metrics,
        champion_metrics=old_metrics,
    )
