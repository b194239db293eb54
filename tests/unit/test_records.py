"""The report files' schemas (tasks/records.py), and the two bugs they were made to end: the
promotion report written in two shapes, and the training summary printing the gate's
decision dict where its event belonged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.training import StageOutcome, TrainingResult, _summary_markdown
from tasks.pipeline.common import read_record, write_record
from tasks.pipeline.promote import already_judged
from tasks.records import (
    PromotionRecord,
    RecordError,
    RegistrationRecord,
    ValidationRecord,
    parse,
)

DECISION = {
    "event": "promote",
    "rules": [{"name": "beats baseline", "passed": True, "detail": "roc_auc 0.83 vs 0.50"}],
}
JUDGED = PromotionRecord(
    event="promote",
    version="1",
    champion_before=None,
    champion_after="1",
    moved=True,
    judged=True,
    reason="beats baseline: roc_auc 0.8344 vs trivial baseline 0.5000",
    decision=DECISION,
)
VALIDATION = ValidationRecord(
    source="data/raw/customer-purchase/customer-purchase.csv",
    suite="customer-purchase",
    rows=20000,
    checks=65,
    success=True,
    failures=[
        {
            "rule": "expect_column_values_to_be_between",
            "column": "pages_viewed",
            "message": "3 values above 80",
            "severity": "warn",
            "count": 3,
            "percent": 0.015,
            "sample": [81, 90, 99],
            "rows": [4, 7, 9],
        }
    ],
)
REGISTRATION = RegistrationRecord(
    model_name="customer-purchase",
    version="1",
    fingerprint="ab" * 16,
    data_md5="5859cf8cd030f13f8abbaefd94cd539f",
)


def _result(promotion: PromotionRecord) -> TrainingResult:
    stages = [StageOutcome("promote", True, 0.25, "changed deps", {"event": promotion.event})]
    return TrainingResult(stages, REGISTRATION, {"task": "binary"}, VALIDATION, promotion)


def test_the_training_summary_names_the_gates_event_not_its_decision_dict() -> None:
    text = _summary_markdown(_result(JUDGED))

    assert text.splitlines()[-1] == (
        "Model **customer-purchase** version **1**: gate **promote** (beats baseline: roc_auc "
        "0.8344 vs trivial baseline 0.5000), champion none -> 1."
    )
    assert "{'" not in text
    assert "- warning: 3 values above 80" in text.splitlines()


def test_a_version_not_judged_again_has_the_same_shape_as_a_judged_one(tmp_path: Path) -> None:
    unchanged = PromotionRecord(
        event="unchanged",
        version="1",
        champion_before="1",
        champion_after="1",
        moved=False,
        judged=False,
        reason="version 1 is the champion",
        decision=None,
    )
    for record in (JUDGED, unchanged):
        write_record(record, tmp_path / "promotion.json")
        assert read_record(tmp_path / "promotion.json", PromotionRecord) == record
    assert sorted(JUDGED.model_dump()) == sorted(unchanged.model_dump())


def test_the_old_second_shape_of_the_promotion_report_is_refused_by_name(tmp_path: Path) -> None:
    old = {"version": "1", "decision": "champion", "champion": "1", "judged": False}

    with pytest.raises(RecordError) as raised:
        parse(old, PromotionRecord, "reports/promotion.json")

    message = str(raised.value)
    assert message.startswith("reports/promotion.json: not a PromotionRecord: ")
    assert "event: Field required" in message
    assert "champion: Extra inputs are not permitted" in message
    assert "decision: Input should be a valid dictionary" in message


def test_a_missing_report_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "registration.json"

    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_record(path, RegistrationRecord)


def test_the_registration_record_holds_nothing_machine_specific() -> None:
    # the promote stage depends on reports/registration.json in dvc.yaml: a run id, a tracking
    # URI or the aliases of the moment in it changed dvc.lock on every fresh clone
    assert sorted(RegistrationRecord.model_fields) == [
        "data_md5",
        "fingerprint",
        "model_name",
        "version",
    ]


@pytest.mark.parametrize(
    ("version", "champion", "tags", "reason"),
    [
        ("1", "1", {}, "version 1 is the champion"),
        (
            "2",
            "1",
            {"gate.decision": "refuse", "gate.against": "1"},
            "version 2 was already judged against champion 1: refuse",
        ),
        (
            "2",
            None,
            {"gate.decision": "pending", "gate.against": "none"},
            "version 2 was already judged against champion none: pending",
        ),
        ("2", "3", {"gate.decision": "refuse", "gate.against": "1"}, None),  # a new champion
        ("2", "1", {}, None),  # never judged
    ],
)
def test_already_judged(
    version: str, champion: str | None, tags: dict[str, str], reason: str | None
) -> None:
    assert already_judged(version, champion, tags) == reason


def test_a_real_search_and_a_real_fit_write_valid_tuning_records() -> None:
    """What the train stage writes (tasks/pipeline/train.py) passes the schema: a random
    search's result (its leaderboard is trial numbers) and a single fit's."""
    import numpy as np
    import pandas as pd

    from tasks.config import load_params
    from tasks.records import TuningRecord
    from tasks.steps.ingest import TableSchema
    from tasks.steps.train import describe_fit, fit_pipeline, training_rows
    from tasks.steps.tune import search

    params = load_params(
        Path(__file__).resolve().parents[2] / "params.yaml",
        [
            "tune.method=random",
            "tune.families=[logistic_regression]",
            "tune.trials=2",
            "tune.cv_folds=2",
        ],
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": (x[:, 0] + x[:, 1] > 0).astype(int)})
    schema = TableSchema(
        target="y", task="binary", numeric=("a", "b"), categorical=(), classes=(0, 1)
    )

    rows, counts = training_rows(frame[:60], schema, params.features, params.train.seed)
    result = search(
        rows, frame[60:], schema, params.features, params.models, params.train, params.tune,
        "roc_auc", 0.5,
    )  # fmt: skip
    fitted = describe_fit(result.model, counts)
    searched = TuningRecord.model_validate(
        {**result.to_dict(), "family": result.best_family, "training": fitted.report()}
    )
    # the leaderboard is the trials' numbers, best first (a list of dicts refused it)
    assert sorted(searched.leaderboard) == [0, 1]

    single = fit_pipeline(frame[:60], schema, params.features, params.models, params.train)
    fixed = TuningRecord.model_validate(
        {
            "method": "none",
            "family": params.train.model,
            "primary": "roc_auc",
            "trials": [],
            "leaderboard": [],
            "training": single.report(),
        }
    )
    assert fixed.training["rows"]["rows_out"] == 60
