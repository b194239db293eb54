"""Evidently's drift methods: which statistic each gives and which columns it applies to.

Kept apart from the drift step and from the Evidently adapter so that validating params.yaml
(tasks/config.py) knows the methods without importing either (Evidently alone takes ~12 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Statistic = Literal["p_value", "distance"]
NUMERICAL, CATEGORICAL = "numerical", "categorical"


@dataclass(frozen=True)
class _Method:
    statistic: Statistic
    kinds: tuple[str, ...]
    label: str  # Evidently's display name
    at_threshold: bool  # does a value equal to the threshold count as drift (as Evidently says)


_P: Statistic = "p_value"
_D: Statistic = "distance"
_NUM, _CAT, _BOTH = (NUMERICAL,), (CATEGORICAL,), (NUMERICAL, CATEGORICAL)
# Evidently's registered methods (evidently.legacy.calculations.stattests), checked against its
# registry by the unit tests; kept here so validating params does not import Evidently (14 s).
METHODS: dict[str, _Method] = {
    "anderson": _Method(_P, _NUM, "Anderson-Darling", False),
    "chisquare": _Method(_P, _CAT, "chi-square p_value", False),
    "cramer_von_mises": _Method(_P, _NUM, "Cramer-von Mises", True),
    "ed": _Method(_D, _NUM, "Energy-distance", False),
    "es": _Method(_P, _NUM, "Epps-Singleton", False),
    "g_test": _Method(_P, _CAT, "g_test", False),
    "hellinger": _Method(_D, _BOTH, "Hellinger distance", True),
    "jensenshannon": _Method(_D, _BOTH, "Jensen-Shannon distance", True),
    "kl_div": _Method(_D, _BOTH, "Kullback-Leibler divergence", True),
    "ks": _Method(_P, _NUM, "K-S p_value", True),
    "mannw": _Method(_P, _NUM, "Mann-Whitney U-rank test", False),
    "psi": _Method(_D, _BOTH, "PSI", True),
    "t_test": _Method(_P, _NUM, "t_test", False),
    "wasserstein": _Method(_D, _NUM, "Wasserstein distance (normed)", True),
    "z": _Method(_P, _CAT, "Z-test p_value", False),
}
# Evidently's other methods, and why they are refused.
LEFT_OUT: dict[str, str] = {
    "fisher_exact": "it needs the same number of rows on both sides",
    "empirical_mmd": "it builds an n x n kernel matrix and permutes with an unseeded generator",
    "TVD": "its permutation test takes about 20 s per column at 20,000 rows",
    "perc_text_content_drift": "it is for text columns",
    "abs_text_content_drift": "it is for text columns",
}


def drift_method(name: str, kind: str | None = None) -> str:
    """``"p_value"`` or ``"distance"``: the statistic Evidently's method ``name`` gives.
    With ``kind`` ("numerical" or "categorical"), the method must also apply to that kind.
    Raises ValueError naming the valid methods."""
    method = METHODS.get(name)
    if method is None:
        why = f"not supported: {LEFT_OUT[name]}" if name in LEFT_OUT else "unknown"
        raise ValueError(
            f"drift method {name!r} is {why}; valid methods: {', '.join(sorted(METHODS))}"
        )
    if kind is not None:
        if kind not in (NUMERICAL, CATEGORICAL):
            raise ValueError(f"kind must be 'numerical' or 'categorical', got {kind!r}")
        if kind not in method.kinds:
            valid = sorted(n for n, m in METHODS.items() if kind in m.kinds)
            raise ValueError(
                f"drift method {name!r} does not apply to {kind} columns; "
                f"{kind} methods: {', '.join(valid)}"
            )
    return method.statistic
