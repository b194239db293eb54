"""``mlops status | promote | approve | reject | rollback | history | lineage | reproduce``.

The commands an on-call engineer and a data scientist use on the model registry. Like the rest
of the CLI, heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from tasks.clock import stamp

if TYPE_CHECKING:
    from tasks.adapters.registry import VersionInfo
    from tasks.config import Params


def _age(created: datetime) -> str:
    seconds = int((datetime.now(UTC) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _connect() -> tuple[Path, Params, str]:
    from cli.common import setup
    from tasks.adapters import tracking
    from tasks.pipeline.promotion import model_name

    root, params = setup()
    tracking.configure(root)
    return root, params, model_name(params)


def _primary(info: VersionInfo) -> str:
    name = info.run_tags.get("primary_metric", "")
    value = info.metrics.get(f"test_{name}")
    return f"{name} {value:.4f}" if value is not None else "?"


def runtime_text(tags: dict[str, str]) -> str:
    """Which runtime would serve a version, from the tags registration recorded: the ONNX
    graph with its parity figures, or scikit-learn and why."""
    state = tags.get("runtime.onnx")
    if state is None:
        return "scikit-learn (not compiled: registered before ONNX compilation)"
    rows = tags.get("runtime.onnx.rows", "?")
    if state == "ok":
        if "runtime.onnx.max_rel_diff" in tags:
            figure = f"max relative |diff| {tags['runtime.onnx.max_rel_diff']}"
        else:
            agree = "labels agree" if tags.get("runtime.onnx.labels_agree") == "true" else "?"
            figure = (
                f"max |diff| of probability {tags.get('runtime.onnx.max_abs_diff', '?')}, {agree}"
            )
        return f"onnx (parity on {rows} test rows: {figure})"
    return f"scikit-learn ({tags.get('runtime.onnx.reason', 'no reason recorded')})"


def _runtime_short(tags: dict[str, str]) -> str:
    if tags.get("runtime.onnx") == "ok":
        figure = tags.get("runtime.onnx.max_rel_diff") or tags.get("runtime.onnx.max_abs_diff")
        return f"onnx ({figure})"
    return "scikit-learn"


def _registry_errors() -> tuple[type[Exception], ...]:
    from tasks.adapters.registry import RegistryError
    from tasks.pipeline.promotion import PromotionError

    return (PromotionError, RegistryError)


def status() -> None:
    """The services of `mlops up`; champion and challenger, the last gate decision and drift
    check, versions left waiting."""
    from cli.common import console
    from cli.up import print_services
    from tasks.adapters import registry

    root, params, name = _connect()
    print_services(root)
    if not registry.model_exists(name):
        console.print(
            f"[yellow]No registered model '{name}' yet: run `mlops demo` or `mlops train`.[/]"
        )
        raise typer.Exit(1)
    held = registry.aliases(name)
    table = Table(title=f"Model {name}")
    columns = ("alias", "version", "test metric", "data (DVC md5)", "age", "gate", "runtime")
    for column in columns:
        table.add_column(column)
    champion_runtime = ""
    for alias in (registry.CHAMPION, registry.CHALLENGER):
        version = held.get(alias)
        if version is None:
            table.add_row(alias, "[yellow]none[/]", "", "", "", "", "")
            continue
        info = registry.version_info(name, version)
        if alias == registry.CHAMPION:
            champion_runtime = runtime_text(info.tags)
        table.add_row(
            alias,
            version,
            _primary(info),
            (info.tags.get("data.dvc_md5") or info.run_tags.get("data.dvc_md5", "?"))[:12],
            _age(info.created),
            info.tags.get("gate.decision", "[yellow]not judged[/]"),
            _runtime_short(info.tags),
        )
    console.print(table)
    if champion_runtime:
        # plain text: the reason is a tag value, never rich markup
        console.print(Text(f"champion runtime: {champion_runtime}"), soft_wrap=True)
    events = registry.history(name)
    gate = [e for e in events if e.event in ("promote", "refuse", "pending", "force", "approve")]
    if gate:
        last = gate[-1]
        console.print(
            f"last gate decision: {last.event} version {last.version} against {last.previous} "
            f"at {last.time} by {last.actor}: {last.reason}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print("last gate decision: none recorded")
    console.print(_last_drift_check(params, name), highlight=False, soft_wrap=True)
    chain = registry.champion_chain(events)
    if held.get(registry.CHAMPION) and chain and chain[-1] != held[registry.CHAMPION]:
        console.print(
            f"[bold red]the champion alias points at {held[registry.CHAMPION]} but the history "
            f"ends at {chain[-1]}: it was moved outside mlops[/]"
        )
    _print_waiting(registry.versions(name), held.get(registry.CHAMPION))


def _last_drift_check(params: Params, name: str) -> str:
    """The monitor's newest check of ``name``, healthy or not, from its MLflow run (the
    registry's history holds only the checks that found drift)."""
    from tasks.adapters import tracking

    run = tracking.last_job_run(params.monitoring_experiment, "monitor", name)
    if run is None:
        return "last drift check: none recorded"
    tags = run.tags
    return (
        f"last drift check: {stamp(run.started)}: "
        f"{tags.get('verdict', '?')} (report {tags.get('report_id', '?')}, champion version "
        f"{tags.get('model.version', '?')}, window {tags.get('window.start', '?')} to "
        f"{tags.get('window.end', '?')})"
    )


def _print_waiting(tags_by_version: dict[str, dict[str, str]], champion: str | None) -> None:
    """Versions pending approval, and orphans: registered after the last judged version but
    never judged (a run that stopped between register and promote)."""
    from cli.common import console

    judged = [int(v) for v, tags in tags_by_version.items() if "gate.decision" in tags]
    newest_judged = max([*judged, int(champion or 0)], default=0)
    older = 0
    for version, tags in tags_by_version.items():
        if tags.get("approval") == "pending":
            console.print(f"pending approval: version {version} (`mlops approve {version}`)")
        elif "gate.decision" not in tags and version != champion:
            if int(version) < newest_judged:
                older += 1
                continue
            console.print(
                f"[yellow]orphan: version {version} was registered but never judged by the "
                f"gate[/] (a run stopped before promotion); judge it with `mlops promote {version}`"
            )
    if older:
        console.print(f"{older} older version(s) were never judged (superseded before the gate)")


def _print_outcome(outcome: dict[str, object]) -> None:
    from cli.common import console
    from tasks.pipeline.promotion import promotion_markdown

    style = "green" if outcome["champion_before"] != outcome["champion_after"] else "yellow"
    console.print(
        f"[{style}]{outcome['event']}[/]: version {outcome['version']}; champion "
        f"{outcome['champion_before']} -> {outcome['champion_after']}",
        highlight=False,
    )
    if outcome.get("decision"):
        console.print(promotion_markdown(dict(outcome)), markup=False, highlight=False)


def promote(
    version: str = typer.Argument(..., help="The model version to promote."),
    force: bool = typer.Option(False, "--force", help="Promote even if the gate refuses."),
    reason: str = typer.Option("", help="Why (required with --force); recorded in the history."),
) -> None:
    """Judge VERSION against the champion with the gate and promote it if it passes."""
    from cli.common import fail
    from flows.promotion import promotion_flow
    from tasks.pipeline.common import user_actor

    root, _, _ = _connect()
    try:
        outcome = promotion_flow(str(root), version, user_actor(), force, reason)
    except _registry_errors() as error:
        raise fail(str(error)) from None
    _print_outcome(outcome)
    if outcome["event"] == "refuse":
        raise typer.Exit(1)


def approve(
    version: str = typer.Argument(..., help="A version pending approval."),
    reason: str = typer.Option("", help="Recorded in the history."),
) -> None:
    """Approve a version that passed the gate and waits (register.require_approval)."""
    from cli.common import fail
    from tasks.pipeline.common import user_actor
    from tasks.pipeline.promotion import approve as do_approve

    root, params, _ = _connect()
    try:
        outcome = do_approve(root, params, version, actor=user_actor(), reason=reason)
    except _registry_errors() as error:
        raise fail(str(error)) from None
    _print_outcome(outcome.to_dict())


def reject(
    version: str = typer.Argument(..., help="A version pending approval."),
    reason: str = typer.Option(..., help="Why; recorded in the history."),
) -> None:
    """Reject a version pending approval; it is recorded as rejected and never promoted."""
    from cli.common import fail
    from tasks.pipeline.common import user_actor
    from tasks.pipeline.promotion import reject as do_reject

    _, params, _ = _connect()
    try:
        outcome = do_reject(params, version, actor=user_actor(), reason=reason)
    except _registry_errors() as error:
        raise fail(str(error)) from None
    _print_outcome(outcome.to_dict())


def rollback(
    reason: str = typer.Option("", help="Why; recorded in the history."),
) -> None:
    """Put the previous champion back (one alias move, recorded)."""
    from cli.common import fail
    from tasks.pipeline.common import user_actor
    from tasks.pipeline.promotion import rollback as do_rollback

    root, params, _ = _connect()
    try:
        outcome = do_rollback(root, params, actor=user_actor(), reason=reason)
    except _registry_errors() as error:
        raise fail(str(error)) from None
    _print_outcome(outcome.to_dict())


def history() -> None:
    """Every gate decision and alias move: time, event, versions, actor, reason."""
    from cli.common import console
    from tasks.adapters import registry

    _, _, name = _connect()
    events = registry.history(name)
    if not events:
        console.print(f"no history for model '{name}'")
        return
    table = Table(title=f"Promotion history of {name}")
    for column in ("time (UTC)", "event", "version", "before", "actor"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for event in events:
        style = "bold" if event.moved else "dim"
        table.add_row(
            event.time[:19].replace("T", " "),
            f"[{style}]{event.event}[/]",
            event.version or "",
            event.previous or "",
            event.actor,
            event.reason,
        )
    console.print(table)


def lineage_rows(name: str, info: VersionInfo) -> list[tuple[str, str]]:
    """The lineage of ``info`` as (what, value) rows. Every value of the copy-paste command is
    shell-quoted: the run's tags are written by whoever can write the run, and a tag such as
    ``x; curl ... | sh`` must stay one argument of the command an operator copies."""
    tags, run = info.tags, info.run_tags
    data_path = run.get("data.path", tags.get("data.path", "?"))
    commit = run.get("git.commit", tags.get("git.commit", "?"))
    fetch = (
        f"git checkout {shlex.quote(commit[:12])} -- {shlex.quote(data_path + '.dvc')} "
        f"&& dvc pull {shlex.quote(data_path)}"
    )
    return [
        ("model", f"{name} version {info.version} (aliases: {', '.join(info.aliases) or 'none'})"),
        ("registered", f"{info.created:%Y-%m-%d %H:%M:%S} UTC ({_age(info.created)} ago)"),
        ("data", f"{data_path} DVC md5 {run.get('data.dvc_md5', '?')}"),
        ("fetch the data", fetch),
        (
            "code",
            f"git commit {commit}"
            + (" (work tree was dirty)" if run.get("git.dirty") == "true" else ""),
        ),
        (
            "params",
            f"sha256 {run.get('params.sha256', '?')[:16]}; "
            "the file: MLflow artifact config/params.yaml",
        ),
        (
            "validation",
            f"{'passed' if run.get('validation.success') == 'true' else 'FAILED'} suite "
            f"{run.get('validation.suite', '?')}, {run.get('validation.warnings', '0')} warning(s)",
        ),
        ("mlflow run", f"{info.run_id} (experiment {info.experiment_id})"),
        ("prefect flow run", run.get("prefect.flow_run_id") or "none (dvc repro)"),
        ("trigger", run.get("trigger", "?")),
        ("drift report", run.get("trigger.drift_report") or "none"),
        (
            "gate",
            f"{tags.get('gate.decision', 'not judged')} against "
            f"{tags.get('gate.against', '-')}: {tags.get('gate.reason', '')}",
        ),
        ("runtime", runtime_text(tags)),
        ("reproduce", f"mlops reproduce {shlex.quote(str(info.version))}"),
    ]


def lineage_table(name: str, info: VersionInfo) -> Table:
    """The lineage rows as a table of plain text: rich markup in a tag value (``[link=...]``,
    ``[/]``) is shown as written, never interpreted."""
    table = Table(title=Text(f"Lineage of {name} version {info.version}"), show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in lineage_rows(name, info):
        table.add_row(Text(key), Text(value))
    return table


def lineage(version: str = typer.Argument(..., help="A model version.")) -> None:
    """Where VERSION came from: data version (and how to fetch it), commit, params, run, trigger."""
    from cli.common import console, fail
    from tasks.adapters import registry

    _, _, name = _connect()
    try:
        info = registry.version_info(name, version)
    except registry.RegistryError as error:
        raise fail(str(error)) from None
    console.print(lineage_table(name, info))


def reproduce(version: str = typer.Argument(..., help="A model version.")) -> None:
    """Retrain VERSION from its DVC data version and params; print the metric differences."""
    from cli.common import console, fail, user_errors
    from cli.reproduce import ReproduceError, reproduce_version

    root, _, name = _connect()
    known: tuple[type[Exception], ...] = (*_registry_errors(), *user_errors(), ReproduceError)
    try:
        result = reproduce_version(root, name, version)
    except known as error:
        raise fail(str(error)) from None
    table = Table(title=f"Reproduction of {name} version {version}")
    for column in ("metric", "registered", "reproduced", "difference"):
        table.add_column(column, justify="right")
    for metric, (old, new) in sorted(result.metrics.items()):
        table.add_row(metric, f"{old:.6f}", f"{new:.6f}", f"{new - old:+.2e}")
    console.print(table)
    for note in result.notes:
        console.print(note, highlight=False, soft_wrap=True)
    verdict = "identical" if result.identical else "DIFFERENT"
    console.print(f"metrics {verdict} (largest difference {result.largest_difference:.2e})")


def register(app: typer.Typer) -> None:
    """Add these commands to the ``mlops`` app."""
    for command in (status, promote, approve, reject, rollback, history, lineage, reproduce):
        app.command()(command)
