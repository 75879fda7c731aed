"""The fuzz targets of :mod:`.fuzz_targets`, each bounded to a few hundred
examples so that the whole set runs in seconds (``scripts/fuzz.py`` runs them
longer).  The database is off: every run starts from the same seedless search,
and a failure prints the input that caused it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from .fuzz_targets import TARGETS


@pytest.mark.parametrize("name,target,inputs,examples", TARGETS, ids=[t[0] for t in TARGETS])
def test_fuzz(name, target, inputs, examples):
    run = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))(given(inputs)(target))
    run()
