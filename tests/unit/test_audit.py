"""The supply-chain check's verdict (.ci/audit.py) on pip-audit's JSON report format.

Offline: the reports are pip-audit 2.10's JSON format, either recorded from a real run
(tests/data/pip-audit/pypi-unreachable.json: this machine reaches PyPI's JSON API only through a
mirror, which answers 404 for every package version) or written in that format.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
RECORDED = ROOT / "tests" / "data" / "pip-audit"
_SPEC = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
assert _SPEC is not None and _SPEC.loader is not None
audit = importlib.util.module_from_spec(_SPEC)
sys.modules["ci_audit"] = audit  # dataclasses look their module up
_SPEC.loader.exec_module(audit)

TODAY = dt.date(2026, 12, 4)
MITIGATED = (
    "mitigated: our own loader (tasks/adapters/registry.load_checked) loads skops only with "
    "our reviewed types and a sha256 recorded at registration"
)


def _vuln(ident: str, fixes: list[str], aliases: list[str] | None = None) -> dict[str, Any]:
    return {"id": ident, "fix_versions": fixes, "aliases": aliases or [], "description": "."}


def _report(*packages: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": list(packages), "fixes": []}


CLEAN = {"name": "six", "version": "1.16.0", "vulns": []}
FIXABLE = {
    "name": "requests",
    "version": "2.19.1",
    "vulns": [_vuln("PYSEC-2018-28", ["2.20.0"], ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"])],
}
UNFIXED = {"name": "oldlib", "version": "0.1", "vulns": [_vuln("GHSA-aaaa-bbbb-cccc", [])]}
MLFLOW = {
    "name": "mlflow",
    "version": "3.17.2",
    "vulns": [_vuln("GHSA-mlfl-ow00-0001", [], ["CVE-2024-37052"])],
}


def _ignored(ident: str, package: str, expires: dt.date, reason: str = "reviewed") -> Any:
    return audit.Ignored(ident, package, reason, expires)


def test_a_vulnerability_with_a_fixed_release_fails() -> None:
    code, lines, _ = audit.verdict(_report(CLEAN, FIXABLE), today=TODAY)
    assert (code, lines) == (
        1,
        [
            "pypi: vulnerable: requests 2.19.1: PYSEC-2018-28 (fixed in 2.20.0)",
            "pypi: 2 of 2 locked packages audited, 1 vulnerabilities failing, 0 ignored by review",
        ],
    )


def test_a_vulnerability_without_a_fix_fails_unless_reviewed() -> None:
    """Before #16 this only warned (exit 0): an advisory nobody can upgrade away from is a
    decision somebody has to record, not a pass."""
    code, lines, _ = audit.verdict(_report(CLEAN, UNFIXED), service="osv", today=TODAY)
    assert (code, lines[0]) == (
        1,
        "osv: vulnerable: oldlib 0.1: GHSA-aaaa-bbbb-cccc (fixed in no release yet)",
    )
    entry = _ignored("GHSA-aaaa-bbbb-cccc", "oldlib", dt.date(2027, 1, 31))
    code, lines, used = audit.verdict(_report(CLEAN, UNFIXED), [entry], today=TODAY)
    assert (code, used) == (0, {entry})
    assert lines == [
        "pypi: ignored until 2027-01-31: oldlib 0.1: GHSA-aaaa-bbbb-cccc (fixed in no release "
        "yet): reviewed",
        "pypi: 2 of 2 locked packages audited, 0 vulnerabilities failing, 1 ignored by review",
    ]


def test_an_ignore_entry_matches_any_alias_but_only_its_own_package() -> None:
    until = dt.date(2027, 1, 1)
    by_cve = [_ignored("CVE-2018-18074", "requests", until)]
    assert audit.verdict(_report(FIXABLE), by_cve, today=TODAY)[0] == 0
    assert audit.verdict(_report(FIXABLE), [_ignored("PYSEC-2018-28", "Requests", until)],
                         today=TODAY)[0] == 0  # fmt: skip
    # the same advisory id reviewed for another package covers nothing here
    other = [_ignored("CVE-2018-18074", "urllib3", until)]
    assert audit.verdict(_report(FIXABLE), other, today=TODAY)[0] == 1


def test_an_expired_ignore_entry_fails() -> None:
    entry = _ignored("CVE-2024-37052", "mlflow", dt.date(2026, 12, 3))
    code, lines, _ = audit.verdict(_report(MLFLOW), [entry], today=TODAY)
    assert (code, lines[0]) == (
        1,
        "pypi: vulnerable: mlflow 3.17.2: GHSA-mlfl-ow00-0001 (fixed in no release yet); its "
        "ignore entry CVE-2024-37052 expired on 2026-12-03: review it again",
    )
    # the last day of an entry still counts
    assert audit.verdict(_report(MLFLOW), [entry], today=dt.date(2026, 12, 3))[0] == 0


def test_packages_not_looked_up_fail_unless_offline_is_allowed() -> None:
    """Before #16 a partly audited lock passed silently (exit 0)."""
    skipped = {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI"}
    code, lines, _ = audit.verdict(_report(CLEAN, skipped), today=TODAY)
    assert (code, lines) == (
        3,
        [
            "pypi: 1 of 2 locked packages audited, 0 vulnerabilities failing, 0 ignored by "
            "review; NOT AUDITED: 1 (private-pkg: Dependency not found on PyPI)"
        ],
    )
    assert audit.verdict(_report(CLEAN, skipped), today=TODAY, offline_ok=True)[0] == 0


def test_a_service_pip_audit_could_not_reach_fails_unless_offline_is_allowed() -> None:
    failure = "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.osv.dev')"
    assert audit.verdict(None, service="osv", failure=failure, today=TODAY) == (
        3,
        [f"osv: NOT AUDITED: pip-audit failed: {failure}"],
        set(),
    )
    assert audit.verdict(None, service="osv", failure=failure, offline_ok=True)[0] == 0


def test_every_service_counts_and_vulnerable_wins() -> None:
    reports = {"pypi": (_report(CLEAN, UNFIXED), ""), "osv": (None, "no route")}
    # nothing audited anywhere: no note about unused entries (nothing could have matched)
    stale = _ignored("CVE-2000-0001", "six", dt.date(2027, 1, 1))
    assert audit.judge({"osv": (None, "no route")}, [stale], today=TODAY)[1] == [
        "osv: NOT AUDITED: pip-audit failed: no route"
    ]
    code, lines = audit.judge(reports, [], today=TODAY)
    assert code == 1
    assert "osv: NOT AUDITED: pip-audit failed: no route" in lines
    entry = _ignored("GHSA-aaaa-bbbb-cccc", "oldlib", dt.date(2027, 1, 1))
    code, lines = audit.judge(reports, [entry, stale], today=TODAY)
    assert code == 3  # the unreachable service still fails the build
    assert lines[-1] == "note: ignore entry CVE-2000-0001 (six) matched nothing reported"
    code, lines = audit.judge(reports, [entry], today=TODAY, offline_ok=True)
    assert (code, lines[-1]) == (0, "AUDIT_OFFLINE_OK=1: what was not audited passes")


def test_the_reviewed_ignore_file_holds_the_mlflow_deserialization_advisories() -> None:
    entries = audit.load_ignores(audit.IGNORE_FILE)
    assert [(e.id, e.package, e.reason) for e in entries] == [
        (f"CVE-2024-{n}", "mlflow", MITIGATED) for n in range(37052, 37061)
    ]
    # an expiry within months, so that the decision is reviewed again
    assert {e.expires for e in entries} == {dt.date(2027, 3, 31)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[ignore]]\nid = "X-1"\npackage = "a"\nexpires = 2027-01-01\n',
         "entry 1 (X-1): missing ['reason']"),
        ('[[ignore]]\nid = "X-1"\npackage = "a"\nreason = "r"\nexpires = "soon"\n',
         "entry 1 (X-1): expires must be a date (expires = 2027-01-31), not 'soon'"),
        ('[[ignore]]\nid = "X-1"\npackage = "a"\nreason = "r"\nexpires = 2027-01-01\nby = "me"\n',
         "entry 1 (X-1): unknown key(s) ['by']"),
        ('ignore = "X-1"\nother = 1\n', "unknown key(s) ['other']; only [[ignore]] tables"),
    ],
)  # fmt: skip
def test_a_broken_ignore_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "audit-ignore.toml"
    path.write_text(text)
    with pytest.raises(audit.IgnoreFileError) as caught:
        audit.load_ignores(path)
    assert str(caught.value) == f"{path}: {message}"


def test_main_judges_a_recorded_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip-audit's real answer on a machine that reaches PyPI only through a mirror: every
    package skipped. That fails (3) unless AUDIT_OFFLINE_OK=1 says it may pass."""
    recorded = f"pypi={RECORDED / 'pypi-unreachable.json'}"
    monkeypatch.delenv("AUDIT_OFFLINE_OK", raising=False)
    assert audit.main(["--report", recorded]) == 3
    assert capsys.readouterr().out.splitlines() == [
        "pypi: 0 of 1 locked packages audited, 0 vulnerabilities failing, 0 ignored by review; "
        "NOT AUDITED: 1 (six: Dependency not found on PyPI and could not be audited: six "
        "(1.16.0))",
    ]
    monkeypatch.setenv("AUDIT_OFFLINE_OK", "1")
    assert audit.main(["--report", recorded]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "AUDIT_OFFLINE_OK=1: what was not audited passes"
    )


def test_main_stops_on_a_broken_ignore_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ignore.toml"
    path.write_text("[[ignore]\n")
    recorded = f"pypi={RECORDED / 'pypi-unreachable.json'}"
    assert audit.main(["--report", recorded, "--ignore-file", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"audit: {path}: not TOML: ")


def test_make_audit_queries_both_services_and_allows_nothing_by_default() -> None:
    """`make audit`, the release gate, allows nothing unaudited; `make test` runs the same
    audit with AUDIT_OFFLINE_OK=1 (an advisory found fails it; no route does not)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets: dict[str, list[str]] = {}
    current = ""
    for line in makefile.splitlines():
        if re.match(r"^[a-z-]+:", line):
            current = line.split(":")[0]
            targets[current] = []
        elif line.startswith("\t") and current:
            targets[current].append(line)
    assert targets["audit"] == ['\t$(BIN)/python .ci/audit.py --uv "$(UV)"']
    assert targets["test"][0] == '\tAUDIT_OFFLINE_OK=1 $(BIN)/python .ci/audit.py --uv "$(UV)"'
    assert makefile.count("AUDIT_OFFLINE_OK=1") == 1
    assert audit.SERVICES == ("pypi", "osv")
