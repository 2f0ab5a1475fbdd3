"""Hypothesis settings of the property tests (tests/property).

The ``laps`` profile is what ``make test`` and CI run: derandomized (the same examples on every
run and machine, so a failure reproduces and a pass is not luck), a bounded number of examples
per test (the folder runs in well under a minute on one core), no deadline (shared CI cores make
timings noisy), no example database written into the working tree. ``HYPOTHESIS_PROFILE=explore``
searches with fresh random examples and more of them, for a local bug hunt::

    HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest tests/property -q
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "laps",
    derandomize=True,
    max_examples=40,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    max_examples=500,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "laps"))
