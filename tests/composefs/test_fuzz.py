"""The composefs fuzz targets of :mod:`.fuzz_targets`, a few hundred examples each so that they
run in seconds; no database, derandomized: every run makes the same search, and a failure prints
the input that caused it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from .fuzz_targets import TARGETS


@pytest.mark.parametrize("name,target,inputs,examples", TARGETS, ids=[t[0] for t in TARGETS])
def test_fuzz(name, target, inputs, examples) -> None:
    run = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))(given(inputs)(target))
    run()
