"""Take a raw table in: infer column roles and types, the task, ID columns; drop unlabeled rows.

Pure steps: a DataFrame in, a typed DataFrame and a :class:`TableSchema` out. Nothing here
reads or writes files.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from tasks.config import IngestParams, TaskKind

_ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key|index)$|^unnamed: ?\d+$|^index$", re.IGNORECASE)


class IngestError(ValueError):
    """The table cannot be taken in as configured."""


@dataclass(frozen=True)
class TableSchema:
    """Roles and types of a table's columns, as the rest of the pipeline needs them."""

    target: str
    task: TaskKind
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    id_columns: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    classes: tuple[Any, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        """Feature columns in a stable order: numeric first, then categorical."""
        return self.numeric + self.categorical

    @property
    def positive_class(self) -> Any:
        """For binary tasks, the class scored as positive: the larger label (1, True, 'yes')."""
        if self.task != "binary":
            raise IngestError(f"positive_class is defined for binary tasks, not {self.task}")
        return self.classes[-1]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        return cls(
            target=str(data["target"]),
            task=data["task"],
            numeric=tuple(data["numeric"]),
            categorical=tuple(data["categorical"]),
            id_columns=tuple(data.get("id_columns", ())),
            dropped=tuple(data.get("dropped", ())),
            classes=tuple(data.get("classes", ())),
        )


@dataclass(frozen=True)
class IngestReport:
    """What ingest did to the table, for the user to read."""

    rows_in: int
    rows_out: int
    rows_missing_target: int
    id_columns: dict[str, str] = field(default_factory=dict)
    dropped_columns: tuple[str, ...] = ()
    task: str = ""
    task_inferred: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dropped_columns"] = list(self.dropped_columns)
        return data


def _sample(values: pd.Series, limit: int = 5) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values.head(limit).tolist()]


def _labels(target: pd.Series) -> pd.Series:
    """Class labels without gaps; integral floats (an int column read with gaps) as int64."""
    values = target.dropna()
    if ptypes.is_float_dtype(values) and bool((values == values.round()).all()):
        return values.astype("int64")
    return values


def infer_task(target: pd.Series, max_classes: int) -> TaskKind:
    """Binary, multiclass or regression, from the target's values (nulls ignored)."""
    values = target.dropna()
    n_unique = values.nunique()
    if n_unique < 2:
        raise IngestError(
            f"target '{target.name}' has {n_unique} distinct value(s) "
            f"{_sample(values.drop_duplicates())}: nothing to learn"
        )
    is_float = ptypes.is_float_dtype(values)
    integral = not is_float or bool((values == values.round()).all())
    if ptypes.is_bool_dtype(values) or n_unique == 2:
        return "binary"
    if not ptypes.is_numeric_dtype(values) or (integral and n_unique <= max_classes):
        if n_unique > max_classes:
            raise IngestError(
                f"target '{target.name}' is text with {n_unique} distinct values, more than "
                f"ingest.max_classes={max_classes}; raise it or set datasets.<name>.task"
            )
        return "multiclass"
    return "regression"


def detect_id_columns(frame: pd.DataFrame, candidates: list[str]) -> dict[str, str]:
    """Columns that identify rows rather than describe them, with the reason for each."""
    found: dict[str, str] = {}
    n_rows = len(frame)
    if n_rows < 2:
        return found
    for name in candidates:
        column = frame[name]
        if column.isna().any() or column.nunique() != n_rows:
            if _ID_NAME.search(str(name)) and str(name).lower().startswith("unnamed"):
                found[name] = "unnamed index column written by a previous export"
            continue
        whole = ptypes.is_float_dtype(column) and bool((column == column.round()).all())
        if ptypes.is_integer_dtype(column) or whole:
            if int(column.max()) - int(column.min()) == n_rows - 1:
                found[name] = "sequential integers, one per row (a row index or key)"
            elif _ID_NAME.search(str(name)):
                found[name] = "unique integers in a column named like an ID"
        elif ptypes.is_object_dtype(column) or ptypes.is_string_dtype(column):
            found[name] = "unique text value in every row (a key)"
    return found


def _as_numeric(column: pd.Series) -> pd.Series:
    """Numbers as float64: a count column may carry missing values in a later batch, and the
    served model's signature must accept them."""
    if ptypes.is_bool_dtype(column):
        column = column.astype("float64")
    converted = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column.notna() & converted.isna()
    if bad.any():
        rows = column[bad]
        raise IngestError(
            f"column '{column.name}' is declared numeric but {int(bad.sum())} value(s) are not "
            f"numbers, e.g. {_sample(rows)} at rows {[int(i) for i in rows.index[:5]]}"
        )
    return converted


def _as_categorical(column: pd.Series) -> pd.Series:
    return column.astype("object").where(column.isna(), column.astype(str))


def infer_schema(frame: pd.DataFrame, params: IngestParams) -> tuple[TableSchema, dict[str, str]]:
    """Infer the schema of ``frame``; also return the detected ID columns with reasons."""
    columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise IngestError(f"duplicate column names: {duplicated}")
    if params.target not in frame.columns:
        raise IngestError(f"target column '{params.target}' not found; columns are {columns[:20]}")
    named = set(params.id_columns) | set(params.drop_columns) | set(params.categorical)
    named |= set(params.numeric)
    unknown = sorted(named - set(columns))
    if unknown:
        raise IngestError(
            f"the data set's settings name columns that are not in the table: {unknown}"
        )
    clash = sorted(set(params.categorical) & set(params.numeric))
    if clash:
        raise IngestError(f"columns declared both categorical and numeric: {clash}")

    task: TaskKind = (
        infer_task(frame[params.target], params.max_classes)
        if params.task == "auto"
        else params.task
    )
    rest = [c for c in columns if c != params.target and c not in params.drop_columns]
    ids: dict[str, str] = {c: "named in the data set's id_columns" for c in params.id_columns}
    if params.detect_id_columns:
        undecided = [
            c for c in rest if c not in ids and c not in params.categorical + params.numeric
        ]
        ids.update(detect_id_columns(frame, undecided))
    features = [c for c in rest if c not in ids]
    numeric = tuple(
        c
        for c in features
        if c in params.numeric
        or (c not in params.categorical and ptypes.is_numeric_dtype(frame[c]))
    )
    categorical = tuple(c for c in features if c not in numeric)
    if not features:
        raise IngestError(f"no feature columns left after excluding IDs {sorted(ids)}")
    if task == "regression" and not ptypes.is_numeric_dtype(frame[params.target]):
        raise IngestError(
            f"target '{params.target}' is not numeric "
            f"(e.g. {_sample(frame[params.target].dropna())}) but the task is regression"
        )
    classes: tuple[Any, ...] = ()
    if task != "regression":
        labels = _labels(frame[params.target]).unique().tolist()
        classes = tuple(sorted(v.item() if hasattr(v, "item") else v for v in labels))
        if len(classes) < 2:
            raise IngestError(
                f"target '{params.target}' has a single class {list(classes)}: nothing to learn"
            )
        if task == "binary" and len(classes) != 2:
            raise IngestError(
                f"task is binary but target '{params.target}' has {len(classes)} classes"
            )
    schema = TableSchema(
        target=params.target,
        task=task,
        numeric=numeric,
        categorical=categorical,
        id_columns=tuple(ids),
        dropped=tuple(params.drop_columns),
        classes=classes,
    )
    return schema, ids


def ingest_table(
    frame: pd.DataFrame, params: IngestParams
) -> tuple[pd.DataFrame, TableSchema, IngestReport]:
    """Type the table, drop rows without a target (counted), and describe what was done."""
    if frame.empty:
        raise IngestError("the table has no rows")
    schema, ids = infer_schema(frame, params)
    missing_target = frame[schema.target].isna()
    typed = frame.loc[~missing_target].copy()
    if schema.task != "regression":
        typed[schema.target] = _labels(typed[schema.target])
    for name in schema.numeric:
        typed[name] = _as_numeric(typed[name])
    for name in schema.categorical:
        typed[name] = _as_categorical(typed[name])
    typed = typed[[*schema.id_columns, *schema.features, schema.target]]
    report = IngestReport(
        rows_in=len(frame),
        rows_out=len(typed),
        rows_missing_target=int(missing_target.sum()),
        id_columns=ids,
        dropped_columns=schema.dropped,
        task=schema.task,
        task_inferred=params.task == "auto",
    )
    return typed.reset_index(drop=True), schema, report
