"""One JSON-safe copy of any result: what strict JSON, MLflow params and Prefect artifacts take.

Dataclasses become dicts, tuples lists, numpy scalars Python numbers, and NaN or infinite
floats ``None`` (strict JSON has no such numbers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any


def plain(value: Any) -> Any:
    """A JSON-safe copy of ``value``."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        try:
            value = value.item()  # a numpy scalar
        except (TypeError, ValueError):  # an array of more than one value: left as it is
            return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
