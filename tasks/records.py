"""One schema per report file the stages hand each other (``reports/*.json``).

A stage writes its record and the next one reads it back through
``tasks.pipeline.common.read_record`` / ``write_record``, which check the file against its
schema here (an unknown or missing key is an error naming the file and the key), so a reader
never guesses between shapes with ``.get(a) or .get(b)``: the promotion report used to be
written in two shapes, and the training summary printed the gate's decision dict where its
event belonged.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

PromotionEvent = Literal[
    "promote", "force", "refuse", "pending", "approve", "reject", "rollback", "unchanged"
]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Finding(Record):
    """One failed or warned rule of a validation."""

    rule: str
    column: str | None
    message: str
    severity: Literal["fail", "warn"]
    count: int
    percent: float
    sample: list[Any]
    rows: list[int]


class ValidationRecord(Record):
    """``reports/validation.json``: the gate's verdict on the raw batch."""

    source: str
    suite: str
    rows: int
    checks: int
    success: bool
    failures: list[Finding]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.failures if f.severity == "warn"]


class IngestRecord(Record):
    """``reports/ingest.json``: what ingest kept, excluded and inferred."""

    rows_in: int
    rows_out: int
    rows_missing_target: int
    task: str
    task_inferred: bool
    id_columns: dict[str, str]
    dropped_columns: list[str]


class TuningRecord(Record):
    """``reports/tuning.json``: the model trained, or every trial of the search and the winner."""

    model_config = ConfigDict(frozen=True, extra="allow")  # a search adds its own keys

    method: str
    family: str
    primary: str
    trials: list[dict[str, Any]]
    leaderboard: list[int]  # trial numbers, best first
    training: dict[str, Any]


class RegistrationRecord(Record):
    """``reports/registration.json``: the version the register stage made or found.

    Only what the same data, params and code give on any machine and in any registry state: the
    promote stage depends on this file in dvc.yaml, so a run id in it changed dvc.lock on every
    fresh clone, and the aliases changed it with every promotion. The run and the aliases are
    found from the version in the registry (``registry.version_info``)."""

    model_name: str
    version: str
    fingerprint: str
    data_md5: str


class PromotionRecord(Record):
    """``reports/promotion.json``: what the promote stage did, in one shape whether the gate
    judged the version now (``judged``) or had already judged it against this champion."""

    event: PromotionEvent
    version: str
    champion_before: str | None
    champion_after: str | None
    moved: bool
    judged: bool
    reason: str
    decision: dict[str, Any] | None  # the gate's rules and numbers (judged only)


_R = TypeVar("_R", bound=Record)


class RecordError(ValueError):
    """A report file that does not have its schema's shape."""


def parse(data: Any, schema: type[_R], source: str) -> _R:
    """``data`` (a report file's JSON) checked against ``schema``; ``source`` names the file."""
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()
        )
        raise RecordError(f"{source}: not a {schema.__name__}: {problems}") from None
