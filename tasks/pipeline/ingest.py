"""The ``ingest`` stage of dvc.yaml."""

from __future__ import annotations

from pathlib import Path

from tasks.adapters import io
from tasks.config import Params
from tasks.pipeline.common import RunContext, Summary, path_in, write_record
from tasks.records import IngestRecord
from tasks.steps.ingest import ingest_table


def ingest(root: Path, params: Params, context: RunContext) -> Summary:
    """Type the validated table, drop unlabeled rows; write the table, schema and report."""
    from tasks.steps.evaluate import check_success_definition, primary_metric

    raw = io.read_frame(path_in(root, params.paths.validated))
    frame, schema, report = ingest_table(raw, params.ingest)
    # the success definition must fit the task found here, long before the gate judges
    primary = primary_metric(params.evaluate, schema.task)
    check_success_definition(schema.task, primary, params.promote.floors, params.dataset)
    io.write_frame(frame, path_in(root, params.paths.ingested))
    io.write_json(schema.to_dict(), path_in(root, params.paths.schema_))
    write_record(
        IngestRecord.model_validate(report.to_dict()), path_in(root, params.paths.ingest_report)
    )
    return {
        "rows": report.rows_out,
        "rows_missing_target": report.rows_missing_target,
        "id_columns": report.id_columns,
        "task": schema.task,
        "features": len(schema.features),
    }
