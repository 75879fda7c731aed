"""``ostreepy bootc status`` in bootc's host schema: JSON (canonical, golden
keys and values), YAML (serde_yaml's text), human-readable, ``--booted``,
and "booted" named by ``--booted-cmdline``."""

from __future__ import annotations

import json

from .conftest import Host, bootc, example_digest, publish

ENTRY_KEYS = ["cachedUpdate", "composefs", "downloadOnly", "image", "incompatible", "ostree", "pinned",
              "softRebootCapable", "store"]


def test_status_json_schema(host: Host):
    out = bootc("status", host.sr, "--format=json").stdout
    doc = json.loads(out)
    # canonical: sorted keys, no whitespace, no trailing newline
    assert out == json.dumps(doc, sort_keys=True, separators=(",", ":"))
    assert sorted(doc) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert doc["apiVersion"] == "org.containers.bootc/v1" and doc["kind"] == "BootcHost"
    assert doc["metadata"] == {"name": "host"}
    image = {"image": f"{host.image}:latest", "transport": "oci"}
    assert doc["spec"] == {"bootOrder": "default", "image": image}
    st = doc["status"]
    assert sorted(st) == ["booted", "readOnly", "rollback", "rollbackQueued", "staged", "type", "usrOverlay"]
    assert (st["staged"], st["rollback"], st["rollbackQueued"], st["type"], st["usrOverlay"], st["readOnly"]) == \
        (None, None, False, "bootcHost", None, False)
    b = st["booted"]
    assert sorted(b) == ENTRY_KEYS
    (dep,) = host.deployments()
    assert b["image"] == {"image": image, "version": "1", "timestamp": "2024-01-01T00:00:00Z",
                          "imageDigest": example_digest("v1"), "architecture": "amd64"}
    assert b["ostree"] == {"stateroot": "default", "checksum": dep.name.split(".")[0], "deploySerial": 0}
    assert (b["cachedUpdate"], b["composefs"], b["store"], b["pinned"], b["incompatible"],
            b["softRebootCapable"], b["downloadOnly"]) == (None, None, "ostreeContainer", False, False, False, False)


def test_status_yaml_and_humanreadable(host: Host):
    (dep,) = host.deployments()
    csum, digest = dep.name.split(".")[0], example_digest("v1")
    name = f"{host.image}:latest"
    assert bootc("status", host.sr, "--format=yaml").stdout == f"""\
apiVersion: org.containers.bootc/v1
kind: BootcHost
metadata:
  name: host
spec:
  image:
    image: {name}
    transport: oci
  bootOrder: default
status:
  staged: null
  booted:
    image:
      image:
        image: {name}
        transport: oci
      version: '1'
      timestamp: 2024-01-01T00:00:00Z
      imageDigest: {digest}
      architecture: amd64
    cachedUpdate: null
    incompatible: false
    pinned: false
    softRebootCapable: false
    downloadOnly: false
    store: ostreeContainer
    ostree:
      stateroot: default
      checksum: {csum}
      deploySerial: 0
    composefs: null
  rollback: null
  rollbackQueued: false
  type: bootcHost
  usrOverlay: null
  readOnly: false
"""
    # not a terminal: YAML is the default
    assert bootc("status", host.sr).stdout == bootc("status", host.sr, "--format=yaml").stdout
    assert bootc("status", host.sr, "--format=humanreadable").stdout == f"""\
\u25cf Booted image: oci:{name}
        Digest: {digest} (amd64)
       Version: 1 (2024-01-01T00:00:00Z)
"""


def test_status_of_empty_sysroot(workdir):
    h = Host(workdir)
    h.sr.mkdir()
    from .conftest import ours
    ours("admin", "init-fs", str(h.sr))
    doc = h.status()
    assert doc["spec"] == {"bootOrder": "default", "image": None}
    assert doc["status"]["booted"] is None and doc["status"]["type"] is None
    assert bootc("status", h.sr, "--format=humanreadable").stdout == "System is not deployed via bootc.\n"


def test_booted_cmdline_and_queued_rollback(host: Host):
    publish(host.image, "v2")
    bootc("upgrade", host.sr, "--apply")
    new, old = host.status()["status"]["booted"], host.status()["status"]["rollback"]
    assert new["image"]["version"] == "2" and old["image"]["version"] == "1"
    # the kernel command line of the old entry: that one is booted, the default one is a queued rollback
    entry = next(e for e in host.entries().values() if e["version"] == "1")
    cmdline = f"BOOT_IMAGE=/vmlinuz {entry['options']}"
    doc = host.status(f"--booted-cmdline={cmdline}")
    assert doc["status"]["booted"]["image"]["version"] == "1"
    assert doc["status"]["rollback"]["image"]["version"] == "2"
    assert doc["status"]["rollbackQueued"] is True and doc["spec"]["bootOrder"] == "rollback"
    booted_only = host.status(f"--booted-cmdline={cmdline}", "--booted")["status"]
    assert booted_only["rollback"] is None and booted_only["staged"] is None
    assert booted_only["booted"]["image"]["version"] == "1"
    # rollback with a queued rollback reverts it: the booted one is the default again
    p = bootc("rollback", host.sr, f"--booted-cmdline={cmdline}")
    assert p.stdout == "notice: Reverting queued rollback state\nNext boot: current deployment\n"
    titles = [e["title"] for e in host.entries().values()]
    assert sorted(titles) == ["Example OS 1 (ostree:0)", "Example OS 2 (ostree:1)"]
