"""The webhook adapter: POSTs one message (a Slack-style ``{"text", "blocks"}`` payload from
tasks/steps/notify.py) to ``MLOPS_WEBHOOK_URL``, with retries.

The URL is a secret (a Slack webhook URL is a bearer credential): it is read from the
environment only, never logged, and scrubbed from every error text. Any delivery problem is
returned as a :class:`Delivery`, never raised: an alert that cannot be sent must not stop the
monitor that found the drift.
"""

from __future__ import annotations

import base64
import email.utils
import ipaddress
import json
import logging
import math
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPException, InvalidURL
from typing import Any

from tasks.steps.notify import one_line

WEBHOOK_ENV = "MLOPS_WEBHOOK_URL"
ALLOW_HTTP_ENV = "MLOPS_WEBHOOK_ALLOW_HTTP"  # "1": plain http to a host that is not loopback
RETRY_AFTER_CAP = 30.0  # seconds: a Retry-After beyond this is waited this long

_log = logging.getLogger("mlops.notify")


@dataclass(frozen=True)
class Delivery:
    """What became of one message. ``detail`` names the webhook by scheme and host only."""

    sent: bool
    status: int | None
    detail: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured: report the 3xx, never re-send elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _where(parts: urllib.parse.SplitResult) -> str:
    """Scheme and host (and port) of the webhook: what may be shown of it."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}"


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine (a local receiver): localhost, 127.0.0.0/8, ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cleartext_allowed() -> bool:
    return os.environ.get(ALLOW_HTTP_ENV, "").strip().lower() in ("1", "true", "yes")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), capped at 30 s."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` without any of ``secrets`` (the URL, its path and query, each of their parts: a
    server may echo some of them), on one line."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return one_line(text, 200)


def send(  # noqa: C901, PLR0915  (one branch per HTTP outcome, each with its own message)
    message: Mapping[str, Any],
    *,
    url: str | None = None,
    timeout: float = 10.0,
    attempts: int = 3,
    backoff: float = 1.0,
) -> Delivery:
    """POST ``message`` as JSON to the webhook (``url``, else ``$MLOPS_WEBHOOK_URL``).

    Connection errors, timeouts, HTTP 429 and 5xx are retried up to ``attempts`` times in all,
    waiting ``backoff`` * 2**n seconds, or the server's Retry-After (capped at 30 s). Any other
    4xx (and a 3xx: webhooks do not redirect) is final. Credentials in the URL
    (``https://user:password@host/...``) are sent as HTTP basic auth. Never raises for delivery
    problems: a URL that is unset, not http(s) or unusable, and a message that is not JSON, are
    a :class:`Delivery` too. Plain ``http://`` is refused unless the host is loopback (a local
    receiver) or ``$MLOPS_WEBHOOK_ALLOW_HTTP`` is ``1``.
    """
    if url is None:
        url = os.environ.get(WEBHOOK_ENV, "").strip() or None
        if url is None:
            return Delivery(False, None, f"skipped: {WEBHOOK_ENV} is not set")
    try:
        parts = urllib.parse.urlsplit(url)
        where = _where(parts)
    except ValueError:
        return Delivery(False, None, "refused: the webhook URL cannot be parsed")
    if parts.scheme not in ("http", "https"):
        shown = parts.scheme if re.fullmatch(r"[a-z0-9+.-]{0,20}", parts.scheme) else "?"
        return Delivery(
            False, None, f"refused: the webhook URL's scheme {shown!r} is not http or https"
        )
    if not parts.hostname:
        return Delivery(False, None, "refused: the webhook URL has no host")
    if parts.scheme == "http" and not _loopback(parts.hostname) and not _cleartext_allowed():
        # the URL is a credential (and may carry user:password): never in cleartext off-host
        _log.warning("notification to %s refused: plain http off this machine", where)
        return Delivery(
            False,
            None,
            f"refused: the webhook URL is plain http to {where}, which would send its secret "
            f"in cleartext; use https (or set {ALLOW_HTTP_ENV}=1 for a receiver on a trusted "
            "network)",
        )
    secrets = [url, parts.path, parts.query, parts.username or "", parts.password or ""]
    secrets += re.split(r"[/&=;]", f"{parts.path}&{parts.query}")  # echoed in part
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "mlops-notify"}
    if parts.username is not None:  # user:password@host: HTTP basic auth, not part of the host
        pair = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        )
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        netloc = parts.netloc.rpartition("@")[2]
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    try:
        body = json.dumps(message, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        return Delivery(False, None, f"refused: the message is not JSON: {error}")
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    opener = urllib.request.build_opener(_NoRedirect())
    attempts = max(1, attempts)
    status: int | None = None
    problem = ""
    for attempt in range(1, attempts + 1):
        wait = backoff * 2 ** (attempt - 1)
        try:
            with opener.open(request, timeout=timeout) as response:
                status = int(response.status)
                response.read(1024)
            _log.info("notification sent to %s (HTTP %s)", where, status)
            return Delivery(True, status, f"sent to {where} (HTTP {status})")
        except urllib.error.HTTPError as error:
            status = error.code
            try:
                said = error.read(300).decode("utf-8", "replace")
            except (OSError, HTTPException):
                said = ""
            problem = _scrub(f"HTTP {status} {error.reason or ''} {said}".strip(), secrets)
            if status != 429 and status < 500:
                _log.warning("notification to %s refused: %s", where, problem)
                return Delivery(False, status, f"failed: {problem} ({where})")
            hinted = _retry_after(error.headers.get("Retry-After") if error.headers else None)
            wait = hinted if hinted is not None else wait
        except (InvalidURL, ValueError) as error:  # a URL http.client cannot send: final
            _log.warning("notification to %s refused: %s", where, type(error).__name__)
            return Delivery(
                False, None, f"refused: the webhook URL cannot be sent to ({type(error).__name__})"
            )
        except (OSError, HTTPException) as error:  # URLError, timeouts, resets, bad responses
            status = None
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            problem = _scrub(f"{type(error).__name__}: {reason}", secrets)
        if attempt < attempts:
            wait = min(max(wait, 0.0), RETRY_AFTER_CAP)
            _log.warning(
                "notification to %s: attempt %d of %d failed (%s); again in %.2f s",
                where,
                attempt,
                attempts,
                problem,
                wait,
            )
            time.sleep(wait)
    noun = "attempt" if attempts == 1 else "attempts"
    _log.warning("notification to %s failed after %d %s: %s", where, attempts, noun, problem)
    return Delivery(False, status, f"failed after {attempts} {noun}: {problem} ({where})")
