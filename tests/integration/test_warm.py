"""The warm command server (cli/warm.py) as processes, one server for the module, in a
throw-away project: a command forwarded to it gives the exit code and the stdout/stderr bytes
of the same command in-process; the client's directory and environment (MLFLOW_TRACKING_URI,
PREFECT_API_URL) are the command's; Ctrl-C reaches the command and a dead client's command is
killed; a loaded module changed on disk is never run stale; the socket is private and a peer of
another user is refused; with the server gone every command runs in-process."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from threading import Thread
from typing import Any, ClassVar

import pytest

from cli import warm
from tests.support import make_project

MLOPS = str(Path(sys.executable).parent / "mlops")
PROBE = "warm_probe_module"


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "120", "PYTHONHASHSEED": "0"}
    for name in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "MLOPS_NO_WARM"):
        env.pop(name, None)
    env.update(extra)
    return env


def _mlops(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([MLOPS, *args], cwd=cwd, env=_env(**env), capture_output=True,
                          timeout=600)  # fmt: skip


def _in_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return _mlops(cwd, *args, MLOPS_NO_WARM="1")


class Server:
    """The warm server of one project, started as `mlops up` starts it."""

    def __init__(self, root: Path, probe_dir: Path) -> None:
        self.root = root
        self.log = root / ".mlops" / "logs" / "commands.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = _env(MLOPS_WARM_PRELOAD=PROBE, PYTHONPATH=str(probe_dir))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                warm.server_command(root), cwd=root, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.wait_ready()

    def wait_ready(self, timeout: float = 400.0) -> None:
        deadline = time.monotonic() + timeout
        while warm.ping(warm.socket_path(self.root)) != self.process.pid:
            assert self.process.poll() is None, self.text()
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.5)

    def text(self) -> str:
        return self.log.read_text()

    def ran(self) -> list[str]:
        """The commands the server ran, in order (its log's "running [...]" lines)."""
        return re.findall(r"warm: running (\[.*?\]) as pid", self.text())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server]]:
    base = tmp_path_factory.mktemp("warm")
    root = make_project(base)
    # A file the server imports (MLOPS_WARM_PRELOAD), to change under it.
    probe_dir = base / "probe"
    probe_dir.mkdir()
    (probe_dir / f"{PROBE}.py").write_text("VALUE = 1\n")
    raw = root / "data" / "raw" / "customer-purchase" / "customer-purchase.csv"
    for command in (
        ["data", "generate", "--out", str(raw), "--rows", "400", "--seed", "1"],
        ["data", "generate", "--out", "batch.csv", "--rows", "200", "--seed", "2"],
        ["expectations", "init"],
    ):
        done = _in_process(root, *command)
        assert done.returncode == 0, done
    batch = (root / "batch.csv").read_text()
    (root / "bad.csv").write_text(batch.replace(",mobile,", ",Alien,", 3))
    server = Server(root, probe_dir)
    try:
        yield root, server
    finally:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGTERM)
            server.process.wait(timeout=30)


def _stamps(data: bytes) -> bytes:
    """Times and temporary names differ from run to run, in-process too."""
    data = re.sub(rb"\d\d:\d\d:\d\d\.\d{3}", b"HH:MM:SS.mmm", data)
    return re.sub(rb"/tmp/tmp\w+", b"/tmp/tmpX", data)


def test_forwarded_commands_give_the_exit_code_and_bytes_of_in_process(
    served: tuple[Path, Server],
) -> None:
    root, server = served
    folder = warm.socket_path(root).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(warm.socket_path(root).lstat().st_mode) == 0o600
    assert stat.S_ISSOCK(warm.socket_path(root).lstat().st_mode)
    cases = [
        ("status",),  # imports MLflow; no model yet: exit 1
        ("validate", "batch.csv"),  # Great Expectations: passes
        ("validate", "bad.csv"),  # fails: exit 1, the report on stdout
        ("train", "--target", "x"),  # a usage error: exit 1 on stderr
        ("no-such-command",),  # click's own usage error: exit 2
    ]
    for args in cases:
        before = len(server.ran())
        forwarded = _mlops(root, *args)
        assert server.ran()[before:] == [repr(list(args))], server.text()
        alone = _in_process(root, *args)
        assert len(server.ran()) == before + 1  # MLOPS_NO_WARM=1 did not go to the server
        assert forwarded.returncode == alone.returncode, (args, forwarded, alone)
        assert forwarded.stdout == alone.stdout, args
        assert _stamps(forwarded.stderr) == _stamps(alone.stderr), args
    status = _mlops(root, "status")
    assert status.returncode == 1
    assert b"No registered model 'customer-purchase' yet" in status.stdout
    checked = _mlops(root, "validate", "bad.csv")
    assert checked.returncode == 1
    assert b"validation FAILED" in checked.stdout, checked.stdout
    assert b"Alien" in checked.stdout


class _Recorder(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        _Recorder.paths.append(self.path)
        self.send_response(418)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_the_command_runs_in_the_clients_directory_and_environment(
    served: tuple[Path, Server], tmp_path: Path
) -> None:
    root, server = served
    inside = root / "data"
    # the client's working directory: a path relative to it
    checked = _mlops(inside, "validate", "../batch.csv")
    assert checked.returncode == 0, checked
    assert server.ran()[-1] == repr(["validate", "../batch.csv"])
    assert b"batch.csv: validation passed" in checked.stdout
    # the client's MLFLOW_TRACKING_URI: the server never had it
    store = tmp_path / "other.db"
    shown = _mlops(root, "status", MLFLOW_TRACKING_URI=f"sqlite:///{store}")
    assert server.ran()[-1] == repr(["status"])
    assert shown.returncode == 1
    assert store.is_file()  # MLflow created its tables there
    # the client's PREFECT_API_URL: Prefect's settings were read at the server's import
    http = HTTPServer(("127.0.0.1", 0), _Recorder)
    Thread(target=http.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{http.server_address[1]}/api"
        predicted = _mlops(root, "predict", "--input", "batch.csv", PREFECT_API_URL=url,
                           PREFECT_CLIENT_MAX_RETRIES="0")  # fmt: skip
    finally:
        http.shutdown()
    assert server.ran()[-1] == repr(["predict", "--input", "batch.csv"])
    assert predicted.returncode != 0
    assert _Recorder.paths, predicted.stderr[-2000:]
    assert all(path.startswith("/api/") for path in _Recorder.paths), _Recorder.paths


def _wait_for(pattern: str, server: Server, timeout: float = 120.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while not (found := re.search(pattern, server.text())):
        assert time.monotonic() < deadline, server.text()
        time.sleep(0.1)
    return found


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_reaches_the_command_and_a_dead_clients_command_is_killed(
    served: tuple[Path, Server], tmp_path: Path
) -> None:
    root, server = served
    long = [MLOPS, "data", "generate", "--out", str(tmp_path / "big.csv"), "--rows", "3000000"]
    client = subprocess.Popen(long, cwd=root, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)  # fmt: skip
    pid = int(_wait_for(r"running \['data', 'generate', [^\n]* as pid (\d+)\n", server)[1])
    time.sleep(0.5)
    client.send_signal(signal.SIGINT)
    stdout, stderr = client.communicate(timeout=120)
    # typer's answer to KeyboardInterrupt, as in-process: exit 130, nothing printed
    assert (client.returncode, stdout, stderr) == (130, b"", b"")
    assert f"pid {pid} exited with 130" in server.text()

    client = subprocess.Popen(long, cwd=root, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    pattern = rf"running \['data', 'generate', [^\n]* as pid (?!{pid}\n)(\d+)\n"
    second = int(_wait_for(pattern, server)[1])
    client.kill()
    client.wait()
    assert _gone(second), f"pid {second} still runs after its client was killed"
    assert f"the client of pid {second} went away" in server.text()


def _connect_as_nobody(path: Path, reader: int, writer: int) -> int:
    """In a forked child: become uid 65534, connect to ``path`` and write what the server
    answered (``closed`` when it hung up) to ``writer``. The socket's folder is reached through
    a descriptor opened before (pytest's temporary folders are 0700, root's)."""
    answer = b"?"
    try:
        import ctypes

        os.close(reader)
        folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        ctypes.CDLL(None).prctl(4, 1)  # PR_SET_DUMPABLE: /proc/self/fd stays ours to read
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(20)
            sock.connect(f"/proc/self/fd/{folder}/{path.name}")
            try:
                sock.sendall(warm.HEADER.pack(2) + b"{}")
                answer = sock.recv(100) or b"closed"
            except (ConnectionResetError, BrokenPipeError):  # it hung up before reading, or
                answer = b"closed"  # before we finished writing (the peer check is first)
    except BaseException as error:  # reported to the parent, never raised in this child
        answer = repr(error).encode()
    os.write(writer, answer)
    return 0


def test_a_peer_of_another_user_is_refused(served: tuple[Path, Server]) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to connect as another user")
    root, server = served
    path = warm.socket_path(root)
    folder = path.parent
    folder.chmod(0o711)
    path.chmod(0o666)
    try:
        # the client refuses a folder others can enter: the command runs in-process
        assert warm.connect(path) is None
        before = len(server.ran())
        assert _mlops(root, "--help").returncode == 0
        assert len(server.ran()) == before
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover  (the child process)
            os._exit(_connect_as_nobody(path, reader, writer))
        os.close(writer)
        with os.fdopen(reader, "rb") as got:
            answer = got.read()
        os.waitpid(child, 0)
    finally:
        folder.chmod(0o700)
        path.chmod(0o600)
    assert answer == b"closed"
    assert re.search(r"refused pid \d+: it runs as uid 65534, not 0", server.text())


def test_a_changed_module_is_never_run_stale_and_the_server_restarts(
    served: tuple[Path, Server],
) -> None:
    root, server = served
    probe = root.parent / "probe" / f"{PROBE}.py"
    probe.write_text("VALUE = 2  # edited\n")
    before = len(server.ran())
    alone = _in_process(root, "--help")
    shown = _mlops(root, "--help")
    assert (shown.returncode, shown.stdout) == (0, alone.stdout)
    assert len(server.ran()) == before  # refused: it ran in-process
    assert re.search(rf"refused \['--help'\]: 1 loaded module\(s\) changed on disk, e\.g\. "
                     rf"{re.escape(str(probe))}", server.text())  # fmt: skip
    _wait_for("restarting: a loaded module changed on disk", server)
    server.wait_ready()  # the same process (exec), with the new module
    assert _mlops(root, "--help").stdout == alone.stdout
    assert server.ran()[before:] == [repr(["--help"])]


def test_without_the_server_commands_run_in_process(served: tuple[Path, Server]) -> None:
    root, server = served
    alone = _in_process(root, "status")
    os.killpg(server.process.pid, signal.SIGKILL)  # no clean-up: the socket file stays
    server.process.wait(timeout=30)
    assert warm.socket_path(root).exists()
    assert warm.ping(warm.socket_path(root)) is None
    shown = _mlops(root, "status")
    assert (shown.returncode, shown.stdout, shown.stderr) == (
        alone.returncode,
        alone.stdout,
        alone.stderr,
    )
    warm.socket_path(root).unlink()
    shown = _mlops(root, "status")
    assert (shown.returncode, shown.stdout) == (alone.returncode, alone.stdout)
