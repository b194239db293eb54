"""Run the training flow on a prepared project and print phase timings as one JSON line."""

from __future__ import annotations

import json
import sys
import time

started = time.perf_counter()
from tasks.runtime import apply_defaults  # noqa: E402

apply_defaults()
from flows.training import training_flow  # noqa: E402

imported = time.perf_counter()
result = training_flow(project=sys.argv[1])
finished = time.perf_counter()
stage_seconds = {s.name: s.seconds for s in result.stages}
print(
    json.dumps(
        {
            "import": imported - started,
            "flow": finished - imported,
            "stages": stage_seconds,
            "orchestration": (finished - imported) - sum(stage_seconds.values()),
            "test_roc_auc": result.metrics["test"]["roc_auc"],
        }
    )
)
