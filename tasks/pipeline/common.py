"""What every stage shares: who runs it, where its files are, the schema ingest wrote."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tasks.adapters import io
from tasks.config import Params
from tasks.records import Record, parse
from tasks.steps.ingest import TableSchema

Summary = dict[str, Any]


@dataclass(frozen=True)
class RunContext:
    """Who runs the pipeline: recorded as tags on the MLflow run."""

    flow_run_id: str | None = None
    trigger: str = "manual"  # manual | schedule | drift
    orchestrator: str = "dvc"
    drift_report: str | None = None  # for trigger "drift": the id of the report that caused it
    actor: str | None = None  # who moves aliases: user:<login>, schedule, drift:<report id>

    def resolved_actor(self) -> str:
        """``actor``, or one derived from the trigger."""
        if self.actor:
            return self.actor
        if self.trigger == "drift":
            return f"drift:{self.drift_report or 'unknown'}"
        if self.trigger == "schedule":
            return "schedule"
        return user_actor()


def path_in(root: Path, relative: str) -> Path:
    return root / relative


def load_schema(root: Path, params: Params) -> TableSchema:
    return TableSchema.from_dict(io.read_json(path_in(root, params.paths.schema_)))


def user_actor() -> str:
    """``user:<login>`` for a person at the command line."""
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "user:unknown"


_R = TypeVar("_R", bound=Record)


def read_record(path: Path, schema: type[_R]) -> _R:
    """The report in ``path``, checked against its schema (tasks/records.py)."""
    return parse(io.read_json(path), schema, str(path))


def write_record(record: Record, path: Path) -> None:
    """Write a report (sorted keys, atomically: a reader sees the old file or the new one)."""
    io.write_json(record.model_dump(mode="json"), path)
