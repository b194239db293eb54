"""The supply-chain check's verdict (.ci/audit.py) on pip-audit's JSON report format."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "ci_audit", Path(__file__).parents[2] / ".ci" / "audit.py"
)
assert _SPEC is not None and _SPEC.loader is not None
audit = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(audit)


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


def test_a_vulnerability_with_a_fixed_release_fails() -> None:
    assert audit.verdict(_report(CLEAN, FIXABLE, UNFIXED)) == (
        1,
        [
            "warning: oldlib 0.1: GHSA-aaaa-bbbb-cccc (fixed in no release yet)",
            "vulnerable: requests 2.19.1: PYSEC-2018-28 (fixed in 2.20.0)",
            "pip-audit: 3 of 3 locked packages audited, 1 known vulnerabilities with a fixed "
            "release, 1 without",
        ],
    )


def test_a_vulnerability_without_a_fix_only_warns() -> None:
    code, lines = audit.verdict(_report(CLEAN, UNFIXED))
    assert code == 0
    assert lines[0] == "warning: oldlib 0.1: GHSA-aaaa-bbbb-cccc (fixed in no release yet)"


def test_an_advisory_can_be_ignored_by_any_of_its_names() -> None:
    assert audit.verdict(_report(FIXABLE), ["GHSA-x84v-xcm2-53pg"])[0] == 0
    assert audit.verdict(_report(FIXABLE), ["PYSEC-2018-28"])[0] == 0
    assert audit.verdict(_report(FIXABLE), ["GHSA-other"])[0] == 1


def test_packages_not_looked_up_are_named() -> None:
    skipped = {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI"}
    code, lines = audit.verdict(_report(CLEAN, skipped))
    assert (code, lines[-1]) == (
        0,
        "pip-audit: 1 of 2 locked packages audited, 0 known vulnerabilities with a fixed "
        "release, 0 without; not audited: private-pkg",
    )


@pytest.mark.parametrize(("required", "code"), [(None, 0), ("1", 3)])
def test_nothing_audited_is_said_and_fails_when_an_audit_is_required(
    monkeypatch: pytest.MonkeyPatch, required: str | None, code: int
) -> None:
    if required is None:
        monkeypatch.delenv("AUDIT_REQUIRED", raising=False)
    else:
        monkeypatch.setenv("AUDIT_REQUIRED", required)
    skipped = [
        {"name": n, "skip_reason": f"Dependency not found on PyPI and could not be audited: {n}"}
        for n in ("a", "b")
    ]
    assert audit.verdict(_report(*skipped)) == (
        code,
        [
            "pip-audit: NOT AUDITED: none of the 2 locked packages could be looked up "
            "(Dependency not found on PyPI and could not be audited: a)"
        ],
    )
