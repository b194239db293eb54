"""The other half of the corpus through ``mlops train --data`` and ``mlops predict`` (its own
file, so the two pytest workers share the corpus; see test_real_tables.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import corpus
from tests.integration.tables import train_and_score, train_cases

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("table", "dialect"), train_cases(1), ids=lambda v: v.name if isinstance(v, corpus.Table) else v
)
def test_train_on_the_table_alone_gives_a_champion_that_scores_its_rows(
    prefect_server: str,
    tables_project: Path,
    files: dict[tuple[str, str], Path],
    table: corpus.Table,
    dialect: str,
    tmp_path: Path,
) -> None:
    path = files[(table.name, dialect)]
    train_and_score(tables_project, path, table, dialect, tmp_path)
