"""A version's compiled graph (:mod:`tasks.steps.compile`) as it scores requests: one ONNX
Runtime session per loaded version, fed column by column from plain lists (what the endpoint's
parser builds), without pandas.

The inputs are built as :func:`tasks.steps.compile.feeds` builds them for the parity check at
registration: a numeric column as ``[N, 1]`` doubles (None or NaN: NaN), a categorical one as
``[N, 1]`` strings (None or NaN: :data:`~tasks.steps.compile.MISSING_STRING`, any other value
as its ``str``). A graph with a ``refused`` output flags the rows the Pipeline would refuse
(a log transform of a negative value); :func:`run` raises a ValueError on them, as the
Pipeline does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.steps.compile import MISSING_STRING, REFUSED_OUTPUT

NUMERIC_INPUT = "tensor(double)"
TEXT_INPUT = "tensor(string)"


@dataclass(frozen=True)
class CompiledModel:
    """An ONNX Runtime session on a version's graph and what it takes and gives."""

    session: Any
    numeric: tuple[str, ...]  # the graph's double inputs, by column name
    categorical: tuple[str, ...]  # its string inputs
    output: str  # "probabilities" (classifiers) or "variable" (regressors)
    refuses: bool  # whether it has a ``refused`` output
    threads: int

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)


def load(onnx_bytes: bytes, threads: int = 1) -> CompiledModel:
    """A session on ``onnx_bytes`` (CPU, ``threads`` intra-op threads, one inter-op thread);
    a ValueError when the graph is not one :func:`tasks.steps.compile.compile_pipeline` makes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    numeric, categorical = [], []
    for given in session.get_inputs():
        if given.type == NUMERIC_INPUT:
            numeric.append(str(given.name))
        elif given.type == TEXT_INPUT:
            categorical.append(str(given.name))
        else:
            raise ValueError(f"graph input '{given.name}' is {given.type}, not double or string")
    outputs = [str(o.name) for o in session.get_outputs()]
    output = next((name for name in ("probabilities", "variable") if name in outputs), None)
    if output is None:
        raise ValueError(f"the graph has no 'probabilities' or 'variable' output (has {outputs})")
    return CompiledModel(
        session, tuple(numeric), tuple(categorical), output, REFUSED_OUTPUT in outputs, threads
    )


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return MISSING_STRING
    return value if type(value) is str else str(value)


def feeds_of(compiled: CompiledModel, columns: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """The graph's inputs from ``columns`` (one sequence of values per column name)."""
    out: dict[str, Any] = {}
    for name in compiled.numeric:
        out[name] = np.array(columns[name], dtype=np.float64).reshape(-1, 1)
    for name in compiled.categorical:
        out[name] = np.array([_text(v) for v in columns[name]], dtype=object).reshape(-1, 1)
    return out


def run(compiled: CompiledModel, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
    """The graph's ``probabilities`` (``[N, classes]``) or ``variable`` (``[N]``) for the rows
    of ``columns``; a ValueError naming the rows it flags ``refused``, the error the Pipeline
    raises on them (the endpoint answers ``the model failed on this input: ValueError``)."""
    wanted = [compiled.output, REFUSED_OUTPUT] if compiled.refuses else [compiled.output]
    answers = compiled.session.run(wanted, feeds_of(compiled, columns))
    if compiled.refuses:
        flagged = np.flatnonzero(np.asarray(answers[1]).ravel())
        if len(flagged):
            shown = flagged[:5].tolist()
            raise ValueError(
                f"the compiled graph refuses {len(flagged)} row(s), e.g. {shown}: a log "
                "transform of a negative value (log1p needs values >= 0)"
            )
    values = np.asarray(answers[0], dtype=np.float64)
    return values.ravel() if compiled.output == "variable" else values
