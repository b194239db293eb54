"""The endpoint's secure defaults (token length, bind, /health) and its refusal of versions
that load but cannot answer, with real scikit-learn models and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from serving.app import InsecureSetting, check_bind, checked_token, is_loopback
from serving.engine import Follower, Scorer
from tasks.adapters.registry import ModelRefused
from tasks.steps.notify import model_refused
from tasks.steps.predict import UnfitModel, try_example
from tasks.types import CHAMPION, Column, ServedModel
from tests.support import REPO

GOOD_TOKEN = "a-token-of-thirty-two-characters"


def frame(rows: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows, dtype=float), "y": np.arange(rows, dtype=float) % 2})


def classifier(version: str, example: pd.DataFrame | None, classes: tuple = (0, 1)) -> ServedModel:
    data = frame(20)
    model = LogisticRegression().fit(data[["x", "y"]], (data["x"] > 9).astype(int))
    columns = (Column("x", "double", True), Column("y", "double", True))
    return ServedModel("m", version, model, columns, classes, "binary", 0.5, "run", "md5", {},
                       example=example)  # fmt: skip


def test_a_token_needs_32_characters() -> None:
    assert checked_token(GOOD_TOKEN) == GOOD_TOKEN
    assert checked_token(None) is None
    with pytest.raises(InsecureSetting) as error:
        checked_token("s3cret")
    assert str(error.value) == (
        "SERVING_TOKEN has 6 characters; a token needs at least 32 (make one: python -c "
        "'import secrets; print(secrets.token_urlsafe(32))')"
    )


def test_a_bind_beyond_loopback_needs_a_token_or_insecure() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost")] == [
        True
    ] * 5
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.org")] == [False] * 4
    check_bind("127.0.0.1", None, insecure=False)
    check_bind("0.0.0.0", GOOD_TOKEN, insecure=False)
    check_bind("0.0.0.0", None, insecure=True)
    with pytest.raises(InsecureSetting) as error:
        check_bind("0.0.0.0", None, insecure=False)
    assert str(error.value) == (
        "--host 0.0.0.0 is reachable from other machines and SERVING_TOKEN is unset: anyone "
        "could score, read /metadata and send labels. Set SERVING_TOKEN (32+ characters), or "
        "pass --insecure to serve without one"
    )


def serve(*args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SERVING_TOKEN"}
    if token is not None:
        env["SERVING_TOKEN"] = token
    mlops = str(Path(sys.executable).parent / "mlops")
    return subprocess.run([mlops, "serve", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_mlops_serve_refuses_an_open_bind_and_a_short_token() -> None:
    open_bind = serve("--host", "0.0.0.0", token=None)
    short = serve(token="t0ken-for-tests")

    assert open_bind.returncode == 1
    assert " ".join(open_bind.stderr.split()) == (
        "error: --host 0.0.0.0 is reachable from other machines and SERVING_TOKEN is unset: "
        "anyone could score, read /metadata and send labels. Set SERVING_TOKEN (32+ "
        "characters), or pass --insecure to serve without one"
    )
    assert short.returncode == 1
    assert " ".join(short.stderr.split()) == (
        "error: SERVING_TOKEN has 15 characters; a token needs at least 32 (make one: python "
        "-c 'import secrets; print(secrets.token_urlsafe(32))')"
    )


def test_a_version_is_tried_on_its_own_example() -> None:
    good = classifier("1", frame(3))
    assert try_example(good) == 3
    regression = ServedModel(
        "m", "2", LinearRegression().fit(frame()[["x", "y"]], frame()["x"]),
        (Column("x", "double", True), Column("y", "double", True)), (), "regression", 0.5,
        "run", "md5", {}, example=frame(2),
    )  # fmt: skip
    assert try_example(regression) == 2

    cases = {
        "no example": classifier("3", None),
        "a column it does not know": classifier("4", frame(3).rename(columns={"y": "z"})),
        "classes it does not have": classifier("5", frame(3), classes=(0, 1, 2)),
    }
    messages = {}
    for case, served in cases.items():
        with pytest.raises(UnfitModel) as error:
            try_example(served)
        messages[case] = str(error.value)

    assert messages["no example"] == "m v3 has no input example to try it on"
    assert messages["a column it does not know"] == (
        "m v4 cannot score its own input example (ScoringError: m v4's example: column(s) "
        "['y'] are missing; model 'm' version 4 needs them)"
    )
    assert messages["classes it does not have"] == (
        "m v5 answers its own input example with probabilities of shape (3, 2), not (3, 3)"
    )


def test_a_refused_version_is_alerted_once_and_the_old_one_keeps_answering() -> None:
    aliases = {"champion": "1"}
    loads: list[str] = []
    failures: list[tuple[str, str, str | None]] = []

    def load(name: str, version: str) -> ServedModel:  # as serving.app.load_and_try does
        loads.append(version)
        if version == "2":
            raise ModelRefused("m v2: its model file changed after registration")
        if version == "4":
            raise ConnectionError("the artifact store is down")
        example = frame(3).rename(columns={"y": "z"}) if version == "3" else frame(3)
        served = classifier(version, example)
        try_example(served)
        return served

    scorers = {CHAMPION: Scorer(CHAMPION, 8)}
    watcher = Follower("m", {CHAMPION: "champion"}, scorers, 1.0, load, lambda name: dict(aliases),
                       on_load_failure=lambda *a: failures.append(a))  # fmt: skip
    watcher.poll()
    for version in ("2", "3", "4"):
        aliases["champion"] = version
        watcher.poll()
        watcher.poll()  # refused: not tried again; failed for a passing reason: tried again
    champion = scorers[CHAMPION].served
    scorers[CHAMPION].close()

    assert champion is not None and champion.version == "1"
    assert loads == ["1", "2", "3", "4", "4"]
    assert failures == [
        ("champion", "2", "m v2: its model file changed after registration"),
        ("champion", "3", "m v3 cannot score its own input example (ScoringError: m v3's "
                          "example: column(s) ['y'] are missing; model 'm' version 3 needs them)"),
        ("champion", "4", None),  # may pass: tried, and counted, at every poll
        ("champion", "4", None),
    ]  # fmt: skip
    assert sorted(watcher.refused) == ["2", "3"]
    assert watcher.last_error == (
        "loading m v4 failed: ConnectionError('the artifact store is down')"
    )


def test_the_refusal_alert_says_who_answers_and_what_to_do() -> None:
    message = model_refused(model="shop", version="3", role="champion", reason="m v3: bad",
                            answering="1", runbook_url="https://wiki/runbook")  # fmt: skip
    nobody = model_refused(model="shop", version="3", role="champion", reason="m v3: bad",
                           answering=None, runbook_url="https://wiki/runbook")  # fmt: skip

    assert message["text"] == (
        ":no_entry: The endpoint refused shop v3 (champion): version 1 keeps answering"
    )
    assert nobody["text"] == (
        ":no_entry: The endpoint refused shop v3 (champion): no version answers: the endpoint "
        "returns 503"
    )
    steps = str(message["blocks"][-1])
    assert "mlops rollback --reason 'refused by the endpoint'" in steps
    assert "https://wiki/runbook#a-version-the-endpoint-refused" in steps
