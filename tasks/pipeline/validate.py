"""The ``validate`` stage of dvc.yaml."""

from __future__ import annotations

from pathlib import Path

from tasks.adapters import io
from tasks.config import Params
from tasks.pipeline.common import RunContext, Summary, path_in, write_record
from tasks.pipeline.gate import check_batch, init_suite, quarantine_failed, suite_path
from tasks.records import ValidationRecord


def validate(root: Path, params: Params, context: RunContext) -> Summary:
    """The gate: validate the raw batch before anything else reads it. On failure the batch is
    quarantined with its report, Data Docs are rebuilt, MLflow records it, and the stage raises
    so that nothing downstream runs."""
    path = path_in(root, params.ingest.path)
    if not suite_path(root, params).is_file():
        created = init_suite(root, params)
        print(f"no suite for {params.ingest.path}: profiled one into {created}; review it")
    frame, report = check_batch(root, path, params)
    if not report.success or frame is None:
        raise quarantine_failed(root, path, params, frame, report)
    io.write_frame(frame, path_in(root, params.paths.validated))
    write_record(
        ValidationRecord.model_validate(report.to_dict()), path_in(root, params.paths.validation)
    )
    return {"success": True, "checks": report.checks, "warnings": len(report.warnings)}
