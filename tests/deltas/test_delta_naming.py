"""The names of static deltas (remote/deltas/naming.py): ostree's modified base64 of a checksum
and the paths built from it, tested with strings."""

import base64
import hashlib

import pytest

from ostreepy.remote.deltas import format as fmt
from ostreepy.remote.deltas.naming import mbase64_from_checksum, path_base


@pytest.mark.parametrize("checksum", ["0" * 64, "f" * 64, "0123456789abcdef" * 4, hashlib.sha256(b"x").hexdigest()])
def test_modified_base64_names_are_base64_s_with_underscore(checksum):
    # encoded on the integer (a pull needs the names without the base64 module): base64's own
    # digits, '_' for '/', no padding, and read back by the format's decoder
    ours = mbase64_from_checksum(checksum)
    assert ours == base64.b64encode(bytes.fromhex(checksum)).decode().rstrip("=").replace("/", "_")
    assert fmt.checksum_from_mbase64(ours) == checksum


def test_delta_paths_as_ostree_lays_them_out():
    a, b = "f" * 64, hashlib.sha256(b"x").hexdigest()
    b64 = mbase64_from_checksum(b)
    assert mbase64_from_checksum(a) == "_" * 42 + "8"
    assert path_base("deltas/", None, b) == f"deltas/{b64[:2]}/{b64[2:]}"
    assert fmt.delta_path(None, b) == f"deltas/{b64[:2]}/{b64[2:]}/superblock"
    assert fmt.delta_path(a, b) == f"deltas/__/{'_' * 40}8-{b64}/superblock"
    assert fmt.index_path(b) == f"delta-indexes/{b64[:2]}/{b64[2:]}.index"
