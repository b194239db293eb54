"""The champion is sacred: the gate, alias moves, rollback, approval and history, against MLflow
on SQLite and against a real ``mlflow server`` process (the production shape)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from cli.main import app
from tasks.adapters import io, registry, tracking
from tasks.config import Params, load_params
from tasks.pipeline import promotion
from tasks.steps.generate import Drift, generate_sessions
from tasks.steps.ingest import TableSchema, ingest_table
from tasks.steps.split import split_frame
from tasks.steps.train import fit_pipeline
from tests.support import REPO, free_port

pytestmark = pytest.mark.integration
# Registry semantics (tags, aliases, locks, history) over both stores; rules of the gate itself
# do not depend on the store and run on SQLite only.
BOTH_STORES = pytest.mark.parametrize("store", ["sqlite", "server"], indirect=True)


@dataclass
class MlflowServer:
    """A real ``mlflow server`` on SQLite with proxied artifacts, restartable on one store."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.folder / 'server.db'}",
            "--artifacts-destination", str(self.folder / "artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        log = (self.folder / "server.log").open("ab")
        # The server's job runners serve MLflow's GenAI jobs, which the registry does not use;
        # without them it starts in half the time here.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = subprocess.Popen(
            command, stdout=log, stderr=log, start_new_session=True, env=env
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"mlflow server did not answer on {self.uri}")

    def stop(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)  # the server and its job runners
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, MlflowServer | None]]:
    """The tracking store: the project's SQLite file, or a real MLflow server."""
    kind = getattr(request, "param", "sqlite")
    folder = tmp_path_factory.mktemp(f"store-{kind}")
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'mlflow.db'}", None
        return
    server = MlflowServer(folder)
    server.start()
    try:
        yield server.uri, server
    finally:
        server.stop()


@dataclass(frozen=True)
class Models:
    """Fitted pipelines of known order on the same test split: weak < mid < strong."""

    schema: TableSchema
    test: pd.DataFrame
    train: pd.DataFrame
    weak: Any
    mid: Any
    strong: Any


@pytest.fixture(scope="module")
def models() -> Models:
    params = load_params(REPO / "params.yaml")
    frame, schema, _ = ingest_table(generate_sessions(3000, 11, Drift()), params.ingest)
    train, _, test = split_frame(frame, schema, params.split)

    def fit(*overrides: str) -> Any:
        chosen = load_params(REPO / "params.yaml", overrides)
        return fit_pipeline(train, schema, chosen.features, chosen.models, chosen.train).model

    hgb = "models.hist_gradient_boosting.fixed"
    weak = fit(f"{hgb}.max_iter=2", f"{hgb}.max_leaf_nodes=2")
    mid = fit(f"{hgb}.max_iter=10", f"{hgb}.max_leaf_nodes=4")
    strong = fit(f"{hgb}.max_iter=60", f"{hgb}.learning_rate=0.1")
    return Models(schema, test, train, weak, mid, strong)


@dataclass
class World:
    """A project folder (params, schema, training and test splits) and a model name of its
    own."""

    root: Path
    params: Params
    name: str
    models: Models
    uri: str

    def register(self, model: Any) -> str:
        """Log ``model`` in a run and register it as a new version, as the register stage does."""
        import mlflow

        tracking.configure(self.root)
        experiment = tracking.ensure_experiment(self.name, self.root)
        with mlflow.start_run(experiment_id=experiment):
            mlflow.set_tags({"primary_metric": "roc_auc", "data.dvc_md5": "0" * 32})
            info = mlflow.sklearn.log_model(
                sk_model=model,
                name="model",
                registered_model_name=self.name,
                skops_trusted_types=list(tracking.TRUSTED_TYPES),
                pip_requirements=tracking.pip_requirements(),
            )
        version = str(info.registered_model_version)
        registry.seal_version(self.name, version)  # as the register stage does
        registry.move_alias(self.name, registry.CHALLENGER, version)
        return version

    def with_params(self, *overrides: str) -> World:
        params_file = self.root / "params.yaml"
        params_file.write_text((REPO / "params.yaml").read_text())
        from tasks.config import write_overrides

        write_overrides(
            params_file, [f"datasets.customer-purchase.model_name={self.name}", *overrides]
        )
        self.params = load_params(params_file)
        return self

    def promote(self, version: str, **kwargs: Any) -> promotion.Outcome:
        outcome, _ = promotion.promote(
            self.root, self.params, version, actor=kwargs.pop("actor", "user:test"), **kwargs
        )
        return outcome

    @property
    def champion(self) -> str | None:
        return registry.alias_version(self.name, registry.CHAMPION)

    def events(self) -> list[tuple[str, str | None, str | None]]:
        return [(e.event, e.version, e.previous) for e in registry.history(self.name)]


@pytest.fixture
def world(
    store: tuple[str, MlflowServer | None],
    models: Models,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    uri, _ = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    params = load_params(REPO / "params.yaml")
    io.write_json(models.schema.to_dict(), tmp_path / params.paths.schema_)
    io.write_frame(models.test, tmp_path / params.paths.test)
    io.write_frame(models.train, tmp_path / params.paths.train)  # the baseline is fitted on it
    name = f"m-{uuid.uuid4().hex[:8]}"
    created = World(tmp_path, params, name, models, uri).with_params()
    tracking.configure(tmp_path)
    return created


@BOTH_STORES
def test_the_first_version_becomes_champion_and_a_worse_one_is_refused(world: World) -> None:
    first = world.register(world.models.strong)
    assert world.promote(first).event == "promote"
    worse = world.register(world.models.weak)

    outcome = world.promote(worse)

    assert outcome.event == "refuse"
    assert (outcome.champion_before, outcome.champion_after) == (first, first)
    assert world.champion == first
    tags = registry.version_info(world.name, worse).tags
    assert tags["gate.decision"] == "refuse"
    assert tags["gate.against"] == first
    assert tags["gate.rule.beats_champion"].startswith("fail: roc_auc ")
    assert registry.version_info(world.name, first).tags["gate.last_challenger"] == worse
    run_id = registry.version_info(world.name, worse).run_id
    artifacts = [a.path for a in MlflowClient().list_artifacts(run_id, "gate")]
    assert artifacts == [f"gate/decision-v{worse}-vs-{first}.json"]
    assert world.events() == [("promote", first, None), ("refuse", worse, first)]


def test_an_equal_challenger_is_refused(world: World) -> None:
    first = world.register(world.models.mid)
    world.promote(first)
    same = world.register(world.models.mid)

    outcome = world.promote(same)

    assert outcome.event == "refuse"
    assert outcome.decision is not None
    (floor, baseline, beats) = outcome.decision["rules"]
    assert floor["passed"] is True
    assert (baseline["name"], baseline["passed"]) == ("beats baseline", True)
    assert baseline["values"]["baseline"] == 0.5  # the prior's constant score
    assert beats["values"]["improvement"] == 0.0
    assert world.champion == first


def test_a_nan_metric_refuses_and_keeps_the_champion(world: World) -> None:
    first = world.register(world.models.mid)
    world.promote(first)
    better = world.register(world.models.strong)
    one_class = world.models.test[world.models.test["purchased"] == 0]
    io.write_frame(one_class, world.root / world.params.paths.test)  # ROC AUC undefined

    outcome = world.promote(better)

    assert outcome.event == "refuse"
    assert outcome.reason.startswith("floor roc_auc: roc_auc is nan, not a number")
    assert "metrics are numbers: challenger's roc_auc is NaN" in outcome.reason
    assert world.champion == first


def test_a_failing_floor_leaves_no_champion_at_all(world: World) -> None:
    world.with_params("datasets.customer-purchase.floors={roc_auc: 0.99}")
    first = world.register(world.models.strong)

    outcome = world.promote(first)

    assert outcome.event == "refuse"
    assert outcome.reason.startswith("floor roc_auc: roc_auc 0.")
    assert outcome.reason.endswith(
        " fails >= 0.99 (the floor is datasets.customer-purchase.floors.roc_auc)"
    )
    assert world.champion is None


@BOTH_STORES
def test_a_crash_before_the_alias_move_keeps_the_champion_and_shows_the_orphan(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = world.register(world.models.weak)
    world.promote(first)
    better = world.register(world.models.strong)

    def crash(*args: object) -> None:
        raise RuntimeError("injected crash between register and alias move")

    with monkeypatch.context() as patched:
        patched.setattr(registry, "move_alias", crash)
        with pytest.raises(RuntimeError, match=r"^injected crash between register and alias move$"):
            world.promote(better)

    assert world.champion == first
    assert world.events() == [("promote", first, None)]
    status = CliRunner().invoke(app, ["status"], catch_exceptions=False)
    assert status.exit_code == 0, status.output
    text = " ".join(status.output.split())
    assert (
        f"orphan: version {better} was registered but never judged by the gate (a run stopped "
        f"before promotion); judge it with `mlops promote {better}`"
    ) in text
    # Judged afterwards, it goes through the gate like any other.
    assert world.promote(better).event == "promote"
    assert world.champion == better


def _race(world: World, versions: list[str]) -> list[promotion.Outcome]:
    barrier = threading.Barrier(len(versions))
    outcomes: dict[str, promotion.Outcome] = {}
    failures: list[BaseException] = []

    def attempt(version: str) -> None:
        try:
            barrier.wait()
            outcomes[version] = world.promote(version)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=attempt, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    return [outcomes[v] for v in versions]


def _exactly_one_moved(world: World, first: str, rivals: list[str]) -> None:
    events = world.events()
    moves = [e for e in events if e[0] == "promote"]
    assert len(moves) == 2  # the first version's, and exactly one of the rivals
    winner = moves[1][1]
    assert winner in rivals
    loser = next(v for v in rivals if v != winner)
    assert moves[1] == ("promote", winner, first)
    # the other one waited and was judged against the new champion: equal, so refused
    assert ("refuse", loser, winner) in events
    assert world.champion == winner


@BOTH_STORES
def test_two_promotions_at_once_in_threads_move_the_alias_once(world: World) -> None:
    first = world.register(world.models.weak)
    world.promote(first)
    rivals = [world.register(world.models.strong), world.register(world.models.strong)]

    outcomes = _race(world, rivals)

    assert sorted(o.event for o in outcomes) == ["promote", "refuse"]
    _exactly_one_moved(world, first, rivals)


PROMOTE_IN_A_PROCESS = """
import sys
import time
from pathlib import Path
from tasks.pipeline.promotion import promote
from tasks.adapters import tracking
from tasks.config import load_params
root = Path.cwd()
params = load_params(root / "params.yaml")
tracking.configure(root)
Path(sys.argv[2]).touch()
while not all(Path(p).exists() for p in sys.argv[3:]):
    time.sleep(0.01)  # not a busy wait: the other process needs the core to import
outcome, _ = promote(root, params, sys.argv[1], actor="user:process")
print(outcome.event)
"""


@BOTH_STORES
def test_two_promotions_at_once_in_processes_move_the_alias_once(world: World) -> None:
    first = world.register(world.models.weak)
    world.promote(first)
    rivals = [world.register(world.models.strong), world.register(world.models.strong)]
    ready = [world.root / f"ready-{v}" for v in rivals]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": world.uri}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTE_IN_A_PROCESS, v, str(mine), *map(str, ready)],
            cwd=world.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v, mine in zip(rivals, ready, strict=True)
    ]
    results = [p.communicate(timeout=300) for p in processes]

    assert [p.returncode for p in processes] == [0, 0], results
    assert sorted(out.strip().splitlines()[-1] for out, _ in results) == ["promote", "refuse"]
    _exactly_one_moved(world, first, rivals)


@BOTH_STORES
def test_rollback_after_two_promotions(world: World) -> None:
    weak = world.register(world.models.weak)
    mid = world.register(world.models.mid)
    strong = world.register(world.models.strong)
    for version in (weak, mid, strong):
        assert world.promote(version).event == "promote"

    first = promotion.rollback(world.root, world.params, actor="user:oncall", reason="bad")
    assert (first.champion_before, first.champion_after) == (strong, mid)
    assert world.champion == mid
    second = promotion.rollback(world.root, world.params, actor="user:oncall")
    assert world.champion == weak
    assert second.reason == f"rollback from {mid} to {weak}"
    with pytest.raises(promotion.PromotionError, match="no previous champion of"):
        promotion.rollback(world.root, world.params, actor="user:oncall")
    assert world.champion == weak
    assert world.events() == [
        ("promote", weak, None),
        ("promote", mid, weak),
        ("promote", strong, mid),
        ("rollback", mid, strong),
        ("rollback", weak, mid),
    ]
    last = registry.history(world.name)[-2]
    assert (last.actor, last.reason) == ("user:oncall", "bad")


def test_forced_promotion_needs_a_reason_and_is_recorded(world: World) -> None:
    strong = world.register(world.models.strong)
    world.promote(strong)
    weak = world.register(world.models.weak)

    with pytest.raises(promotion.PromotionError, match=r"^--force needs --reason"):
        world.promote(weak, force=True)
    assert world.champion == strong
    outcome = world.promote(weak, force=True, reason="incident 42: the strong model leaks")

    assert outcome.event == "force"
    assert world.champion == weak
    event = registry.history(world.name)[-1]
    assert (event.event, event.reason) == ("force", "incident 42: the strong model leaks")
    assert event.details["verdict"] == "refuse"  # the gate's own verdict is kept


@BOTH_STORES
def test_approval_mode_waits_for_a_person(world: World) -> None:
    world.with_params("register.require_approval=true")
    weak = world.register(world.models.weak)

    pending = world.promote(weak)
    assert pending.event == "pending"
    assert world.champion is None
    approved = promotion.approve(world.root, world.params, weak, actor="user:lead")
    assert approved.event == "approve"
    assert world.champion == weak

    strong = world.register(world.models.strong)
    assert world.promote(strong).event == "pending"
    rejected = promotion.reject(world.params, strong, actor="user:lead", reason="not this week")
    assert rejected.event == "reject"
    with pytest.raises(promotion.PromotionError, match=f"version {strong} is rejected: only"):
        promotion.approve(world.root, world.params, strong, actor="user:lead")
    assert world.champion == weak
    assert registry.version_info(world.name, strong).tags["approval"] == "rejected"
    assert world.events() == [
        ("pending", weak, None),
        ("approve", weak, None),
        ("pending", strong, weak),
        ("reject", strong, weak),
    ]


@BOTH_STORES
def test_history_survives_a_restart(world: World, store: tuple[str, MlflowServer | None]) -> None:
    weak = world.register(world.models.weak)
    strong = world.register(world.models.strong)
    world.promote(weak)
    world.promote(strong)
    promotion.rollback(world.root, world.params, actor="user:oncall", reason="restart test")
    _, server = store
    if server is not None:  # the production shape: the tracking server itself restarts
        server.stop()
        server.start()

    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": world.uri}
    code = (
        "import json; from tasks.adapters import registry;"
        f"print(json.dumps([e.to_dict() for e in registry.history({world.name!r})]))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    events = json.loads(answer.stdout.strip().splitlines()[-1])
    assert [(e["event"], e["version"], e["previous"], e["actor"]) for e in events] == [
        ("promote", weak, None, "user:test"),
        ("promote", strong, weak, "user:test"),
        ("rollback", weak, strong, "user:oncall"),
    ]
    assert world.champion == weak


def _limit(name: str) -> Any:
    """The global concurrency limit ``name`` as the Prefect server has it now."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name)


def test_prefect_concurrency_limit_serializes_promotions(
    world: World, prefect_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """promote.lock=prefect holds the global concurrency limit ``promote:<model>`` of the
    Prefect server: the first promotion creates it (limit 1); during a race a promotion holds
    its one slot; and while someone else holds the slot, a promotion waits on the server and
    gives up, although no file lock is held. A silent fallback to the file lock fails all three."""
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectNotFound

    world.with_params("promote.lock=prefect")
    name = f"promote:{world.name}"
    with pytest.raises(ObjectNotFound):
        _limit(name)  # the model's name is new: nobody made its limit yet
    first = world.register(world.models.weak)
    world.promote(first)
    made = _limit(name)
    assert (made.name, made.limit, made.active, made.active_slots) == (name, 1, True, 0)
    rivals = [world.register(world.models.strong), world.register(world.models.strong)]

    held: list[int] = []
    racing = threading.Event()

    def watch() -> None:  # the slot as the server counts it, while the promotions race
        while not racing.is_set():
            held.append(_limit(name).active_slots)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        _race(world, rivals)
    finally:
        racing.set()
        watcher.join(timeout=60)

    _exactly_one_moved(world, first, rivals)
    assert 1 in held and max(held) == 1, held  # a promotion held the one slot, never two
    assert _limit(name).active_slots == 0  # and released it
    champion, events = world.champion, world.events()

    # someone else holds the slot (another machine, say): a promotion waits for the server's
    # limit, not for a file, and gives up after promote.lock_timeout_seconds
    world.with_params("promote.lock=prefect", "promote.lock_timeout_seconds=2")
    third = world.register(world.models.strong)
    with concurrency(name, occupy=1, timeout_seconds=30, strict=True):
        assert _limit(name).active_slots == 1
        with pytest.raises(registry.RegistryError) as waited:
            world.promote(third)
    assert str(waited.value) == (
        f"another holder of Prefect's '{name}' limit kept it for more than 2 s; try again later"
    )
    assert (world.champion, world.events()) == (champion, events)  # nothing judged or moved
    assert not (world.root / ".mlops" / "locks").exists()  # no file lock was ever taken
    assert world.promote(third).event == "refuse"  # released: it goes through (equal: refused)
    assert _limit(name).active_slots == 0


def test_the_commands_an_on_call_engineer_uses(world: World, prefect_server: str) -> None:
    # Prefect configures its log handlers once, when prefect.main is first imported, on the
    # sys.stderr of that moment. Imported inside the first CliRunner.invoke (`mlops promote`
    # runs the promotion flow), they would keep CliRunner's stream, closed after that call,
    # and the second command would fail on it (RecursionError). One process per command, as
    # on a terminal, never meets this.
    import prefect.main  # noqa: F401

    strong = world.register(world.models.strong)
    weak = world.register(world.models.weak)
    runner = CliRunner()

    promoted = runner.invoke(app, ["promote", strong], catch_exceptions=False)
    refused = runner.invoke(app, ["promote", weak], catch_exceptions=False)
    unknown = runner.invoke(app, ["promote", "99"], catch_exceptions=False)
    history = runner.invoke(app, ["history"], catch_exceptions=False)
    lineage = runner.invoke(app, ["lineage", weak], catch_exceptions=False)
    rollback = runner.invoke(app, ["rollback"], catch_exceptions=False)

    assert promoted.exit_code == 0, promoted.output
    assert f"promote: version {strong}; champion None -> {strong}" in promoted.output
    assert refused.exit_code == 1, refused.output
    assert f"refuse: version {weak}; champion {strong} -> {strong}" in refused.output
    assert "| beats champion | **fail** | roc_auc " in refused.output
    assert unknown.exit_code == 1
    assert f"error: model '{world.name}' has no version 99" in unknown.output
    assert " ".join(history.output.split()).count("user:") == 2
    assert "refuse" in history.output
    text = " ".join(lineage.output.split())
    assert f"gate │ refuse against {strong}" in text
    assert f"reproduce │ mlops reproduce {weak}" in text
    assert rollback.exit_code == 1
    assert f"error: no previous champion of '{world.name}' in its history" in rollback.output
    assert world.champion == strong
