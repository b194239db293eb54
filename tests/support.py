"""Helpers shared by the integration tests and the benchmarks: throw-away projects."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run(command: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; a subprocess in another project
    # must not inherit the store of the project this test process used last.
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def make_project(base: Path) -> Path:
    """A new project: git repo with one commit, DVC with a folder remote, our pipeline files
    (the sandbox ``mlops simulate`` makes)."""
    from cli.simulate import make_sandbox

    return make_sandbox(REPO, base)


def log_scored(root: Path, frame: Any, request_id: str, labelled: bool) -> None:
    """Score ``frame`` with the champion into a fresh inference log, as the endpoint would;
    with ``labelled`` the true labels (``purchased``) arrive as feedback."""
    from tasks.adapters import inference_log, registry, tracking
    from tasks.jsonsafe import plain
    from tasks.steps.predict import model_inputs, score_frame

    tracking.configure(root)
    log = root / "logs" / "inference.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{log}{suffix}").unlink(missing_ok=True)
    version = registry.alias_version("customer-purchase", "champion")
    assert version is not None
    served = registry.load_served("customer-purchase", version)
    labels, _ = score_frame(served, model_inputs(served, frame, "test"))
    features = [c.name for c in served.columns]
    records = [plain(row) for row in frame[features].to_dict(orient="records")]
    inference_log.append(
        log,
        [
            inference_log.Prediction(
                inference_log.now(), request_id, "customer-purchase", version, "champion",
                True, "http", 1.0, records, list(labels),
            )
        ],
    )  # fmt: skip
    if labelled:
        truth = [(request_id, i, int(v)) for i, v in enumerate(frame["purchased"])]
        inference_log.add_feedback(log, truth, "test")


@contextmanager
def running(settings: Any, app: Any = None) -> Iterator[tuple[str, Any]]:
    """The scoring app for ``settings`` (serving.app.Settings; or ``app``, made for them) in
    this process, over real HTTP through uvicorn with the options ``mlops serve`` gives it;
    yields its URL and the app. uvicorn is handed a socket already bound to a port the system
    chose (port 0), so no other process can take the port in between."""
    import threading
    import time

    import uvicorn

    from serving.app import create_app, server_options

    app = app if app is not None else create_app(settings)
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            **server_options(settings.serve))  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    try:
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def bound_socket() -> socket.socket:
    """A listening-ready TCP socket on 127.0.0.1, bound to a port the system picked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on 127.0.0.1. Another process may take it
    before the caller binds it: where the server can be handed a socket, use bound_socket();
    otherwise call this right before starting the server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebhookReceiver:
    """A local Slack-compatible webhook: records every JSON body posted to it."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [str(message.get("text")) for message in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def small_dvc_repo(root: Path, data: dict[str, bytes]) -> dict[str, str]:
    """A git + DVC repository at ``root`` (no remote) with each of ``data`` (relative path ->
    bytes) tracked by ``dvc add`` and committed; returns each path's DVC md5."""
    from dvc.repo import Repo

    from tasks.adapters import versioning

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=True)

    root.mkdir(parents=True, exist_ok=True)
    git("init", "-q")
    git("config", "user.email", "test@example.com")
    git("config", "user.name", "test")
    Repo.init(str(root)).close()
    md5s = {}
    for relative, content in data.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        md5s[relative] = versioning.add_data(root, path)
    git("add", "-A")
    git("commit", "-q", "-m", "data")
    return md5s


def dvc_cache_object(root: Path, md5: str) -> Path:
    """The DVC cache file of ``md5`` in the repository at ``root``, made writable (DVC keeps
    its objects read-only) so a test can corrupt it."""
    path = root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    path.chmod(0o644)
    return path
