"""Compatibility tests of ostreepy against the real `ostree` CLI (issue 2).

Run:   .venv/bin/python -m pytest -n 2 tests/ostree
Check the harness with ostree on both sides:
       OSTREEPY_CMD=ostree .venv/bin/python -m pytest -n 2 tests/ostree
(tests marked ``stricter_than_ostree`` are then xfail: C ostree does not do them).

treebuilder.py  the edge-case tree (and the same tree as a tar)
treecompare.py  tree snapshots and readable diffs
conftest.py     Tool wrappers for both CLIs, repo fixtures
"""
