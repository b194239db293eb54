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
        """``value`` as the class it stands for, in the model's own type (``2.0`` and ``"2"``
        are the class ``2``; ``True`` only a boolean class), or, for regression, the finite
        number it is; raises LabelError naming the value otherwise."""
        value = _plain(value)
        if self.task == "regression" or not self.classes:
            return _number(value, self.model)
        if isinstance(value, bool):
            found = [c for c in self.classes if isinstance(c, bool) and c == value]
        elif isinstance(value, str | int | float):
            found = [c for c in self.classes if not isinstance(c, bool) and str(c) == str(value)]
            if not found and all(_is_number(c) for c in self.classes):
                try:
                    number = float(value)
                except (ValueError, OverflowError):
                    raise LabelError(self._not_a_class(value)) from None
                found = [c for c in self.classes if float(c) == number]
        else:
            found = []
        if not found:
            raise LabelError(self._not_a_class(value))
        return found[0]

    def _not_a_class(self, value: Any) -> str:
        return f"{_show(value)} is not a class of {self.model} (classes: {list(self.classes)})"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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


def _number(value: Any, model: str) -> float | int:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise LabelError(f"{_show(value)} is not a number ({model} is a regression)") from None
    elif _is_number(value):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a double
            raise LabelError(f"{_show(value)} is not a finite number") from None
    else:
        raise LabelError(f"{_show(value)} is not a number ({model} is a regression)")
    if not math.isfinite(number):
        raise LabelError(f"{_show(value)} is not a finite number")
    return number if isinstance(value, str) else value  # a number keeps its type (151 stays 151)


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
