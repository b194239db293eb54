"""Labels and the inference log over real HTTP (issue 22, findings #3, #5, #13 and the
disk-full fault): labels are checked against the champion's classes and the rows it answered,
the first label wins, labels may need their own token; the log's writer survives any row and
a full disk, and /health says what it lost."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import orjson
import pytest
import requests

from tasks.adapters import inference_log
from tests.integration import test_serving
from tests.integration.test_serving import Store, invoke, records, serve_params, settings_for
from tests.support import running

store = test_serving.store  # the fixtures: a registered model with two versions, a fresh name
name = test_serving.name

pytestmark = pytest.mark.integration

SCORING = "test-token-0123456789abcdef0123456789"
LABELLING = "label-token-0123456789abcdef0123456789"


def post(url: str, body: object, token: str | None = None, **headers: str) -> requests.Response:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{url}/feedback",
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", **auth, **headers},
        timeout=30,
    )


def test_labels_are_checked_and_need_their_own_token_when_one_is_set(
    store: Store, name: str, tmp_path: Path
) -> None:
    """Before (#5): any holder of the scoring token stored any JSON value as the label of any
    request id, of any Content-Type, and a later label replaced an earlier one."""
    rows = records(store.rows.head(2))
    settings = settings_for(name, tmp_path, serve_params("serve.feedback_max_labels=3"), SCORING)
    settings.feedback_token = LABELLING
    with running(settings) as (url, _):
        scored = invoke(url, {"dataframe_records": rows},
                        headers={"Authorization": f"Bearer {SCORING}", "X-Request-ID": "req-7"})  # fmt: skip # noqa: E501
        label = {"request_id": "req-7", "row": 1, "label": 1}
        with_scoring_token = post(url, [label], SCORING)
        as_text = requests.post(f"{url}/feedback", data=orjson.dumps([label]), timeout=30,
                                headers={"Content-Type": "text/plain",
                                         "Authorization": f"Bearer {LABELLING}"})  # fmt: skip
        no_class = post(url, [{**label, "label": "x"}, {**label, "label": {"a": 1}}], LABELLING)
        unknown = post(url, [{"request_id": "never-issued", "label": 1}], LABELLING)
        too_many = post(url, [label] * 4, LABELLING)
        first = post(url, [label, {**label, "row": 0, "label": "0"}], LABELLING)
        again = post(url, [label], LABELLING)
        other = post(url, [{**label, "label": 0}], LABELLING)
        health = requests.get(  # the details need the token (without it: the status only)
            f"{url}/health", headers={"Authorization": f"Bearer {SCORING}"}, timeout=10
        ).json()

    assert scored.status_code == 200
    assert (with_scoring_token.status_code, with_scoring_token.json()["message"]) == (
        401,
        "missing or wrong bearer token (Authorization: Bearer <SERVING_FEEDBACK_TOKEN>)",
    )
    assert (as_text.status_code, as_text.json()["message"]) == (
        415,
        "labels are sent as application/json, not 'text/plain'",
    )
    assert (no_class.status_code, no_class.json()["message"]) == (
        400,
        f"2 label(s) refused: label 0 (request_id 'req-7' row 1): \"x\" is not a class of "
        f"{name} v1 (classes: [0, 1]); label 1 (request_id 'req-7' row 1): {{\"a\": 1}} is "
        f"not a class of {name} v1 (classes: [0, 1])",
    )
    assert (unknown.status_code, unknown.json()["message"]) == (
        409,
        "1 label(s) for rows never answered: label 0: request_id 'never-issued' row 0 is not "
        "in the inference log",
    )
    assert (too_many.status_code, too_many.json()["message"]) == (
        413,
        "4 labels in one call; the limit is 3 (serve.feedback_max_labels)",
    )
    assert first.json() == {"accepted": 2, "unchanged": 0}
    assert again.json() == {"accepted": 0, "unchanged": 1}
    assert (other.status_code, other.json()["message"]) == (
        409,
        "1 label(s) conflicting with an earlier label: label 0: request_id 'req-7' row 1 "
        "already has the label 1, not 0",
    )
    assert health["feedback_refused"] == {"invalid": 2, "unknown": 1, "conflict": 1}
    log = inference_log.read_log(settings.log_path)
    assert log["_label"].tolist() == [0, 1]
    connection = inference_log.connect(settings.log_path)
    sources = connection.execute("SELECT DISTINCT source FROM feedback").fetchall()
    connection.close()
    assert sources == [("http:feedback-token",)]


def test_a_huge_integer_no_longer_stops_the_log(store: Store, name: str, tmp_path: Path) -> None:
    """Before (#3): after one request with an integer beyond 2**64 and a NaN (which sent the body
    through the stdlib parser, keeping the integer a Python int), the writer thread died and
    five normal requests added no rows to the log. Now the parser makes number columns floats
    (the writer's own survival of a row it cannot store is tests/unit/test_inference_log.py's)."""
    import json

    rows = records(store.rows.head(1))
    huge = {**rows[0], "cart_adds": 2**70, "customer_age": float("nan")}
    settings = settings_for(name, tmp_path, serve_params())
    with running(settings) as (url, app):
        bad = requests.post(f"{url}/invocations", data=json.dumps({"dataframe_records": [huge]}),
                            headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
        app.service.log.flush()
        normal = [invoke(url, {"dataframe_records": rows}) for _ in range(5)]
        app.service.log.flush()
        health = requests.get(f"{url}/health", timeout=10).json()

    log = inference_log.read_log(settings.log_path)
    assert bad.status_code == 200 and [r.status_code for r in normal] == [200] * 5
    assert len(log) == 6
    assert log["cart_adds"].tolist() == [float(2**70)] + [float(rows[0]["cart_adds"])] * 5
    status = health["inference_log"]
    assert (status["alive"], status["written"], status["failed"]) == (True, 6, 0)


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")


def test_the_log_s_disk_full_loses_rows_counted_and_the_endpoint_answers(
    store: Store, name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The fault: the inference log on a real file system that fills up (a 1 MiB tmpfs). The
    endpoint keeps answering every request; /health and the log count the rows lost ("disk
    full", SQLite's SQLITE_FULL from ENOSPC); once space is freed, rows are written again."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "1m")
    try:
        settings = settings_for(name, tmp_path, serve_params("serve.log_flush_seconds=0.05"))
        settings.log_path = disk / "inference.db"
        rows = records(store.rows.head(40))
        with running(settings) as (url, app):
            app.service.log.flush()
            filler = disk / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # all the space left, as a tenant
            try:
                while os.write(fd, b"\0" * 4096):
                    pass
            except OSError as error:
                assert error.errno == errno.ENOSPC
            finally:
                os.close(fd)
            answers = [invoke(url, {"dataframe_records": rows}) for _ in range(30)]
            app.service.log.flush()
            full = requests.get(f"{url}/health", timeout=10).json()["inference_log"]
            filler.unlink()
            after = invoke(url, {"dataframe_records": rows})
            app.service.log.flush()
            freed = requests.get(f"{url}/health", timeout=10).json()["inference_log"]
        logged = len(inference_log.read_log(settings.log_path))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)

    assert [a.status_code for a in [*answers, after]] == [200] * 31
    assert full["alive"] is True
    assert full["failed_by_reason"].get("disk full", 0) > 0
    assert full["written"] + full["failed"] == 30 * 40
    assert freed["written"] == full["written"] + 40  # written again once there is room
    assert logged == freed["written"]
    assert any("not written: disk full" in r.getMessage() for r in caplog.records)
    assert os.path.exists(disk)
