"""``mlops simulate`` takes its scenario from params.yaml's ``simulate:`` (one place), each
value overridable by its option; a contradiction is refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tasks.config import load_params

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_an_onset_after_the_params_last_batch_is_refused() -> None:
    batches = load_params(REPO / "params.yaml").simulate.batches

    result = CliRunner().invoke(app, ["simulate", "--onset", str(batches + 1)])

    assert result.exit_code == 1
    assert f"--onset {batches + 1} is after the last batch ({batches})" in result.output


def test_an_option_overrides_the_params_value() -> None:
    result = CliRunner().invoke(app, ["simulate", "--batches", "3", "--onset", "4"])

    assert result.exit_code == 1
    assert "--onset 4 is after the last batch (3)" in result.output


def test_retrain_batches_comes_from_the_params_and_zero_is_refused() -> None:
    assert load_params(REPO / "params.yaml").simulate.retrain_batches == 2

    result = CliRunner().invoke(app, ["simulate", "--retrain-batches", "0"])

    assert result.exit_code == 2
    text = " ".join(line.strip("│ ") for line in result.output.splitlines())
    assert "Invalid value for '--retrain-batches': Input should be greater than or equal to 1" in (
        text
    )
