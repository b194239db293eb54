"""The warm command server of ``mlops up`` (service ``commands``) and its client.

Every ``mlops`` process pays the libraries' imports (pandas, scikit-learn, Great Expectations,
Evidently, MLflow, Prefect, DVC: ~20 s on a laptop) before it does any work. While ``mlops up``
runs, one process has imported them once: the server. It listens on a Unix socket,
``.mlops/warm/commands.sock`` (mode 0600 in a 0700 folder; a peer of another user is refused,
SO_PEERCRED), and for each command forks:

- a *handler*, which receives the client's request (argv, working directory, environment,
  ``sys.path``, umask, how its standard streams are set up) and its stdin, stdout and stderr
  file descriptors (SCM_RIGHTS), and forks
- the *command process*, which takes those descriptors as 0, 1 and 2, the client's directory,
  environment and arguments, imports the command line afresh (``cli.*``: its consoles see the
  client's terminal) and runs it exactly as ``mlops`` would, up to the interpreter's exit.

The handler relays the client's SIGINT, SIGTERM and SIGHUP to the command's process group,
kills that group when the client goes away, and sends back the exit code (or the signal that
ended it, which the client then dies of itself).

Fork safety: the server starts no thread and opens no connection; it checks that it runs one
thread before every fork and stops, loudly, otherwise. Nothing loaded may be stale: the server
records the modification time and size of every module file it loaded (the project's own
``tasks/`` and ``flows/`` included); when one changed, the request is refused, the client runs
the command in its own process, and the server restarts itself (the same pid, ``exec``).

The client (:func:`forward`, called first by the ``mlops`` entry point, standard library only)
uses the server when the project's socket is there, is the user's and answers; otherwise, with
``MLOPS_NO_WARM=1``, or for the commands that manage processes themselves (``up``, ``down``,
``serve``, ``ui``, ``deploy``), the command runs in-process as before.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

FOLDER = ".mlops/warm"
SOCKET = "commands.sock"
# Commands that start, stop or are long-running services: never through the server.
DIRECT = frozenset({"up", "down", "serve", "ui", "deploy"})
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HEADER = struct.Struct("!Q")
# What the server imports once. Module *names*: each library is still called only from its
# adapter (import-linter's contracts); these are the modules those adapters and the commands
# import inside their functions.
PRELOAD = (
    "pandas",
    "numpy",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.impute",
    "sklearn.preprocessing",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.linear_model",
    "sklearn.dummy",
    "sklearn.inspection",
    "skops.io",
    "great_expectations",
    "great_expectations.data_context.types.base",
    "evidently",
    "evidently.presets",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.tracking",
    "mlflow.models",
    "prefect",
    "prefect.flows",
    "prefect.client.orchestration",
    "prefect.runtime",
    "dvc.repo",
    "matplotlib.figure",
    "orjson",
    "psutil",
    "ruamel.yaml",
    "typer",
    "rich.console",
    "rich.table",
)
# The project's own packages loaded in the server (their files are watched like the rest);
# ``cli`` is imported afresh by each command (its consoles are made at import).
PROJECT_PRELOAD = ("tasks", "flows")
PURGED = ("cli",)
# The server's own standard streams, once a command process replaced them (kept: closing them
# would close the client's descriptors 0, 1 and 2).
_KEPT: list[Any] = []
# Libraries whose import-time settings a command process must re-read.
_STALE: set[str] = set()
# The PREFECT_* variables Prefect's settings were last read with.
_SEEN: dict[str, str] = {}


# --- where the socket is --------------------------------------------------------------------


def project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` with params.yaml and dvc.yaml (the rule of
    tasks.runtime.project_root, without importing it)."""
    for folder in (start, *start.parents):
        if (folder / "params.yaml").is_file() and (folder / "dvc.yaml").is_file():
            return folder
    return None


def socket_path(root: Path) -> Path:
    return root / FOLDER / SOCKET


def _private_folder(folder: Path) -> bool:
    """``folder`` is a real directory of this user that nobody else can enter."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and stat.S_IMODE(info.st_mode) & 0o077 == 0
    )


@contextlib.contextmanager
def _short(path: Path) -> Iterator[str]:
    """``path`` as an address short enough for a Unix socket (through an open descriptor of
    its folder when the path itself is too long)."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    descriptor = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{descriptor}/{path.name}"
    finally:
        os.close(descriptor)


def _peer_uid(connection: socket.socket) -> tuple[int, int]:
    """The pid and uid of the process at the other end (SO_PEERCRED)."""
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _ = struct.unpack("3i", creds)
    return pid, uid


def _send_message(
    connection: socket.socket, body: dict[str, Any], fds: tuple[int, ...] = ()
) -> None:
    data = json.dumps(body).encode()
    header = HEADER.pack(len(data))
    if fds:
        socket.send_fds(connection, [header], list(fds))
    else:
        connection.sendall(header)
    connection.sendall(data)


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = connection.recv(left)
        if not chunk:
            raise ConnectionError("the other end closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive_message(
    connection: socket.socket, max_fds: int = 0
) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if max_fds:
        header, fds, _, _ = socket.recv_fds(connection, HEADER.size, max_fds)
        if not header:
            raise ConnectionError("the other end closed the connection")
        if len(header) < HEADER.size:
            header += _receive_exactly(connection, HEADER.size - len(header))
    else:
        header = _receive_exactly(connection, HEADER.size)
    (size,) = HEADER.unpack(header)
    return json.loads(_receive_exactly(connection, size)), fds


# --- the client -----------------------------------------------------------------------------


def _command_of(argv: list[str]) -> str | None:
    return next((arg for arg in argv[1:] if not arg.startswith("-")), None)


def _stream_setup(stream: Any) -> list[Any]:
    return [
        getattr(stream, "encoding", "utf-8"),
        getattr(stream, "errors", "strict"),
        bool(getattr(stream, "line_buffering", False)),
        bool(getattr(stream, "write_through", False)),
    ]


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def connect(path: Path, timeout: float = 10.0) -> socket.socket | None:
    """A connection to the warm server on socket ``path``, or None when there is none that is
    ours: no socket, a folder or socket another user could reach or owns, nobody listening, or
    a peer running as another user."""
    if not _private_folder(path.parent):
        return None
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(timeout)
    try:
        with _short(path) as address:
            connection.connect(address)
        if _peer_uid(connection)[1] != os.getuid():
            connection.close()
            return None
    except OSError:
        connection.close()
        return None
    return connection


def ping(path: Path, timeout: float = 5.0) -> int | None:
    """The pid of the warm server answering on socket ``path``, or None."""
    connection = connect(path, timeout)
    if connection is None:
        return None
    with connection:
        try:
            _send_message(connection, {"ping": True})
            answer, _ = _receive_message(connection)
        except (OSError, ValueError):
            return None
    return int(answer["pong"]) if "pong" in answer else None


def forward(argv: list[str]) -> int | None:
    """Run ``argv`` in the project's warm server and return its exit code; None when it must
    run in this process (no server, not ours, refused, or a command that never goes there)."""
    if os.environ.get("MLOPS_NO_WARM", "") not in ("", "0"):
        return None
    if _command_of(argv) in DIRECT:
        return None
    try:
        cwd = os.getcwd()
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError:
        return None
    root = project_root(Path(cwd))
    if root is None:
        return None
    connection = connect(socket_path(root))
    if connection is None:
        return None
    with connection:
        return _run_remote(connection, argv, cwd)


def _run_remote(connection: socket.socket, argv: list[str], cwd: str) -> int | None:
    request = {
        "argv": argv,
        "cwd": cwd,
        "env": dict(os.environ),
        "path": sys.path,
        "executable": sys.executable,
        "umask": _umask(),
        "stdio": [_stream_setup(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
    }
    try:
        _send_message(connection, request, (0, 1, 2))
        answer, _ = _receive_message(connection)
    except (OSError, ValueError):
        return None  # nothing ran: the server went away or refused before starting it
    if "accepted" not in answer:
        return None
    connection.settimeout(None)

    def relay(signum: int, _frame: Any) -> None:
        with contextlib.suppress(OSError):
            connection.sendall(bytes([signum]))

    previous = {sig: signal.signal(sig, relay) for sig in FORWARDED_SIGNALS}
    try:
        answer, _ = _receive_message(connection)
    except (OSError, ValueError):
        sys.stderr.write("mlops: the warm command server lost the command (see .mlops/logs)\n")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = int(answer["exit"])
    if code < 0:  # ended by a signal: end the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


# --- the server -----------------------------------------------------------------------------


@dataclass
class Request:
    """One command to run, as the client sent it, with its standard stream descriptors."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    path: list[str]
    umask: int
    stdio: list[list[Any]]
    fds: list[int]
    importers: frozenset[str]  # see prefect_importers()


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    sys.stdout.write(f"{stamp} warm: {message}\n")
    sys.stdout.flush()


def preload(root: Path, extra: tuple[str, ...] = ()) -> float:
    """Import the libraries (and the project's own packages) once, and parse the project's
    params.yaml (a command whose file is unchanged gets the parse; tasks.config keys it by the
    file's text); the seconds it took."""
    import importlib
    import pkgutil

    started = time.perf_counter()
    for name in PRELOAD + extra:
        importlib.import_module(name)
    for package in PROJECT_PRELOAD:
        module = importlib.import_module(package)
        for found in pkgutil.walk_packages(module.__path__, package + "."):
            importlib.import_module(found.name)
    from tasks.config import ConfigError, read_raw

    with contextlib.suppress(ConfigError):
        read_raw(root / "params.yaml")
    _undo_prefect_logging()
    return time.perf_counter() - started


def _undo_prefect_logging() -> None:
    """Take back the logging configuration ``import prefect`` applied (its handlers on the
    root logger and its own): a command configures it when it imports what imports Prefect,
    as in its own process (``mlops validate`` never does, so Great Expectations' INFO lines
    stay unprinted), see :func:`_import_watch`."""
    import logging

    from prefect.logging.configuration import PROCESS_LOGGING_CONFIG

    names = [*PROCESS_LOGGING_CONFIG.get("loggers", {}), "prefect.extra"]
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        logger.disabled = False
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)
    PROCESS_LOGGING_CONFIG.clear()


def prefect_importers() -> frozenset[str]:
    """The project's modules whose import imports Prefect (at their top, or through another
    such module): a command that imports one of them configures Prefect's logging."""
    import ast
    import importlib.util

    graph: dict[str, set[str]] = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.split(".")[0] not in (*PROJECT_PRELOAD, *PURGED) or not path:
            continue
        with contextlib.suppress(OSError, SyntaxError):
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
            found = graph.setdefault(name, set())
            package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
            for node in tree.body:  # top-level statements only: imports in functions are lazy
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        base = importlib.util.resolve_name("." * node.level + base, package)
                    found.add(base)
                    found.update(f"{base}.{alias.name}" for alias in node.names)
    marked = {n for n, deps in graph.items() if any(d.split(".")[0] == "prefect" for d in deps)}
    while True:
        more = {n for n, deps in graph.items() if n not in marked and deps & marked}
        if not more:
            return frozenset(marked)
        marked |= more


def _import_watch(importers: frozenset[str]) -> None:
    """In a command process: configure Prefect's logging at the first import statement that
    names Prefect or one of ``importers`` (in-process, that import would have imported Prefect
    and configured it), then step aside."""
    import builtins

    original = builtins.__import__

    def watching(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                 level: int = 0) -> Any:  # fmt: skip
        module = original(name, globals, locals, fromlist, level)
        full = module.__name__ if level else name
        wanted = {full, *(f"{full}.{item}" for item in fromlist or ())}
        if full.split(".")[0] == "prefect" or wanted & importers:
            builtins.__import__ = original
            from prefect.logging.configuration import ensure_logging_setup

            refresh_settings()  # as `import prefect` reads them, from the environment now
            ensure_logging_setup()
        return module

    builtins.__import__ = watching


def module_files() -> dict[str, tuple[int, int]]:
    """The modification time and size of every loaded module's file."""
    found: dict[str, tuple[int, int]] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or path in found:
            continue
        with contextlib.suppress(OSError):
            info = os.stat(path)
            found[path] = (info.st_mtime_ns, info.st_size)
    return found


def changed(snapshot: dict[str, tuple[int, int]]) -> list[str]:
    """The loaded module files that changed (or vanished) since ``snapshot``."""
    moved = []
    for path, seen in snapshot.items():
        try:
            info = os.stat(path)
        except OSError:
            moved.append(path)
            continue
        if (info.st_mtime_ns, info.st_size) != seen:
            moved.append(path)
    return moved


def _one_thread(what: str) -> None:
    import threading

    if threading.active_count() != 1:
        names = ", ".join(t.name for t in threading.enumerate())
        _log(f"refusing to fork ({what}): {threading.active_count()} threads run ({names})")
        raise SystemExit(3)


def bind(root: Path) -> socket.socket:
    """Listen on the project's socket: a 0700 folder of this user, the socket 0600."""
    folder = socket_path(root).parent
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if not _private_folder(folder):
        raise SystemExit(f"{folder}: not a private folder of this user; refusing to listen")
    path = socket_path(root)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        with _short(path) as address:
            listener.bind(address)
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    listener.listen(64)
    return listener


def serve(root: Path, extra: tuple[str, ...] = ()) -> Request:
    """Preload, listen and fork a handler per connection. Returns only in a command process
    (the request it runs); the server itself ends by a signal or restarts by ``exec``."""
    seconds = preload(root, extra)
    _one_thread("after the imports")
    import gc

    gc.collect()
    # Everything imported so far lives as long as the server: out of the collector's sight, so
    # a fork's collections neither walk nor touch (copy) those pages: a fork's exit took 7 s
    gc.freeze()
    snapshot = module_files()
    importers = prefect_importers()
    listener = bind(root)
    restart = {"asked": False}

    def stop(signum: int, _frame: Any) -> None:
        with contextlib.suppress(FileNotFoundError):
            socket_path(root).unlink()
        raise SystemExit(0)

    def ask_restart(signum: int, _frame: Any) -> None:
        restart["asked"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, ask_restart)
    listener.settimeout(1.0)
    _log(f"ready on {FOLDER}/{SOCKET}: {len(sys.modules)} modules imported in {seconds:.1f} s")
    while True:
        _reap()
        if restart["asked"]:
            with contextlib.suppress(FileNotFoundError):
                socket_path(root).unlink()
            listener.close()
            _log("restarting: a loaded module changed on disk")
            os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        except InterruptedError:
            continue
        peer_pid, peer_uid = _peer_uid(connection)
        if peer_uid != os.getuid():
            _log(f"refused pid {peer_pid}: it runs as uid {peer_uid}, not {os.getuid()}")
            connection.close()
            continue
        _one_thread("before a command")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
            return _handle(connection, snapshot, importers)
        connection.close()


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _handle(
    connection: socket.socket, snapshot: dict[str, tuple[int, int]], importers: frozenset[str]
) -> Request:
    """The handler process of one connection. Returns only in the command process."""
    os.setpgid(0, 0)  # `mlops down` stops the server's group, not the commands it runs
    connection.settimeout(10.0)
    try:
        body, fds = _receive_message(connection, max_fds=3)
    except (OSError, ValueError):
        os._exit(0)
    if body.get("ping"):
        _send_message(connection, {"pong": os.getppid()})
        os._exit(0)
    refusal = None
    if body.get("executable") != sys.executable:
        refusal = f"the client runs {body.get('executable')}, the server {sys.executable}"
    elif len(fds) != 3:
        refusal = f"{len(fds)} standard streams received, not 3"
    else:
        stale = changed(snapshot)
        if stale:
            refusal = f"{len(stale)} loaded module(s) changed on disk, e.g. {stale[0]}"
            os.kill(os.getppid(), signal.SIGUSR1)
    if refusal is not None:
        _log(f"refused {body.get('argv', [])[1:]}: {refusal}")
        with contextlib.suppress(OSError):
            _send_message(connection, {"refused": refusal})
        os._exit(0)
    request = Request(
        argv=list(body["argv"]),
        cwd=str(body["cwd"]),
        env=dict(body["env"]),
        path=list(body["path"]),
        umask=int(body["umask"]),
        stdio=list(body["stdio"]),
        fds=fds,
        importers=importers,
    )
    _one_thread("before the command process")
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        connection.close()
        return request
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    for fd in fds:
        os.close(fd)
    _log(f"running {request.argv[1:]} as pid {pid}")
    os._exit(_supervise(connection, pid))


def _supervise(connection: socket.socket, pid: int) -> int:
    """Relay the client's signals to the command's group until it ends; send its exit code.
    When the client goes away, the command's group is stopped (SIGTERM, then SIGKILL)."""
    started = time.monotonic()
    process = os.pidfd_open(pid)
    connection.settimeout(None)
    try:
        _send_message(connection, {"accepted": pid})
    except OSError:
        _stop_group(pid, process)
        return 0
    while True:
        ready, _, _ = select.select([connection.fileno(), process], [], [])
        if process in ready:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            _log(f"pid {pid} exited with {code} after {time.monotonic() - started:.2f} s")
            with contextlib.suppress(OSError):
                _send_message(connection, {"exit": code})
            return 0
        try:
            data = connection.recv(64)
        except OSError:
            data = b""
        if not data:
            _log(f"the client of pid {pid} went away: stopping its process group")
            _stop_group(pid, process)
            return 0
        for signum in data:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signum)


def _stop_group(pid: int, process: int) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        ready, _, _ = select.select([process], [], [], wait)
        if ready:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return


def _stream(fd: int, setup: list[Any], write: bool) -> io.TextIOWrapper:
    encoding, errors, line_buffering, write_through = setup
    raw = io.FileIO(fd, "w" if write else "r", closefd=False)
    buffered: Any = io.BufferedWriter(raw) if write else io.BufferedReader(raw)
    return io.TextIOWrapper(
        buffered,
        encoding=encoding,
        errors=errors,
        newline="\n",
        line_buffering=line_buffering,
        write_through=write_through,
    )


def _note_late_imports(log: int) -> None:
    """At the command's exit, say in the server's log how many modules it still had to import
    (the top-level packages first): what the preload list misses."""
    import atexit

    os.set_inheritable(log, False)
    before = set(sys.modules)

    def note() -> None:
        late = sorted(set(sys.modules) - before)
        tops = sorted({name.split(".")[0] for name in late} - set(PURGED))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        line = f"{stamp} warm: pid {os.getpid()} imported {len(late)} more modules ({tops})\n"
        with contextlib.suppress(OSError):
            os.write(log, line.encode())

    atexit.register(note)


def become(request: Request) -> None:
    """Turn this (command) process into the client's: its streams, directory, environment,
    arguments, import path; the command line is imported afresh, the imported libraries'
    settings re-read from the client's environment."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    _note_late_imports(os.dup(1))  # the server's log, before 1 becomes the client's stdout
    for target, fd in enumerate(request.fds):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    os.chdir(request.cwd)
    os.umask(request.umask)
    os.environ.clear()
    os.environ.update(request.env)
    sys.argv = list(request.argv)
    sys.path[:] = request.path
    for name in list(sys.modules):
        if name.split(".")[0] in PURGED:
            del sys.modules[name]
    _KEPT.extend((sys.stdin, sys.stdout, sys.stderr))
    streams = [_stream(fd, request.stdio[fd], write=fd > 0) for fd in (0, 1, 2)]
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        setattr(sys, name, streams[fd])
        setattr(sys, f"__{name}__", streams[fd])
    _STALE.add("prefect")  # re-read at the command's setup(), once its environment is final
    _import_watch(request.importers)


def refresh_settings() -> None:
    """Re-read what an imported library took from the environment and the standard streams
    at import (Prefect builds its settings and its logging handlers then), when the
    environment changed since; nothing to do in a process that imports Prefect itself later
    (``mlops`` in-process: :func:`cli.common.setup` calls this before any import)."""
    if "prefect.context" not in sys.modules or not (_STALE or _SEEN):
        return  # not a warm command process: Prefect reads its settings at its import
    seen = {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}
    if "prefect" not in _STALE and seen == _SEEN:
        return
    # From sys.modules, not an import statement: that would trip the import watch
    context, logging = sys.modules["prefect.context"], sys.modules["prefect.logging.configuration"]
    context.refresh_global_settings_context()
    if logging.PROCESS_LOGGING_CONFIG:  # configured with the server's streams and env: again
        logging.setup_logging(incremental=False)
    _SEEN.clear()
    _SEEN.update(seen)
    _STALE.discard("prefect")


def run_to_exit(main: Callable[[], object]) -> NoReturn:
    """Run ``main`` as the interpreter would run a script, up to its exit code, and end this
    (command) process: non-daemon threads joined, atexit handlers run, streams flushed, as at
    the end of ``mlops`` in-process. Only the module teardown is skipped: a process holding
    every library takes seconds to free them (``os._exit``)."""
    import atexit
    import threading

    code = 0
    try:
        main()
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            sys.stderr.write(f"{exit_.code}\n")
            code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    getattr(threading, "_shutdown")()  # what the interpreter's exit does first  # noqa: B009
    getattr(atexit, "_run_exitfuncs")()  # noqa: B009
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code & 0xFF)


def server_command(root: Path) -> list[str]:
    """The server's command line (``mlops up`` runs it as the ``commands`` service): ``-P``
    keeps the project folder off ``sys.path`` (the code is the installed one, as for mlops)."""
    return [sys.executable, "-P", "-m", "cli.entry", "--warm-server", str(root)]


def preload_extra() -> tuple[str, ...]:
    """More modules for the server to import (``MLOPS_WARM_PRELOAD``, comma-separated)."""
    return tuple(n for n in os.environ.get("MLOPS_WARM_PRELOAD", "").split(",") if n)
