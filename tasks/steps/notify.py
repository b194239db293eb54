"""On-call notifications through a Slack-compatible incoming webhook.

Pure message builders (:func:`drift_alert`, :func:`monitor_failed`, :func:`gate_decision`,
:func:`retraining_skipped`: values in, a JSON-ready dict out) and one sender, :func:`send`, that
POSTs a message to the webhook with retries and never raises for a delivery problem.

The webhook URL is a secret (whoever has it can post to the channel). It comes only from the
environment variable ``MLOPS_WEBHOOK_URL``, and only its scheme and host are ever logged or
returned. When it is unset, nothing is sent and the :class:`Delivery` says so.

A message is a top-level ``text`` (the one-line summary that notifications, and receivers that
ignore blocks, show) plus Block Kit ``blocks``. Values are escaped for Slack's mrkdwn (``&``,
``<``, ``>``), so that a column name or an error message cannot form a link or a mention such as
``<!channel>``, and clipped to Slack's limits (header 150 characters, section 3000, 50 blocks).
Numbers are shown with 4 significant digits; a missing one is "undetermined".
"""

from __future__ import annotations

import logging
import math
import numbers
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

RUNBOOK = "docs/runbook.md"

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
TEXT_LIMIT = 3000
BLOCK_LIMIT = 50
ERROR_LIMIT = 500
MAX_COLUMNS = 10
MAX_REASONS = 10
MAX_METRICS = 20
UNDETERMINED = "undetermined"

# The runbook's sections a message links to (GitHub's anchors of docs/runbook.md's headings).
ANCHOR_INSUFFICIENT = "insufficient-data"
ANCHOR_FAILED = "when-the-monitor-failed"
ANCHOR_GATE = "after-retraining-the-gate-decides"
ANCHOR_SKIPPED = "retraining-skipped"
ANCHOR_REFUSED = "a-version-the-endpoint-refused"

_log = logging.getLogger("mlops.notify")


# --- formatting -------------------------------------------------------------------------------


def _esc(value: object) -> str:
    """``value`` as text safe in Slack mrkdwn: ``&``, ``<`` and ``>`` as entities."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def one_line(text: object, limit: int) -> str:
    """``text`` on one line (whitespace runs collapsed), clipped."""
    return _clip(" ".join(str(text).split()), limit)


def _real(value: object) -> float | None:
    """``value`` as a float when it is a number (numpy's too), else None."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _num(value: object) -> str:
    """A number with 4 significant digits; None is "undetermined"; anything else as text."""
    if value is None:
        return UNDETERMINED
    real = _real(value)
    if real is None:
        return str(value)
    return f"{real:.4g}" if math.isfinite(real) else str(real)


def _version(version: str | None) -> str:
    """``"3"`` -> ``"v3"`` (``"v3"`` stays); None -> ``"none"``."""
    if version is None or str(version) == "":
        return "none"
    text = str(version)
    return text if text[:1] == "v" and text[1:2].isdigit() else f"v{text}"


def _is_web(target: str) -> bool:
    return urllib.parse.urlsplit(target).scheme in ("http", "https")


def _link(target: str, label: str) -> str:
    """A mrkdwn link for an http(s) ``target``; anything else (a path) as inline code."""
    if _is_web(target):
        safe = target.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
        return f"<{_esc(safe)}|{_esc(label)}>"
    return _code(one_line(target, 500))


def _runbook(url: str, anchor: str | None, title: str) -> str:
    """The link to the runbook page (to one of its sections when the page is on the web)."""
    if _is_web(url):
        target = url if anchor is None or "#" in url else f"{url}#{anchor}"
        return _link(target, f"Runbook: {title}")
    where = url if anchor is None else f"{url}#{anchor}"
    return f"Runbook: {_link(where, where)}"


def _code(command: str) -> str:
    """A command as inline code (backticks in it would end the span: they become quotes)."""
    return "`" + _esc(command.replace("`", "'")) + "`"


def _quoted(text: str) -> str:
    """``text`` fit for a double-quoted shell argument."""
    return one_line(text, 120).replace("\\", "/").replace('"', "'").replace("$", "")


# --- blocks ----------------------------------------------------------------------------------


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": one_line(text, HEADER_LIMIT), "emoji": True},
    }


def _section(mrkdwn: str) -> dict[str, Any]:
    """A mrkdwn section, clipped at a line break so that no link or entity is cut in half."""
    if len(mrkdwn) > SECTION_LIMIT:
        cut = mrkdwn.rfind("\n", 0, SECTION_LIMIT - 2)
        if cut <= 0:  # one long line: cut it, without leaving half an entity or link
            head = mrkdwn[: SECTION_LIMIT - 1]
            amp, lt = head.rfind("&"), head.rfind("<")
            if amp > head.rfind(";"):
                head = head[:amp]
            if lt > head.rfind(">"):
                head = head[:lt]
            mrkdwn = head + "…"
        else:
            mrkdwn = mrkdwn[:cut] + "\n…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def _message(text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": _clip(text, TEXT_LIMIT), "blocks": blocks[:BLOCK_LIMIT]}


def _steps(title: str, link: str, steps: Sequence[str]) -> dict[str, Any]:
    numbered = [f"{i}. {step}" for i, step in enumerate(steps, start=1)]
    return _section("\n".join([f"*{title}* ({link})", *numbered]))


def _bulleted(items: Sequence[str], limit: int, noun: str) -> list[str]:
    lines = [f"• {item}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"• … and {len(items) - limit} more {noun}")
    return lines


def column_line(column: Mapping[str, Any]) -> str:
    """One drifted-or-not column as plain text (unescaped), e.g.
    ``device (jensenshannon): distance 0.2312 >= 0.1, drifted``.

    The comparison is the value against the threshold: a p-value method drifts when the value is
    below it, a distance method when it is at or above it; the verdict is the column's own.
    """
    name = one_line(column.get("column", "?"), 100)
    method = one_line(column.get("method", "?"), 40)
    statistic = str(column.get("statistic", ""))
    label = {"p_value": "p-value", "distance": "distance"}.get(statistic, statistic or "value")
    value, threshold = column.get("value"), column.get("threshold")
    real, bound = _real(value), _real(threshold)
    if real is None or bound is None or not (math.isfinite(real) and math.isfinite(bound)):
        measured = f"{label} {_num(value)} (threshold {_num(threshold)})"
    else:
        sign = "<" if real < bound else ">="
        measured = f"{label} {_num(real)} {sign} {_num(bound)}"
    drifted = column.get("drifted")
    state = UNDETERMINED if drifted is None else ("drifted" if drifted else "no drift")
    return f"{name} ({method}): {measured}, {state}"


def _look_rollback_silence(report: str, report_link: str | None) -> list[str]:
    opened = f"open the report ({_link(report_link, report)})" if report_link else "open the report"
    return [
        f"Look: {_code('mlops status')}, {opened}, {_code('mlops monitor')} to check again now",
        "Roll back if the champion is hurting: "
        + _code(f'mlops rollback --reason "drift report {_quoted(report)}"'),
        "Silence while you work (checks still run): "
        + _code(f'mlops silence --hours 4 --reason "investigating {_quoted(report)}"'),
    ]


# --- messages --------------------------------------------------------------------------------


def _verdict_title(verdict: str, model: str, version: str) -> tuple[str, str, str | None]:
    """(emoji, title, runbook anchor) for a drift check's verdict."""
    key = " ".join(verdict.lower().replace("_", " ").replace("-", " ").split())
    on = f"{model} {_version(version)}"
    if key == "drift":
        return ":rotating_light:", f"Drift detected on {on}", None
    if key == "insufficient data":
        return ":grey_question:", f"Not enough data to check drift on {on}", ANCHOR_INSUFFICIENT
    if key == "healthy":
        return ":white_check_mark:", f"No drift on {on}", None
    if key == "failed":
        return ":x:", f"Drift check failed on {on}", ANCHOR_FAILED
    return ":warning:", f"Drift check on {on}: {verdict}", None


def drift_alert(  # noqa: PLR0913  (keyword-only: each field of the message)
    *,
    model: str,
    version: str,
    report_id: str,
    verdict: str,
    reasons: Sequence[str],
    top_columns: Sequence[Mapping[str, Any]],
    quality: str,
    action: str,
    report_link: str,
    window: str,
    runbook_url: str,
) -> dict[str, Any]:
    """The alert of a drift check: what drifted, the quality checks, the action, what to do.

    ``top_columns``: each ``{"column", "method", "statistic" ("p_value" | "distance"), "value",
    "threshold", "drifted"}``, most drifted first; the first 10 are shown.
    """
    emoji, title, anchor = _verdict_title(verdict, model, version)
    why = "; ".join(one_line(r, 300) for r in reasons[:MAX_REASONS]) or "none given"
    if len(reasons) > MAX_REASONS:
        why += f"; … and {len(reasons) - MAX_REASONS} more"
    columns = _bulleted([_esc(column_line(c)) for c in top_columns], MAX_COLUMNS, "columns")
    drifted = [
        f"*Verdict:* {_esc(one_line(verdict, 60))}: {_esc(why)}",
        "*Top columns* (a p-value drifts below its threshold, a distance at or above it):",
        *(columns or ["• none reported"]),
    ]
    context = [
        f"*Data quality checks:* {_esc(one_line(quality, 500))}",
        f"*Action taken:* {_esc(one_line(action, 500))}",
        f"*Window:* {_esc(one_line(window, 300))}",
        f"*Report:* {_link(report_link, report_id)}",
    ]
    return _message(
        f"{emoji} {_esc(one_line(title, 200))} (report {_esc(one_line(report_id, 200))})",
        [
            _header(f"{emoji} {title}"),
            _section("\n".join(drifted)),
            _section("\n".join(context)),
            _steps(
                "What to do",
                _runbook(runbook_url, anchor, "drift alert"),
                _look_rollback_silence(report_id, report_link),
            ),
        ],
    )


def monitor_failed(*, model: str, report_id: str, error: str, runbook_url: str) -> dict[str, Any]:
    """The monitor crashed: the error (clipped to 500 characters), and that nothing changed."""
    shown = _clip(str(error).strip() or "(no message)", ERROR_LIMIT).replace("`", "'")
    return _message(
        f":x: Drift monitor failed for {_esc(one_line(model, 200))} "
        f"(report {_esc(one_line(report_id, 200))}): no verdict, nothing retrained",
        [
            _header(f":x: Monitor failed: {model}"),
            _section(f"*Error:*\n```{_esc(shown)}```"),
            _section(
                "No verdict was reached and nothing was retrained: the champion is unchanged, "
                "and whether this window drifted is unknown until a check succeeds.\n"
                f"*Report:* {_esc(one_line(report_id, 200))}"
            ),
            _steps(
                "What to do",
                _runbook(runbook_url, ANCHOR_FAILED, "when the monitor failed"),
                [
                    "Read the failed run's logs: "
                    + _code("prefect flow-run ls --flow-name monitoring --limit 5")
                    + ", then "
                    + _code("prefect flow-run logs RUN_ID")
                    + " (or the Prefect UI on :4200, started by "
                    + _code("mlops ui")
                    + ")",
                    f"Fix the cause, then check again: {_code('mlops monitor')}",
                    f"The champion keeps serving meanwhile: {_code('mlops status')}",
                ],
            ),
        ],
    )


def model_refused(
    *, model: str, version: str, role: str, reason: str, answering: str | None, runbook_url: str
) -> dict[str, Any]:
    """The endpoint refused to load a version its alias points at (its checksum, its format or
    types, or a wrong answer to its own input example): why, and who answers instead."""
    shown = _clip(str(reason).strip() or "(no reason)", ERROR_LIMIT).replace("`", "'")
    instead = (
        f"version {_esc(one_line(answering, 40))} keeps answering"
        if answering
        else "no version answers: the endpoint returns 503"
    )
    return _message(
        f":no_entry: The endpoint refused {_esc(one_line(model, 200))} "
        f"{_version(version)} ({_esc(one_line(role, 40))}): {instead}",
        [
            _header(f":no_entry: Version refused: {model} {_version(version)}"),
            _section(f"*Why:*\n```{_esc(shown)}```"),
            _section(
                f"The `{_esc(one_line(role, 40))}` alias points at a version that will not be "
                f"served: {instead}. It is not tried again until the alias moves or the "
                "endpoint restarts."
            ),
            _steps(
                "What to do",
                _runbook(runbook_url, ANCHOR_REFUSED, "a refused version"),
                [
                    "See who moved the alias and when: " + _code("mlops history"),
                    "If the model file changed after registration, treat it as an incident: "
                    "someone could write the model store",
                    "Point the alias back at the version that answers: "
                    + _code("mlops rollback --reason 'refused by the endpoint'"),
                ],
            ),
        ],
    )


def _decision(decision: str) -> str:
    key = decision.strip().lower()
    if key in ("promote", "promoted"):
        return "promoted"
    if key in ("refuse", "refused"):
        return "refused"
    return key


def gate_decision(  # noqa: PLR0913  (keyword-only: each field of the message)
    *,
    model: str,
    challenger: str,
    champion_before: str | None,
    champion_after: str | None,
    decision: str,
    reason: str,
    metrics: Mapping[str, float],
    trigger: str,
    drift_report: str | None,
    run_link: str,
    runbook_url: str,
) -> dict[str, Any]:
    """The gate's decision on a retrained challenger: promoted or refused, why, and what next."""
    outcome = _decision(decision)
    new, before, after = _version(challenger), _version(champion_before), _version(champion_after)
    name = one_line(model, 200)
    if outcome == "promoted":
        emoji, title = ":white_check_mark:", f"Promoted: {name} {new}"
        summary = f"{name} {new} promoted to champion (was {before})"
    elif outcome == "refused":
        emoji, title = ":no_entry:", f"Refused: {name} {new}"
        summary = f"{name} {new} refused by the promotion gate; champion stays {after}"
    else:
        emoji, title = ":hourglass_flowing_sand:", f"Gate: {name} {new} {outcome}"
        summary = f"{name} {new}: gate decision {outcome}; champion {after}"
    moved = f"{before} → {after}" if before != after else f"{after} (unchanged)"
    triggered = one_line(trigger, 100) + (
        f" (drift report {one_line(drift_report, 200)})" if drift_report else ""
    )
    facts = [
        f"*Decision:* {_esc(one_line(decision, 60))}",
        f"*Why:* {_esc(one_line(reason, 1500) or 'not given')}",
        f"*Champion:* {_esc(moved)}",
        f"*Trigger:* {_esc(triggered)}",
        f"*Run:* {_link(run_link, 'training run')}",
    ]
    rows = [f"{_esc(one_line(k, 60))}: {_num(metrics[k])}" for k in sorted(metrics)]
    measured = ["*Challenger metrics:*", *(_bulleted(rows, MAX_METRICS, "metrics") or ["• none"])]
    version_arg = _quoted(str(challenger)).removeprefix("v") or "VERSION"
    if outcome == "promoted":
        steps = [
            f"Check the endpoint follows (within serve.poll_seconds): "
            f"{_code('curl 127.0.0.1:8080/health')}",
            f"Where it came from: {_code(f'mlops lineage {version_arg}')}",
        ]
        if champion_before is not None:
            steps.append(
                f"If {new} is worse, roll back to {before}: "
                + _code(f'mlops rollback --reason "undo the promotion of {new}"')
            )
    else:
        steps = [
            f"The champion did not move. Look: {_code('mlops status')}, {_code('mlops history')}",
            "If drift persists, alerts continue; silence while you work: "
            + _code('mlops silence --hours 4 --reason "..."'),
            "Override only after review: "
            + _code(f'mlops promote {version_arg} --force --reason "..."'),
        ]
    return _message(
        f"{emoji} {_esc(summary)}",
        [
            _header(f"{emoji} {title}"),
            _section("\n".join(facts)),
            _section("\n".join(measured)),
            _steps("What to do", _runbook(runbook_url, ANCHOR_GATE, "after retraining"), steps),
        ],
    )


def retraining_skipped(
    *, model: str, drift_report: str, reason: str, runbook_url: str
) -> dict[str, Any]:
    """Drift was seen but no retraining started (cooldown, too few labels): why, and what next."""
    why = one_line(reason, 300) or "not given"
    return _message(
        f":pause_button: Retraining skipped for {_esc(one_line(model, 200))} after drift "
        f"report {_esc(one_line(drift_report, 200))}: {_esc(why)}",
        [
            _header(f":pause_button: Retraining skipped: {model}"),
            _section(
                f"*Drift report:* {_esc(one_line(drift_report, 200))}\n"
                f"*Why skipped:* {_esc(why)}\n"
                "The champion is unchanged and keeps serving."
            ),
            _steps(
                "What to do",
                _runbook(runbook_url, ANCHOR_SKIPPED, "retraining skipped"),
                _look_rollback_silence(drift_report, None),
            ),
        ],
    )
