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


def warm_server(root: str) -> None:
    """The warm command server (cli/warm.py) of the project at ``root``; returns in a command
    process only, which then runs the command line as the client's ``mlops`` would."""
    import os
    from pathlib import Path

    from cli import warm

    folder = Path(root).resolve()
    os.chdir(folder)
    request = warm.serve(folder, warm.preload_extra())
    warm.become(request)
    from cli.main import app

    # click names the program after sys.argv[0] for a script, "python -m cli.entry" here
    warm.run_to_exit(lambda: app(prog_name=os.path.basename(sys.argv[0])))


if __name__ == "__main__":
    if sys.argv[1:2] != ["--warm-server"] or len(sys.argv) != 3:
        sys.exit("usage: python -P -m cli.entry --warm-server PROJECT")
    warm_server(sys.argv[2])
