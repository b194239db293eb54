"""Supply-chain check: every package pinned in uv.lock (runtime and dev) against two
vulnerability databases, through pip-audit: PyPI's vulnerability API (the Python Packaging
Advisory Database) and OSV (which also carries the GitHub advisories).

It fails closed (security review #16):

- a known vulnerability fails (exit 1), whether a fixed release exists or not, unless the
  reviewed ignore file (.ci/audit-ignore.toml) lists it for that package with a reason and an
  expiry date; an expired entry fails too (exit 1), so every exception is looked at again;
- anything that could not be audited fails (exit 3): a package a service could not look up, or
  a service pip-audit could not reach at all. ``AUDIT_OFFLINE_OK=1`` turns that into a printed
  "NOT AUDITED" that passes, for a machine without a route to the services; `make test` sets
  it (the tests must run in a sandbox without one: an advisory found still fails them), and
  `make audit`, the release gate, never does;
- a broken ignore file or a failed export stops the check (exit 2).

    python .ci/audit.py [--uv "uv"] [--service pypi --service osv] [--ignore-file PATH]
    python .ci/audit.py --report pypi=recorded.json ...   # judge recorded pip-audit JSON only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ROOT / ".ci" / "audit-ignore.toml"
SERVICES = ("pypi", "osv")
# exit codes
OK, VULNERABLE, BROKEN, NOT_AUDITED = 0, 1, 2, 3
IGNORE_FIELDS = ("id", "package", "reason", "expires")


class IgnoreFileError(ValueError):
    """The reviewed ignore file is not what this check accepts."""


@dataclass(frozen=True)
class Ignored:
    """One reviewed exception: advisory ``id`` (or any of its aliases) in ``package``."""

    id: str
    package: str
    reason: str
    expires: dt.date


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def load_ignores(path: Path) -> list[Ignored]:
    """The entries of ``path`` (``[[ignore]]`` tables with id, package, reason, expires as a
    TOML date); a missing file means no exception. Anything else is refused, naming the entry."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise IgnoreFileError(f"{path}: not TOML: {error}") from None
    unknown = sorted(set(data) - {"ignore"})
    if unknown:
        raise IgnoreFileError(f"{path}: unknown key(s) {unknown}; only [[ignore]] tables")
    entries = []
    for number, entry in enumerate(data.get("ignore", []), start=1):
        missing = [key for key in IGNORE_FIELDS if not entry.get(key)]
        extra = sorted(set(entry) - set(IGNORE_FIELDS))
        if missing or extra:
            raise IgnoreFileError(
                f"{path}: entry {number} ({entry.get('id', '?')}): "
                + (f"missing {missing}" if missing else f"unknown key(s) {extra}")
            )
        expires = entry["expires"]
        if not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
            raise IgnoreFileError(
                f"{path}: entry {number} ({entry['id']}): expires must be a date "
                f"(expires = 2027-01-31), not {expires!r}"
            )
        entries.append(
            Ignored(str(entry["id"]), str(entry["package"]), str(entry["reason"]), expires)
        )
    return entries


def verdict(
    report: dict[str, Any] | None,
    ignores: Sequence[Ignored] = (),
    *,
    service: str = "pypi",
    today: dt.date | None = None,
    offline_ok: bool = False,
    failure: str = "",
) -> tuple[int, list[str], set[Ignored]]:
    """The exit code, the lines to print and the ignore entries used, for one service's
    pip-audit JSON ``report`` (None: pip-audit produced none; ``failure`` says why)."""
    today = today or dt.date.today()
    if report is None:
        line = f"{service}: NOT AUDITED: pip-audit failed: {failure or 'no report'}"
        return (OK if offline_ok else NOT_AUDITED), [line], set()
    packages = report["dependencies"]
    skipped = [p for p in packages if "skip_reason" in p]
    used: set[Ignored] = set()
    failing, accepted = [], []
    for package in packages:
        for vuln in package.get("vulns", []):
            names = {vuln["id"], *vuln.get("aliases", [])}
            entry = next(
                (
                    e
                    for e in ignores
                    if e.id in names and _normal(e.package) == _normal(package["name"])
                ),
                None,
            )
            fixes = ", ".join(vuln["fix_versions"]) or "no release yet"
            line = f"{package['name']} {package['version']}: {vuln['id']} (fixed in {fixes})"
            if entry is None:
                failing.append(f"{service}: vulnerable: {line}")
            elif entry.expires < today:
                used.add(entry)
                failing.append(
                    f"{service}: vulnerable: {line}; its ignore entry {entry.id} expired on "
                    f"{entry.expires.isoformat()}: review it again"
                )
            else:
                used.add(entry)
                accepted.append(
                    f"{service}: ignored until {entry.expires.isoformat()}: {line}: {entry.reason}"
                )
    lines = accepted + failing
    audited = len(packages) - len(skipped)
    summary = (
        f"{service}: {audited} of {len(packages)} locked packages audited, "
        f"{len(failing)} vulnerabilities failing, {len(accepted)} ignored by review"
    )
    if skipped:
        names = ", ".join(p["name"] for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        summary += f"; NOT AUDITED: {len(skipped)} ({names}: {skipped[0]['skip_reason']})"
    lines.append(summary)
    if failing:
        return VULNERABLE, lines, used
    if skipped and not offline_ok:
        return NOT_AUDITED, lines, used
    return OK, lines, used


def judge(
    reports: dict[str, tuple[dict[str, Any] | None, str]],
    ignores: Sequence[Ignored],
    *,
    today: dt.date | None = None,
    offline_ok: bool = False,
) -> tuple[int, list[str]]:
    """Every service's verdict together: the worst code (vulnerable before not audited), and
    a note for each ignore entry no service reported (a candidate for removal)."""
    codes, lines, used = [], [], set()
    for service, (report, failure) in reports.items():
        code, found, entries = verdict(
            report, ignores, service=service, today=today, offline_ok=offline_ok, failure=failure
        )
        codes.append(code)
        lines.extend(found)
        used |= entries
    audited_somewhere = any(
        report is not None and any("skip_reason" not in p for p in report["dependencies"])
        for report, _ in reports.values()
    )
    for entry in ignores:
        if entry not in used and audited_somewhere:
            lines.append(
                f"note: ignore entry {entry.id} ({entry.package}) matched nothing reported"
            )
    if offline_ok and NOT_AUDITED not in codes and any("NOT AUDITED" in line for line in lines):
        lines.append("AUDIT_OFFLINE_OK=1: what was not audited passes")
    code = VULNERABLE if VULNERABLE in codes else NOT_AUDITED if NOT_AUDITED in codes else OK
    return code, lines


def run_pip_audit(
    requirements: Path, service: str, folder: Path
) -> tuple[dict[str, Any] | None, str]:
    report = folder / f"audit-{service}.json"
    audited = subprocess.run(
        [str(Path(sys.executable).parent / "pip-audit"), "--requirement", str(requirements),
         "--disable-pip", "--require-hashes", "--progress-spinner", "off", "--format", "json",
         "--vulnerability-service", service, "--output", str(report)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if not report.exists():  # pip-audit itself failed (no route to the service, resolution)
        tail = [line for line in (audited.stderr or audited.stdout).splitlines() if line.strip()]
        return None, (tail[-1][:300] if tail else f"exit {audited.returncode}")
    return json.loads(report.read_text()), ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default="uv", help="the uv command (default: uv)")
    parser.add_argument(
        "--service",
        action="append",
        choices=SERVICES,
        help="a vulnerability service (default: both)",
    )
    parser.add_argument("--ignore-file", type=Path, default=IGNORE_FILE)
    parser.add_argument(
        "--report", action="append", default=[], metavar="SERVICE=PATH",
        help="judge this recorded pip-audit JSON instead of running pip-audit",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        ignores = load_ignores(args.ignore_file)
    except IgnoreFileError as error:
        print(f"audit: {error}", file=sys.stderr)
        return BROKEN
    reports: dict[str, tuple[dict[str, Any] | None, str]] = {}
    if args.report:
        for item in args.report:
            service, _, path = item.partition("=")
            reports[service] = (json.loads(Path(path).read_text(encoding="utf-8")), "")
    else:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            requirements = folder / "requirements.txt"
            subprocess.run(
                [*shlex.split(args.uv), "export", "--locked", "--all-groups",
                 "--no-emit-project", "--quiet", "--format", "requirements-txt",
                 "--output-file", str(requirements)],
                cwd=ROOT, check=True,
            )  # fmt: skip
            for service in args.service or SERVICES:
                reports[service] = run_pip_audit(requirements, service, folder)
    code, lines = judge(reports, ignores, offline_ok=os.environ.get("AUDIT_OFFLINE_OK") == "1")
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
