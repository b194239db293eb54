"""Compile a fitted Pipeline of this project into one ONNX graph, and decide whether it may serve.

:func:`compile_pipeline` converts the whole Pipeline (the ColumnTransformer of
:mod:`tasks.steps.features`, the optional ``select`` and ``pca`` steps, and the estimator of
:mod:`tasks.steps.models`) with skl2onnx, runs the graph with ONNX Runtime on a frame (the test
split) beside scikit-learn, and returns a :class:`CompileResult`: the graph's bytes when parity
holds, the parity figures, and otherwise the reason. It never raises for a model that cannot be
converted: the reason is the answer (:attr:`CompileResult.reason`). No MLflow here.

The graph's contract (what a caller feeds, what it reads):

- one input per raw feature column, named after it, of shape ``[N, 1]``: numeric columns as
  double (a missing value is NaN), categorical columns as strings (a missing value is the
  empty string :data:`MISSING_STRING`, which the graph imputes exactly as the Pipeline imputes
  NaN); :func:`feeds` builds them from a frame;
- outputs ``label`` (the most probable class, or nothing for regression) and ``probabilities``
  (``[N, classes]``, double) for classifiers, ``variable`` (``[N, 1]``, double) for regressors.
  The served label follows the platform's rule on the probabilities (the threshold for binary,
  :func:`decide`), not the ``label`` output.

Parity: every computation runs in double precision, as scikit-learn's does. Three places where
skl2onnx 1.20's own converters do not (measured with scikit-learn 1.7) are replaced here:

- trees (decision tree, random forest, histogram gradient boosting): skl2onnx writes the
  thresholds and leaf values as float attributes of ``TreeEnsembleClassifier/Regressor``, so a
  double input is compared to a float-rounded threshold; a row whose scaled value lies between
  the two takes the other branch (with float32 inputs, up to 0.106 of probability on 5,000
  rows). Here they become one ``ai.onnx.ml`` opset-5 ``TreeEnsemble`` with double splits,
  double leaf weights and a double output; scikit-learn's own rounding is reproduced where it
  has one (its decision trees and forests compare ``float32(x)`` to a double threshold: the
  graph casts to float and back before them; histogram gradient boosting compares the double
  ``x``). skl2onnx's converter for ``HistGradientBoosting*`` also fails outright with
  ``TypeError: Field onnx.AttributeProto.ints: Expected an int, got a boolean``: its
  ``nodes_missing_value_tracks_true`` list mixes Python ``False`` (leaves) with numpy
  ``uint8`` (splits); here every such flag is an ``int``;
- ``SimpleImputer``: skl2onnx's numeric one fills with float32 statistics (``Imputer``'s
  ``imputed_value_floats``) and its string one refuses NaN as the missing value; here a double
  ``Where(IsNaN)`` and a string ``Where(Equal(x, ""))``;
- the scalers run as double ``Sub``/``Div`` (skl2onnx's path for double inputs), not the float
  ``Scaler`` operator.

Also replaced: the one-hot encoder (skl2onnx's fails at run time on a category never seen in
training), the ordinal encoder (ONNX Runtime refuses skl2onnx's once a column has infrequent
categories) and SVR (ONNX Runtime has no double ``SVMRegressor``). The missing-value indicator
branch takes numbers and text in one step, which no tensor holds: the graph gets one branch per
kind (:func:`_split_indicators`), in the same column order.

The custom steps of :mod:`tasks.steps.features` (``NullFractionDropper``, ``OutlierClipper``,
``SkewTransformer``, ``ColumnBinner``) get their own shape calculators and converters,
registered with skl2onnx once (:func:`_register_custom_steps`). ``SkewTransformer(log)``
refuses a negative value with an error, which a graph cannot raise: the graph then has a third
output, ``refused`` (bool ``[N, 1]``, true on the rows the Pipeline would refuse), and NaN in
``probabilities`` / ``variable`` on those rows, so that a caller that ignores it fails loudly
(:func:`_guard`); the parity check verifies the flags row by row against the Pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Parity bounds: probabilities (absolute) and regression values (relative).
MAX_PROBABILITY_DIFF = 1e-6
MAX_RELATIVE_DIFF = 1e-6
# What a missing categorical value is in the graph's string inputs.
MISSING_STRING = ""
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}
# TreeEnsemble (double splits, leaves and output) is ai.onnx.ml opset 5
ML_OPSET = 5

RUNTIME_TAG = "runtime.onnx"


@dataclass(frozen=True)
class CompileResult:
    """The outcome of compiling one Pipeline.

    ``onnx`` holds the graph's bytes only when it may serve (conversion worked and parity held);
    ``reason`` is empty then, and says why not otherwise (the conversion's error, or the parity
    figures that failed). ``rows`` is the frame's row count the parity was measured on (0 when
    conversion failed); ``max_abs_diff`` the largest probability difference (classification) or
    value difference (regression), ``max_rel_diff`` the largest relative difference
    (regression), ``labels_agree`` whether every row's label (the platform's decision rule on
    both sides) is the same (None for regression)."""

    onnx: bytes | None
    task: str
    rows: int = 0
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    labels_agree: bool | None = None
    labels_differ: int = 0
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.onnx is not None

    def tags(self) -> dict[str, str]:
        """The model version's tags that record this outcome (``runtime.onnx`` = ``ok`` or
        ``unavailable``, with the figures and, when unavailable, the reason)."""
        tags = {
            RUNTIME_TAG: "ok" if self.ok else "unavailable",
            f"{RUNTIME_TAG}.rows": str(self.rows),
        }
        if self.max_abs_diff is not None:
            tags[f"{RUNTIME_TAG}.max_abs_diff"] = f"{self.max_abs_diff:.3g}"
        if self.max_rel_diff is not None:
            tags[f"{RUNTIME_TAG}.max_rel_diff"] = f"{self.max_rel_diff:.3g}"
        if self.labels_agree is not None:
            tags[f"{RUNTIME_TAG}.labels_agree"] = str(self.labels_agree).lower()
        if self.reason:
            tags[f"{RUNTIME_TAG}.reason"] = self.reason[:500]
        return tags


class _Unsupported(Exception):
    """A step the graph cannot reproduce exactly; its message is the recorded reason."""


# ---------------------------------------------------------------------------------------------
# Inputs.


def input_columns(pipeline: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The raw feature columns the Pipeline takes: (numeric, categorical), each in the
    order the graph's inputs follow (the ColumnTransformer's branches)."""
    columns = pipeline.steps[0][1]
    branches = {name: list(cols) for name, _, cols in columns.transformers_ if name != "remainder"}
    return tuple(branches.get("numeric", ())), tuple(branches.get("categorical", ()))


def feeds(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> dict[str, np.ndarray]:
    """The graph's inputs for ``frame``'s rows: ``[N, 1]`` double for numeric columns (NaN when
    missing), ``[N, 1]`` strings for categorical ones (:data:`MISSING_STRING` when missing)."""
    import numpy as np
    import pandas as pd

    out: dict[str, np.ndarray] = {}
    for name in numeric:
        out[name] = pd.to_numeric(frame[name], errors="raise").to_numpy("float64").reshape(-1, 1)
    for name in categorical:
        values = frame[name].astype(object)
        text = np.where(values.isna().to_numpy(), MISSING_STRING, values.astype(str).to_numpy())
        out[name] = text.astype(object).reshape(-1, 1)
    return out


def decide(proba: np.ndarray, classes: Sequence[Any], task: str, threshold: float) -> np.ndarray:
    """Labels by the platform's rule (tasks/steps/predict.py): binary, the larger class when its
    probability reaches ``threshold``; multiclass, the most probable class."""
    import numpy as np

    labels = np.asarray(classes, dtype=object)
    if task == "binary":
        decided: np.ndarray = np.where(proba[:, -1] >= threshold, labels[-1], labels[0])
        return decided
    best: np.ndarray = labels[proba.argmax(axis=1)]
    return best


# ---------------------------------------------------------------------------------------------
# Graph-building helpers.


def _const(scope: Any, container: Any, name: str, value: Any) -> str:
    """An initializer holding ``value`` (a numpy array); returns its name."""
    import numpy as np
    from onnx import numpy_helper

    array = np.asarray(value)
    unique: str = scope.get_unique_variable_name(name)
    if array.dtype.kind in "OUS":  # strings: the initializer copies raw data only otherwise
        flat = [str(v) for v in array.ravel()]
        container.add_initializer(unique, 8, list(array.shape), flat)  # STRING
        return unique
    tensor = numpy_helper.from_array(array, unique)
    container.add_initializer(unique, tensor.data_type, list(array.shape), tensor)
    return unique


def _node(scope: Any, container: Any, op: str, inputs: list[str], **attrs: Any) -> str:
    out: str = scope.get_unique_variable_name(op.lower())
    container.add_node(op, inputs, [out], name=scope.get_unique_operator_name(op), **attrs)
    return out


def _single_input(scope: Any, operator: Any, container: Any) -> str:
    from skl2onnx.operator_converters.common import concatenate_variables

    if len(operator.inputs) == 1:
        return str(operator.inputs[0].full_name)
    return str(concatenate_variables(scope, operator.inputs, container))


def _columns(scope: Any, container: Any, x: str, indices: Sequence[int]) -> str:
    import numpy as np

    index = _const(scope, container, "cols", np.asarray(list(indices), dtype=np.int64))
    return _node(scope, container, "Gather", [x, index], axis=1)


def _assemble(
    scope: Any, container: Any, x: str, n_columns: int, replaced: Mapping[int, str], out: str
) -> None:
    """``out`` = ``x`` with the columns in ``replaced`` (index -> an ``[N, 1]`` tensor)."""
    parts = [
        replaced[j] if j in replaced else _columns(scope, container, x, [j])
        for j in range(n_columns)
    ]
    container.add_node(
        "Concat", parts, [out], axis=1, name=scope.get_unique_operator_name("Concat")
    )


def _shape_same_type(width: Any) -> Any:
    """A shape calculator: the output has the input's type and ``width(operator)`` columns."""

    def calculate(operator: Any) -> None:
        kind = operator.inputs[0].type.__class__
        n_rows = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = kind([n_rows, width(operator.raw_operator)])

    return calculate


# ---------------------------------------------------------------------------------------------
# The custom feature steps.


def _convert_dropper(scope: Any, operator: Any, container: Any) -> None:
    op = operator.raw_operator
    names = list(op.feature_names_in_)
    kept = [names.index(c) for c in op.kept_columns_]
    x = _single_input(scope, operator, container)
    index = _const(scope, container, "kept", __import__("numpy").asarray(kept, dtype="int64"))
    container.add_node(
        "Gather", [x, index], [operator.outputs[0].full_name], axis=1,
        name=scope.get_unique_operator_name("Gather"),
    )  # fmt: skip


def _convert_clipper(scope: Any, operator: Any, container: Any) -> None:
    import numpy as np

    op = operator.raw_operator
    x = _single_input(scope, operator, container)
    lower = _const(scope, container, "lower", np.asarray(op.lower_, np.float64).reshape(1, -1))
    upper = _const(scope, container, "upper", np.asarray(op.upper_, np.float64).reshape(1, -1))
    clipped = _node(scope, container, "Min", [_node(scope, container, "Max", [x, lower]), upper])
    # np.clip keeps NaN; ONNX Max/Min need not: keep the input where it is NaN
    nan = _node(scope, container, "IsNaN", [x])
    container.add_node(
        "Where", [nan, x, clipped], [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )  # fmt: skip


def _log1p(scope: Any, container: Any, column: str) -> str:
    import numpy as np

    one = _const(scope, container, "one", np.asarray([1.0]))
    return _node(scope, container, "Log", [_node(scope, container, "Add", [column, one])])


def _yeo_johnson(scope: Any, container: Any, column: str, lmbda: float) -> str:
    """scikit-learn's ``PowerTransformer._yeo_johnson_transform`` for one column."""
    import numpy as np

    def c(value: float) -> str:
        return _const(scope, container, "c", np.asarray([value], dtype=np.float64))

    if abs(lmbda) < np.spacing(1.0):
        positive = _log1p(scope, container, column)
    else:
        power = _node(
            scope, container, "Pow", [_node(scope, container, "Add", [column, c(1.0)]), c(lmbda)]
        )
        positive = _node(
            scope, container, "Div", [_node(scope, container, "Sub", [power, c(1.0)]), c(lmbda)]
        )
    negated = _node(scope, container, "Neg", [column])
    if abs(lmbda - 2) > np.spacing(1.0):
        base = _node(scope, container, "Add", [negated, c(1.0)])
        power = _node(scope, container, "Pow", [base, c(2 - lmbda)])
        ratio = _node(
            scope, container, "Div", [_node(scope, container, "Sub", [power, c(1.0)]), c(2 - lmbda)]
        )
        negative = _node(scope, container, "Neg", [ratio])
    else:
        negative = _node(scope, container, "Neg", [_log1p(scope, container, negated)])
    is_positive = _node(scope, container, "GreaterOrEqual", [column, c(0.0)])
    return _node(scope, container, "Where", [is_positive, positive, negative])


def _convert_skew(scope: Any, operator: Any, container: Any) -> None:
    import numpy as np

    op = operator.raw_operator
    names = list(op.feature_names_in_)
    x = _single_input(scope, operator, container)
    if op.method == "log" and op.columns_:
        # the Pipeline refuses a negative value here with an error; the graph flags the row
        chosen = _columns(scope, container, x, [names.index(c) for c in op.columns_])
        zero = _const(scope, container, "zero", np.asarray([0.0]))
        negative = _node(
            scope, container, "Cast", [_node(scope, container, "Less", [chosen, zero])], to=7
        )
        axes = _const(scope, container, "axes", np.asarray([1], dtype=np.int64))
        any_negative = _node(scope, container, "ReduceMax", [negative, axes], keepdims=1)
        _refusals.get().append(_node(scope, container, "Cast", [any_negative], to=9))  # BOOL
    replaced: dict[int, str] = {}
    for position, name in enumerate(op.columns_):
        j = names.index(name)
        column = _columns(scope, container, x, [j])
        if op.method == "log":
            replaced[j] = _log1p(scope, container, column)
        else:
            replaced[j] = _yeo_johnson(
                scope, container, column, float(op.power_.lambdas_[position])
            )
    _assemble(scope, container, x, len(names), replaced, operator.outputs[0].full_name)


def _convert_binner(scope: Any, operator: Any, container: Any) -> None:
    import numpy as np

    op = operator.raw_operator
    names = list(op.feature_names_in_)
    x = _single_input(scope, operator, container)
    replaced: dict[int, str] = {}
    for position, name in enumerate(op.columns_):
        j = names.index(name)
        column = _columns(scope, container, x, [j])
        inner = np.asarray(op.binner_.bin_edges_[position][1:-1], dtype=np.float64)
        # np.searchsorted(inner, x, side="right"): how many inner edges are <= x
        edges = _const(
            scope,
            container,
            "edges",
            (inner if inner.size else np.asarray([np.nan])).reshape(1, -1),
        )
        reached = _node(scope, container, "GreaterOrEqual", [column, edges])
        counts = _node(scope, container, "Cast", [reached], to=11)  # DOUBLE
        axes = _const(scope, container, "axes", np.asarray([1], dtype=np.int64))
        replaced[j] = _node(scope, container, "ReduceSum", [counts, axes], keepdims=1)
    _assemble(scope, container, x, len(names), replaced, operator.outputs[0].full_name)


# The tensors (bool [N, 1]) of the rows a step of this conversion refuses (see _guard).
_refusals: ContextVar[list[str]] = ContextVar("refusals")
REFUSED_OUTPUT = "refused"

_CUSTOM: dict[str, tuple[Any, Any]] = {
    "NullFractionDropper": (lambda op: len(op.kept_columns_), _convert_dropper),
    "OutlierClipper": (lambda op: len(op.feature_names_in_), _convert_clipper),
    "SkewTransformer": (lambda op: len(op.feature_names_in_), _convert_skew),
    "ColumnBinner": (lambda op: len(op.feature_names_in_), _convert_binner),
}
_registered: list[bool] = []


def _register_custom_steps() -> None:
    """Register this project's feature steps with skl2onnx (once per process)."""
    if _registered:
        return
    from skl2onnx import update_registered_converter

    from tasks.steps.features import _transformers

    classes = _transformers()
    for name, (width, converter) in _CUSTOM.items():
        update_registered_converter(
            classes[name], f"MlopsFeatures{name}", _shape_same_type(width), converter
        )
    update_registered_converter(
        _IndicatorPart, "MlopsIndicatorPart", _indicator_part_shape, _convert_indicator_part
    )
    _registered.append(True)


# ---------------------------------------------------------------------------------------------
# scikit-learn steps whose skl2onnx converter loses precision or refuses our inputs.


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    import numpy as np
    from skl2onnx.common.data_types import StringTensorType

    op = operator.raw_operator
    statistics = np.asarray(op.statistics_)
    if not (isinstance(op.missing_values, float) and np.isnan(op.missing_values)):
        raise _Unsupported(f"SimpleImputer(missing_values={op.missing_values!r}): only NaN")
    x = _single_input(scope, operator, container)
    out = operator.outputs[0].full_name
    if isinstance(operator.inputs[0].type, StringTensorType):
        fill = _const(
            scope, container, "fill", statistics.astype(str).astype(object).reshape(1, -1)
        )
        empty = _const(scope, container, "empty", np.asarray([MISSING_STRING], dtype=object))
        missing = _node(scope, container, "Equal", [x, empty])
    else:
        from skl2onnx.common.data_types import FloatTensorType

        as_float = isinstance(operator.inputs[0].type, FloatTensorType)
        values = statistics.astype(np.float32 if as_float else np.float64)
        if np.isnan(values).any() and not op.keep_empty_features:
            raise _Unsupported(
                "SimpleImputer drops the columns that were all missing in training; not "
                "reproduced in the graph"
            )
        fill = _const(scope, container, "fill", values.reshape(1, -1))
        missing = _node(scope, container, "IsNaN", [x])
    container.add_node(
        "Where", [missing, fill, x], [out], name=scope.get_unique_operator_name("Where")
    )


def _convert_one_hot(scope: Any, operator: Any, container: Any) -> None:
    """OneHotEncoder as this project builds it (dense, no drop, ``handle_unknown=
    "infrequent_if_exist"``): one 0/1 column per frequent category and, when the column has
    infrequent categories, one column that is 1 for those and for any category never seen in
    training; without infrequent ones an unknown category is all zeros. (skl2onnx's converter
    fails at run time on an unknown category: ``Unknown Category and zeros = 0``.)"""
    import numpy as np

    op = operator.raw_operator
    if op.drop is not None or op.handle_unknown not in ("infrequent_if_exist", "ignore"):
        raise _Unsupported(f"OneHotEncoder(drop={op.drop!r}, handle_unknown={op.handle_unknown!r})")
    x = _single_input(scope, operator, container)
    blocks = []
    for j, _ in enumerate(op.categories_):
        column = _columns(scope, container, x, [j])
        shown = list(op._compute_transformed_categories(j))
        infrequent = bool(shown) and str(shown[-1]) == "infrequent_sklearn"
        frequent = shown[:-1] if infrequent else shown
        if frequent:
            table = _const(
                scope,
                container,
                "cats",
                np.asarray([str(c) for c in frequent], dtype=object).reshape(1, -1),
            )
            equal = _node(scope, container, "Equal", [column, table])
            blocks.append(_node(scope, container, "Cast", [equal], to=11))
        if infrequent:
            if frequent:
                axes = _const(scope, container, "axes", np.asarray([1], dtype=np.int64))
                cast = _node(scope, container, "Cast", [equal], to=7)  # INT64
                known = _node(scope, container, "ReduceMax", [cast, axes], keepdims=1)
                zero = _const(scope, container, "zero", np.asarray([0], dtype=np.int64))
                other = _node(scope, container, "Equal", [known, zero])
            else:
                other = _node(scope, container, "Equal", [column, column])  # every row
            blocks.append(_node(scope, container, "Cast", [other], to=11))
    out = operator.outputs[0].full_name
    container.add_node(
        "Concat", blocks, [out], axis=1, name=scope.get_unique_operator_name("Concat")
    )


def _convert_ordinal(scope: Any, operator: Any, container: Any) -> None:
    """OrdinalEncoder with ``handle_unknown="use_encoded_value"``: each category's code as the
    fitted encoder gives it (infrequent categories share one code), ``unknown_value`` for a
    category never seen. (skl2onnx's converter builds a LabelEncoder with more codes than
    keys once a column has infrequent categories; ONNX Runtime refuses it.)"""
    import numpy as np
    import pandas as pd

    op = operator.raw_operator
    if op.handle_unknown != "use_encoded_value":
        raise _Unsupported(f"OrdinalEncoder(handle_unknown={op.handle_unknown!r})")
    x = _single_input(scope, operator, container)
    # the codes, read from the encoder itself: one row per category of each column in turn
    columns = []
    for j, categories in enumerate(op.categories_):
        sample = pd.DataFrame({i: [c[0]] * len(categories) for i, c in enumerate(op.categories_)})
        sample[j] = list(categories)
        sample.columns = (
            list(op.feature_names_in_) if hasattr(op, "feature_names_in_") else sample.columns
        )
        codes = np.asarray(op.transform(sample), dtype=np.float64)[:, j]
        column = _columns(scope, container, x, [j])
        coded = _node(
            scope, container, "LabelEncoder", [column], op_domain="ai.onnx.ml", op_version=2,
            keys_strings=[str(c) for c in categories], values_floats=[float(v) for v in codes],
            default_float=float(op.unknown_value),
        )  # fmt: skip
        columns.append(_node(scope, container, "Cast", [coded], to=11))
    out = operator.outputs[0].full_name
    container.add_node(
        "Concat", columns, [out], axis=1, name=scope.get_unique_operator_name("Concat")
    )


def _ordinal_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([n_rows, len(operator.raw_operator.categories_)])


def _one_hot_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    op = operator.raw_operator
    width = sum(len(op._compute_transformed_categories(j)) for j in range(len(op.categories_)))
    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].get_first_dimension(), width])


class _IndicatorPart:
    """Conversion only: the missing-value indicators of the numeric or the categorical columns
    among ``columns`` (the branch's inputs), for ``indicated`` (names, in output order).

    The Pipeline's indicator branch takes every feature, numbers and text together, which no
    ONNX tensor holds; :func:`_split_indicators` gives the graph two branches instead, one per
    kind, whose outputs in turn are the branch's columns in its order (numeric columns come
    first among the features)."""

    def __init__(self, columns: Sequence[str], indicated: Sequence[str]) -> None:
        self.columns = list(columns)
        self.indicated = list(indicated)


def _indicated(branch: Any) -> list[str]:
    """The columns a fitted indicator branch (``[drop_nulls,] indicate``) outputs, in order."""
    steps = dict(branch.steps)
    indicator = steps["indicate"]
    kept = (
        list(steps["drop_nulls"].kept_columns_)
        if "drop_nulls" in steps
        else list(indicator.feature_names_in_)
    )
    return [str(kept[i]) for i in indicator.features_]


def _split_indicators(pipeline: Any) -> Any:
    """``pipeline`` with its indicator branch split by column kind (:class:`_IndicatorPart`),
    for conversion only (parity is checked against the Pipeline itself)."""
    import copy

    from sklearn.pipeline import Pipeline

    columns = pipeline.steps[0][1]
    if "indicators" not in columns.named_transformers_:
        return pipeline
    numeric, categorical = input_columns(pipeline)
    branches = []
    for name, step, used in columns.transformers_:
        if name != "indicators":
            branches.append((name, step, used))
            continue
        indicated = _indicated(step)
        for kind, pool in (("numeric", numeric), ("categorical", categorical)):
            part = [c for c in indicated if c in pool]
            if part:
                branches.append((f"indicators_{kind}", _IndicatorPart(pool, part), list(pool)))
    split = copy.copy(columns)
    split.transformers_ = branches
    return Pipeline([(pipeline.steps[0][0], split), *pipeline.steps[1:]])


def _convert_indicator_part(scope: Any, operator: Any, container: Any) -> None:
    import numpy as np
    from skl2onnx.common.data_types import StringTensorType

    part = operator.raw_operator
    x = _single_input(scope, operator, container)
    picked = _columns(scope, container, x, [part.columns.index(c) for c in part.indicated])
    if isinstance(operator.inputs[0].type, StringTensorType):
        empty = _const(scope, container, "empty", np.asarray([MISSING_STRING], dtype=object))
        missing = _node(scope, container, "Equal", [picked, empty])
    else:
        missing = _node(scope, container, "IsNaN", [picked])
    container.add_node(
        "Cast", [missing], [operator.outputs[0].full_name], to=11,
        name=scope.get_unique_operator_name("Cast"),
    )  # fmt: skip


def _indicator_part_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([n_rows, len(operator.raw_operator.indicated)])


# ---------------------------------------------------------------------------------------------
# Trees: one ai.onnx.ml opset-5 TreeEnsemble in double precision.


@dataclass
class _Ensemble:
    """TreeEnsemble attributes being built: interior nodes and leaves, numbered apart."""

    features: list[int]
    splits: list[float]
    true_ids: list[int]
    true_leaf: list[int]
    false_ids: list[int]
    false_leaf: list[int]
    missing_true: list[int]
    leaf_targets: list[int]
    leaf_weights: list[float]
    roots: list[int]

    @classmethod
    def empty(cls) -> _Ensemble:
        return cls([], [], [], [], [], [], [], [], [], [])

    def add_tree(
        self,
        nodes: list[tuple[int, float, int, int, bool]],
        leaves: dict[int, float],
        target: int,
    ) -> None:
        """One tree: ``nodes`` as (feature, threshold, left, right, missing_left) for its
        splits in node-id order, ``leaves`` mapping a leaf's node id to its weight; ``x <=
        threshold`` (and a missing ``x`` when ``missing_left``) goes left."""
        split_ids = [i for i in range(len(nodes) + len(leaves)) if i not in leaves]
        base, leaf_base = len(self.features), len(self.leaf_targets)
        split_index = {node: base + k for k, node in enumerate(split_ids)}
        leaf_index = {node: leaf_base + k for k, node in enumerate(sorted(leaves))}
        for node in sorted(leaves):
            self.leaf_targets.append(target)
            self.leaf_weights.append(float(leaves[node]))
        if not split_ids:  # a tree that is one leaf: a split whose both sides are that leaf
            only = leaf_index[next(iter(leaves))]
            self.roots.append(len(self.features))
            self._split(0, 0.0, (only, 1), (only, 1), 1)
            return
        by_id = dict(zip(split_ids, nodes, strict=True))
        self.roots.append(split_index[split_ids[0]])
        for node in split_ids:
            feature, threshold, left, right, missing_left = by_id[node]
            self._split(
                feature,
                threshold,
                (leaf_index[left], 1) if left in leaves else (split_index[left], 0),
                (leaf_index[right], 1) if right in leaves else (split_index[right], 0),
                int(bool(missing_left)),
            )

    def _split(
        self,
        feature: int,
        threshold: float,
        true: tuple[int, int],
        false: tuple[int, int],
        missing: int,
    ) -> None:
        self.features.append(int(feature))
        self.splits.append(float(threshold))
        self.true_ids.append(int(true[0]))
        self.true_leaf.append(int(true[1]))
        self.false_ids.append(int(false[0]))
        self.false_leaf.append(int(false[1]))
        self.missing_true.append(int(missing))

    def node(self, scope: Any, container: Any, x: str, n_targets: int) -> str:
        import numpy as np
        from onnx import numpy_helper

        out: str = scope.get_unique_variable_name("tree_scores")
        container.add_node(
            "TreeEnsemble",
            [x],
            [out],
            op_domain="ai.onnx.ml",
            # skl2onnx 1.20 refuses a target of ai.onnx.ml 5: declared 3 here, and the
            # model's import raised to 5 once converted (convert())
            op_version=3,
            name=scope.get_unique_operator_name("TreeEnsemble"),
            n_targets=n_targets,
            aggregate_function=1,  # SUM
            post_transform=0,  # NONE
            tree_roots=self.roots,
            nodes_featureids=self.features,
            nodes_splits=numpy_helper.from_array(np.asarray(self.splits, dtype=np.float64)),
            nodes_modes=numpy_helper.from_array(np.zeros(len(self.features), dtype=np.uint8)),
            nodes_truenodeids=self.true_ids,
            nodes_trueleafs=self.true_leaf,
            nodes_falsenodeids=self.false_ids,
            nodes_falseleafs=self.false_leaf,
            nodes_missing_value_tracks_true=self.missing_true,
            leaf_targetids=self.leaf_targets,
            leaf_weights=numpy_helper.from_array(np.asarray(self.leaf_weights, dtype=np.float64)),
        )
        return out


def _sklearn_tree(ensemble: _Ensemble, tree: Any, weight_of: Any, target: int) -> None:
    """A scikit-learn ``Tree`` (decision trees, forests), its leaves weighted by ``weight_of``."""
    import numpy as np

    left, right = tree.children_left, tree.children_right
    missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
    nodes, leaves = [], {}
    for i in range(tree.node_count):
        if left[i] == -1:
            leaves[i] = weight_of(tree.value[i])
        else:
            nodes.append(
                (
                    int(tree.feature[i]),
                    float(tree.threshold[i]),
                    int(left[i]),
                    int(right[i]),
                    bool(missing[i]),
                )
            )
    ensemble.add_tree(nodes, leaves, target)


def _hist_tree(ensemble: _Ensemble, predictor: Any, target: int) -> None:
    nodes, leaves = [], {}
    for i, node in enumerate(predictor.nodes):
        if node["is_leaf"]:
            leaves[i] = float(node["value"])
        elif node["is_categorical"]:
            raise _Unsupported("HistGradientBoosting with native categorical splits")
        else:
            nodes.append(
                (
                    int(node["feature_idx"]),
                    float(node["num_threshold"]),
                    int(node["left"]),
                    int(node["right"]),
                    bool(node["missing_go_to_left"]),
                )
            )
    ensemble.add_tree(nodes, leaves, target)


def _tree_input(scope: Any, operator: Any, container: Any, float_first: bool) -> str:
    """The trees' input in double; for scikit-learn's own trees rounded through float32 first,
    as they round ``X`` (``DTYPE = float32``) before comparing it to double thresholds."""
    x = _single_input(scope, operator, container)
    x = _node(scope, container, "Cast", [x], to=11)
    if float_first:
        x = _node(scope, container, "Cast", [_node(scope, container, "Cast", [x], to=1)], to=11)
    return x


def _labels_output(scope: Any, container: Any, op: Any, proba: str, out: str) -> None:
    import numpy as np

    classes = np.asarray(op.classes_)
    if classes.dtype.kind in "biu":
        classes = classes.astype(np.int64)
    elif classes.dtype.kind in "OUS":
        classes = classes.astype(str).astype(object)
    else:
        raise _Unsupported(f"class labels of dtype {classes.dtype}")
    best = _node(scope, container, "ArgMax", [proba], axis=1, keepdims=0)
    table = _const(scope, container, "classes", classes)
    container.add_node(
        "Gather", [table, best], [out], axis=0, name=scope.get_unique_operator_name("Gather")
    )


def _probabilities_from_scores(
    scope: Any, container: Any, scores: str, binary: bool, out: str
) -> None:
    """HistGradientBoostingClassifier's loss: expit (binary, [1 - p, p]) or softmax."""
    import numpy as np

    if binary:
        p = _node(scope, container, "Sigmoid", [scores])
        one = _const(scope, container, "one", np.asarray([1.0]))
        q = _node(scope, container, "Sub", [one, p])
        container.add_node(
            "Concat", [q, p], [out], axis=1, name=scope.get_unique_operator_name("Concat")
        )
    else:
        container.add_node(
            "Softmax", [scores], [out], axis=1, name=scope.get_unique_operator_name("Softmax")
        )


def _convert_tree_classifier(scope: Any, operator: Any, container: Any) -> None:
    import numpy as np

    op = operator.raw_operator
    n_classes = len(op.classes_)
    binary = n_classes == 2
    ensemble = _Ensemble.empty()
    proba = operator.outputs[1].full_name
    if hasattr(op, "_predictors"):  # HistGradientBoostingClassifier
        if op.loss not in ("log_loss", "auto"):
            raise _Unsupported(f"HistGradientBoostingClassifier(loss={op.loss!r})")
        for iteration in op._predictors:
            for k, predictor in enumerate(iteration):
                _hist_tree(ensemble, predictor, k)
        x = _tree_input(scope, operator, container, float_first=False)
        n_targets = 1 if binary else n_classes
        raw = ensemble.node(scope, container, x, n_targets)
        baseline = _const(
            scope,
            container,
            "baseline",
            np.asarray(op._baseline_prediction, dtype=np.float64).reshape(1, -1),
        )
        scores = _node(scope, container, "Add", [raw, baseline])
        _probabilities_from_scores(scope, container, scores, binary, proba)
    else:
        trees = [op] if hasattr(op, "tree_") else list(op.estimators_)
        n_trees = len(trees)
        targets = [1] if binary else list(range(n_classes))
        for estimator in trees:
            for k in targets:

                def weight(value: Any, k: int = k) -> float:
                    row = np.asarray(value, dtype=np.float64)[0]
                    return float(row[k] / row.sum())

                _sklearn_tree(ensemble, estimator.tree_, weight, 0 if binary else k)
        x = _tree_input(scope, operator, container, float_first=True)
        # as scikit-learn: each tree's probabilities summed in tree order, then divided by the
        # count (a share like 10/20 lands on 0.5 exactly, as it does there)
        total = ensemble.node(scope, container, x, 1 if binary else n_classes)
        count = _const(scope, container, "trees", np.asarray([float(n_trees)]))
        raw = _node(scope, container, "Div", [total, count])
        if binary:
            one = _const(scope, container, "one", np.asarray([1.0]))
            q = _node(scope, container, "Sub", [one, raw])
            container.add_node(
                "Concat", [q, raw], [proba], axis=1, name=scope.get_unique_operator_name("Concat")
            )
        else:
            container.add_node(
                "Identity", [raw], [proba], name=scope.get_unique_operator_name("Identity")
            )
    _labels_output(scope, container, op, proba, operator.outputs[0].full_name)


def _convert_tree_regressor(scope: Any, operator: Any, container: Any) -> None:
    import numpy as np

    op = operator.raw_operator
    ensemble = _Ensemble.empty()
    out = operator.outputs[0].full_name
    if hasattr(op, "_predictors"):  # HistGradientBoostingRegressor
        if op.loss != "squared_error":
            raise _Unsupported(f"HistGradientBoostingRegressor(loss={op.loss!r})")
        for iteration in op._predictors:
            _hist_tree(ensemble, iteration[0], 0)
        x = _tree_input(scope, operator, container, float_first=False)
        raw = ensemble.node(scope, container, x, 1)
        baseline = _const(
            scope,
            container,
            "baseline",
            np.asarray(op._baseline_prediction, dtype=np.float64).reshape(1, -1),
        )
        container.add_node(
            "Add", [raw, baseline], [out], name=scope.get_unique_operator_name("Add")
        )
        return
    trees = [op] if hasattr(op, "tree_") else list(op.estimators_)
    n_trees = len(trees)
    for estimator in trees:
        _sklearn_tree(
            ensemble, estimator.tree_, lambda v: float(np.asarray(v, dtype=np.float64)[0, 0]), 0
        )
    x = _tree_input(scope, operator, container, float_first=True)
    total = ensemble.node(scope, container, x, 1)
    count = _const(scope, container, "trees", np.asarray([float(n_trees)]))
    container.add_node("Div", [total, count], [out], name=scope.get_unique_operator_name("Div"))


def _convert_svr(scope: Any, operator: Any, container: Any) -> None:
    """SVR in double (ONNX Runtime has no double ``SVMRegressor``, and the float one rounds the
    support vectors): ``K(x, sv) @ dual_coef.T + intercept`` with libsvm's kernels."""
    import numpy as np

    op = operator.raw_operator
    if op.kernel not in ("rbf", "linear"):
        raise _Unsupported(f"SVR(kernel={op.kernel!r}): only rbf and linear")
    x = _node(scope, container, "Cast", [_single_input(scope, operator, container)], to=11)
    vectors = np.asarray(op.support_vectors_, dtype=np.float64)
    sv_t = _const(scope, container, "sv_t", vectors.T.copy())
    dot = _node(scope, container, "MatMul", [x, sv_t])
    if op.kernel == "rbf":
        axes = _const(scope, container, "axes", np.asarray([1], dtype=np.int64))
        x2 = _node(scope, container, "ReduceSum", [_node(scope, container, "Mul", [x, x]), axes])
        sv2 = _const(scope, container, "sv2", (vectors * vectors).sum(axis=1).reshape(1, -1))
        two = _const(scope, container, "two", np.asarray([2.0]))
        distance = _node(
            scope, container, "Sub",
            [_node(scope, container, "Add", [x2, sv2]), _node(scope, container, "Mul", [dot, two])],
        )  # fmt: skip
        zero = _const(scope, container, "zero", np.asarray([0.0]))
        distance = _node(scope, container, "Max", [distance, zero])  # rounding below 0
        gamma = _const(scope, container, "gamma", np.asarray([-float(op._gamma)]))
        kernel = _node(scope, container, "Exp", [_node(scope, container, "Mul", [distance, gamma])])
    else:
        kernel = dot
    coef = _const(scope, container, "dual", np.asarray(op.dual_coef_, dtype=np.float64).T.copy())
    intercept = _const(scope, container, "b", np.asarray(op.intercept_, dtype=np.float64))
    container.add_node(
        "Add", [_node(scope, container, "MatMul", [kernel, coef]), intercept],
        [operator.outputs[0].full_name], name=scope.get_unique_operator_name("Add"),
    )  # fmt: skip


def _tree_classifier_shape(operator: Any) -> None:
    """Labels (int64 or strings, as the classes) and double probabilities."""
    import numpy as np
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    op = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    kind = np.asarray(op.classes_).dtype.kind
    label = Int64TensorType if kind in "biu" else StringTensorType
    operator.outputs[0].type = label([n_rows])
    operator.outputs[1].type = DoubleTensorType([n_rows, len(op.classes_)])


def _tree_regressor_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].get_first_dimension(), 1])


def _custom_converters() -> tuple[dict[type, Any], dict[type, Any]]:
    """Per-call converters (``convert_sklearn(custom_conversion_functions=...)``) for the
    scikit-learn steps whose skl2onnx converters do not keep double precision, and the
    shape calculators skl2onnx has none of."""
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    converters: dict[type, Any] = {
        SimpleImputer: _convert_imputer,
        DecisionTreeClassifier: _convert_tree_classifier,
        RandomForestClassifier: _convert_tree_classifier,
        HistGradientBoostingClassifier: _convert_tree_classifier,
        DecisionTreeRegressor: _convert_tree_regressor,
        RandomForestRegressor: _convert_tree_regressor,
        HistGradientBoostingRegressor: _convert_tree_regressor,
        SVR: _convert_svr,
        OneHotEncoder: _convert_one_hot,
        OrdinalEncoder: _convert_ordinal,
    }
    shapes: dict[type, Any] = {
        OneHotEncoder: _one_hot_shape,
        OrdinalEncoder: _ordinal_shape,
        # the output has the input's type (a step before it may be one skl2onnx typed late)
        SimpleImputer: _shape_same_type(lambda op: len(op.statistics_)),
    }
    for cls, converter in converters.items():
        if converter is _convert_tree_classifier:
            shapes[cls] = _tree_classifier_shape
        elif converter in (_convert_tree_regressor, _convert_svr):
            shapes[cls] = _tree_regressor_shape
    return converters, shapes


# ---------------------------------------------------------------------------------------------
# Conversion and parity.


def convert(pipeline: Any) -> bytes:
    """The ONNX graph of the whole ``pipeline`` (raises what skl2onnx or our converters raise)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    _register_custom_steps()
    numeric, categorical = input_columns(pipeline)
    pipeline = _split_indicators(pipeline)
    inputs = [(name, DoubleTensorType([None, 1])) for name in numeric]
    inputs += [(name, StringTensorType([None, 1])) for name in categorical]
    model = pipeline.steps[-1][1]
    options: dict[Any, dict[str, Any]] = {}
    if hasattr(model, "classes_"):
        options[id(model)] = {"zipmap": False}
    # skl2onnx gives every step that looks like a classifier (RFE, RFECV) a zipmap option
    # their converters then refuse, unless the step already has options: none for them
    for _, step in pipeline.steps[:-1]:
        options.setdefault(id(step), {})
    converters, shapes = _custom_converters()
    refusals: list[str] = []
    token = _refusals.set(refusals)
    try:
        graph = convert_sklearn(
            pipeline,
            initial_types=inputs,
            options=options or None,
            target_opset=TARGET_OPSET,
            custom_conversion_functions=converters,
            custom_shape_calculators=shapes,
        )
    finally:
        _refusals.reset(token)
    _guard(graph, refusals)
    if any(node.op_type == "TreeEnsemble" for node in graph.graph.node):
        for opset in graph.opset_import:
            if opset.domain == "ai.onnx.ml":
                opset.version = ML_OPSET
    import json

    import onnx

    # the graph's contract, for whoever feeds it without this module
    onnx.helper.set_model_props(
        graph,
        {
            "mlops.numeric_inputs": json.dumps(list(numeric)),
            "mlops.categorical_inputs": json.dumps(list(categorical)),
            "mlops.missing_string": MISSING_STRING,
        },
    )
    onnx.checker.check_model(graph, full_check=True)
    return bytes(graph.SerializeToString())


def _guard(graph: Any, refusals: list[str]) -> None:
    """Make the rows a step refuses visible: a ``refused`` output (bool ``[N, 1]``: the
    Pipeline would raise on this row) and NaN in ``probabilities`` / ``variable`` on those rows,
    so that a caller ignoring ``refused`` fails loudly rather than answers."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    if not refusals:
        return
    produced = {name for node in graph.graph.node for name in node.output}
    lost = [name for name in refusals if name not in produced]
    if lost:
        raise _Unsupported(f"the refusal check {lost} did not survive conversion")
    nodes = graph.graph.node
    refused = refusals[0]
    for other in refusals[1:]:
        merged = f"{refused}_or_{other}"
        nodes.append(helper.make_node("Or", [refused, other], [merged], name=f"Or_{merged}"))
        refused = merged
    nodes.append(helper.make_node("Identity", [refused], [REFUSED_OUTPUT], name="Refused"))
    nan = "mlops_nan"
    graph.graph.initializer.append(numpy_helper.from_array(np.asarray([np.nan]), nan))
    for output in graph.graph.output:
        if output.name not in ("probabilities", "variable"):
            continue
        raw = f"{output.name}_unguarded"
        for node in nodes:
            node.output[:] = [raw if name == output.name else name for name in node.output]
            node.input[:] = [raw if name == output.name else name for name in node.input]
        nodes.append(
            helper.make_node(
                "Where", [refused, nan, raw], [output.name], name=f"Guard_{output.name}"
            )
        )
    graph.graph.output.append(
        helper.make_tensor_value_info(REFUSED_OUTPUT, TensorProto.BOOL, [None, 1])
    )


def session(onnx_bytes: bytes) -> Any:
    """An ONNX Runtime session on the CPU, one thread (what parity and serving run on)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def _reason(error: BaseException) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= 400 else text[:397] + "..."


def compile_pipeline(
    pipeline: Any, frame: pd.DataFrame, task: str, threshold: float = 0.5
) -> CompileResult:
    """Convert ``pipeline`` and check it against scikit-learn on ``frame``'s rows.

    Parity holds when, on every row, the labels by the platform's rule agree and the
    probabilities differ by at most :data:`MAX_PROBABILITY_DIFF` (classification), or the
    values differ by at most :data:`MAX_RELATIVE_DIFF` relative to scikit-learn's
    (regression: ``|onnx - sklearn| / max(|sklearn|, tiny)``); and again on up to
    :data:`PROBE_ROWS` of them with every category replaced by one never seen in training, with
    every value missing, and (when the graph has a ``refused`` output) with negative numbers,
    each row flagged exactly when the Pipeline refuses it (what a test split rarely holds and
    serving must answer alike).
    The figures recorded are the frame's. Never raises for a Pipeline that cannot be converted
    or run: the reason is in the result."""

    if frame.empty:
        return CompileResult(None, task, reason="no rows to check parity on")
    try:
        onnx_bytes = convert(pipeline)
    except _Unsupported as error:  # a step of ours the graph cannot reproduce exactly
        return CompileResult(None, task, reason=f"not convertible: {error}")
    except Exception as error:  # any converter's refusal is the recorded reason
        return CompileResult(None, task, reason=f"conversion failed: {_reason(error)}")
    numeric, categorical = input_columns(pipeline)
    try:
        run = session(onnx_bytes)
        outputs = run.run(None, feeds(frame, numeric, categorical))
        names = [o.name for o in run.get_outputs()]
    except Exception as error:  # ONNX Runtime refusing the graph or the inputs
        return CompileResult(None, task, reason=f"ONNX Runtime failed: {_reason(error)}")
    try:
        result = _parity(
            pipeline, onnx_bytes, dict(zip(names, outputs, strict=True)), frame, task, threshold
        )
    except Exception as error:  # scikit-learn itself failing on the frame
        return CompileResult(None, task, reason=f"scikit-learn failed: {_reason(error)}")
    if not result.ok:
        return result
    problem = _check_probes(pipeline, run, frame, numeric, categorical, task, threshold)
    if problem:
        return CompileResult(
            None, task, result.rows, result.max_abs_diff, result.max_rel_diff,
            result.labels_agree, result.labels_differ, problem,
        )  # fmt: skip
    return result


def _check_probes(
    pipeline: Any,
    run: Any,
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    task: str,
    threshold: float,
) -> str:
    """What a test split rarely holds and serving must answer alike: categories never seen in
    training, every value missing, and (when a step refuses values) negative numbers; the
    reason the graph differs on one of them, or ""."""
    import numpy as np

    names = [o.name for o in run.get_outputs()]
    if REFUSED_OUTPUT in names:
        flags = run.run([REFUSED_OUTPUT], feeds(frame, numeric, categorical))[0]
        if bool(np.asarray(flags).any()):
            return "the graph refuses test rows scikit-learn answers"
        problem = _check_refusals(pipeline, run, frame.head(PROBE_ROWS), numeric, categorical)
        if problem:
            return problem
    for what, probe in _probes(frame.head(PROBE_ROWS), numeric, categorical):
        try:
            answers = run.run(None, feeds(probe, numeric, categorical))
        except Exception as error:  # the graph failing where scikit-learn answers
            return f"ONNX Runtime failed on {what}: {_reason(error)}"
        got = dict(zip(names, answers, strict=True))
        try:
            checked = _parity(pipeline, b"", got, probe, task, threshold)
        except Exception as error:  # the Pipeline refuses what the graph answers
            return f"scikit-learn refuses {what} where the graph answers: {_reason(error)}"
        if not checked.ok:
            return f"on {what}: {checked.reason}"
    return ""


def _check_refusals(
    pipeline: Any, run: Any, frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> str:
    """With every number made negative, each row alone: the graph must flag exactly the rows
    the Pipeline refuses (a ValueError), and answer the others alike; "" when it does."""
    import numpy as np

    negative = frame.copy()
    for name in numeric:
        negative[name] = -(negative[name].abs().fillna(0.0) + 1.0)
    names = [o.name for o in run.get_outputs()]
    answers = dict(zip(names, run.run(None, feeds(negative, numeric, categorical)), strict=True))
    flags = np.asarray(answers[REFUSED_OUTPUT]).ravel()
    for i in range(len(negative)):
        try:
            pipeline.predict(negative.iloc[[i]])
            refuses = False
        except ValueError:
            refuses = True
        if refuses != bool(flags[i]):
            said = "refuses" if refuses else "answers"
            return f"on negative values: scikit-learn {said} row {i} and the graph does not"
    return ""


PROBE_ROWS = 20
UNSEEN = "__mlops_unseen_category__"


def _probes(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> list[tuple[str, pd.DataFrame]]:
    import numpy as np

    probes = []
    if categorical:
        unseen = frame.copy()
        for name in categorical:
            unseen[name] = UNSEEN
        probes.append(("categories never seen in training", unseen))
    empty = frame.copy()
    for name in numeric:
        empty[name] = np.nan
    for name in categorical:
        empty[name] = np.asarray([np.nan] * len(frame), dtype=object)
    probes.append(("rows with every value missing", empty))
    return probes


def _parity(
    pipeline: Any,
    onnx_bytes: bytes,
    got: dict[str, Any],
    frame: pd.DataFrame,
    task: str,
    threshold: float,
) -> CompileResult:
    import numpy as np

    if task == "regression":
        expected = np.asarray(pipeline.predict(frame), dtype=np.float64).ravel()
        return _regression_parity(onnx_bytes, expected, np.asarray(got["variable"]).ravel())
    expected = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
    proba = np.asarray(got["probabilities"], dtype=np.float64)
    return _classification_parity(
        onnx_bytes, task, expected, proba, list(pipeline.classes_), threshold
    )


def _regression_parity(onnx_bytes: bytes, expected: np.ndarray, got: np.ndarray) -> CompileResult:
    """Parity of regression values: ``|got - expected| / max(|expected|, tiny)`` at most
    :data:`MAX_RELATIVE_DIFF` on every row (and NaN exactly where scikit-learn has NaN)."""
    import numpy as np

    values = np.asarray(got, dtype=np.float64)
    rows = len(expected)
    diff = np.abs(values - expected)
    relative = diff / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
    max_abs, max_rel = float(np.nanmax(diff)), float(np.nanmax(relative))
    bad = not np.array_equal(np.isnan(values), np.isnan(expected)) or max_rel > MAX_RELATIVE_DIFF
    reason = (
        f"parity failed on {rows} rows: max relative difference {max_rel:.3g} > "
        f"{MAX_RELATIVE_DIFF:g} (max absolute {max_abs:.3g})"
        if bad
        else ""
    )
    graph = None if bad else onnx_bytes
    return CompileResult(graph, "regression", rows, max_abs, max_rel, None, 0, reason)


def _classification_parity(
    onnx_bytes: bytes,
    task: str,
    expected: np.ndarray,
    proba: np.ndarray,
    classes: list[Any],
    threshold: float,
) -> CompileResult:
    """Parity of probabilities: at most :data:`MAX_PROBABILITY_DIFF` apart on every row, and
    the same label on every row by the platform's rule (:func:`decide`)."""
    import numpy as np

    rows = len(expected)
    if proba.shape != expected.shape:
        return CompileResult(
            None, task, rows,
            reason=f"the graph's probabilities have shape {proba.shape}, not {expected.shape}",
        )  # fmt: skip
    finite = bool(np.isfinite(proba).all())
    max_abs = float(np.max(np.abs(proba - expected))) if finite else float("inf")
    ours = decide(proba, classes, task, threshold)
    differ = int((ours != decide(expected, classes, task, threshold)).sum())
    problems = []
    if max_abs > MAX_PROBABILITY_DIFF:
        problems.append(f"max probability difference {max_abs:.3g} > {MAX_PROBABILITY_DIFF:g}")
    if differ:
        problems.append(f"{differ} label(s) differ")
    reason = f"parity failed on {rows} rows: {'; '.join(problems)}" if problems else ""
    graph = None if problems else onnx_bytes
    return CompileResult(graph, task, rows, max_abs, None, differ == 0, differ, reason)
