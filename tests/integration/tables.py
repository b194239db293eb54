"""Training the corpus of real tables (tests/corpus.py) through the command line, shared by
the two test files that split the corpus between the two pytest workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cli.main import app
from tasks.adapters import registry, tracking
from tests import corpus


def invoke(args: list[str]) -> tuple[int, str]:
    """``mlops ARGS`` in this process, as the console script runs it; its exit code and what
    it printed. The command's consoles write to a buffer, and sys.stdout and sys.stderr are
    left alone: typer's CliRunner and capsys swap them for streams closed afterwards, and the
    stream DVC's colorama and Prefect's log handlers took during one command is then a closed
    file for the next (every later flow run failed on its first log line)."""
    import io

    from cli import common as cli

    buffer = io.StringIO()
    # Console.file falls back to the sys.stdout/sys.stderr of the moment when its own stream
    # is None; reading .file and writing it back would pin the consoles to this moment's
    # stream for every later test (CliRunner's output then came out empty).
    saved = (cli.console._file, cli.errors._file)
    cli.console.file = cli.errors.file = buffer
    try:
        app(args, prog_name="mlops")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else int(done.code is not None)
    finally:
        cli.console._file, cli.errors._file = saved
    return code, buffer.getvalue()


def train_cases(half: int) -> list[tuple[corpus.Table, str]]:
    """Every other table of the corpus (``half`` 0 or 1), each in the next dialect in turn, so
    that every dialect is trained on."""
    cases = [(t, corpus.DIALECTS[i % len(corpus.DIALECTS)]) for i, t in enumerate(corpus.TABLES)]
    return cases[half::2]


def train_and_score(
    project: Path,
    path: Path,
    table: corpus.Table,
    dialect: str,
    scratch: Path,
) -> None:
    """``mlops train --data FILE --target COLUMN`` alone gives a champion; ``mlops predict``
    scores the table's rows without the target, one prediction per row."""
    code, output = invoke(["train", "--data", str(path), "--target", table.target])

    assert code == 0, output
    assert f"Champion: {table.name} version 1" in output
    tracking.configure(project)
    assert registry.alias_version(table.name, registry.CHAMPION) == "1"

    rows = table.load().drop(columns=[table.target])
    batch = corpus.write(rows, dialect, scratch / table.name)
    scored = scratch / "scored.csv"
    code, output = invoke(["predict", "--input", str(batch), "--output", str(scored)])

    assert code == 0, output
    # text as written (a category "None" stays one), only empty cells missing
    predictions = pd.read_csv(scored, keep_default_na=False, na_values=[""])
    assert len(predictions) == len(rows)
    assert predictions["prediction"].notna().all()
    served = _served_predictions(project, table.name, batch)
    batch_scored = predictions["prediction"].head(SERVED_ROWS).tolist()
    if table.task == "regression":  # numbers through JSON and through CSV: equal to 1e-9
        assert np.allclose(served, batch_scored, rtol=1e-9, atol=0.0), (served, batch_scored)
    else:
        assert served == batch_scored


SERVED_ROWS = 25


def _served_predictions(project: Path, name: str, batch: Path) -> list[object]:
    """What the endpoint answers for the first rows of ``batch``, read as the gate reads the
    data set's files and sent as MLflow's ``dataframe_split``: the HTTP path against the
    batch path."""
    import orjson
    import requests

    from serving.app import Settings
    from tasks.adapters import io
    from tasks.config import load_params
    from tasks.pipeline.gate import suite_path
    from tasks.steps.expectations import declared_types, missing_values, scoring_suite
    from tests.support import running

    params = load_params(project / "params.yaml")
    suite = io.read_json(suite_path(project, params))
    frame, problems = io.read_batch(
        batch, declared_types(scoring_suite(suite)), 5, missing_values(suite)
    )
    assert frame is not None, problems
    rows = frame.head(SERVED_ROWS).astype(object)
    body = {
        "dataframe_split": {
            "columns": [str(c) for c in rows.columns],
            "data": [[None if v != v else v for v in row] for row in rows.itertuples(index=False)],
        }
    }
    settings = Settings.from_project(project, params)
    assert settings.model_name == name
    with running(settings) as (url, _):
        answer = requests.post(
            f"{url}/invocations",
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Model-Version"] == "1"
    predictions: list[object] = answer.json()["predictions"]
    return predictions
