"""The ``mlops`` command line. Heavy libraries are imported inside commands, never here, so
``mlops --help`` answers at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from cli.common import console, errors, fail, setup, user_errors
from tasks.clock import compact_stamp

if TYPE_CHECKING:
    from tasks.config import Params

app = typer.Typer(
    help="A local-first MLOps platform for tabular ML: DVC, Prefect, MLflow, scikit-learn.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Generate the embedded example data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
expectations_app = typer.Typer(help="Great Expectations suites.", no_args_is_help=True)
app.add_typer(expectations_app, name="expectations")
SET_HELP = "Override a param as stage.key=value (same keys as `dvc exp run -S`); repeatable."


def _quoted(value: str) -> str:
    """An override value that YAML reads back as this exact string (``yes`` stays text)."""
    return json.dumps(value)


def _run_training(root: Path, overrides: list[str], trigger: str = "manual") -> dict[str, Any]:
    from flows.training import training_flow
    from tasks.config import ConfigError, load_params

    try:  # fail fast, before Prefect starts: the same validation the flow applies
        load_params(root / "params.yaml", overrides)
    except ConfigError as error:
        raise fail(str(error)) from None

    try:
        result = training_flow(project=str(root), overrides=overrides, trigger=trigger)
    except user_errors() as error:
        raise fail(str(error)) from None
    return result.to_dict()


def _print_result(result: dict[str, Any]) -> None:
    stages = Table(title="Pipeline stages", show_lines=False)
    for column in ("stage", "outcome", "seconds", "details"):
        stages.add_column(column)
    for stage in result["stages"]:
        details = stage["summary"] if stage["ran"] else stage["reason"]
        stages.add_row(
            stage["name"],
            "[green]ran[/]" if stage["ran"] else "[dim]up to date[/]",
            f"{stage['seconds']:.1f}",
            _details(details),
        )
    console.print(stages)
    registration, metrics = result["registration"], result["metrics"]
    promotion = result["promotion"]
    console.print(
        f"gate: version {registration['version']} -> [bold]{promotion['event']}[/]"
        + (f" ({promotion['reason']})" if promotion["reason"] else ""),
        highlight=False,
        soft_wrap=True,
    )
    _print_champion(registration["model_name"], metrics["primary_metric"])


def _details(details: Any) -> str:
    """A stage's summary for a person: ``key value · key value``, not a Python dict."""
    if not isinstance(details, dict):
        return str(details)
    return " · ".join(f"{key} {_details(value)}" for key, value in details.items()) or "-"


def _print_champion(model_name: str, primary: str) -> None:
    from tasks.adapters import registry

    version = registry.alias_version(model_name, registry.CHAMPION)
    if version is None:
        console.print(f"[yellow]No champion for model '{model_name}' yet.[/]")
        return
    champion = registry.version_info(model_name, version)
    table = Table(title=f"Champion: {model_name} version {champion.version}")
    table.add_column("metric")
    table.add_column("validation", justify="right")
    table.add_column("test", justify="right")
    names = sorted({k.split("_", 1)[1] for k in champion.metrics if k.startswith("test_")})
    for name in names:
        marker = " (primary)" if name == primary else ""
        table.add_row(
            name + marker,
            f"{champion.metrics.get('valid_' + name, float('nan')):.4f}",
            f"{champion.metrics.get('test_' + name, float('nan')):.4f}",
        )
    console.print(table)
    console.print(f"aliases: {', '.join(champion.aliases)} · MLflow run {champion.run_id}")
    console.print(
        f"trained on {champion.run_tags.get('data.path', '?')} (DVC md5 "
        f"{champion.run_tags.get('data.dvc_md5', '?')})"
    )
    console.print("Open the MLflow UI with: [bold]mlops ui[/] (http://127.0.0.1:5000)")


def _take_in(root: Path, source: Path, raw_dir: Path) -> Path:
    """Copy ``source`` into the raw data folder (unless it is there) and version it with DVC."""
    from tasks.adapters import versioning

    source = source.resolve()
    if not source.is_file():
        raise fail(f"{source}: file not found")
    inside = raw_dir.resolve() in source.parents
    destination = source if inside else raw_dir / source.name
    if not inside:
        raw_dir.mkdir(parents=True, exist_ok=True)
        if destination.exists():
            console.print(f"{destination.relative_to(root)} exists: it gets a new DVC version")
        shutil.copyfile(source, destination)
    try:
        md5 = versioning.add_data(root, destination)
        pushed = versioning.push_data(root, destination)
    except versioning.VersioningError as error:
        raise fail(str(error)) from None
    where = "pushed to the DVC remote" if pushed else "no DVC remote configured"
    console.print(f"data: {destination.relative_to(root)} md5 {md5} ({where})")
    return destination


@app.command()
def train(
    data: Path | None = typer.Option(
        None, help="A CSV, TSV, .csv.gz or Parquet file to train on (a data set named after it)."
    ),
    target: str | None = typer.Option(None, help="The column to predict (with --data)."),
    task: str = typer.Option("auto", help="auto | binary | multiclass | regression."),
    dataset: str | None = typer.Option(
        None, help="Train the data set of this name again (a key of datasets in params.yaml)."
    ),
    set_: list[str] = typer.Option([], "--set", "-S", help=SET_HELP),
) -> None:
    """Run the training flow; with --data, on any table (taken in as a data set of its own)."""
    root, params = setup()
    overrides = list(set_)
    if data is not None:
        if dataset is not None:
            raise fail("--data names its data set itself (after the file); drop --dataset")
        if not target:
            raise fail("--target is required with --data")
        overrides = [*_take_in_dataset(root, params, data, target, task), *overrides]
    elif target or task != "auto":
        raise fail(
            "--target and --task go with --data; otherwise use --set datasets.<name>.target=..."
        )
    elif dataset is not None:
        if dataset not in params.datasets:
            known = ", ".join(sorted(params.datasets)) or "none"
            raise fail(f"no data set '{dataset}' in params.yaml (data sets: {known})")
        overrides = [f"dataset={dataset}", *overrides]
    _print_result(_run_training(root, overrides))


def _take_in_dataset(root: Path, params: Params, data: Path, target: str, task: str) -> list[str]:
    """Copy ``data`` into its data set's folder, version it, and return the overrides that
    make that data set (new or known) the active one."""
    from tasks.adapters.io import TableReadError, table_format
    from tasks.config import dataset_name, dataset_overrides

    try:
        table_format(data)
    except TableReadError as error:
        raise fail(str(error)) from None
    name = dataset_name(data.name)
    known = params.datasets.get(name)
    if known is not None and known.file != data.name:
        raise fail(
            f"data set '{name}' already holds {known.file}; rename {data.name} or train it "
            f"as another data set"
        )
    folder = root / params.paths.raw / name
    _take_in(root, data, folder)
    if known is None:
        console.print(f"new data set '{name}': settings inferred into params.yaml datasets.{name}")
    return dataset_overrides(name, data.name, target, task, new=known is None)


@app.command()
def demo() -> None:
    """Generate the example data, version it with DVC, train, register and print the champion."""
    root, params = setup()
    data_path = root / params.generate.path
    if not data_path.is_file():
        _write_generated(data_path, params.generate.rows, params.generate.seed, 0.0, 0.0)
        _take_in(root, data_path, data_path.parent)
    else:
        console.print(f"data: {params.generate.path} exists (regenerate: delete it first)")
    _print_result(_run_training(root, [f"dataset={params.generate.dataset}"]))


def _write_generated(path: Path, rows: int, seed: int, covariate: float, concept: float) -> None:
    from tasks.steps.generate import Drift, generate_sessions

    frame = generate_sessions(rows, seed, Drift(covariate=covariate, concept=concept))
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    console.print(f"generated {len(frame)} rows into {path}")


@data_app.command("generate")
def data_generate(
    out: Path = typer.Option(..., help="Where to write the CSV."),
    rows: int = typer.Option(10_000, min=1, help="Number of rows."),
    seed: int = typer.Option(0, help="Generator seed."),
    covariate: float = typer.Option(0.0, min=0.0, help="Covariate drift strength."),
    concept: float = typer.Option(0.0, min=0.0, max=1.0, help="Concept drift strength."),
) -> None:
    """Write a batch of generated sessions, optionally drifted (a production batch)."""
    from tasks.runtime import apply_defaults

    apply_defaults()
    _write_generated(out, rows, seed, covariate, concept)


@expectations_app.command("init")
def expectations_init(
    data: Path | None = typer.Option(
        None, help="Reference data (default: the active data set's file)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing suite."),
) -> None:
    """Profile the reference (training) data into the suite gx/expectations/<name>.json."""
    root, params = setup()
    from tasks.pipeline.gate import init_suite, suite_path

    existing = suite_path(root, params)
    if existing.is_file() and not force:
        raise fail(f"{existing.relative_to(root)} exists; --force overwrites it")
    try:
        path = init_suite(root, params, data.resolve() if data else None)
    except user_errors() as error:
        raise fail(str(error)) from None
    suite = json.loads(path.read_text())
    console.print(
        f"wrote {path.relative_to(root)}: {len(suite['expectations'])} expectations over "
        f"{len(suite['meta']['columns'])} columns. Review every bound (git diff shows changes)."
    )


@app.command()
def validate(
    path: Path = typer.Argument(..., help="A CSV or Parquet file to validate."),
) -> None:
    """Validate any file against the data set's suite and print the report (exit 1 if it fails)."""
    root, params = setup()
    from tasks.pipeline.gate import check_batch, suite_path

    if not suite_path(root, params).is_file():
        raise fail(f"no suite at {suite_path(root, params)}: run `mlops expectations init`")
    _, report = check_batch(root, path.resolve(), params)
    style = "green" if report.success else "bold red"
    lines = report.summary().splitlines()
    console.print(f"[{style}]{lines[0]}[/]", highlight=False, soft_wrap=True)
    for line in lines[1:]:
        console.print(line, highlight=False, soft_wrap=True, markup=False)
    if not report.success:
        raise typer.Exit(1)


UI_SERVICES = ("mlflow", "prefect", "evidently")


def _ui_commands(
    root: Path, params: Params, host: str, ports: dict[str, int], workers: int
) -> dict[str, list[str]]:
    """The command of each local UI: MLflow on the tracking store, Prefect's server (only when
    PREFECT_API_URL does not name one already), Evidently on the project's workspace."""
    from tasks.adapters.tracking import default_tracking_uri

    bin_dir = Path(sys.executable).parent
    commands: dict[str, list[str]] = {}
    uri = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root)
    if uri.startswith(("sqlite:", "postgresql", "mysql", "file:", "/")):
        commands["mlflow"] = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                              "--host", host, "--port", str(ports["mlflow"]),
                              "--workers", str(workers)]  # fmt: skip
    else:
        console.print(f"MLflow: MLFLOW_TRACKING_URI={uri} is a server: open it in a browser")
    if os.environ.get("PREFECT_API_URL"):
        console.print(f"Prefect: PREFECT_API_URL={os.environ['PREFECT_API_URL']} is a server")
    else:
        commands["prefect"] = [str(bin_dir / "prefect"), "server", "start", "--host", host,
                               "--port", str(ports["prefect"])]  # fmt: skip
    workspace = root / params.paths.workspace
    workspace.mkdir(parents=True, exist_ok=True)
    commands["evidently"] = [str(bin_dir / "evidently"), "ui", "--workspace", str(workspace),
                             "--host", host, "--port", str(ports["evidently"])]  # fmt: skip
    return commands


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (127.0.0.1: this machine)."),
    port: int = typer.Option(5000, help="Port of the MLflow UI."),
    prefect_port: int = typer.Option(4200, help="Port of the Prefect UI (and API)."),
    evidently_port: int = typer.Option(8000, help="Port of the Evidently UI."),
    only: list[str] = typer.Option(
        [], "--only", help="Start only these UIs: mlflow, prefect, evidently (repeatable)."
    ),
    workers: int = typer.Option(1, min=1, help="MLflow server worker processes."),
) -> None:
    """Start the MLflow, Prefect and Evidently UIs on this project; Ctrl-C stops them all
    (while `mlops up` runs, print the URLs of its UIs instead)."""
    import signal
    import time

    root, params = setup()
    from cli.services import running

    served = {name: s.url for name, s in running(root).items() if name in UI_SERVICES}
    if served:
        for name, url in served.items():
            console.print(f"{name} UI on {url} (started by `mlops up`)", highlight=False)
        return
    unknown = sorted(set(only) - set(UI_SERVICES))
    if unknown:
        raise fail(f"--only {', '.join(unknown)}: choose from {', '.join(UI_SERVICES)}")
    ports = {"mlflow": port, "prefect": prefect_port, "evidently": evidently_port}
    commands = _ui_commands(root, params, host, ports, workers)
    chosen = {k: v for k, v in commands.items() if not only or k in only}
    if not chosen:
        raise fail("no UI to start")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    processes = {}
    for name, command in chosen.items():
        processes[name] = subprocess.Popen(command, cwd=root, env=env)
        console.print(f"{name} UI on http://{host}:{ports[name]} (pid {processes[name].pid})")
    console.print("they answer once started (10-60 s); Ctrl-C stops them all")
    code = 0
    try:
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        code = next(p.returncode for p in processes.values() if p.poll() is not None)
        errors.print(f"a UI exited with code {code}; stopping the others")
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    raise typer.Exit(code)


@app.command()
def monitor(
    source: str | None = typer.Option(
        None,
        help="log (the inference log's window) or incoming (files in paths.incoming); "
        "default: monitor.source.",
    ),
) -> None:
    """Check production data for drift against the champion's training data (one verdict:
    healthy, drift, insufficient data or failed; exit 1 only when failed)."""
    root, _ = setup()
    from flows.monitoring import monitoring_flow
    from tasks.pipeline.monitor import MonitorFailed

    try:
        result = monitoring_flow(project=str(root), source=source)
    except MonitorFailed as failure:
        result = failure.result
    style = {"healthy": "green", "drift": "bold red", "failed": "bold red"}.get(
        result.verdict, "yellow"
    )
    console.print(
        f"[{style}]{result.verdict}[/]: {result.model_name} version {result.model_version}, "
        f"{result.current_rows} rows from {result.source} (report {result.report_id})",
        highlight=False,
        soft_wrap=True,
    )
    for reason in result.reasons:
        console.print(f"  {reason}", highlight=False, soft_wrap=True, markup=False)
    for column in result.top_columns:
        value = "undetermined" if column["value"] is None else f"{column['value']:.4g}"
        sign = "<" if column["statistic"] == "p_value" else ">="
        console.print(
            f"  {column['column']}: {column['method']} {value} (drift when {sign} "
            f"{column['threshold']:g}): {'drifted' if column['drifted'] else 'ok'}",
            highlight=False,
            markup=False,
        )
    console.print(f"action: {result.action}", highlight=False, soft_wrap=True, markup=False)
    console.print(
        f"report: {result.report_dir}/ · {result.report_link} · notification: "
        f"{result.notification or 'none'}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if result.verdict == "failed":
        raise typer.Exit(1)


@app.command()
def simulate(  # noqa: PLR0913  (typer: one parameter per command-line option)
    batches: int | None = typer.Option(None, min=2, help="Production batches [simulate.batches]."),
    onset: int | None = typer.Option(None, min=1, help="The first drifted batch [simulate.onset]."),
    label_delay: int | None = typer.Option(
        None, min=0, help="Batches until a batch's labels arrive [simulate.label_delay]."
    ),
    batch_rows: int | None = typer.Option(
        None, min=50, help="Rows per batch [simulate.batch_rows]."
    ),
    covariate: float | None = typer.Option(
        None, min=0.0, help="Covariate drift strength from onset [simulate.covariate]."
    ),
    concept: float | None = typer.Option(
        None, min=0.0, max=1.0, help="Concept drift strength from onset [simulate.concept]."
    ),
    training_rows: int | None = typer.Option(
        None, min=500, help="Rows of the first training data [simulate.training_rows]."
    ),
    seed: int | None = typer.Option(None, help="Seed of the generated data [simulate.seed]."),
    retrain_batches: int | None = typer.Option(
        None,
        min=1,
        help="Retrain on a window of this many batches of labels since the onset "
        "[simulate.retrain_batches].",
    ),
    workdir: Path | None = typer.Option(
        None, help="Sandbox folder (default .mlops/simulations/<time>/ in this project)."
    ),
    live: bool = typer.Option(
        False,
        "--live",
        help="Through the real services: `mlops up` in the sandbox, batches and labels over "
        "HTTP, the scheduled monitor, the automation, the runner, the endpoint's swap.",
    ),
) -> None:
    """Run the closed loop on generated data in a sandbox project: production batches, drift
    from --onset, delayed labels, the real monitoring, retraining and gate; print a timeline.
    With --live, through the running services, and the latencies a user feels."""
    root, params = setup()

    from cli.simulate import Scenario, format_summary
    from cli.simulate import simulate as run_simulation

    given = {
        "batches": batches,
        "onset": onset,
        "label_delay": label_delay,
        "batch_rows": batch_rows,
        "covariate": covariate,
        "concept": concept,
        "training_rows": training_rows,
        "seed": seed,
        "retrain_batches": retrain_batches,
    }
    knobs = params.simulate.model_dump(exclude={"live_schedule", "live_wait_seconds"})
    chosen = {**knobs, **{k: v for k, v in given.items() if v is not None}}
    if chosen["onset"] > chosen["batches"]:
        raise fail(f"--onset {chosen['onset']} is after the last batch ({chosen['batches']})")
    stamp = compact_stamp()
    folder = (workdir or root / ".mlops" / "simulations" / stamp).resolve()
    if folder.exists() and any(folder.iterdir()):
        raise fail(f"{folder} is not empty")
    scenario = Scenario(**chosen)

    def echo(line: str) -> None:
        console.print(line, highlight=False, markup=False, soft_wrap=True)

    if live:
        from cli.live import LiveError, Stopped, format_latencies, simulate_live

        try:
            result = simulate_live(root, folder, scenario, echo, params.simulate.live_schedule,
                                   params.simulate.live_wait_seconds)  # fmt: skip
        except (LiveError, Stopped) as error:
            raise fail(f"the live simulation stopped: {error} (sandbox {folder})") from None
        lines = [*format_summary(result), *format_latencies(result)]
    else:
        result = run_simulation(root, folder, scenario, echo)
        lines = format_summary(result)
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"timeline and summary: {folder / 'simulation.json'}", highlight=False)


@app.command()
def silence(
    hours: float = typer.Option(..., min=0.0, help="How long (0 ends a silence now)."),
    reason: str = typer.Option(..., help="Why: recorded in the history."),
) -> None:
    """Suppress drift alerts and drift-triggered retraining for a while (checks still run and
    are recorded)."""
    root, params = setup()
    from datetime import UTC, datetime, timedelta

    from tasks.adapters import registry, tracking
    from tasks.clock import stamp
    from tasks.pipeline.common import user_actor

    tracking.configure(root)
    name = params.register_.resolved_model_name(params.ingest.path)
    if not registry.model_exists(name):
        raise fail(f"no registered model '{name}' yet")
    until = stamp(datetime.now(UTC) + timedelta(hours=hours))
    registry.record_event(
        registry.Event(
            time=registry.now(),
            event="silence",
            model_name=name,
            version=registry.alias_version(name, registry.CHAMPION),
            previous=None,
            actor=user_actor(),
            reason=reason,
            details={"until": until},
        )
    )
    console.print(f"drift alerts and retraining of {name} silenced until {until}", highlight=False)


@app.command()
def predict(
    input: Path = typer.Option(..., "--input", help="A CSV or Parquet file to score."),
    output: Path | None = typer.Option(
        None, "--output", help="Where to write (.csv or .parquet); default: paths.predictions_dir."
    ),
    alias: str | None = typer.Option(None, help="Score with this alias (default: serve.alias)."),
    force: bool = typer.Option(
        False, "--force", help="Write --output even onto data/raw, ingest.path or DVC-tracked data."
    ),
) -> None:
    """Validate a batch, score it with the champion, write the predictions and record the run."""
    root, _ = setup()
    from flows.batch import batch_predict_flow
    from tasks.adapters.registry import RegistryError
    from tasks.pipeline.predict import OutputRefused
    from tasks.steps.predict import ScoringError

    refused: tuple[type[Exception], ...] = (
        *user_errors(),
        ScoringError,
        RegistryError,
        OutputRefused,
    )
    try:
        result = batch_predict_flow(
            input=str(input.resolve()),
            output=str(output.resolve()) if output else None,
            project=str(root),
            alias=alias,
            force=force,
        )
    except refused as error:
        raise fail(str(error)) from None
    console.print(
        f"scored {result.rows} rows of {result.input} with {result.model_name} version "
        f"{result.model_version} -> {result.output} ({result.seconds:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"batch id {result.batch_id} (inference log request_id) · MLflow run "
        f"{result.mlflow_run_id} · " + ", ".join(f"{k} {v:.4f}" for k, v in result.summary.items()),
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def deploy(
    pool: str | None = typer.Option(
        None,
        help="Bind the deployments to this process work pool (created when missing) and return; "
        "`prefect worker start --pool NAME` runs their flows. Default: run them in this process.",
    ),
) -> None:
    """Register the training, monitoring, retraining and batch-predict deployments (with their
    schedules) and the drift automation on the Prefect server in PREFECT_API_URL, and run them.

    Without --pool it blocks until Ctrl-C, running the flows itself.
    """
    root, params = setup()
    if not os.environ.get("PREFECT_API_URL"):
        raise fail(
            "mlops deploy needs a running Prefect server: set PREFECT_API_URL (for example, "
            "start one with `prefect server start` and export "
            "PREFECT_API_URL=http://127.0.0.1:4200/api)"
        )
    if pool is not None:
        from flows.deployments import deploy_to_pool

        for name, deployment_id in deploy_to_pool(root, params, pool).items():
            console.print(f"deployment {name} on work pool {pool!r}: {deployment_id}")
        console.print(
            f"run them with a worker: prefect worker start --pool {pool} --type process "
            "(in a folder where the project is installed, with the same environment)"
        )
        return
    from flows.deployments import serve as serve_deployments

    serve_deployments(root, params)


@app.command("run-flow", hidden=True)
def run_flow() -> None:
    """Run the flow run PREFECT__FLOW_RUN_ID names: what the runner of `mlops deploy` starts
    for each run (flows/runs.py); under `mlops up` the warm command server runs it."""
    setup()
    from flows.runs import execute

    try:
        execute()
    except (ValueError, LookupError) as error:
        raise fail(str(error)) from None


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (127.0.0.1: this machine)."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each loads the model)."),
    access_log: bool = typer.Option(True, help="One log line per scoring request."),
    insecure: bool = typer.Option(
        False, help="Allow a bind beyond 127.0.0.1 without SERVING_TOKEN (anyone can score)."
    ),
) -> None:
    """Serve the champion over HTTP (MLflow's scoring protocol) and follow its alias."""
    root, params = setup()
    import uvicorn

    from cli.common import fail
    from serving.app import (
        InsecureSetting,
        Settings,
        check_bind,
        create_app,
        log_config,
        server_options,
    )
    from tasks.adapters import tracking

    try:
        settings = Settings.from_project(root, params)
        check_bind(host, settings.token, insecure)
    except InsecureSetting as error:
        raise fail(str(error)) from None
    tracking.configure(root)
    auth = (
        "bearer token required (SERVING_TOKEN)"
        if settings.token
        else "no auth (SERVING_TOKEN unset)"
    )
    console.print(
        f"serving models:/{settings.model_name}@{params.serve.alias} on http://{host}:{port} "
        f"({auth}); following the alias every {params.serve.poll_seconds:g} s",
        highlight=False,
        soft_wrap=True,
    )
    config = log_config(access_log)
    options = server_options(params.serve)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=config,
                    access_log=False, timeout_graceful_shutdown=10, **options)  # fmt: skip
        return
    os.environ["MLOPS_PROJECT"] = str(root)
    uvicorn.run("serving.app:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_config=config, access_log=False,
                timeout_graceful_shutdown=10, **options)  # fmt: skip


from cli import registry as registry_cli  # noqa: E402  (registers its commands on ``app``)
from cli import up as up_cli  # noqa: E402

registry_cli.register(app)
up_cli.register(app)

if __name__ == "__main__":
    app()
