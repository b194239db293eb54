"""Hypothesis profiles of the fuzz tests: ``ci`` (the default, small: every fuzz test together
well under a minute) and ``fuzz`` (``make fuzz``: FUZZ_PROFILE=fuzz, a hundred times more)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("FUZZ_PROFILE", "ci")
EXAMPLES = {"ci": 40, "fuzz": 4000}

for name, examples in EXAMPLES.items():
    settings.register_profile(
        name,
        max_examples=examples,
        deadline=None,  # a shared 2-core machine: time is checked by the tests' own bounds
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        derandomize=name == "ci",  # CI runs the same examples every time
        print_blob=True,
    )
settings.load_profile(PROFILE)
