"""ociclient.schema.load_json refuses a deeply nested document from its text, before
json.loads recurses towards the interpreter's limit (where a garbage-collected finalizer
fails too and prints a traceback beside our error: seen once in a full run)."""

from __future__ import annotations

import json

import pytest

from ociclient.errors import OciError
from ociclient.schema import load_json


@pytest.mark.parametrize("text", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000])
def test_a_document_nested_past_the_limit_is_refused_from_its_text(text, monkeypatch):
    def never(*a, **k):
        raise AssertionError("json.loads reached")
    monkeypatch.setattr(json, "loads", never)
    with pytest.raises(OciError, match="nested more than 64 levels deep"):
        load_json(text, "image config", OciError)


def test_brackets_inside_strings_and_escapes_do_not_count():
    doc = {"a": "[[[[[[[[" * 40, "b": ['\\"[[[[' * 40, {"c": "{" * 200}]}
    assert load_json(json.dumps(doc).encode(), "x", OciError) == doc
    deep = json.loads("[" * 64 + "]" * 64)
    assert load_json(json.dumps(deep), "x", OciError) == deep
    with pytest.raises(OciError, match="nested more than 64"):
        load_json("[" * 65 + "]" * 65, "x", OciError)


def test_unterminated_strings_of_escaped_quotes_are_scanned_in_linear_time():
    import time
    text = b"[" * 100 + b'\\"' * 200_000  # 400 kB: quadratic scanning would take minutes
    start = time.monotonic()
    with pytest.raises(OciError, match="nested more than 64"):
        load_json(text, "image config", OciError)
    assert time.monotonic() - start < 5
    with pytest.raises(OciError, match="not valid JSON"):
        load_json(b'[["a\\', "image config", OciError)
