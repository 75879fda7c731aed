"""The pure rules: serials, boot serials, which deployments a write keeps,
pending/rollback, status text, kernel finding and the /etc diff."""

from __future__ import annotations

import hashlib
import json

import pytest

from bootloader.bls import BLSEntry
from ostreepy.sysroot.deployment import (Deployment, StatusRow, allocate_deployserial, assign_bootserials,
                                 format_status, merge_deployment_of, needs_new_bootversion,
                                 ostree_arg_of, parse_bootlink, parse_deploy_name, query_pending_rollback,
                                 simple_write_list, status_json)
from ostreepy.errors import DeployError
from ostreepy.sysroot.etcmerge import EtcEntry, diff_snapshots
from ostreepy.sysroot.kernel import find_kernel

from .conftest import write_tree

A, B, C = "a" * 64, "b" * 64, "c" * 64


def dep(osname="os", csum=A, serial=0, bootcsum="k1", opts="rw", origin="[origin]\nrefspec=x\n", **kw):
    return Deployment(osname=osname, csum=csum, deployserial=serial, bootcsum=bootcsum,
                      bootconfig=BLSEntry([("options", opts)]), origin_text=origin, **kw)


def test_names_and_bootlinks():
    assert parse_deploy_name(f"{A}.12") == (A, 12)
    with pytest.raises(DeployError):
        parse_deploy_name("x.y")
    assert parse_bootlink(f"/ostree/boot.1/myos/{B}/3") == (1, "myos", B, 3)
    with pytest.raises(DeployError):
        parse_bootlink("/ostree/boot.2/myos/x/0")
    assert ostree_arg_of("root=x  ostree=/ostree/boot.0/o/c/0 rw") == "/ostree/boot.0/o/c/0"
    assert ostree_arg_of("rw") is None


def test_serials():
    assert allocate_deployserial([], A) == 0
    assert allocate_deployserial([(A, 0), (B, 4), (A, 2)], A) == 3
    assert allocate_deployserial([(B, 4)], A) == 0
    out = assign_bootserials([dep(csum=A), dep(csum=B), dep(csum=C, bootcsum="k2"), dep(csum=A, serial=1)])
    assert [(d.bootserial, d.index) for d in out] == [(0, 0), (1, 1), (0, 2), (2, 3)]


def test_simple_write_list_rules():
    d0, d1, d2 = dep(csum=A), dep(csum=B), dep(csum=C)
    pinned = dep(csum=C, origin="[origin]\nrefspec=x\n[libostree-transient]\npinned=true\n")
    other = dep(osname="other", csum=C)
    new = dep(csum=A, serial=1)
    # not booted: keep the merge deployment only
    assert simple_write_list([d0, d1, d2], new, "os", d0, None) == [new, d0]
    assert simple_write_list([d0, d1, pinned, other], new, "os", d0, None) == [new, d0, pinned, other]
    assert simple_write_list([d0, d1], new, "os", d0, None, retain=True) == [new, d0, d1]
    # booted in the middle: pending dropped, booted kept, rollback kept only on request
    assert simple_write_list([d0, d1, d2], new, "os", d1, d1) == [new, d1]
    assert simple_write_list([d0, d1, d2], new, "os", d1, d1, retain_rollback=True) == [new, d1, d2]
    assert simple_write_list([d0, d1, d2], new, "os", d1, d1, retain_pending=True) == [new, d0, d1]
    assert simple_write_list([d0, d1, d2], new, "os", d1, d1, make_default=False) == [d1, new]
    assert simple_write_list([], new, "os", None, None, make_default=False) == [new]


def test_pending_rollback_and_merge():
    d0, d1, d2 = dep(csum=A), dep(csum=B), dep(csum=C)
    o = dep(osname="other", csum=C)
    assert query_pending_rollback([d0, d1, d2], "os", d1) == (d0, d2)
    assert query_pending_rollback([o, d0], "os", None) == (d0, None)
    assert merge_deployment_of([o, d0, d1], "os", None) == d0
    assert merge_deployment_of([d0, d1], "os", d1) == d1
    with pytest.raises(DeployError, match="no --os= argument"):
        merge_deployment_of([d0], None, None)


def test_needs_new_bootversion():
    cur = assign_bootserials([dep(csum=A), dep(csum=B)])
    versions = {A: "1", B: "1", C: "1"}
    same = assign_bootserials([dep(csum=C), dep(csum=A)])
    assert not needs_new_bootversion(cur, same, versions)
    assert needs_new_bootversion(cur, same[:1], versions)
    assert needs_new_bootversion(cur, assign_bootserials([dep(csum=C, opts="ro"), dep(csum=A)]), versions)
    assert needs_new_bootversion(cur, same, {A: "1", B: "1", C: "2"})
    # the ostree= argument does not count
    assert not needs_new_bootversion(cur, assign_bootserials([dep(csum=C, opts="rw ostree=/x"), dep(csum=A)]),
                                     versions)


def test_status_text_and_json():
    d = dep(csum=A, index=0)
    p = dep(csum=B, serial=2, index=1, origin="[origin]\nrefspec=r\n\n[libostree-transient]\npinned=true\n")
    n = dep(csum=C, index=2, origin=None)
    u = dep(csum=C, serial=1, index=3, origin="[origin]\ncontainer-image-reference=ostree-unverified-registry:q/x\n")
    s = dep(csum=A, serial=3, index=0, staged=True)
    rows = [StatusRow(s), StatusRow(d, "1.0", booted=True), StatusRow(p, rollback=True), StatusRow(n),
            StatusRow(u, source_title="src")]
    assert format_status(rows) == (
        f"  os {A}.3 (staged)\n    origin refspec: x\n"
        f"* os {A}.0\n    Version: 1.0\n    origin refspec: x\n"
        f"  os {B}.2 (rollback)\n    Pinned: yes\n    origin refspec: r\n"
        f"  os {C}.0\n    origin: none\n"
        f"  os {C}.1\n    origin: <unknown origin type>\n    `- src\n")
    assert format_status([]) == "No deployments.\n"
    j = json.loads(status_json(rows))
    assert j["deployments"][1] == {
        "checksum": A, "stateroot": "os", "refspec": "x", "serial": 0, "index": 0, "booted": True,
        "pending": False, "rollback": False, "finalization-locked": False, "soft-reboot-target": False,
        "staged": False, "pinned": False, "unlocked": "none", "version": "1.0"}
    assert j["deployments"][2]["pinned"] is True and j["deployments"][3]["refspec"] is None


def test_find_kernel_layouts(tmp_path):
    write_tree(tmp_path / "m", devicetree=b"DT")
    k = find_kernel(str(tmp_path / "m"))
    assert k.bootcsum == hashlib.sha256(b"FAKEKERNEL\nFAKEINITRD\nDT").hexdigest()
    assert (k.kernel_name, k.initramfs_name, k.devicetree_name) == (
        "vmlinuz-6.1.0-test", "initramfs-6.1.0-test.img", "devicetree-6.1.0-test")
    write_tree(tmp_path / "l", legacy=True)
    k = find_kernel(str(tmp_path / "l"))
    assert k.kernel_name == "vmlinuz-6.1.0-test" and k.initramfs_name == "initramfs-6.1.0-test.img"
    assert k.bootcsum == hashlib.sha256(b"FAKEKERNEL\nFAKEINITRD\n").hexdigest()
    # modules layout without initramfs loses to a legacy one with it
    write_tree(tmp_path / "both", initramfs=None)
    lb = tmp_path / "both/usr/lib/ostree-boot"
    lb.mkdir()
    (lb / f"vmlinuz-x-{C}").write_bytes(b"k")
    (lb / f"initramfs-x.img-{C}").write_bytes(b"i")
    assert find_kernel(str(tmp_path / "both")).bootcsum == C
    (lb / f"initramfs-x.img-{C}").rename(lb / f"initramfs-x.img-{B}")
    with pytest.raises(DeployError, match="Mismatched kernel checksum vs initrd"):
        find_kernel(str(tmp_path / "both"))
    (tmp_path / "none").mkdir()
    with pytest.raises(DeployError, match="Failed to find kernel"):
        find_kernel(str(tmp_path / "none"))


def test_diff_snapshots_order_and_types():
    def f(d):
        return EtcEntry("f", 0o100644, 0, 0, d)

    d = EtcEntry("d", 0o40755, 0, 0)
    lnk = EtcEntry("l", 0o120777, 0, 0, "t")
    orig = {"a": f("1"), "b": f("1"), "s": d, "s/x": f("x"), "t": f("1")}
    mod = {"a": f("2"), "s": d, "s/x": f("x"), "s/new": d, "s/new/z": f("z"), "t": lnk, "u": f("u")}
    diff = diff_snapshots(orig, mod)
    assert diff.modified == ("a", "t")
    assert diff.removed == ("b",)
    assert diff.added == ("s/new", "s/new/z", "u")
    assert diff.message() == "Copying /etc changes: 2 modified, 1 removed, 3 added"
