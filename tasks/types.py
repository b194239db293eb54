"""The types the layers share: what a read found wrong, an expectation's verdict, the
registry's aliases and events, a model ready to serve.

Steps and adapters both use these, and neither may import the other (``make lint``), so they
live here, below both, with nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The registry's two aliases.
CHAMPION = "champion"
CHALLENGER = "challenger"
# Events that moved the champion alias; the others (refuse, pending, reject) left it.
MOVES = frozenset({"promote", "force", "approve", "rollback"})


BOOLEANS = {"True": "1", "False": "0", "true": "1", "false": "0", "TRUE": "1", "FALSE": "0"}


def clip(value: Any, limit: int = 60) -> Any:
    """A value as shown in a report: text beyond ``limit`` characters is cut and counted."""
    text = str(value)
    return value if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


@dataclass(frozen=True)
class ReadProblem:
    """Why a batch (or one of its columns) could not be read as declared."""

    rule: str
    column: str | None
    message: str
    count: int = 0
    sample: tuple[Any, ...] = ()
    rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict on a batch, with the evidence."""

    type: str
    column: str | None
    kwargs: dict[str, Any]
    severity: str
    success: bool
    element_count: int = 0
    unexpected_count: int = 0
    unexpected_percent: float = 0.0
    sample: tuple[Any, ...] = ()
    rows: tuple[int, ...] = ()
    observed: Any = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    """One input column of a model's signature: MLflow's type name and whether it must be sent."""

    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class ServedModel:
    """A registered version ready to answer requests: the Pipeline (or its compiled graph), its
    input columns and what its version records (data version, run)."""

    model_name: str
    version: str
    model: Any
    columns: tuple[Column, ...]
    classes: tuple[Any, ...]
    task: str
    threshold: float
    run_id: str
    data_md5: str
    tags: dict[str, str]
    # the rows logged with the version (its input example): tried before the version answers
    example: Any = None
    # what scores it: "sklearn" (``model``, the Pipeline) or "onnx" (``compiled``, its graph
    # in ONNX Runtime: tasks/steps/compiled.py), and why scikit-learn when it is
    runtime: str = "sklearn"
    runtime_reason: str = ""
    compiled: Any = None


@dataclass(frozen=True)
class Event:
    """One line of the promotion history."""

    time: str
    event: str
    model_name: str
    version: str | None
    previous: str | None
    actor: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def moved(self) -> bool:
        return self.event in MOVES

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "event": self.event,
            "model_name": self.model_name,
            "version": self.version,
            "previous": self.previous,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
        }
