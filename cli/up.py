"""``mlops up`` / ``mlops down`` and the services part of ``mlops status``.

``up`` starts, in the background on 127.0.0.1, what the loop needs for this project (cli/services.py
says how): the Prefect server, the MLflow tracking server and UI, the Evidently UI, the
deployments runner (``mlops deploy``) and the scoring endpoint (``mlops serve``). ``down`` stops
exactly what ``up`` recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cli.common import console, errors, fail, setup

if TYPE_CHECKING:
    from cli import services as sv
    from tasks.config import Params

STYLE = {"up": "green", "started": "green", "crashed": "bold red", "down": "yellow"}


def up() -> None:
    """Start this project's services in the background on 127.0.0.1; only what is down.

    The Prefect server, the MLflow server and UI, the Evidently UI, the deployments runner and
    the scoring endpoint, on the ports of params.yaml `up`; `mlops down` stops them.
    """
    from cli import services as sv

    root, params = setup()
    try:
        with sv.exclusive(root):
            _up(root, params)
    except sv.ServicesError as error:
        raise fail(str(error)) from None


def _up(root: Path, params: Params) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from cli import services as sv

    recorded = sv.read_record(root)
    plans = sv.plans(root, params)
    kept = {name: s for name, s in recorded.items() if name in plans and sv.is_ours(s)}
    for name, crashed in recorded.items():
        if name not in kept:  # what is left of a crashed one's group would hold its port
            sv.stop(crashed, params.up.stop_timeout_seconds)
    missing = [name for name in sv.ORDER if name not in kept]
    sv.check_ports({name: plans[name].port for name in missing})
    outcome: dict[str, sv.State] = {}
    took: dict[str, float] = {}  # seconds from the start of `up` until each answered
    begun = time.monotonic()
    timeout = params.up.start_timeout_seconds
    first = [n for n in sv.ORDER if n not in sv.NEEDS]
    for wave in (first, [n for n in sv.ORDER if n in sv.NEEDS]):
        for name in wave:
            if name in kept:
                continue
            blocked = [n for n in sv.NEEDS.get(name, ()) if outcome[n].state != "up"]
            if blocked:
                outcome[name] = sv.State(_placeholder(plans[name]), "down", "not started: "
                                         f"{', '.join(blocked)} did not come up")  # fmt: skip
                continue
            kept[name] = sv.start(root, plans[name])
            took[name] = time.monotonic() - begun
            sv.write_record(root, kept.values())  # recorded at once: `mlops down` finds it
        waiting = [n for n in wave if n in kept]
        with ThreadPoolExecutor(max_workers=len(waiting) or 1) as pool:
            found = pool.map(lambda n: _timed(sv.wait_until_up, kept[n], timeout), waiting)
            for name, (state, seconds) in zip(waiting, found, strict=True):
                outcome[name] = state
                took[name] = seconds + took.get(name, 0.0)
    _report(root, outcome, {n: took[n] for n in missing if n in kept})
    if any(state.state != "up" for state in outcome.values()):
        raise typer.Exit(1)


def _timed(wait: Callable[..., sv.State], *args: object) -> tuple[sv.State, float]:
    started = time.monotonic()
    return wait(*args), time.monotonic() - started


def _placeholder(plan: sv.Plan) -> sv.Service:
    from cli import services as sv

    return sv.Service(plan.name, 0, 0.0, plan.command, plan.port, plan.url, plan.health, "")


def _report(root: Path, outcome: dict[str, sv.State], started: dict[str, float]) -> None:
    """One row per service; ``started`` holds the seconds from `up` until each one this
    `up` started answered."""
    from cli import services as sv

    table = Table(title="Services of this project (`mlops down` stops them)")
    for column in ("service", "state", "URL", "pid"):
        table.add_column(column, no_wrap=True)
    for name in sv.ORDER:
        state = outcome[name]
        word = state.state
        if word == "up":
            word = f"started ({started[name]:.0f} s)" if name in started else "already running"
        table.add_row(
            name,
            f"[{STYLE.get(state.state, 'yellow')}]{word}[/]",
            state.service.url,
            str(state.service.pid or "-"),
        )
    console.print(table)
    for state in outcome.values():
        if state.state != "up":
            _print_failure(root, state)
    console.print(
        f"logs: {sv.LOGS}/<service>.log · record: {sv.RECORD} · every mlops command in this "
        "project uses these servers now",
        highlight=False,
        soft_wrap=True,
    )


def _print_failure(root: Path, state: sv.State) -> None:
    from cli import services as sv

    errors.print(f"[bold red]{state.service.name}[/]: {state.detail}", highlight=False)
    if state.service.log:
        errors.print(f"last lines of {state.service.log}:", highlight=False)
        for line in sv.log_tail(root, state.service):
            errors.print(f"  {line}", highlight=False, markup=False)


def down() -> None:
    """Stop exactly the services `mlops up` recorded for this project; nothing else.

    Each is checked by pid and start time (a reused pid is never signalled), its process group
    gets SIGTERM, then SIGKILL after up.stop_timeout_seconds.
    """
    from cli import services as sv

    root, params = setup()
    try:
        with sv.exclusive(root):
            _down(root, params)
    except sv.ServicesError as error:
        raise fail(str(error)) from None


def _down(root: Path, params: Params) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from cli import services as sv

    recorded = sv.read_record(root)
    if not recorded:
        console.print(f"no services recorded ({sv.RECORD}): nothing to stop", highlight=False)
        return
    timeout = params.up.stop_timeout_seconds
    left = dict(recorded)
    clients = [s for s in recorded.values() if s.name in sv.NEEDS]
    servers = [s for s in recorded.values() if s.name not in sv.NEEDS]
    problems = []
    for phase in (clients, servers):
        with ThreadPoolExecutor(max_workers=len(phase) or 1) as pool:
            futures = {s.name: pool.submit(sv.stop, s, timeout) for s in phase}
        for name, future in futures.items():
            service = recorded[name]
            try:
                result = future.result()
            except (sv.ServicesError, PermissionError) as error:
                problems.append(f"{name} (pid {service.pid}): {error}")
                continue
            left.pop(name)
            if result == "stopped":
                console.print(f"stopped {name} (pid {service.pid})", highlight=False)
            else:
                console.print(f"{name} (pid {service.pid}) was already gone", highlight=False)
    if left:
        sv.write_record(root, left.values())
        raise fail("could not stop: " + "; ".join(problems))
    sv.record_path(root).unlink(missing_ok=True)
    console.print(f"removed {sv.RECORD}", highlight=False)


def print_services(root: Path) -> None:
    """The services part of ``mlops status``: each recorded service up, crashed (with its
    log's last lines) or down."""
    from cli import services as sv

    try:
        found = {state.service.name: state for state in sv.states(root)}
    except sv.ServicesError as error:
        errors.print(f"services: {error}", highlight=False)
        return
    if not found:
        console.print("services: none running (`mlops up` starts them)")
        return
    table = Table(title="Services (mlops up)")
    for column in ("service", "state", "URL", "details"):
        table.add_column(column)
    for name in sv.ORDER:
        state = found.get(name)
        if state is None:
            table.add_row(name, "[yellow]down[/]", "", "not recorded: `mlops up` starts it")
            continue
        table.add_row(name, f"[{STYLE[state.state]}]{state.state}[/]", state.service.url,
                      state.detail)  # fmt: skip
    console.print(table)
    for state in found.values():
        if state.state == "crashed":
            console.print(
                f"[bold red]{state.service.name} crashed[/]: last lines of {state.service.log}:",
                highlight=False,
            )
            for line in sv.log_tail(root, state.service):
                console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``up`` and ``down`` to the ``mlops`` app."""
    for command in (up, down):
        app.command()(command)
