"""Run every benchmark (`make bench`); each writes its table into benchmarks/results/."""

from __future__ import annotations

import sys

from benchmarks import (
    cli_startup,
    drift,
    drift_event,
    real_tables,
    recovery,
    serving,
    serving_swap,
    speed,
    training_overhead,
    tuning,
    validation_gate,
)


def main() -> None:
    sys.argv = sys.argv[:1]
    cli_startup.main()
    speed.main()
    validation_gate.main()
    training_overhead.main()
    tuning.main()
    serving.main()
    serving_swap.main()
    drift.main()
    drift_event.main()
    real_tables.main()
    recovery.main()


if __name__ == "__main__":
    main()
