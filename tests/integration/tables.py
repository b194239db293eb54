"""Training the corpus of real tables (tests/corpus.py) through the command line, shared by
the two test files that split the corpus between the two pytest workers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from flows.cli import app
from tasks import registry, tracking
from tests import corpus


def train_cases(half: int) -> list[tuple[corpus.Table, str]]:
    """Every other table of the corpus (``half`` 0 or 1), each in the next dialect in turn, so
    that every dialect is trained on."""
    cases = [(t, corpus.DIALECTS[i % len(corpus.DIALECTS)]) for i, t in enumerate(corpus.TABLES)]
    return cases[half::2]


def train_and_score(
    project: Path, path: Path, table: corpus.Table, dialect: str, scratch: Path
) -> None:
    """``mlops train --data FILE --target COLUMN`` alone gives a champion; ``mlops predict``
    scores the table's rows without the target, one prediction per row."""
    result = CliRunner().invoke(
        app, ["train", "--data", str(path), "--target", table.target], catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    assert f"Champion: {table.name} version 1" in result.output
    tracking.configure(project)
    assert registry.alias_version(table.name, registry.CHAMPION) == "1"

    rows = table.load().drop(columns=[table.target])
    batch = corpus.write(rows, dialect, scratch / table.name)
    scored = scratch / "scored.csv"
    result = CliRunner().invoke(
        app, ["predict", "--input", str(batch), "--output", str(scored)], catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(scored)
    assert len(predictions) == len(rows)
    assert predictions["prediction"].notna().all()
