"""The validation gate's verdict, in words a person reads at 3 a.m.

Pure functions: the schema check (run first, so a missing column is reported as a missing
column), the words for each Great Expectations outcome, and the report that combines reading
problems, schema problems and expectation outcomes. Severity ``fail`` stops the run; ``warn``
is reported and the run goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tasks.types import ExpectationOutcome, ReadProblem, clip

FAIL = "fail"
WARN = "warn"
_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True)
class Failure:
    """One rule a batch broke."""

    rule: str
    column: str | None
    message: str
    severity: str = FAIL
    count: int = 0
    percent: float = 0.0
    sample: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one batch against one suite."""

    source: str
    suite: str
    rows: int
    checks: int
    failures: tuple[Failure, ...] = ()

    @property
    def success(self) -> bool:
        return not any(f.severity == FAIL for f in self.failures)

    @property
    def errors(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == FAIL]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == WARN]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "suite": self.suite,
            "success": self.success,
            "rows": self.rows,
            "checks": self.checks,
            "failures": [asdict(f) for f in self.failures],
        }

    def summary(self) -> str:
        """The report: one line per broken rule, failures first."""
        verdict = "passed" if self.success else "FAILED"
        lines = [
            f"{self.source}: validation {verdict} against suite '{self.suite}' "
            f"({self.rows} rows, {self.checks} checks, {len(self.errors)} failed, "
            f"{len(self.warnings)} warnings)"
        ]
        lines += [f"  FAIL {f.message}" for f in self.errors]
        lines += [f"  warn {f.message}" for f in self.warnings]
        return "\n".join(lines)


class ValidationFailed(ValueError):
    """A batch failed the gate; carries the full report."""

    def __init__(self, report: ValidationReport, extra: str = "") -> None:
        super().__init__(report.summary() + (f"\n{extra}" if extra else ""))
        self.report = report


def check_columns(
    columns: Sequence[str], declared: Sequence[str], target: str | None
) -> list[Failure]:
    """The schema check: exactly the declared columns, with hints for the usual mistakes."""
    present = set(columns)
    missing = [c for c in declared if c not in present]
    unexpected = [c for c in columns if c not in set(declared)]
    if len(columns) == 1 and missing:
        for char, name in _DELIMITERS.items():
            if char in columns[0]:
                return [
                    Failure(
                        "delimiter",
                        None,
                        f"wrong delimiter: one column {clip(columns[0])!r} was read; the file "
                        f"seems to be {name}-separated, expected comma-separated",
                    )
                ]
    failures = []
    if target in missing:
        failures.append(Failure("target_present", target, f"missing target column '{target}'"))
        missing.remove(target)
    if missing:
        hint = ""
        if len(missing) == 1 and len(unexpected) == 1:
            hint = f" ('{unexpected[0]}' is unexpected: renamed?)"
        failures.append(
            Failure("columns_present", None, f"missing column(s) {missing}{hint}", sample=missing)
        )
    if unexpected:
        failures.append(
            Failure(
                "no_extra_columns",
                None,
                f"unexpected column(s) {unexpected}: not in the suite",
                sample=unexpected,
            )
        )
    return failures


def _evidence(outcome: ExpectationOutcome) -> str:
    if not outcome.sample:
        return ""
    sample = [clip(v) for v in outcome.sample]
    rows = f" at rows {list(outcome.rows)}" if outcome.rows else ""
    return f", e.g. {sample}{rows}"


# C901: one branch per expectation type, each with its own wording
def describe(outcome: ExpectationOutcome, target: str | None) -> str:  # noqa: C901
    """One expectation's failure in words: the column, the rule, counts and samples."""
    column, kw = outcome.column, outcome.kwargs
    share = (
        f"{outcome.unexpected_count} of {outcome.element_count} ({outcome.unexpected_percent:.2f}%)"
    )
    subject = (
        f"target '{column}'" if column is not None and column == target else f"column '{column}'"
    )
    if outcome.error is not None:
        where = f" on {subject}" if column is not None else ""
        return f"{outcome.type}{where} could not be evaluated: {outcome.error}"
    kind = outcome.type
    if kind == "expect_table_row_count_to_be_between":
        return f"the batch has {outcome.observed} rows; at least {kw.get('min_value')} expected"
    if kind == "expect_column_values_to_not_be_null":
        if outcome.unexpected_count == outcome.element_count and outcome.element_count:
            return f"{subject} is entirely null ({outcome.element_count} rows)"
        allowed = 100 * (1 - float(kw.get("mostly", 1.0)))
        return f"{subject}: {share} values are null, more than the {allowed:.1f}% allowed"
    if kind == "expect_column_unique_value_count_to_be_between":
        if column == target:
            return (
                f"{subject} has a single class ({outcome.observed} distinct value); "
                "2 or more needed"
            )
        return (
            f"{subject} is constant ({outcome.observed} distinct value); "
            "it varied in the reference data"
        )
    if kind == "expect_column_values_to_be_between":
        if kw.get("max_value") is None and kw.get("min_value") == 0:
            return (
                f"{subject}: {share} values are negative (never negative in the reference "
                f"data){_evidence(outcome)}"
            )
        bounds = f"[{kw.get('min_value')}, {kw.get('max_value')}]"
        if "mostly" in kw:  # the scale rule: most values outside the profiled range
            allowed = 100 * (1 - float(kw["mostly"]))
            return (
                f"{subject}: {share} values outside {bounds}, more than the {allowed:.1f}% "
                "allowed (validate.max_out_of_range): a unit or scale error, such as cents "
                f"for dollars?{_evidence(outcome)}"
            )
        return f"{subject}: {share} values outside {bounds}{_evidence(outcome)}"
    if kind == "expect_column_values_to_be_in_set":
        what = (
            "a class never seen in training"
            if column == target
            else "categories never seen in training"
        )
        return f"{subject}: {share} values are {what}{_evidence(outcome)}"
    if kind == "expect_column_values_to_be_unique":
        return (
            f"{subject}: {share} values are duplicated (an ID must be unique){_evidence(outcome)}"
        )
    if kind == "expect_compound_columns_to_be_unique":
        allowed = 100 * (1 - float(kw.get("mostly", 1.0)))
        rows = f", e.g. rows {list(outcome.rows)}" if outcome.rows else ""
        return (
            f"{outcome.unexpected_count} of {outcome.element_count} rows "
            f"({outcome.unexpected_percent:.2f}%) are duplicates of other rows, more than the "
            f"{allowed:.1f}% allowed{rows}"
        )
    if kind == "expect_table_columns_to_match_set":
        return f"columns {outcome.observed} do not match the suite's {kw.get('column_set')}"
    where = f" on {subject}" if column is not None else ""
    return f"{kind} failed{where}{_evidence(outcome)}"


def _severity(outcome: ExpectationOutcome) -> str:
    return WARN if outcome.severity in ("warning", "info") else FAIL


def build_report(
    source: str,
    suite: dict[str, Any],
    rows: int,
    read_problems: Sequence[ReadProblem],
    schema_failures: Sequence[Failure],
    outcomes: Sequence[ExpectationOutcome],
) -> ValidationReport:
    """Combine what went wrong, in the order it was found: reading, schema, expectations.

    Expectations on a column whose values could not be read are left out: the reading problem
    is the reason, and its bad values would only reappear as nulls.
    """
    target = suite.get("meta", {}).get("target")
    failures = [
        Failure(p.rule, p.column, p.message, FAIL, p.count, 0.0, list(p.sample), list(p.rows))
        for p in read_problems
    ]
    failures += schema_failures
    unreadable = {p.column for p in read_problems if p.column is not None}
    # An empty batch or an all-null column fails every check on its values: report the cause.
    empty = {
        o.column
        for o in outcomes
        if o.type == "expect_column_values_to_not_be_null"
        and not o.success
        and o.error is None
        and o.element_count > 0
        and o.unexpected_count == o.element_count
    }
    order = {
        (e["type"], e.get("kwargs", {}).get("column")): i
        for i, e in enumerate(suite.get("expectations", []))
    }
    ordered = sorted(outcomes, key=lambda o: order.get((o.type, o.column), len(order)))
    for outcome in ordered:
        if outcome.success or outcome.column in unreadable:
            continue
        drowned = rows == 0 or (
            outcome.column in empty and outcome.type != "expect_column_values_to_not_be_null"
        )
        if outcome.column is not None and drowned:
            continue
        failures.append(
            Failure(
                rule=outcome.type,
                column=outcome.column,
                message=describe(outcome, target),
                severity=_severity(outcome),
                count=outcome.unexpected_count,
                percent=round(outcome.unexpected_percent, 4),
                sample=[clip(v) for v in outcome.sample],
                rows=list(outcome.rows),
            )
        )
    # A value that breaks a hard rule (a negative count) also breaks the observed range: the
    # range warning would only repeat the failure, so it is left out.
    failed_rules = {(f.rule, f.column) for f in failures if f.severity == FAIL}
    failures = [f for f in failures if f.severity == FAIL or (f.rule, f.column) not in failed_rules]
    checks = len(read_problems) + len(schema_failures) + len(outcomes)
    return ValidationReport(
        source=source,
        suite=str(suite.get("name")),
        rows=rows,
        checks=max(checks, 1),
        failures=tuple(failures),
    )
