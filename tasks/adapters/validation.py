"""The Great Expectations adapter: the only module that calls GE.

``run_suite`` validates a DataFrame against a suite (a GE 1.x suite dict) in an ephemeral
context, with nothing written; ``build_data_docs`` runs a checkpoint in a scratch file context
under ``gx/uncommitted/docs/`` so the HTML Data Docs show the result. An exception raised inside an
expectation is a failed outcome, never a pass.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.jsonsafe import plain
from tasks.types import ExpectationOutcome

CONTEXT_DIR = "gx"
_DATASOURCE = "pandas"
_ASSET = "batch"
_BATCH = "whole"


def _quiet() -> None:
    for name in ("great_expectations", "great_expectations.core", "tzlocal"):
        logging.getLogger(name).setLevel(logging.ERROR)


def ge_suite(gx: Any, suite: dict[str, Any]) -> Any:
    """A GE ``ExpectationSuite`` from the suite's JSON dict."""
    return gx.ExpectationSuite(
        name=suite["name"],
        id=suite.get("id"),
        expectations=[dict(e) for e in suite["expectations"]],
        meta=dict(suite.get("meta", {})),
    )


def _severity(config: Any) -> str:
    """GE's severity as text: ``critical``, ``warning`` or ``info`` (GE returns an enum)."""
    severity = getattr(config, "severity", None) or "critical"
    return str(getattr(severity, "value", severity))


def run_suite(
    frame: pd.DataFrame, suite: dict[str, Any], sample_size: int = 5
) -> list[ExpectationOutcome]:
    """Validate ``frame`` against ``suite``; one outcome per expectation, in suite order."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas(_DATASOURCE).add_dataframe_asset(_ASSET)
    batch = asset.add_batch_definition_whole_dataframe(_BATCH).get_batch(
        batch_parameters={"dataframe": frame}
    )
    result = batch.validate(
        ge_suite(gx, suite),
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": sample_size},
    )
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        details = item.result or {}
        raised = bool(item.exception_info and item.exception_info.get("raised_exception"))
        error = None
        if raised:
            error = str(item.exception_info.get("exception_message", "")).strip().splitlines()[0]
        outcomes.append(
            ExpectationOutcome(
                type=config.type,
                column=config.kwargs.get("column"),
                kwargs=dict(config.kwargs),
                severity=_severity(config),
                success=bool(item.success) and not raised,
                element_count=int(details.get("element_count") or 0),
                unexpected_count=int(details.get("unexpected_count") or 0),
                unexpected_percent=float(details.get("unexpected_percent") or 0.0),
                sample=tuple(plain(v) for v in details.get("partial_unexpected_list") or ()),
                rows=tuple(
                    int(i) if not isinstance(i, dict) else -1
                    for i in details.get("partial_unexpected_index_list") or ()
                ),
                observed=plain(details.get("observed_value"))
                if not isinstance(details.get("observed_value"), list | dict)
                else details.get("observed_value"),
                error=error,
                meta=dict(config.meta or {}),
            )
        )
    return outcomes


def build_data_docs(root: Path, frame: pd.DataFrame, suite: dict[str, Any]) -> Path:
    """Validate ``frame`` through a checkpoint and rebuild the Data Docs; return the path of
    their index page."""
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet()
    # GE rewrites the suites of its file context in its own format; the reviewed suites in
    # gx/expectations/ stay untouched by giving the Data Docs their own scratch context.
    scratch = root / CONTEXT_DIR / "uncommitted" / "docs"
    context = gx.get_context(mode="file", project_root_dir=str(scratch))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    gx_suite = context.suites.add_or_update(ge_suite(gx, suite))
    source = context.data_sources.add_or_update_pandas(_DATASOURCE)
    asset = next((a for a in source.assets if a.name == _ASSET), None)
    asset = asset or source.add_dataframe_asset(_ASSET)
    definition = next((b for b in asset.batch_definitions if b.name == _BATCH), None)
    definition = definition or asset.add_batch_definition_whole_dataframe(_BATCH)
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite["name"], data=definition, suite=gx_suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite["name"],
            validation_definitions=[validation],
            actions=[UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "SUMMARY"},
        )
    )
    checkpoint.run(batch_parameters={"dataframe": frame})
    return scratch / CONTEXT_DIR / "uncommitted" / "data_docs" / "local_site" / "index.html"
