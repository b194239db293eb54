"""How the runner of `mlops deploy` starts a flow run (flows/runs.py): its command line, the
starters it replaces in Prefect's runner, and the errors of `mlops run-flow`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from flows import runs


def test_the_command_is_the_mlops_beside_this_python() -> None:
    line = runs.command()

    assert line == f"{shlex.quote(str(Path(sys.executable).with_name('mlops')))} run-flow"


def test_both_of_the_runners_starters_become_the_engine_command_starter_with_our_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefect.runner import runner as runner_module
    from prefect.runner._starter_engine import EngineCommandStarter

    monkeypatch.setattr(
        runner_module, "DirectSubprocessStarter", runner_module.DirectSubprocessStarter
    )
    monkeypatch.setattr(runner_module, "EngineCommandStarter", runner_module.EngineCommandStarter)

    assert runs.start_runs_warm(tmp_path) is True

    direct = runner_module.DirectSubprocessStarter(
        flow=object(), deployment_name="retraining", heartbeat_seconds=30, control_channel=None
    )
    engine: Any = runner_module.EngineCommandStarter(
        tmp_dir=tmp_path, storage=None, deployment_name="monitoring", heartbeat_seconds=None,
        control_channel=None,
    )  # fmt: skip
    for starter, name in ((direct, "retraining"), (engine, "monitoring")):
        assert type(starter) is EngineCommandStarter
        assert starter._command == runs.command()
        assert starter._cwd == tmp_path
        assert starter._deployment_name == name
    assert direct._heartbeat_seconds == 30


def test_without_an_mlops_script_prefects_own_start_is_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefect.runner import runner as runner_module

    before = runner_module.DirectSubprocessStarter
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))

    assert runs.command() is None
    assert runs.start_runs_warm(tmp_path) is False
    assert runner_module.DirectSubprocessStarter is before


def test_the_served_flows_by_name() -> None:
    assert sorted(runs.served_flows()) == ["batch-predict", "monitoring", "retraining", "training"]


@pytest.mark.parametrize(("given", "shown"), [("", "''"), ("not-an-id", "'not-an-id'")])
def test_a_flow_run_id_that_is_not_one_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, given: str, shown: str
) -> None:
    monkeypatch.setenv(runs.FLOW_RUN_ID, given)

    with pytest.raises(
        ValueError, match=rf"^not a flow run id: {shown} \(from PREFECT__FLOW_RUN_ID\)$"
    ):
        runs.execute()
