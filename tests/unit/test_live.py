"""The live simulation's parts that need no running services: the sandbox's params, which
monitoring results belong to a check, the webhook receiver, the latency summary, and the
schedule Prefect is given."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli.live import Receiver, _reports, format_latencies, free_ports, sandbox_overrides
from cli.simulate import Scenario, Simulation
from cli.simulate import sandbox_overrides as inline_overrides
from tasks.config import load_params

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Scenario(batches=6, onset=3, label_delay=1, batch_rows=500, covariate=1.0,
                    concept=1.0, training_rows=4000, seed=7, retrain_batches=2)  # fmt: skip


def test_the_sandbox_gets_the_inline_params_the_schedule_a_fast_follow_and_its_ports() -> None:
    found = sandbox_overrides(SCENARIO, "* * * * * */20", [4401, 4402, 4403, 4404, 4405])

    assert found == [
        *inline_overrides(SCENARIO),
        "monitor.schedule=* * * * * */20",
        "serve.poll_seconds=1",
        "up.prefect_port=4401",
        "up.mlflow_port=4402",
        "up.serving_port=4403",
        "up.evidently_port=4404",
        "up.runner_port=4405",
    ]


def test_the_sandbox_params_load(tmp_path: Path) -> None:
    from tasks.config import write_overrides

    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    write_overrides(params, sandbox_overrides(SCENARIO, "* * * * * */20", free_ports(5)))

    loaded = load_params(params)

    assert loaded.monitor.schedule == "* * * * * */20"
    assert loaded.serve.poll_seconds == 1
    assert loaded.monitor.window_rows == 500
    assert len(set(loaded.up.ports().values())) == 5


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)

    assert len(set(ports)) == 5
    assert all(1024 <= p <= 65535 for p in ports)


def test_the_default_live_schedule_fires_every_30_seconds_in_prefect() -> None:
    import prefect.server.schemas.schedules as schedules

    cron = load_params(REPO / "params.yaml").simulate.live_schedule
    start = datetime(2026, 12, 4, 18, 0, 5, tzinfo=UTC)

    dates = asyncio.run(schedules.CronSchedule(cron=cron).get_dates(n=3, start=start))

    assert [d.isoformat() for d in dates] == [
        "2026-12-04T18:00:30+00:00",
        "2026-12-04T18:01:00+00:00",
        "2026-12-04T18:01:30+00:00",
    ]


def _result(root: Path, name: str, verdict: str) -> None:
    folder = root / "reports" / "monitoring" / name
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"verdict": verdict}))


def test_only_the_results_a_check_wrote_between_its_start_and_end_are_its(tmp_path: Path) -> None:
    _result(tmp_path, "drift-20261204T180019Z-aaaaaaaa", "healthy")  # the check before
    _result(tmp_path, "drift-20261204T180020Z-bbbbbbbb", "drift")  # this one
    _result(tmp_path, "drift-20261204T180041Z-cccccccc", "healthy")  # the next
    (tmp_path / "reports" / "monitoring" / "drift-20261204T180030Z-dddddddd").mkdir()  # no file
    start = datetime(2026, 12, 4, 18, 0, 20, 300000, tzinfo=UTC)

    found = _reports(tmp_path, "reports/monitoring", start, start + timedelta(seconds=20))

    assert found == [{"verdict": "drift"}]


def test_the_receiver_records_each_alert_and_when() -> None:
    receiver = Receiver()
    try:
        for body in (b'{"verdict": "drift"}', b"not json"):
            request = urllib.request.Request(receiver.url, data=body, method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 204
        got = receiver.since(0.0)
    finally:
        receiver.close()

    assert [payload for _, payload in got] == [{"verdict": "drift"}, {"unreadable": "not json"}]
    assert got[0][0] <= got[1][0]
    assert receiver.since(got[1][0] + 1) == []


def test_the_latency_summary_gives_each_kinds_median_and_worst() -> None:
    rows = [
        {"alert_seconds": 30.0, "retrain_running_seconds": 2.5, "swap_seconds": None},
        {"alert_seconds": 20.0, "retrain_running_seconds": 1.5, "swap_seconds": 0.7},
        {"alert_seconds": None, "retrain_running_seconds": None, "swap_seconds": None},
    ]
    simulation = Simulation(SCENARIO, "roc_auc", [], "sandbox", {"latencies": rows})

    assert format_latencies(simulation) == [
        "drifted batch sent -> alert received: median 25.0 s, worst 30.0 s (2 times)",
        "alert -> retraining flow run Running: median 2.0 s, worst 2.5 s (2 times)",
        "new champion promoted -> endpoint answering with it: median 0.7 s, worst 0.7 s (once)",
    ]


@pytest.mark.parametrize("flag", ["--live"])
def test_live_is_an_option_of_simulate(flag: str) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    assert flag in result.output
