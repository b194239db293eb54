"""The validation gate around every batch: read it with its suite's types, check it,
quarantine it when it fails. The validate stage, batch scoring and the monitor all use it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.adapters import io
from tasks.clock import compact_stamp
from tasks.config import Params

if TYPE_CHECKING:
    import pandas as pd

    from tasks.steps.validate import ValidationFailed, ValidationReport

from tasks.pipeline.common import path_in


def profile_file(source: Path, params: Params) -> dict[str, Any]:
    """The suite of the data set whose first file is ``source``, for a person to review.

    The file is read exactly as the gate will read every later batch: the missing-value
    tokens it uses are found first, then each column's type, then the typed table is
    profiled, so the suite accepts the file it was profiled from.
    """
    from tasks.steps.expectations import column_types, find_missing_tokens, profile_suite
    from tasks.steps.ingest import infer_schema

    size = params.validate_.sample_size
    cells, problems = io.read_batch(source, {}, size)
    if cells is None:
        raise io.TableReadError("; ".join(p.message for p in problems))
    missing = find_missing_tokens(cells, params.validate_.missing_tokens)
    declared = column_types(cells, missing, params.ingest.numeric, params.ingest.categorical)
    frame, problems = io.read_batch(source, declared, size, missing)
    if frame is None or problems:
        raise io.TableReadError(
            f"{source.name}: cannot be read as its own columns' types: "
            + "; ".join(p.message for p in problems)
        )
    schema, _ = infer_schema(frame, params.ingest)
    return profile_suite(frame, schema, params.validate_.suite, params.validate_, missing)


def init_suite(root: Path, params: Params, data: Path | None = None) -> Path:
    """Profile ``data`` (default: the training data) into the suite, for a person to review."""
    path = suite_path(root, params)
    io.write_json(profile_file(data or path_in(root, params.ingest.path), params), path)
    return path


def table_header(path: Path) -> list[str]:
    """The column names of a table file ([] when it cannot be read: the read reports why)."""
    try:
        fmt = io.table_format(path)
        if fmt.kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        header, _ = io.csv_header(path, fmt)
        return header or []
    except Exception:  # unreadable: read_batch says why
        return []


def check_batch(
    root: Path, path: Path, params: Params, scoring: bool = False
) -> tuple[pd.DataFrame | None, ValidationReport]:
    """Read ``path`` with the suite's types and validate it: reading, schema, expectations.

    ``scoring``: a batch to score, checked by the suite's feature checks only (the target
    column may be absent; it is read and left unchecked when present). Any exception inside
    validation is a failed report, never a pass.
    """
    from tasks.adapters.validation import run_suite
    from tasks.steps.expectations import declared_types, missing_values, scoring_suite
    from tasks.steps.validate import Failure, build_report, check_columns

    suite = io.read_json(suite_path(root, params))
    target = suite["meta"].get("target")
    ids = list(suite["meta"].get("id_columns", []))
    if scoring:  # the ID columns are optional: checked when the batch has them
        suite = scoring_suite(suite, [c for c in ids if c not in table_header(path)])
    declared = declared_types(suite)
    size = params.validate_.sample_size
    source = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        frame, problems = io.read_batch(path, declared, size, missing_values(suite))
    except Exception as error:  # a crash while reading is a failure, never a pass
        crash = Failure("read_error", None, f"{path.name}: reading crashed: {error!r}")
        return None, build_report(source, suite, 0, [], [crash], [])
    if frame is None:
        return None, build_report(source, suite, 0, problems, [], [])
    columns = [str(c) for c in frame.columns]
    if scoring:
        expected = [c for c in declared if c not in (target, *ids) or c in columns]
        schema = check_columns(columns, expected, None)
    else:
        schema = check_columns(columns, list(declared), target)
    if schema:
        return frame, build_report(source, suite, len(frame), problems, schema, [])
    try:
        outcomes = run_suite(frame, suite, size)
    except Exception as error:  # a crash inside validation is a failure, never a pass
        crash = Failure("validation_error", None, f"validation crashed: {error!r}")
        return frame, build_report(source, suite, len(frame), problems, [crash], [])
    return frame, build_report(source, suite, len(frame), problems, [], outcomes)


def quarantine_failed(
    root: Path, path: Path, params: Params, frame: pd.DataFrame | None, report: ValidationReport
) -> ValidationFailed:
    """Set the failed batch aside, rebuild Data Docs, record the result; return the error."""

    from tasks.adapters import tracking
    from tasks.adapters.validation import build_data_docs
    from tasks.steps.validate import ValidationFailed

    when = compact_stamp()
    note = (
        f"# Quarantined: {report.source}\n\nValidated against suite '{report.suite}' at {when}; "
        f"{len(report.errors)} rule(s) failed:\n\n"
        + "\n".join(f"- {f.message}" for f in report.errors)
        + "\n\nThe input file was left where it was. Fix it or the suite, then run again.\n"
    )
    folder = io.quarantine(
        path, report.to_dict(), note, path_in(root, params.validate_.quarantine_dir), when
    )
    lines = [f"quarantined: {folder.relative_to(root)}/"]
    if frame is not None:
        try:
            docs = build_data_docs(root, frame, io.read_json(suite_path(root, params)))
            lines.append(f"data docs: {docs}")
        except Exception as error:  # the docs are a courtesy; the verdict stands
            lines.append(f"data docs could not be built: {error!r}")
    try:
        tracking.configure(root)
        run_id = tracking.log_validation(
            experiment=params.register_.resolved_experiment(params.ingest.path),
            root=root,
            report=report.to_dict(),
            report_path=folder / "validation.json",
        )
        lines.append(f"mlflow run: {run_id} (tag validation.success=false)")
    except Exception as error:  # MLflow down must not hide the verdict or the quarantine
        lines.append(f"mlflow could not record the failure: {error!r}")
    return ValidationFailed(report, "\n".join(lines))


def suite_path(root: Path, params: Params) -> Path:
    """Where the data set's expectation suite lives (GE 1.x file-context layout)."""
    from tasks.adapters.validation import CONTEXT_DIR

    name = params.validate_.resolved_suite(params.ingest.path)
    return root / CONTEXT_DIR / "expectations" / f"{name}.json"


def gate_batch(root: Path, path: Path, params: Params) -> pd.DataFrame:
    """``path`` through the gate's feature checks, read with the suite's types: a failure is
    quarantined and raised as ValidationFailed (nothing scores or judges a failed batch)."""
    frame, report = check_batch(root, path, params, scoring=True)
    if not report.success or frame is None:
        raise quarantine_failed(root, path, params, frame, report)
    print(f"validation: {report.summary().splitlines()[0]}")
    return frame
