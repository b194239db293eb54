"""``summarize``: detection, false retrainings, recovery and the metric before, under and after
drift, from a timeline of steps (cli/simulate.py), with exact values."""

from __future__ import annotations

from cli.simulate import Scenario, Simulation, Step, format_summary, summarize


def _step(batch: int, metric: float, champion: str = "1", **kw: object) -> Step:
    values: dict[str, object] = {
        "drifting": batch >= 4,
        "drifted_share": None,
        "verdict": "healthy",
        "action": "none",
        "retrained": "",
        "gate": "",
    }
    values.update(kw)
    return Step(batch=batch, champion=champion, metric=metric, **values)  # type: ignore[arg-type]


# onset 4; drift seen at 5; retraining waits at 5, retrains and promotes v2 at 6; v2 scores 7+
TIMELINE = [
    _step(1, 0.75),
    _step(2, 0.875),
    _step(3, 0.875, verdict="drift", action="waiting for labels"),  # a false alarm
    _step(4, 0.5),
    _step(5, 0.5, verdict="drift", action="waiting for labels"),
    _step(6, 0.625, verdict="drift", action="retrain", retrained="v2", gate="promote"),
    _step(7, 0.75, champion="2"),
    _step(8, 1.0, champion="2"),
]


def test_the_summary_of_a_recovery_three_batches_after_the_onset() -> None:
    summary = summarize(TIMELINE, onset=4)

    assert summary == {
        "detected_at": 5,
        "detection_delay": 1,
        "false_alarms_before_onset": 1,
        "false_retrainings_before_onset": 0,
        "retrainings": 1,
        "first_promotion_after_onset": 6,
        "recovered_at": 7,  # the first batch the champion promoted at 6 scored
        "recovery_delay": 3,
        "metric_before_drift": 2.5 / 3,
        "metric_after_drift": 1.625 / 3,
        "metric_after_retraining": 0.875,
        "after_vs_before": 0.875 / (2.5 / 3) - 1.0,
    }
    assert format_summary(Simulation(_scenario(4), "roc_auc", TIMELINE, "/x", summary)) == [
        "detection delay: 1 batch(es) (onset at batch 4, detected at 5)",
        "false alarms before the onset: 1; false retrainings: 0; retrainings in all: 1",
        "recovery delay: 3 batch(es) (batch 7 is the first scored by a champion promoted after "
        "the onset, at batch 6)",
        "roc_auc before drift 0.8333, after drift 0.5417, after retraining 0.8750 (+5.0% "
        "against before drift)",
    ]


def test_a_promotion_at_the_last_batch_recovers_no_batch() -> None:
    steps = [*TIMELINE[:5], _step(6, 0.625, retrained="v2", gate="promote")]

    summary = summarize(steps, onset=4)

    assert summary["first_promotion_after_onset"] == 6
    assert (summary["recovered_at"], summary["recovery_delay"]) == (None, None)
    assert summary["metric_after_retraining"] is None
    assert format_summary(Simulation(_scenario(4), "roc_auc", steps, "/x", summary))[2] == (
        "recovery delay: not recovered (no batch scored by a champion promoted after the onset)"
    )


def test_a_refused_retraining_and_a_retraining_before_the_onset_do_not_recover() -> None:
    steps = [
        _step(1, 0.75),
        _step(2, 0.75, verdict="drift", action="retrain", retrained="v2", gate="refuse"),
        _step(4, 0.5, verdict="drift", action="retrain", retrained="v3", gate="refuse"),
        _step(5, 0.5),
    ]

    summary = summarize(steps, onset=4)

    assert summary["false_retrainings_before_onset"] == 1
    assert summary["retrainings"] == 2
    assert summary["detection_delay"] == 0
    assert (summary["first_promotion_after_onset"], summary["recovered_at"]) == (None, None)
    assert summary["metric_after_drift"] == 0.5


def _scenario(onset: int) -> Scenario:
    return Scenario(
        batches=8,
        onset=onset,
        label_delay=1,
        batch_rows=100,
        covariate=1.0,
        concept=1.0,
        training_rows=1000,
        seed=7,
        retrain_batches=2,
    )
