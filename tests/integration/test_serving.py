"""The scoring service over real HTTP (uvicorn on a free port) against MLflow on SQLite: the
protocol in every format and through MLflow's own client, hot swap under load, canary, shadow,
the inference log and feedback, and every refusal."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import requests

from serving.app import Settings
from tasks.adapters import inference_log, registry, tracking
from tasks.config import ServeParams, load_params
from tasks.steps.generate import Drift, generate_sessions
from tasks.steps.ingest import ingest_table
from tasks.steps.split import split_frame
from tasks.steps.train import fit_pipeline
from tests.support import REPO, WebhookReceiver, running

pytestmark = pytest.mark.integration


def register(name: str, model: Any, example: pd.DataFrame, root: Path, outputs: Any = None) -> str:
    """Log ``model`` with a signature and register it, as the register stage does (the
    signature's outputs are the model's answers to ``example``, unless given)."""
    import mlflow
    from mlflow.models import infer_signature

    experiment = tracking.ensure_experiment(name, root)
    with mlflow.start_run(experiment_id=experiment):
        mlflow.log_params({"evaluate.threshold": 0.5})
        mlflow.set_tags({"task": "binary", "data.dvc_md5": "d" * 32})
        info = mlflow.sklearn.log_model(
            sk_model=model,
            name="model",
            signature=infer_signature(
                example, model.predict(example) if outputs is None else outputs
            ),
            input_example=example,
            registered_model_name=name,
            skops_trusted_types=list(tracking.TRUSTED_TYPES),
            pip_requirements=tracking.pip_requirements(),
        )
    version = str(info.registered_model_version)
    registry.seal_version(name, version)  # the register stage records the model file's sha256
    return version


@dataclass(frozen=True)
class Store:
    """An MLflow store with two versions of one model: v1 (weak) and v2 (strong)."""

    uri: str
    folder: Path
    rows: pd.DataFrame  # feature rows to send
    models: dict[str, Any]  # version -> the fitted Pipeline in this process, before logging

    def expected(self, name: str, version: str, rows: pd.DataFrame) -> list[list[float]]:
        """What ``version`` must answer for ``rows``: the fitted pipeline's own predict_proba
        on the rows sent (not the registry's copy, nor the endpoint's scoring code). Every
        test model name copies the store's versions 1 and 2 in that order."""
        assert version in self.models, (name, version)
        proba = self.models[version].predict_proba(rows)
        return [list(map(float, p)) for p in proba]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("serving-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        tracking.configure(folder)
        params = load_params(REPO / "params.yaml")
        frame, schema, _ = ingest_table(generate_sessions(2000, 5, Drift()), params.ingest)
        train, _, test = split_frame(frame, schema, params.split)
        features = list(schema.features)
        hgb = "models.hist_gradient_boosting.fixed"
        models = [
            fit_pipeline(train, schema, chosen.features, chosen.models, chosen.train).model
            for chosen in (
                load_params(REPO / "params.yaml", [f"{hgb}.max_iter=3", f"{hgb}.max_leaf_nodes=3"]),
                load_params(REPO / "params.yaml", [f"{hgb}.max_iter=30"]),
            )
        ]
        example = train[features].head(5)
        name = "shop"
        assert [register(name, m, example, folder) for m in models] == ["1", "2"]
        rows = test[features].head(40).reset_index(drop=True)
        yield Store(uri, folder, rows, {"1": models[0], "2": models[1]})


@pytest.fixture
def name(store: Store, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh registered model (its own aliases) copying the store's two versions."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    tracking.configure(store.folder)
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    fresh = f"shop-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(fresh)
    for version in ("1", "2"):
        source = client.get_model_version("shop", version)
        copy = client.create_model_version(fresh, source.source, run_id=source.run_id)
        # the same model file: the checksum the register stage recorded on the original
        client.set_model_version_tag(
            fresh, copy.version, registry.MODEL_SHA256_TAG, source.tags[registry.MODEL_SHA256_TAG]
        )
    registry.move_alias(fresh, registry.CHAMPION, "1")
    registry.move_alias(fresh, registry.CHALLENGER, "2")
    return fresh


def serve_params(*overrides: str) -> ServeParams:
    return load_params(REPO / "params.yaml", ["serve.poll_seconds=0.2", *overrides]).serve


TOKEN = "serving-token-for-tests-0123456789abcdef"  # 32+ characters, as the service requires


def settings_for(
    name: str, tmp_path: Path, serve: ServeParams, token: str | None = None, webhook: str = ""
) -> Settings:
    return Settings(
        model_name=name,
        serve=serve,
        log_path=tmp_path / "logs" / "inference.db",
        feedback_dir=tmp_path / "feedback",
        token=token,
        runbook_url="https://runbook.example/runbook.md",
        notify={"url": webhook, "timeout": 5.0, "attempts": 1, "backoff": 0.0} if webhook else {},
    )


def records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if v != v else v) for k, v in row.items()}
        for row in rows.to_dict(orient="records")
    ]


def invoke(url: str, payload: Any, **kwargs: Any) -> requests.Response:
    return requests.post(f"{url}/invocations", data=orjson.dumps(payload),
                         headers={"Content-Type": "application/json", **kwargs.pop("headers", {})},
                         timeout=30, **kwargs)  # fmt: skip


def test_every_format_and_mlflows_own_client_get_the_champions_answer(
    store: Store, name: str, tmp_path: Path
) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    rows = store.rows.head(7)
    labels = [int(p[1] >= 0.5) for p in store.expected(name, "1", rows)]
    split = orjson.loads(rows.to_json(orient="split"))
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": split["columns"],
                                                "data": split["data"]}},
        "dataframe_records": {"dataframe_records": records(rows)},
        "instances": {"instances": records(rows)},
        "inputs": {"inputs": {c: split["data"] and [r[i] for r in split["data"]]
                              for i, c in enumerate(split["columns"])}},
    }  # fmt: skip
    with running(settings_for(name, tmp_path, serve_params())) as (url, _):
        answers = {key: invoke(url, body) for key, body in bodies.items()}
        csv = requests.post(f"{url}/invocations", data=rows.to_csv(index=False),
                            headers={"Content-Type": "text/csv"}, timeout=30)  # fmt: skip
        host, port = url.removeprefix("http://").split(":")
        client = ScoringServerClient(host, int(port))
        client.wait_server_ready(timeout=10)
        through_mlflow = client.invoke(rows).get_predictions(predictions_format="ndarray")
        ping, health, version = (requests.get(f"{url}/{p}", timeout=10) for p in ("ping", "health", "version"))  # fmt: skip # noqa: E501

    for key, answer in {**answers, "csv": csv}.items():
        assert answer.status_code == 200, (key, answer.text)
        assert answer.json() == {"predictions": labels}, key
        assert answer.headers["X-Model-Version"] == "1"
        assert answer.headers["X-Model-Name"] == name
        assert answer.headers["X-Model-Role"] == "champion"
    assert through_mlflow.tolist() == labels
    assert (ping.status_code, ping.text) == (200, "\n")
    assert health.json()["status"] == "ok" and health.json()["version"] == "1"
    assert version.json()["model"] == name and version.json()["version"] == "1"


def test_probabilities_metadata_and_the_inference_log(
    store: Store, name: str, tmp_path: Path
) -> None:
    rows = store.rows.head(3)
    settings = settings_for(name, tmp_path, serve_params())
    with running(settings) as (url, app):
        answer = invoke(url, {"dataframe_records": records(rows),
                              "params": {"probabilities": True}},
                        headers={"X-Request-ID": "req-42"})  # fmt: skip
        metadata = requests.get(f"{url}/metadata", timeout=10).json()
        app.service.log.flush()
        feedback = requests.post(f"{url}/feedback", timeout=10,
                                 json={"labels": [{"request_id": "req-42", "row": 2, "label": 1}]})  # fmt: skip # noqa: E501
        bad_feedback = requests.post(f"{url}/feedback", json=[{"label": 1}], timeout=10)

    body = answer.json()
    assert body["probabilities"] == store.expected(name, "1", rows)
    assert body["classes"] == [0, 1]
    assert answer.headers["X-Request-ID"] == "req-42"
    assert metadata["model"] == name and metadata["version"] == "1"
    assert metadata["alias"] == "champion" and metadata["data_version"] == "d" * 32
    assert metadata["task"] == "binary" and metadata["threshold"] == 0.5
    assert [c["name"] for c in metadata["signature"]["inputs"]] == list(rows.columns)
    assert feedback.json() == {"accepted": 1, "unchanged": 0}
    assert (bad_feedback.status_code, bad_feedback.json()["message"]) == (
        400,
        "label 0: each label needs 'request_id' and 'label' (and 'row')",
    )
    log = inference_log.read_log(settings.log_path)
    assert log["_request_id"].tolist() == ["req-42"] * 3
    assert log["_model_version"].tolist() == ["1"] * 3
    assert log["_prediction"].tolist() == body["predictions"]
    assert log["_label"].tolist() == [None, None, 1]
    assert log["customer_age"].tolist()[:1] == rows["customer_age"].tolist()[:1]
    # every logged feature value of every row; a gap is JSON null in the log, NaN in the rows
    logged = log[list(rows.columns)].reset_index(drop=True)
    logged = logged.where(logged.notna(), np.nan)
    pd.testing.assert_frame_equal(logged, rows.reset_index(drop=True), check_dtype=False)
    assert (log["_latency_ms"] > 0).all()


def test_the_open_inference_protocol_answers_what_the_pipeline_and_invocations_answer(
    store: Store, name: str, tmp_path: Path
) -> None:
    rows = store.rows.head(7)
    sent = records(rows)
    settings = settings_for(name, tmp_path, serve_params(), token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with running(settings) as (url, app):
        ready = requests.get(f"{url}/v2/health/ready", timeout=10)  # open, as probes need
        server = requests.get(f"{url}/v2", headers=auth, timeout=10).json()
        metadata = requests.get(f"{url}/v2/models/{name}", headers=auth, timeout=10).json()
        # the request MLServer's pandas codec makes: one [n, 1] tensor per column, its
        # datatype from the model metadata; no Content-Type, as Triton's HTTP client sends it
        body = {
            "id": "v2-it",
            "parameters": {"content_type": "pd"},
            "inputs": [
                {"name": t["name"], "shape": [len(sent), 1], "datatype": t["datatype"],
                 "data": [row[t["name"]] for row in sent]}
                for t in metadata["inputs"]
            ],
        }  # fmt: skip
        v2 = requests.post(f"{url}/v2/models/{name}/infer", data=orjson.dumps(body),
                           headers=auth, timeout=30)  # fmt: skip
        classic = invoke(url, {"dataframe_records": sent, "params": {"probabilities": True}},
                         headers=auth)  # fmt: skip
        app.service.log.flush()

    expected = store.expected(name, "1", rows)
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert server["name"] == "mlops" and server["extensions"] == []
    assert [t["name"] for t in metadata["inputs"]] == list(rows.columns)
    assert metadata["versions"] == ["1"] and metadata["platform"] == "sklearn_skops"
    assert v2.status_code == 200, v2.text
    assert v2.headers["X-Model-Version"] == "1" and v2.headers["X-Request-ID"] == "v2-it"
    assert v2.json() == {
        "model_name": name,
        "model_version": "1",
        "id": "v2-it",
        "outputs": [
            {"name": "predict", "shape": [7], "datatype": "INT64",
             "data": [int(p[1] >= 0.5) for p in expected]},
            {"name": "predict_proba", "shape": [7, 2], "datatype": "FP64",
             "data": [chance for row in expected for chance in row]},
        ],
    }  # fmt: skip
    assert classic.json()["predictions"] == v2.json()["outputs"][0]["data"]
    assert classic.json()["probabilities"] == expected
    log = inference_log.read_log(settings.log_path)
    assert log["_request_id"].tolist() == ["v2-it"] * 7 + [classic.headers["X-Request-ID"]] * 7
    assert log["_prediction"].tolist()[:7] == log["_prediction"].tolist()[7:]


class Slow:
    """The champion's Pipeline, answering only after ``seconds`` (an answer past the timeout)."""

    def __init__(self, model: Any, seconds: float) -> None:
        self.model = model
        self.seconds = seconds

    def predict_proba(self, frame: Any) -> Any:
        time.sleep(self.seconds)
        return self.model.predict_proba(frame)


def test_refusals_name_the_problem(store: Store, name: str, tmp_path: Path) -> None:
    rows = records(store.rows.head(2))
    broken = [{**rows[0], "cart_adds": "lots"}, rows[1]]
    serve = serve_params("serve.max_body_bytes=2048", "serve.max_rows=5")
    with running(settings_for(name, tmp_path, serve, token=TOKEN)) as (url, _):
        auth = {"Authorization": f"Bearer {TOKEN}"}
        no_token = invoke(url, {"dataframe_records": rows})
        wrong_token = invoke(
            url, {"dataframe_records": rows}, headers={"Authorization": "Bearer x"}
        )
        ok = invoke(url, {"dataframe_records": rows}, headers=auth)
        bad = invoke(url, {"dataframe_records": broken}, headers=auth)
        big = invoke(url, {"dataframe_records": rows * 20}, headers=auth)
        many = invoke(url, {"dataframe_records": rows[:1] * 6}, headers=auth)
        wrong_type = requests.post(f"{url}/invocations", data="x", timeout=10,
                                   headers={"Content-Type": "text/plain", **auth})  # fmt: skip
        long_id = invoke(url, {"dataframe_records": rows},
                         headers={**auth, "X-Request-ID": "x" * 129})  # fmt: skip
        metrics_without = requests.get(f"{url}/metrics", timeout=10)
        ping = requests.get(f"{url}/ping", timeout=10)
        health_without = requests.get(f"{url}/health", timeout=10)
        health_with = requests.get(f"{url}/health", headers=auth, timeout=10)
    with running(
        settings_for(name, tmp_path, serve.model_copy(update={"timeout_seconds": 0.5}))
    ) as (url, app):
        # the body arrives in milliseconds (under 0.5 s: no 408); the model then takes 2 s
        scorer = app.service.scorers[registry.CHAMPION]
        assert scorer.served is not None
        scorer.install(dataclasses.replace(scorer.served, model=Slow(scorer.served.model, 2.0)))
        slow = invoke(url, {"dataframe_records": rows})

    assert no_token.status_code == wrong_token.status_code == metrics_without.status_code == 401
    assert no_token.json()["message"] == (
        "missing or wrong bearer token (Authorization: Bearer <SERVING_TOKEN>)"
    )
    assert no_token.headers["WWW-Authenticate"] == "Bearer"
    # without the token, /health says only whether a model answers: no versions, no errors
    assert (health_without.status_code, health_without.json()) == (200, {"status": "ok"})
    assert health_with.json()["version"] == "1" and health_with.json()["refused"] == {}
    assert ok.status_code == 200 and ping.status_code == 200
    assert (bad.status_code, bad.json()["message"]) == (
        400,
        "column 'cart_adds' expects a number (double); 1 value(s) are not, e.g. ['lots'] at "
        "rows [0]",
    )
    assert big.status_code == 413
    assert big.json()["message"].endswith("bytes; the limit is 2048 (serve.max_body_bytes)")
    assert (many.status_code, many.json()["message"]) == (
        413,
        "the request has 6 rows; the limit is 5 (serve.max_rows)",
    )
    assert wrong_type.status_code == 415
    # an X-Request-ID that is not [A-Za-z0-9._:-]{1,128} is replaced by one of ours
    assert long_id.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", long_id.headers["X-Request-ID"])
    assert (slow.status_code, slow.json()["message"]) == (
        504,
        "not answered within 0.5 s (serve.timeout_seconds)",
    )


def test_the_swap_under_load_fails_no_request(store: Store, name: str, tmp_path: Path) -> None:
    """8 clients send requests while the champion moves from 1 to 2: every answer is 200, each
    client sees version 1 and then only version 2, and each answer is that version's own."""
    rows = store.rows.head(1)
    expected = {v: store.expected(name, v, rows) for v in ("1", "2")}
    assert expected["1"] != expected["2"]
    payload = {"dataframe_records": records(rows), "params": {"probabilities": True}}
    seen: dict[int, list[tuple[int, str, Any]]] = {i: [] for i in range(8)}
    stop = threading.Event()

    def client(index: int, url: str) -> None:
        session = requests.Session()
        while not stop.is_set():
            answer = session.post(f"{url}/invocations", data=orjson.dumps(payload), timeout=30,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
            body = answer.json() if answer.status_code == 200 else None
            seen[index].append((answer.status_code, answer.headers.get("X-Model-Version", ""),
                                body and body["probabilities"]))  # fmt: skip

    def wait_until(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, what
            assert all(t.is_alive() for t in threads), "a client stopped"
            time.sleep(0.05)

    with running(settings_for(name, tmp_path, serve_params())) as (url, app):
        threads = [threading.Thread(target=client, args=(i, url)) for i in range(8)]
        for thread in threads:
            thread.start()
        try:
            # every client has its answers from version 1 before the alias moves (4 each, and 4
            # from version 2 after: at least 64 answers in all) ...
            wait_until(lambda: all(len(seen[i]) >= 4 for i in seen), "no answers before the swap")
            registry.move_alias(name, registry.CHAMPION, "2")
            wait_until(
                lambda: app.service.scorers["champion"].served.version == "2",  # type: ignore[union-attr]
                "the endpoint never swapped",
            )
            # ... and answers from version 2 after it
            wait_until(
                lambda: all(sum(a[1] == "2" for a in seen[i]) >= 4 for i in seen),
                "a client got no answer from version 2",
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)

    answers = [a for per_client in seen.values() for a in per_client]
    assert len(answers) > 50
    assert [a for a in answers if a[0] != 200] == []
    for per_client in seen.values():
        versions = [v for _, v, _ in per_client]
        switch = versions.index("2")
        assert set(versions[:switch]) == {"1"} and set(versions[switch:]) == {"2"}
    assert all(probabilities == expected[version] for _, version, probabilities in answers)


def test_canary_sends_its_share_to_the_challenger_sticky_per_request_id(
    store: Store, name: str, tmp_path: Path
) -> None:
    payload = {"dataframe_records": records(store.rows.head(1))}
    settings = settings_for(name, tmp_path, serve_params("serve.canary_fraction=0.2"))
    local = threading.local()

    def version_for(url: str, request_id: str) -> str:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        answer = local.session.post(f"{url}/invocations", data=orjson.dumps(payload), timeout=30,
                                    headers={"Content-Type": "application/json",
                                             "X-Request-ID": request_id})  # fmt: skip
        assert answer.status_code == 200
        return str(answer.headers["X-Model-Version"])

    with running(settings) as (url, _), ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(lambda i: version_for(url, f"user-{i}"), range(2000)))
        again = list(pool.map(lambda i: version_for(url, f"user-{i}"), range(100)))

    share = versions.count("2") / len(versions)
    assert 0.17 <= share <= 0.23, share  # 0.2 +- 3 standard deviations of 2,000 draws
    assert again == versions[:100]  # the same id goes to the same model


def test_shadow_scores_with_the_challenger_and_answers_with_the_champion(
    store: Store, name: str, tmp_path: Path
) -> None:
    rows = store.rows.head(2)
    settings = settings_for(name, tmp_path, serve_params("serve.shadow=true"))
    with running(settings) as (url, app):
        answers = [invoke(url, {"dataframe_records": records(rows)},
                          headers={"X-Request-ID": f"s-{i}"}) for i in range(20)]  # fmt: skip
        deadline = time.monotonic() + 30
        while app.service.log.written < 80 and time.monotonic() < deadline:
            app.service.log.flush()
            time.sleep(0.05)

    assert {a.headers["X-Model-Version"] for a in answers} == {"1"}
    log = inference_log.read_log(settings.log_path, answered_only=False)
    by_role = log.groupby(["_role", "_model_version", "_answered"]).size().to_dict()
    assert by_role == {("challenger", "2", False): 40, ("champion", "1", True): 40}
    shadow = log[log["_role"] == "challenger"].sort_values(["_request_id", "_row"])
    assert sorted(set(shadow["_request_id"])) == sorted(f"s-{i}" for i in range(20))
    expected_v2 = [int(p[1] >= 0.5) for p in store.expected(name, "2", rows)]
    assert shadow["_prediction"].tolist()[:2] == expected_v2


def test_metrics_count_requests_rows_and_the_version(
    store: Store, name: str, tmp_path: Path
) -> None:
    payload = {"dataframe_records": records(store.rows.head(4))}
    with running(settings_for(name, tmp_path, serve_params())) as (url, _):
        for _ in range(3):
            invoke(url, payload)
        invoke(url, {"dataframe_records": [{"x": 1}]})
        text = requests.get(f"{url}/metrics", timeout=10).text

    lines = set(text.splitlines())
    assert 'mlops_requests_total{path="/invocations",status="200"} 3.0' in lines
    assert 'mlops_requests_total{path="/invocations",status="400"} 1.0' in lines
    assert 'mlops_predictions_total{role="champion",version="1"} 12.0' in lines
    assert f'mlops_model_version{{model="{name}",role="champion"}} 1.0' in lines
    assert 'mlops_request_seconds_count{path="/invocations"} 4.0' in lines


def test_no_champion_yet_then_one_appears(store: Store, name: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().delete_registered_model_alias(name, registry.CHAMPION)
    payload = {"dataframe_records": records(store.rows.head(1))}
    with running(settings_for(name, tmp_path, serve_params())) as (url, app):
        before = (requests.get(f"{url}/ping", timeout=10), invoke(url, payload))
        registry.move_alias(name, registry.CHAMPION, "2")
        deadline = time.monotonic() + 60
        while app.service.scorers["champion"].served is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        after = invoke(url, payload)

    assert before[0].status_code == 503
    assert (before[1].status_code, before[1].json()["message"]) == (
        503,
        f"no version of '{name}' is 'champion' yet",
    )
    assert (after.status_code, after.headers["X-Model-Version"]) == (200, "2")


def test_a_model_file_changed_after_registration_is_refused_and_the_champion_answers(
    store: Store, name: str, tmp_path: Path
) -> None:
    """Version 3 is registered and sealed like any other, then its model file in the artifact
    store is replaced by another model's: the endpoint refuses it by its checksum and version
    1 keeps answering (the file is never loaded)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    version = register(name, store.models["1"], store.rows.head(5), store.folder)
    client = MlflowClient()
    folder = Path(client.get_model_version_download_uri(name, version).removeprefix("file://"))
    other = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/2", dst_path=str(tmp_path)))
    (folder / "model.skops").write_bytes((other / "model.skops").read_bytes())
    payload = {"dataframe_records": records(store.rows.head(1))}
    with running(settings_for(name, tmp_path, serve_params())) as (url, app):
        registry.move_alias(name, registry.CHAMPION, version)
        deadline = time.monotonic() + 60
        while app.service.follower.last_error is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = invoke(url, payload)
        health = requests.get(f"{url}/health", timeout=10).json()

    assert (answer.status_code, answer.headers["X-Model-Version"]) == (200, "1")
    assert health["version"] == "1"
    reason = (
        f"{name} v{version}: its model file changed after registration (sha256 "
        f"{registry.file_sha256(folder / 'model.skops')[:12]}..., recorded "
        f"{client.get_model_version(name, version).tags[registry.MODEL_SHA256_TAG][:12]}...): "
        "it is not loaded"
    )
    assert health["last_error"] == f"{name} v{version} refused: {reason}"
    assert health["refused"] == {version: reason}


def test_a_version_that_cannot_load_leaves_the_old_one_answering(
    store: Store, name: str, tmp_path: Path
) -> None:
    """Version 3 has no signature: the endpoint refuses to load it and keeps version 1."""
    import mlflow

    from tests.integration.test_serving import register as _  # noqa: F401  (same module)

    experiment = tracking.ensure_experiment(name, store.folder)
    with mlflow.start_run(experiment_id=experiment):
        model = registry.load_version(name, "1")
        mlflow.sklearn.log_model(sk_model=model, name="model", registered_model_name=name,
                                 skops_trusted_types=list(tracking.TRUSTED_TYPES),
                                 pip_requirements=tracking.pip_requirements())  # fmt: skip
    payload = {"dataframe_records": records(store.rows.head(1))}
    with running(settings_for(name, tmp_path, serve_params())) as (url, app):
        registry.move_alias(name, registry.CHAMPION, "3")
        deadline = time.monotonic() + 60
        while app.service.follower.last_error is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = invoke(url, payload)
        health = requests.get(f"{url}/health", timeout=10).json()
        text = requests.get(f"{url}/metrics", timeout=10).text

    assert (answer.status_code, answer.headers["X-Model-Version"]) == (200, "1")
    assert health["version"] == "1"
    assert health["last_error"] == (
        f"{name} v3 refused: model '{name}' version 3 was logged without a signature; the "
        "endpoint needs one to check requests (retrain it with `mlops train`)"
    )
    # refused once: not loaded again at every poll (every 0.2 s), so counted once
    assert 'mlops_errors_total{kind="model_load"} 1.0' in text


def test_a_version_that_cannot_score_its_own_example_is_never_swapped_in(
    store: Store, name: str, tmp_path: Path
) -> None:
    """Version 3 loads (sealed, skops, reviewed types) but its signature and example name a
    column its Pipeline does not know: scoring its own example raises, so it never answers;
    version 1 does, and the on-call engineer gets one alert naming why."""
    rows = store.rows.head(3)
    first = str(rows.columns[0])
    renamed = rows.rename(columns={first: "not_a_feature"})
    version = register(name, store.models["1"], renamed, store.folder, outputs=[0, 1, 0])
    receiver = WebhookReceiver()
    payload = {"dataframe_records": records(rows)}
    try:
        settings = settings_for(name, tmp_path, serve_params(), webhook=receiver.url)
        with running(settings) as (url, _):
            registry.move_alias(name, registry.CHAMPION, version)
            deadline = time.monotonic() + 60
            while not receiver.received:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(1.0)  # five more polls: none tries version 3 again
            answer = invoke(url, payload)
            health = requests.get(f"{url}/health", timeout=10).json()
            text = requests.get(f"{url}/metrics", timeout=10).text
    finally:
        receiver.close()

    assert (answer.status_code, answer.headers["X-Model-Version"]) == (200, "1")
    reason = health["refused"][version]
    assert reason.startswith(f"{name} v{version} cannot score its own input example (ValueError: ")
    assert f"'{first}'" in reason
    assert 'mlops_errors_total{kind="model_load"} 1.0' in text
    assert receiver.texts() == [
        f":no_entry: The endpoint refused {name} v{version} (champion): version 1 keeps answering"
    ]


def test_loading_a_version_leaves_no_download_behind(
    store: Store, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each swap downloads the version; the download is removed once the model is loaded
    (it used to stay in the temporary folder, one folder per swap)."""
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    served = [registry.load_served(name, version) for version in ("1", "2", "1")]

    assert [s.version for s in served] == ["1", "2", "1"]
    assert sorted(served[0].example.columns) == sorted(store.rows.columns)
    assert list(scratch.iterdir()) == []
