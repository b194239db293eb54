"""The record of ``mlops up`` and what it proves (issue 17): a record is ours only while a
process with its pid *and* create time runs; ``mlops down`` never signals a pid another program
holds now, stops what is left of a group whose leader died, and says what was already gone; a
port in use is refused before anything starts; while the recorded servers live, commands use
them (unless the user chose others); ``mlops status`` shows a crashed service with its log."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from cli import services as sv
from cli.main import app
from cli.up import print_services

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder the CLI takes for a project (params.yaml and dvc.yaml), as working directory."""
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in a session of its own, as `mlops up` starts a service."""
    process = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _service(name: str, pid: int, started: float, port: int = 1, log: str = "") -> sv.Service:
    url = f"http://127.0.0.1:{port}"
    log = log or f".mlops/logs/{name}.log"
    return sv.Service(name, pid, started, ["sleep", "120"], port, url, f"{url}/health", log)


def _created(pid: int) -> float:
    return float(psutil.Process(pid).create_time())


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_record_round_trips(tmp_path: Path) -> None:
    services = [_service("serving", 11, 1.5, 8080), _service("prefect", 10, 2.5, 4200)]

    sv.write_record(tmp_path, services)

    assert sv.read_record(tmp_path) == {"prefect": services[1], "serving": services[0]}
    assert list(sv.read_record(tmp_path)) == ["prefect", "serving"]  # the start order


def test_a_broken_record_is_named(tmp_path: Path) -> None:
    (tmp_path / ".mlops").mkdir()
    (tmp_path / ".mlops" / "services.json").write_text('{"services": [{"name": "x"}]}')

    with pytest.raises(sv.ServicesError) as raised:
        sv.read_record(tmp_path)

    assert str(raised.value).startswith(f"{tmp_path}/.mlops/services.json: not a services record")


def test_a_record_is_ours_only_with_its_pid_and_create_time(
    sleeper: subprocess.Popen[bytes],
) -> None:
    started = _created(sleeper.pid)

    assert sv.is_ours(_service("mlflow", sleeper.pid, started))
    assert not sv.is_ours(_service("mlflow", sleeper.pid, started - 5.0))  # a reused pid
    # the boot time moved by its one-second step since the record (the clock slewed)
    assert sv.is_ours(_service("mlflow", sleeper.pid, started - 1.0))
    assert sv.is_ours(_service("mlflow", sleeper.pid, started + 1.0))
    assert not sv.is_ours(_service("mlflow", _dead_pid(), started))


def test_stop_never_signals_a_pid_another_program_holds(sleeper: subprocess.Popen[bytes]) -> None:
    reused = _service("mlflow", sleeper.pid, _created(sleeper.pid) - 5.0)

    assert sv.stop(reused, timeout=5) == "gone"

    time.sleep(0.2)
    assert sleeper.poll() is None  # still running


def test_stop_terminates_the_recorded_process_group(sleeper: subprocess.Popen[bytes]) -> None:
    ours = _service("mlflow", sleeper.pid, _created(sleeper.pid))

    assert sv.stop(ours, timeout=5) == "stopped"

    assert sleeper.wait(timeout=5) == -15  # SIGTERM was enough
    assert sv.stop(ours, timeout=5) == "gone"


def test_stop_kills_what_ignores_sigterm_after_the_timeout() -> None:
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 120"], start_new_session=True)
    try:
        ours = _service("prefect", stubborn.pid, _created(stubborn.pid))
        time.sleep(0.2)  # the trap is set

        started = time.monotonic()
        assert sv.stop(ours, timeout=1) == "stopped"

        assert stubborn.wait(timeout=5) == -9
        assert time.monotonic() - started >= 1.0
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
        stubborn.wait()


def test_stop_stops_what_is_left_of_a_group_whose_leader_died() -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 120 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while len(sv.group_members(leader.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = set(sv.group_members(leader.pid)) - {leader.pid}
        ours = _service("prefect", leader.pid, _created(leader.pid))
        os.kill(leader.pid, 9)
        leader.wait()

        assert sv.stop(ours, timeout=5) == "stopped"

        assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
    finally:
        if leader.poll() is None:
            leader.kill()
        leader.wait()


def test_a_port_in_use_is_refused_naming_the_service_and_the_port() -> None:
    with socket.socket() as held, socket.socket() as spare:
        held.bind(("127.0.0.1", 0))
        held.listen()
        spare.bind(("127.0.0.1", 0))
        taken, free = held.getsockname()[1], spare.getsockname()[1]
        spare.close()

        with pytest.raises(sv.ServicesError) as raised:
            sv.check_ports({"prefect": free, "mlflow": taken})

    assert str(raised.value) == (
        "cannot start, nothing was started:\n"
        f"mlflow: port {taken} on 127.0.0.1 is in use by another program "
        "(free it, or set up.mlflow_port in params.yaml)"
    )


def test_up_refuses_a_port_in_use_before_starting_anything(project: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        params = (project / "params.yaml").read_text()
        params = params.replace("evidently_port: 8000", f"evidently_port: {port}")
        (project / "params.yaml").write_text(params)

        result = CliRunner().invoke(app, ["up"])

    assert result.exit_code == 1
    assert (
        f"evidently: port {port} on 127.0.0.1 is in use by another program (free it, or set "
        "up.evidently_port in params.yaml)" in result.output
    )
    assert sorted(p.name for p in (project / ".mlops").iterdir()) == ["services.lock"]


def test_down_reports_what_was_already_gone_and_removes_the_record(
    project: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    gone = _dead_pid()
    sv.write_record(
        project,
        [_service("evidently", gone, 1.0), _service("mlflow", sleeper.pid, _created(sleeper.pid))],
    )

    result = CliRunner().invoke(app, ["down"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"stopped mlflow (pid {sleeper.pid})",
        f"evidently (pid {gone}) was already gone",
        "removed .mlops/services.json",
    ]
    assert not (project / ".mlops" / "services.json").exists()
    assert sleeper.wait(timeout=5) == -15


def test_one_up_or_down_at_a_time(project: Path) -> None:
    with sv.exclusive(project):
        for command in ("up", "down"):
            result = CliRunner().invoke(app, [command])

            assert result.exit_code == 1
            assert result.output == (
                "error: another `mlops up` or `mlops down` is running for this project "
                "(.mlops/services.lock); wait for it to finish\n"
            )


def test_up_stops_what_is_left_of_a_crashed_service_before_it_starts_again(
    project: Path,
) -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 120 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while len(sv.group_members(leader.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = set(sv.group_members(leader.pid)) - {leader.pid}
        sv.write_record(project, [_service("prefect", leader.pid, _created(leader.pid))])
        os.kill(leader.pid, 9)
        leader.wait()
        with socket.socket() as held:  # then it stops at a port in use, before starting
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            params = (project / "params.yaml").read_text()
            params = params.replace("mlflow_port: 5000", f"mlflow_port: {port}")
            (project / "params.yaml").write_text(params)

            result = CliRunner().invoke(app, ["up"])

        assert result.exit_code == 1
        assert f"mlflow: port {port} on 127.0.0.1 is in use" in result.output
        assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
    finally:
        if leader.poll() is None:
            leader.kill()
        leader.wait()


def test_down_with_nothing_recorded_touches_nothing(project: Path) -> None:
    result = CliRunner().invoke(app, ["down"])

    assert result.exit_code == 0
    assert result.output == "no services recorded (.mlops/services.json): nothing to stop\n"


def test_commands_use_the_recorded_servers_while_they_run(
    project: Path, sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    started = _created(sleeper.pid)
    sv.write_record(
        project,
        [_service("prefect", sleeper.pid, started, 4321), _service("mlflow", sleeper.pid,
                                                                   started, 5432)],
    )  # fmt: skip

    assert sv.use_running(project) == {
        "PREFECT_API_URL": "http://127.0.0.1:4321/api",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5432",
    }
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5432"


def test_the_users_own_servers_win_and_dead_ones_are_not_used(
    project: Path, sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example.invalid/api")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    sv.write_record(
        project,
        [_service("prefect", sleeper.pid, _created(sleeper.pid), 4321),
         _service("mlflow", _dead_pid(), 1.0, 5432)],
    )  # fmt: skip

    assert sv.use_running(project) == {}
    assert os.environ["PREFECT_API_URL"] == "http://prefect.example.invalid/api"
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_status_shows_a_crashed_service_with_its_log(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    gone = _dead_pid()
    log = project / ".mlops" / "logs" / "mlflow.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(30)) + "sqlite3.OperationalError: boom\n")
    sv.write_record(project, [_service("mlflow", gone, 1.0, 5432)])

    print_services(project)

    shown = capsys.readouterr().out
    assert f"│ mlflow    │ crashed │ http://127.0.0.1:5432 │ pid {gone} is gone" in shown
    assert "│ prefect   │ down    │" in shown
    tail = shown.split("mlflow crashed: last lines of .mlops/logs/mlflow.log:\n")[1]
    assert tail.splitlines() == [f"  line {i}" for i in range(16, 30)] + [
        "  sqlite3.OperationalError: boom"
    ]


def test_a_live_process_that_answers_nothing_is_crashed(sleeper: subprocess.Popen[bytes]) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    service = _service("mlflow", sleeper.pid, _created(sleeper.pid), port)

    state = sv.state_of(service)

    assert (state.state, state.detail) == (
        "crashed",
        f"pid {sleeper.pid} runs but http://127.0.0.1:{port}/health answers nothing",
    )


def test_the_warm_command_server_is_a_service_on_a_unix_socket(project: Path) -> None:
    from cli import warm
    from tasks.config import load_params

    plan = sv.plans(project, load_params(project / "params.yaml"))["commands"]
    socket_file = project / ".mlops" / "warm" / "commands.sock"
    assert plan.command == warm.server_command(project)
    assert plan.command[-2:] == ["--warm-server", str(project)]
    assert (plan.port, plan.url, plan.health) == (0, f"unix:{socket_file}", f"unix:{socket_file}")
    assert sv.ORDER[-1] == "commands"
    assert sv.NEEDS["commands"] == ("prefect", "mlflow")
    # nothing listens: not healthy; a port of 0 is never checked for use
    assert sv.answers(plan.health) is None
    sv.check_ports({"commands": 0})


def test_the_warm_client_leaves_what_is_not_a_private_socket_alone(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli import warm

    path = warm.socket_path(project)
    assert warm.forward(["mlops", "status"]) is None  # no socket: in-process
    path.parent.mkdir(parents=True, mode=0o755)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        assert warm.connect(path) is None  # a folder others can enter
        path.parent.chmod(0o700)
        connection = warm.connect(path)
        assert connection is not None  # ours: it answers and runs as this uid
        connection.close()
        listener.accept()[0].close()
        # these never even connect: nothing waits in the listener's queue afterwards
        for command in ("up", "down", "serve", "ui", "deploy"):
            assert warm.forward(["mlops", command, "--help"]) is None
        monkeypatch.setenv("MLOPS_NO_WARM", "1")
        assert warm.forward(["mlops", "status"]) is None
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()


def test_the_entry_point_decides_before_importing_anything_but_the_standard_library() -> None:
    code = (
        "import sys; import cli.entry, cli.warm; "
        "print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
        "{'typer', 'rich', 'pandas', 'numpy', 'mlflow', 'prefect', 'great_expectations', "
        "'evidently', 'dvc', 'sklearn', 'pydantic', 'tasks'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
