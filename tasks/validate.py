"""The validation gate's first form: a schema check of the ingested table.

Every check that fails is reported (not only the first), naming the column, the rule and a
sample of the bad values. The validation-gate work replaces this with Great Expectations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tasks.config import ValidateParams
from tasks.ingest import TableSchema


@dataclass(frozen=True)
class Failure:
    """One rule a batch broke."""

    rule: str
    column: str | None
    message: str
    sample: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one batch."""

    success: bool
    rows: int
    checks: int
    failures: tuple[Failure, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "rows": self.rows,
            "checks": self.checks,
            "failures": [asdict(f) for f in self.failures],
        }

    def summary(self) -> str:
        """Human-readable report: one line per failure."""
        if self.success:
            return f"validation passed: {self.checks} checks on {self.rows} rows"
        lines = [f"validation failed: {len(self.failures)} of {self.checks} checks"]
        lines += [f"  - {f.message}" for f in self.failures]
        return "\n".join(lines)


class ValidationFailed(ValueError):
    """A batch failed validation; carries the full result."""

    def __init__(self, result: ValidationResult, source: str) -> None:
        super().__init__(f"{source}: {result.summary()}")
        self.result = result


def _sample(values: pd.Series, limit: int = 5) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values.head(limit).tolist()]


def check_table(
    frame: pd.DataFrame, schema: TableSchema, params: ValidateParams
) -> ValidationResult:
    """Check ``frame`` against ``schema``: columns, row count, nulls, types, finite numbers,
    and at least two classes for classification."""
    failures: list[Failure] = []
    checks = 0
    expected = [*schema.features, schema.target]
    missing = [c for c in expected if c not in frame.columns]
    checks += 1
    if missing:
        failures.append(
            Failure("columns_present", None, f"missing column(s) {missing}", sample=missing)
        )
    checks += 1
    if len(frame) < params.min_rows:
        failures.append(
            Failure(
                "min_rows",
                None,
                f"{len(frame)} rows, fewer than validate.min_rows={params.min_rows}",
            )
        )
    for name in [c for c in schema.features if c in frame.columns]:
        column = frame[name]
        checks += 1
        null_fraction = float(column.isna().mean()) if len(column) else 0.0
        if null_fraction > params.max_null_fraction:
            failures.append(
                Failure(
                    "max_null_fraction",
                    name,
                    f"column '{name}': {null_fraction:.1%} nulls, above "
                    f"validate.max_null_fraction={params.max_null_fraction}",
                )
            )
        if name in schema.numeric:
            checks += 1
            if not ptypes.is_numeric_dtype(column):
                failures.append(
                    Failure(
                        "numeric_type", name, f"column '{name}' is not numeric ({column.dtype})"
                    )
                )
                continue
            infinite = column[np.isinf(column.to_numpy(dtype=float, na_value=np.nan))]
            if not infinite.empty:
                failures.append(
                    Failure(
                        "finite_values",
                        name,
                        f"column '{name}': {len(infinite)} infinite value(s) at rows "
                        f"{[int(i) for i in infinite.index[:5]]}",
                        sample=_sample(infinite),
                    )
                )
    if schema.target in frame.columns and schema.task != "regression":
        checks += 1
        classes = frame[schema.target].dropna().unique()
        if len(classes) < 2:
            failures.append(
                Failure(
                    "target_classes",
                    schema.target,
                    f"target '{schema.target}' has {len(classes)} class(es) "
                    f"{_sample(pd.Series(classes))}; at least 2 are needed",
                    sample=_sample(pd.Series(classes)),
                )
            )
    return ValidationResult(
        success=not failures, rows=len(frame), checks=checks, failures=tuple(failures)
    )
