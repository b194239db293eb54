"""The platform's two time formats, in one place (UTC always).

``stamp``: the history's and the inference log's times, ISO 8601 with microseconds, sortable
as text (``2026-12-04T01:02:03.456789Z``). ``compact_stamp``: in file and report names
(``20261204T010203Z``). ``parse_time`` reads either ISO form back, ``Z`` or an offset.
"""

from __future__ import annotations

from datetime import UTC, datetime

ISO = "%Y-%m-%dT%H:%M:%S.%fZ"
COMPACT = "%Y%m%dT%H%M%SZ"


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as the history's ISO time."""
    return (moment or now()).astimezone(UTC).strftime(ISO)


def compact_stamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as a name-safe time: ``20261204T010203Z``."""
    return (moment or now()).astimezone(UTC).strftime(COMPACT)


def parse_time(text: str) -> datetime:
    """A history or inference-log time (ISO 8601, UTC, ``Z`` or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
