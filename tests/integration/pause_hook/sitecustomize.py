"""Test-only fault injection point for tests/integration/test_faults.py, never on a production
path: a process started with this folder on ``PYTHONPATH`` and ``MLOPS_TEST_PAUSE_ON=TEXT``
stops for good the first time it opens a file whose path contains TEXT (an audit hook on
``open``, so it sees ``tempfile.mkstemp`` and MLflow's downloads alike), after creating the
file ``MLOPS_TEST_PAUSE_MARKER``. The test waits for the marker and then SIGKILLs the process
group: the kill lands at a known point inside the stage, from outside, as a crash would.
"""

from __future__ import annotations

import os
import sys
import time

_TEXT = os.environ.get("MLOPS_TEST_PAUSE_ON", "")
_MARKER = os.environ.get("MLOPS_TEST_PAUSE_MARKER", "")
_paused = False


def _hook(event: str, args: tuple[object, ...]) -> None:
    global _paused
    if event != "open" or _paused or not args or _TEXT not in str(args[0]):
        return
    _paused = True
    with open(_MARKER, "w") as marker:
        marker.write(f"{os.getpid()} {args[0]}\n")
    while True:
        time.sleep(60)


if _TEXT and _MARKER:
    sys.addaudithook(_hook)
