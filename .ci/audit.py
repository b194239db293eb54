"""Supply-chain check: every package pinned in uv.lock (runtime and dev) against the Python
Packaging Advisory Database, through pip-audit and PyPI's vulnerability API.

Fails (exit 1) on a known vulnerability that has a fixed release: the fix is a version bump
in uv.lock away. A vulnerability without any fix is listed as a warning and does not fail the
build (nothing to upgrade to; it is a decision to record, not a red CI). An ignored advisory
must be named with ``--ignore ID``, with the reason beside it in the Makefile.

When no package could be looked up (no route to the vulnerability service: on a machine that
reaches PyPI only through a mirror of its simple index, PyPI's JSON API answers 404 for every
package), nothing was audited: that is printed as such, and fails only with AUDIT_REQUIRED=1
(set it where the service is reachable, so that a broken route cannot pass for a clean audit).

    python .ci/audit.py [--uv "uv"] [--ignore GHSA-...]...
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def verdict(report: dict[str, Any], ignore: Sequence[str] = ()) -> tuple[int, list[str]]:
    """The exit code and the lines to print for pip-audit's JSON ``report``: 1 when a known
    vulnerability has a fixed release, 3 when no package could be audited and AUDIT_REQUIRED
    is set, else 0."""
    packages = report["dependencies"]
    skipped = [p for p in packages if "skip_reason" in p]
    fixable, unfixed = [], []
    for package in packages:
        for vuln in package.get("vulns", []):
            if vuln["id"] in ignore or set(vuln.get("aliases", [])) & set(ignore):
                continue
            line = (
                f"{package['name']} {package['version']}: {vuln['id']} "
                f"(fixed in {', '.join(vuln['fix_versions']) or 'no release yet'})"
            )
            (fixable if vuln["fix_versions"] else unfixed).append(line)
    lines = [f"warning: {line}" for line in unfixed] + [f"vulnerable: {line}" for line in fixable]
    if packages and len(skipped) == len(packages):
        lines.append(
            f"pip-audit: NOT AUDITED: none of the {len(packages)} locked packages could be looked "
            f"up ({skipped[0]['skip_reason']})"
        )
        return (3 if os.environ.get("AUDIT_REQUIRED") == "1" else 0), lines
    lines.append(
        f"pip-audit: {len(packages) - len(skipped)} of {len(packages)} locked packages audited, "
        f"{len(fixable)} known vulnerabilities with a fixed release, {len(unfixed)} without"
        + (f"; not audited: {', '.join(p['name'] for p in skipped)}" if skipped else "")
    )
    return (1 if fixable else 0), lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default="uv", help="the uv command (default: uv)")
    parser.add_argument("--ignore", action="append", default=[], help="an advisory id to skip")
    args = parser.parse_args(argv)
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        report = Path(folder) / "audit.json"
        subprocess.run(
            [*shlex.split(args.uv), "export", "--locked", "--all-groups", "--no-emit-project",
             "--quiet", "--format", "requirements-txt", "--output-file", str(requirements)],
            cwd=ROOT, check=True,
        )  # fmt: skip
        audited = subprocess.run(
            [str(bin_dir / "pip-audit"), "--requirement", str(requirements), "--disable-pip",
             "--require-hashes", "--progress-spinner", "off", "--format", "json",
             "--output", str(report)],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        if not report.exists():  # pip-audit itself failed (network, resolution)
            print(audited.stdout + audited.stderr, file=sys.stderr)
            return 2
        code, lines = verdict(json.loads(report.read_text()), args.ignore)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
