"""On-call notifications: exact message formats, and delivery to a real local HTTP receiver."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tasks.adapters import webhook
from tasks.adapters.webhook import Delivery
from tasks.steps import notify

ROOT = Path(__file__).resolve().parents[2]
SECRET = "T0AAA/B0BBB/s3cr3t-t0ken-xyz"
RUNBOOK_WEB = "https://git.example.com/mlops/blob/main/docs/runbook.md"


# --- a real webhook receiver -----------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A Slack-like incoming webhook on 127.0.0.1: records each POST, answers from a plan."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.plan: list[Reply] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.requests.append(
                    Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                )
                reply = receiver.plan.pop(0) if receiver.plan else Reply()
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.host}/services/{SECRET}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


# --- the messages ----------------------------------------------------------------------------

COLUMNS: list[dict[str, Any]] = [
    {
        "column": "device",
        "method": "jensenshannon",
        "statistic": "distance",
        "value": 0.23124,
        "threshold": 0.1,
        "drifted": True,
    },
    {
        "column": "cart_adds",
        "method": "ks",
        "statistic": "p_value",
        "value": 0.001,
        "threshold": 0.05,
        "drifted": True,
    },
    {
        "column": "session_duration_sec",
        "method": "wasserstein",
        "statistic": "distance",
        "value": 0.0499996,
        "threshold": 0.1,
        "drifted": False,
    },
    {
        "column": "region",
        "method": "chisquare",
        "statistic": "p_value",
        "value": None,
        "threshold": 0.05,
        "drifted": None,
    },
]


def drift(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "model": "customer-purchase",
        "version": "3",
        "report_id": "drift-20261121T2200Z",
        "verdict": "drift",
        "reasons": ["share of drifted columns 0.3077 >= 0.3 (4 of 13)"],
        "top_columns": COLUMNS,
        "quality": "passed (48 checks, 0 failed)",
        "action": "retraining requested (event mlops.drift.detected)",
        "report_link": "reports/monitoring/drift-20261121T2200Z/report.html",
        "window": "2026-11-20T22:00Z to 2026-11-21T22:00Z, 5000 rows",
        "runbook_url": RUNBOOK_WEB,
    }
    values.update(changes)
    return notify.drift_alert(**values)


def texts(message: dict[str, Any]) -> list[str]:
    return [block["text"]["text"] for block in message["blocks"]]


def test_drift_alert_says_what_drifted_by_how_much_and_what_to_do() -> None:
    message = drift()

    assert message["text"] == (
        ":rotating_light: Drift detected on customer-purchase v3 (report drift-20261121T2200Z)"
    )
    assert message["blocks"][0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":rotating_light: Drift detected on customer-purchase v3",
            "emoji": True,
        },
    }
    header, drifted, context, steps = texts(message)
    # mrkdwn: < and > are sent as entities, which Slack shows as < and >
    assert drifted.split("\n") == [
        "*Verdict:* drift: share of drifted columns 0.3077 &gt;= 0.3 (4 of 13)",
        "*Top columns* (a p-value drifts below its threshold, a distance at or above it):",
        "• device (jensenshannon): distance 0.2312 &gt;= 0.1, drifted",
        "• cart_adds (ks): p-value 0.001 &lt; 0.05, drifted",
        "• session_duration_sec (wasserstein): distance 0.05 &lt; 0.1, no drift",
        "• region (chisquare): p-value undetermined (threshold 0.05), undetermined",
    ]
    assert context.split("\n") == [
        "*Data quality checks:* passed (48 checks, 0 failed)",
        "*Action taken:* retraining requested (event mlops.drift.detected)",
        "*Window:* 2026-11-20T22:00Z to 2026-11-21T22:00Z, 5000 rows",
        "*Report:* `reports/monitoring/drift-20261121T2200Z/report.html`",
    ]
    assert steps.split("\n") == [
        f"*What to do* (<{RUNBOOK_WEB}|Runbook: drift alert>)",
        "1. Look: `mlops status`, open the report "
        "(`reports/monitoring/drift-20261121T2200Z/report.html`), `mlops monitor` to check "
        "again now",
        "2. Roll back if the champion is hurting: "
        '`mlops rollback --reason "drift report drift-20261121T2200Z"`',
        "3. Silence while you work (checks still run): "
        '`mlops silence --hours 4 --reason "investigating drift-20261121T2200Z"`',
    ]
    assert header.startswith(":rotating_light:")
    json.dumps(message, allow_nan=False)  # sendable as is


def test_column_lines_compare_the_value_with_the_threshold() -> None:
    line = notify.column_line

    assert line(COLUMNS[0]) == "device (jensenshannon): distance 0.2312 >= 0.1, drifted"
    assert line(COLUMNS[1]) == "cart_adds (ks): p-value 0.001 < 0.05, drifted"
    assert line({**COLUMNS[1], "value": 0.05, "drifted": False}) == (
        "cart_adds (ks): p-value 0.05 >= 0.05, no drift"
    )
    assert (
        line({**COLUMNS[0], "value": 0.1}) == "device (jensenshannon): distance 0.1 >= 0.1, drifted"
    )
    assert line({**COLUMNS[1], "value": 0.000123456}) == (
        "cart_adds (ks): p-value 0.0001235 < 0.05, drifted"
    )
    assert line(COLUMNS[3]) == (
        "region (chisquare): p-value undetermined (threshold 0.05), undetermined"
    )
    assert line({**COLUMNS[0], "value": float("nan"), "drifted": None}) == (
        "device (jensenshannon): distance nan (threshold 0.1), undetermined"
    )


def test_a_web_report_link_and_other_verdicts() -> None:
    link = "http://127.0.0.1:8000/projects/p1/reports/r1?a=1&b=2"
    message = drift(report_link=link, verdict="insufficient_data", version="v3")

    assert message["text"] == (
        ":grey_question: Not enough data to check drift on customer-purchase v3 "
        "(report drift-20261121T2200Z)"
    )
    context, steps = texts(message)[2:]
    assert context.split("\n")[-1] == (
        "*Report:* <http://127.0.0.1:8000/projects/p1/reports/r1?a=1&amp;b=2|drift-20261121T2200Z>"
    )
    assert steps.split("\n")[0] == (
        f"*What to do* (<{RUNBOOK_WEB}#insufficient-data|Runbook: drift alert>)"
    )
    assert drift(verdict="healthy")["text"].startswith(
        ":white_check_mark: No drift on customer-purchase v3"
    )


def test_values_cannot_mention_the_channel_or_form_links() -> None:
    message = drift(
        top_columns=[{**COLUMNS[0], "column": "<!channel> & <http://evil|x>"}],
        reasons=["<!here>"],
    )

    sent = json.dumps(message)
    assert "<!channel>" not in sent and "<!here>" not in sent and "<http://evil" not in sent
    assert texts(message)[1].split("\n")[2] == (
        "• &lt;!channel&gt; &amp; &lt;http://evil|x&gt; (jensenshannon): distance 0.2312 "
        "&gt;= 0.1, drifted"
    )


def test_long_values_are_clipped_to_slack_limits() -> None:
    columns = [{**COLUMNS[0], "column": f"col_{i}_" + "&" * 300} for i in range(200)]
    message = drift(
        model="m" * 400,
        top_columns=columns,
        reasons=["r" * 5000] * 30,
        quality="q" * 5000,
        window="w\n" * 3000,
    )

    header = message["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")
    assert len(message["blocks"]) <= 50
    assert all(len(text) <= 3000 for text in texts(message))
    assert len(message["text"]) <= 3000
    drifted = texts(message)[1].split("\n")
    assert len([row for row in drifted if row.startswith("• col_")]) <= 10
    for text in texts(message):  # no entity cut in half
        assert "&" not in re.sub(r"&(amp|lt|gt);", "", text)
    assert texts(message)[2].split("\n")[2] == "*Window:* " + "w " * 149 + "w…"


def test_monitor_failed_shows_the_clipped_error_and_that_nothing_changed() -> None:
    error = "ValueError: column <device> missing & more\n" + "x" * 2000
    message = notify.monitor_failed(
        model="customer-purchase",
        report_id="drift-20261121T2200Z",
        error=error,
        runbook_url=notify.RUNBOOK,
    )

    assert message["text"] == (
        ":x: Drift monitor failed for customer-purchase (report drift-20261121T2200Z): "
        "no verdict, nothing retrained"
    )
    header, failure, meaning, steps = texts(message)
    assert header == ":x: Monitor failed: customer-purchase"
    shown = failure.removeprefix("*Error:*\n```").removesuffix("```")
    assert shown.startswith("ValueError: column &lt;device&gt; missing &amp; more\nxxx")
    assert shown.endswith("x…")
    assert len(shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")) == 500
    assert meaning == (
        "No verdict was reached and nothing was retrained: the champion is unchanged, and "
        "whether this window drifted is unknown until a check succeeds.\n"
        "*Report:* drift-20261121T2200Z"
    )
    assert steps.split("\n") == [
        "*What to do* (Runbook: `docs/runbook.md#when-the-monitor-failed`)",
        "1. Read the failed run's logs: `prefect flow-run ls --flow-name monitoring --limit 5`, "
        "then `prefect flow-run logs RUN_ID` (or the Prefect UI on :4200, started by `mlops ui`)",
        "2. Fix the cause, then check again: `mlops monitor`",
        "3. The champion keeps serving meanwhile: `mlops status`",
    ]


def gate(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "model": "customer-purchase",
        "challenger": "4",
        "champion_before": "3",
        "champion_after": "4",
        "decision": "promote",
        "reason": "floor roc_auc: roc_auc 0.8302 >= 0.7; beats champion: +0.0118 >= 0.005",
        "metrics": {"roc_auc": 0.83021, "f1": 0.5, "log_loss": 0.31694},
        "trigger": "drift",
        "drift_report": "drift-20261121T2200Z",
        "run_link": "http://127.0.0.1:5000/#/experiments/1/runs/abc123",
        "runbook_url": RUNBOOK_WEB,
    }
    values.update(changes)
    return notify.gate_decision(**values)


def test_gate_decision_promoted_says_how_to_roll_back() -> None:
    message = gate()

    assert (
        message["text"] == ":white_check_mark: customer-purchase v4 promoted to champion (was v3)"
    )
    header, facts, metrics, steps = texts(message)
    assert header == ":white_check_mark: Promoted: customer-purchase v4"
    assert facts.split("\n") == [
        "*Decision:* promote",
        "*Why:* floor roc_auc: roc_auc 0.8302 &gt;= 0.7; beats champion: +0.0118 &gt;= 0.005",
        "*Champion:* v3 → v4",
        "*Trigger:* drift (drift report drift-20261121T2200Z)",
        "*Run:* <http://127.0.0.1:5000/#/experiments/1/runs/abc123|training run>",
    ]
    assert metrics.split("\n") == [
        "*Challenger metrics:*",
        "• f1: 0.5",
        "• log_loss: 0.3169",
        "• roc_auc: 0.8302",
    ]
    assert steps.split("\n") == [
        f"*What to do* (<{RUNBOOK_WEB}#after-retraining-the-gate-decides|Runbook: after "
        "retraining>)",
        "1. Check the endpoint follows (within serve.poll_seconds): `curl 127.0.0.1:8080/health`",
        "2. Where it came from: `mlops lineage 4`",
        '3. If v4 is worse, roll back to v3: `mlops rollback --reason "undo the promotion of v4"`',
    ]


def test_gate_decision_refused_leaves_nothing_to_undo() -> None:
    message = gate(
        decision="refuse",
        champion_after="3",
        reason="beats champion: roc_auc -0.0100 < 0.005",
        drift_report=None,
        metrics={},
    )

    assert message["text"] == (
        ":no_entry: customer-purchase v4 refused by the promotion gate; champion stays v3"
    )
    _, facts, metrics, steps = texts(message)
    assert "*Champion:* v3 (unchanged)" in facts.split("\n")
    assert "*Trigger:* drift" in facts.split("\n")
    assert metrics == "*Challenger metrics:*\n• none"
    assert "mlops rollback" not in steps
    assert steps.split("\n")[1:] == [
        "1. The champion did not move. Look: `mlops status`, `mlops history`",
        "2. If drift persists, alerts continue; silence while you work: "
        '`mlops silence --hours 4 --reason "..."`',
        '3. Override only after review: `mlops promote 4 --force --reason "..."`',
    ]


def test_gate_decision_of_a_first_champion_has_no_rollback() -> None:
    message = gate(champion_before=None)

    assert message["text"] == (
        ":white_check_mark: customer-purchase v4 promoted to champion (was none)"
    )
    assert "mlops rollback" not in texts(message)[3]


def test_retraining_skipped_says_why() -> None:
    message = notify.retraining_skipped(
        model="customer-purchase",
        drift_report="drift-20261121T2200Z",
        reason="waiting for labels: 120 labelled rows, need 500",
        runbook_url=notify.RUNBOOK,
    )

    assert message["text"] == (
        ":pause_button: Retraining skipped for customer-purchase after drift report "
        "drift-20261121T2200Z: waiting for labels: 120 labelled rows, need 500"
    )
    _, facts, steps = texts(message)
    assert facts == (
        "*Drift report:* drift-20261121T2200Z\n"
        "*Why skipped:* waiting for labels: 120 labelled rows, need 500\n"
        "The champion is unchanged and keeps serving."
    )
    assert steps.split("\n")[0] == "*What to do* (Runbook: `docs/runbook.md#retraining-skipped`)"
    assert '`mlops rollback --reason "drift report drift-20261121T2200Z"`' in steps


# --- delivery --------------------------------------------------------------------------------


def test_a_message_is_posted_as_json(receiver: Receiver) -> None:
    message = drift()

    delivery = webhook.send(message, url=receiver.url, backoff=0.01)

    assert delivery == Delivery(True, 200, f"sent to {receiver.host} (HTTP 200)")
    [request] = receiver.requests
    assert request.path == f"/services/{SECRET}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(request.body) == message


def test_server_errors_are_retried_until_accepted(receiver: Receiver) -> None:
    receiver.plan = [Reply(500, b"oops"), Reply(503, b"busy"), Reply(200)]

    delivery = webhook.send({"text": "hi"}, url=receiver.url, attempts=3, backoff=0.01)

    assert delivery == Delivery(True, 200, f"sent to {receiver.host} (HTTP 200)")
    assert len(receiver.requests) == 3
    assert [json.loads(r.body) for r in receiver.requests] == [{"text": "hi"}] * 3


def test_it_gives_up_after_the_attempts(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.plan = [Reply(500, f"no hook {SECRET}".encode())] * 3  # the server echoes the token

    with caplog.at_level("INFO", logger="mlops.notify"):
        delivery = webhook.send({"text": "hi"}, url=receiver.url, attempts=3, backoff=0.01)

    assert delivery == Delivery(
        False,
        500,
        "failed after 3 attempts: HTTP 500 Internal Server Error no hook ***/***/*** "
        f"({receiver.host})",
    )
    assert len(receiver.requests) == 3
    assert len(caplog.messages) == 3  # two retries and the failure
    assert "s3cr3t" not in caplog.text and "T0AAA" not in caplog.text


def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.plan = [Reply(400, b"invalid_payload")]

    delivery = webhook.send({"text": "hi"}, url=receiver.url, attempts=3, backoff=0.01)

    assert delivery == Delivery(
        False, 400, f"failed: HTTP 400 Bad Request invalid_payload ({receiver.host})"
    )
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.plan = [Reply(302, b"", {"Location": f"{receiver.host}/elsewhere"})]

    delivery = webhook.send({"text": "hi"}, url=receiver.url, backoff=0.01)

    assert (delivery.sent, delivery.status) == (False, 302)
    assert [r.path for r in receiver.requests] == [f"/services/{SECRET}"]


def test_too_many_requests_waits_as_the_server_says(receiver: Receiver) -> None:
    receiver.plan = [Reply(429, b"rate_limited", {"Retry-After": "0"}), Reply(200)]

    started = time.monotonic()
    delivery = webhook.send({"text": "hi"}, url=receiver.url, attempts=3, backoff=5.0)

    assert delivery.sent and delivery.status == 200
    assert len(receiver.requests) == 2
    assert time.monotonic() - started < 2.5  # Retry-After: 0, not the 5 s backoff


def test_retry_after_is_read_and_capped() -> None:
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=1), usegmt=True)
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)

    assert webhook._retry_after("0") == 0.0
    assert webhook._retry_after("2.5") == 2.5
    assert webhook._retry_after("120") == 30.0
    assert webhook._retry_after(past) == 0.0
    assert webhook._retry_after(later) == 30.0
    assert webhook._retry_after("soon") is None
    assert webhook._retry_after(None) is None


def test_a_timeout_is_retried(receiver: Receiver) -> None:
    receiver.plan = [Reply(200, delay=1.0), Reply(200)]

    delivery = webhook.send({"text": "hi"}, url=receiver.url, timeout=0.2, backoff=0.01)

    assert delivery == Delivery(True, 200, f"sent to {receiver.host} (HTTP 200)")
    assert len(receiver.requests) == 2


def test_an_unreachable_webhook_fails_without_showing_the_url() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://hook-user:hook-pass@127.0.0.1:{port}/services/{SECRET}?token=q5ecret"

    delivery = webhook.send({"text": "hi"}, url=url, attempts=2, backoff=0.01)

    assert not delivery.sent and delivery.status is None
    assert delivery.detail.startswith("failed after 2 attempts: URLError: ")
    assert delivery.detail.endswith(f"(http://127.0.0.1:{port})")
    for secret in (SECRET, "s3cr3t", "hook-user", "hook-pass", "q5ecret", "/services"):
        assert secret not in delivery.detail


def test_credentials_in_the_url_are_sent_as_basic_auth(receiver: Receiver) -> None:
    url = receiver.url.replace("http://", "http://hook-user:hook%40pass@")

    delivery = webhook.send({"text": "hi"}, url=url, backoff=0.01)

    assert delivery == Delivery(True, 200, f"sent to {receiver.host} (HTTP 200)")
    [request] = receiver.requests
    assert request.path == f"/services/{SECRET}"
    token = base64.b64encode(b"hook-user:hook@pass").decode()
    assert request.headers["Authorization"] == f"Basic {token}"


def test_a_url_that_cannot_be_sent_is_refused_not_retried() -> None:
    delivery = webhook.send({"text": "hi"}, url=f"http://127.0.0.1:9/{SECRET} x", backoff=0.01)

    assert delivery == Delivery(
        False, None, "refused: the webhook URL cannot be sent to (InvalidURL)"
    )


def test_the_url_comes_from_the_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(webhook.WEBHOOK_ENV, raising=False)
    skipped = webhook.send({"text": "hi"}, backoff=0.01)

    monkeypatch.setenv(webhook.WEBHOOK_ENV, receiver.url)
    with caplog.at_level("INFO", logger="mlops.notify"):
        sent = webhook.send({"text": "hi"}, backoff=0.01)

    assert skipped == Delivery(False, None, "skipped: MLOPS_WEBHOOK_URL is not set")
    assert sent == Delivery(True, 200, f"sent to {receiver.host} (HTTP 200)")
    assert len(receiver.requests) == 1
    assert caplog.messages == [f"notification sent to {receiver.host} (HTTP 200)"]
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        (
            "ftp://hooks.example.com/x",
            "refused: the webhook URL's scheme 'ftp' is not http or https",
        ),
        ("file:///etc/passwd", "refused: the webhook URL's scheme 'file' is not http or https"),
        ("hooks.example.com/x", "refused: the webhook URL's scheme '' is not http or https"),
        ("http:///no-host", "refused: the webhook URL has no host"),
    ],
)
def test_only_http_urls_are_accepted(url: str, detail: str) -> None:
    assert webhook.send({"text": "hi"}, url=url) == Delivery(False, None, detail)


@pytest.mark.parametrize(
    "url",
    [
        f"http://hooks.example.com/services/{SECRET}",
        f"http://hook-user:hook-pass@10.0.0.7:8080/services/{SECRET}",
        f"http://[2001:db8::1]/services/{SECRET}",
    ],
)
def test_plain_http_off_this_machine_is_refused_naming_scheme_and_host_only(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(webhook.ALLOW_HTTP_ENV, raising=False)
    where = webhook._where(urllib.parse.urlsplit(url))

    delivery = webhook.send({"text": "hi"}, url=url)

    assert delivery == Delivery(
        False,
        None,
        f"refused: the webhook URL is plain http to {where}, which would send its secret in "
        "cleartext; use https (or set MLOPS_WEBHOOK_ALLOW_HTTP=1 for a receiver on a trusted "
        "network)",
    )
    for secret in (SECRET, "hook-user", "hook-pass", "/services"):
        assert secret not in delivery.detail


def test_plain_http_to_a_local_receiver_is_sent(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(webhook.ALLOW_HTTP_ENV, raising=False)
    local = receiver.url.replace("127.0.0.1", "localhost")

    assert webhook.send({"text": "hi"}, url=receiver.url, backoff=0.01).sent
    assert webhook.send({"text": "hi"}, url=local, backoff=0.01).sent
    assert len(receiver.requests) == 2


def test_plain_http_elsewhere_is_tried_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(webhook.ALLOW_HTTP_ENV, "1")

    # 192.0.2.1 is TEST-NET-1: nothing answers, so the attempt fails instead of being refused
    delivery = webhook.send({"text": "hi"}, url="http://192.0.2.1/x", timeout=0.2, attempts=1)

    assert delivery.detail.startswith("failed after 1 attempt: ")
    assert delivery.detail.endswith("(http://192.0.2.1)")


def test_a_message_that_is_not_json_is_refused_not_raised(receiver: Receiver) -> None:
    delivery = webhook.send({"value": float("nan")}, url=receiver.url)

    assert (delivery.sent, delivery.status) == (False, None)
    assert delivery.detail.startswith("refused: the message is not JSON: ")
    assert receiver.requests == []


# --- the runbook the messages link to ----------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_runbook_has_the_sections_and_commands_the_messages_name() -> None:
    page = (ROOT / notify.RUNBOOK).read_text(encoding="utf-8")
    anchors = {_slug(line.lstrip("#")) for line in page.splitlines() if line.startswith("#")}

    for anchor in (
        notify.ANCHOR_INSUFFICIENT,
        notify.ANCHOR_FAILED,
        notify.ANCHOR_GATE,
        notify.ANCHOR_SKIPPED,
    ):
        assert anchor in anchors
    for command in (
        "mlops status",
        "mlops monitor",
        'mlops rollback --reason "',
        "mlops silence --hours 4 --reason",
        "mlops promote VERSION --force --reason",
        "mlops lineage VERSION",
        "curl 127.0.0.1:8080/health",
        "prefect automation pause mlops-drift-retrain",
        "prefect flow-run ls --flow-name monitoring",
    ):
        assert command in page
