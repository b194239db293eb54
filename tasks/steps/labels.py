"""What a label must be before anything stores or trusts it: one of the model's classes
(classification) or a finite number (regression). The endpoint's ``POST /feedback``, the
feedback drop folder, the monitor's quality check and the retraining intake all use this one
rule, so a label that one of them refuses is refused by all (issue 22, finding #5)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.types import clip

SAMPLE = 5  # bad values shown in a message


class LabelError(ValueError):
    """A label that is no class of the model (or no finite number, for regression)."""


@dataclass(frozen=True)
class LabelRule:
    """The labels a model takes: ``classes`` for classification, any finite number for
    regression. ``model`` names it in messages (e.g. ``shop v3``)."""

    task: str
    classes: tuple[Any, ...] = ()
    model: str = "the model"

    @classmethod
    def of(cls, task: str, classes: Iterable[Any], model: str = "the model") -> LabelRule:
        return cls(task, tuple(_plain(c) for c in classes), model)

    def check(self, value: Any) -> Any:
        """``value`` as the class (or number) it stands for, in the model's own type: ``2.0``
        and ``"2"`` are the class ``2``; raises LabelError naming the value otherwise."""
        value = _plain(value)
        if self.task == "regression" or not self.classes:
            return _number(value, self.model)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise LabelError(self._not_a_class(value))
        numeric = all(isinstance(c, int) and not isinstance(c, bool) for c in self.classes)
        if numeric and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise LabelError(self._not_a_class(value)) from None
        if numeric and isinstance(value, float) and value.is_integer():
            value = int(value)
        found = {str(c): c for c in self.classes}.get(str(value))
        if found is None:
            raise LabelError(self._not_a_class(value))
        return found

    def _not_a_class(self, value: Any) -> str:
        return f"{_show(value)} is not a class of {self.model} (classes: {list(self.classes)})"


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") and not isinstance(value, list | dict) else value


def _show(value: Any) -> str:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return str(clip(text, 40))


def _number(value: Any, model: str) -> float:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise LabelError(f"{_show(value)} is not a number ({model} is a regression)") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a double
            raise LabelError(f"{_show(value)} is not a finite number") from None
    else:
        raise LabelError(f"{_show(value)} is not a number ({model} is a regression)")
    if not math.isfinite(number):
        raise LabelError(f"{_show(value)} is not a finite number")
    return number


def usable(values: Sequence[Any], rule: LabelRule) -> tuple[list[Any], list[int], str | None]:
    """Labels read back from a log that older code filled without checks: the checked values
    (None where a label does not parse), the positions skipped, and a line saying how many were
    skipped and why (None when none were)."""
    checked: list[Any] = []
    skipped: list[int] = []
    reasons: list[str] = []
    for position, value in enumerate(values):
        try:
            checked.append(rule.check(value))
        except LabelError as error:
            checked.append(None)
            skipped.append(position)
            if len(reasons) < SAMPLE:
                reasons.append(str(error))
    if not skipped:
        return checked, skipped, None
    more = f" (and {len(skipped) - len(reasons)} more)" if len(skipped) > len(reasons) else ""
    return (
        checked,
        skipped,
        f"{len(skipped)} label(s) skipped that do not parse: {'; '.join(reasons)}{more}",
    )
