"""The ``mlops`` entry point: hand the command to this project's warm command server when
``mlops up`` runs one (cli/warm.py: the libraries are imported there already), otherwise run it
in this process. Only the standard library is imported before that choice."""

from __future__ import annotations

import sys


def main() -> None:
    from cli import warm

    code = warm.forward(sys.argv)
    if code is not None:
        sys.exit(code)
    from cli.main import app

    app()
