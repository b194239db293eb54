"""Headless Chromium for browser tests: Debian's ``chromium`` package, driven through the Chrome
DevTools Protocol (CDP) over a websocket with the ``websockets`` package the environment already
has (Prefect and uvicorn need it), so no browser-automation library is added.

- ``ensure_chromium()``: ``/usr/bin/chromium``, installed with apt-get when missing.
- ``open_browser()``: one headless Chromium with a throw-away profile, stopped on exit.
- ``rendered_text(url, expect, timeout)``: opens ``url`` as a new document and polls its visible
  text (``document.body.innerText``) until every expected string is in it. Polling is what
  makes it reliable for single-page apps that fetch their data after the page has loaded.
  Pass ``browser=`` to reuse one browser for several pages (its cache stays warm: a page then
  takes seconds instead of a cold start each).
- ``Browser.screenshot(path)``: a PNG of the whole page as rendered.

``tests/integration/test_mlflow_ui.py`` explains the flags and the approaches that did not work.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1600, 1000)
FLAGS = (
    "--headless=new",  # the real browser without a display (the old headless is a separate shell)
    "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
    "--disable-gpu",  # no GPU here; software rendering only
    "--disable-dev-shm-usage",  # docker's /dev/shm is 64 MB: keep shared memory in /tmp
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",  # no update checks or other calls out of the machine
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",  # a free port, announced in <profile>/DevToolsActivePort
)
BLANK = "about:blank"
_JS_STATE = "JSON.stringify([location.href, document.body ? document.body.innerText : ''])"


def ensure_chromium() -> Path:
    """Debian's ``chromium``: the installed binary, or installed now with apt-get (as root).

    Fails the test with apt's output when it cannot install it: a browser test that silently
    skips proves nothing.
    """
    if CHROMIUM.exists():
        return CHROMIUM
    assert shutil.which("apt-get"), f"{CHROMIUM} is missing and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    )
    for command in steps:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        assert result.returncode == 0, (
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    assert CHROMIUM.exists(), f"apt-get installed chromium but {CHROMIUM} is missing"
    return CHROMIUM


class DevTools:
    """A minimal CDP client over one page target's websocket: commands and their answers."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._next_id = 0

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command and return its ``result`` (events in between are dropped)."""
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._socket.recv(timeout=max(0.0, deadline - time.monotonic())))
            if message.get("id") != self._next_id:
                continue
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            return dict(message["result"])

    def location_and_text(self) -> tuple[str, str]:
        """The document's address and visible text now (('', '') during a navigation)."""
        try:
            answer = self.call("Runtime.evaluate", expression=_JS_STATE, returnByValue=True)
        except RuntimeError:  # e.g. the execution context was destroyed by a navigation
            return "", ""
        location, text = json.loads(answer.get("result", {}).get("value") or '["", ""]')
        return str(location), str(text)


class Browser:
    """One headless Chromium tab; every page is a fresh document, its cache stays warm."""

    def __init__(self, page: DevTools) -> None:
        self.page = page

    def rendered_text(self, url: str, expect: Sequence[str], timeout: float = 60.0) -> str:
        """The visible text of ``url`` once every string of ``expect`` is in it.

        Each page is a new document: the tab goes to about:blank first, so a single-page app
        cannot route to ``url`` inside the previous document and no text of an earlier page is
        taken for this one. Raises AssertionError with the missing strings and the last text
        seen (truncated) when they do not all appear within ``timeout`` seconds.
        """
        self._open(BLANK, timeout)
        navigation = self.page.call("Page.navigate", url=url)
        assert "errorText" not in navigation, f"{url}: {navigation['errorText']}"
        deadline = time.monotonic() + timeout
        text = ""
        while True:
            location, text = self.page.location_and_text()
            if location == BLANK:  # the navigation has not replaced the blank page yet
                text = ""
            missing = [wanted for wanted in expect if wanted not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        seen = " ".join(text.split())
        if len(seen) > 3000:
            seen = seen[:3000] + " [...]"
        raise AssertionError(
            f"{url} did not show {missing} within {timeout:.0f} s; last text seen:\n{seen}"
        )

    def screenshot(self, path: Path) -> bytes:
        """A PNG of the whole page as it is now (beyond the window: the page's full height),
        written to ``path``; returns its bytes."""
        import base64

        metrics = self.page.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.page.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        data = base64.b64decode(shot["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def _open(self, url: str, timeout: float) -> None:
        self.page.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while self.page.location_and_text()[0] != url:
            assert time.monotonic() < deadline, f"chromium did not open {url}"
            time.sleep(0.05)


@contextmanager
def open_browser(chromium: Path | None = None, start_timeout: float = 60.0) -> Iterator[Browser]:
    """A fresh headless Chromium (own profile, own process group), stopped on exit."""
    binary = chromium or ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as folder:
        profile = Path(folder)
        log_path = profile / "chromium.log"
        command = [
            str(binary), *FLAGS, f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--user-data-dir={profile}", BLANK,
        ]  # fmt: skip
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            port = _devtools_port(profile, process, log_path, start_timeout)
            with connect(_page_socket(port, start_timeout), max_size=None) as socket:
                yield Browser(DevTools(socket))
        finally:
            _stop(process)


def rendered_text(
    url: str, expect: Sequence[str], timeout: float = 60.0, *, browser: Browser | None = None
) -> str:
    """The visible text of ``url`` once every string of ``expect`` is in it (see
    ``Browser.rendered_text``), in ``browser`` or in a browser started for this page alone."""
    if browser is not None:
        return browser.rendered_text(url, expect, timeout)
    with open_browser() as fresh:
        return fresh.rendered_text(url, expect, timeout)


def _devtools_port(
    profile: Path, process: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> int:
    """The port Chromium announces in ``DevToolsActivePort`` once it listens."""
    announced = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"chromium exited:\n{log_path.read_text(errors='replace')}"
        lines = announced.read_text().split() if announced.exists() else []
        if len(lines) == 2:  # the port, then the browser's websocket path: fully written
            return int(lines[0])
        time.sleep(0.1)
    raise AssertionError(f"chromium did not start in {timeout:.0f} s:\n{log_path.read_text()}")


def _page_socket(port: int, timeout: float) -> str:
    """The websocket address of the browser's first page target."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
            targets = json.loads(answer.read())
        pages = [t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"]
        if pages:
            return str(pages[0])
        assert time.monotonic() < deadline, f"no page target in chromium: {targets}"
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the browser's process group (renderers, zygote, GPU process), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with suppress(ProcessLookupError):  # any child that outlived the browser itself
        os.killpg(process.pid, signal.SIGKILL)
