"""Bounded fuzzing of ociclient's parsers (manifest/index, image config, auth.json,
registries.conf, layout index.json): only OciError subclasses may escape. The targets live in
``ocifuzz_targets.py``; ``scripts/fuzz.py`` runs them with many more examples."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from ocifuzz_targets import TARGETS, run_target

FEW = settings(max_examples=150, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parsers_raise_only_oci_errors(name):
    fn, strategy = TARGETS[name]

    @FEW
    @given(strategy)
    def fuzz(value):
        run_target(fn, value)

    fuzz()
