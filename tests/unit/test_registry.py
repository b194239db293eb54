"""Unit tests for the history arithmetic of the registry adapter (no MLflow needed)."""

from __future__ import annotations

from tasks.adapters.registry import champion_chain
from tasks.types import Event


def _event(kind: str, version: str | None, previous: str | None = None) -> Event:
    return Event("2026-01-01T00:00:00.000000Z", kind, "m", version, previous, "user:t", "")


def test_the_chain_follows_moves_and_ignores_refusals() -> None:
    events = [
        _event("promote", "1"),
        _event("refuse", "2", "1"),
        _event("promote", "3", "1"),
        _event("pending", "4", "3"),
        _event("approve", "4", "3"),
        _event("force", "5", "4"),
    ]

    assert champion_chain(events) == ["1", "3", "4", "5"]


def test_a_rollback_pops_the_champion_it_replaced() -> None:
    events = [
        _event("promote", "1"),
        _event("promote", "2", "1"),
        _event("promote", "3", "2"),
        _event("rollback", "2", "3"),
    ]

    assert champion_chain(events) == ["1", "2"]
    assert champion_chain([*events, _event("rollback", "1", "2")]) == ["1"]


def test_moved_marks_alias_moves_only() -> None:
    assert [e.moved for e in (_event("promote", "1"), _event("refuse", "2"))] == [True, False]
    assert [e.moved for e in (_event("rollback", "1"), _event("reject", "2"))] == [True, False]
