"""``bootc switch --enforce-container-sigpolicy``: the containers policy decides
the pull (refusing leaves the sysroot as it was), and the spec keeps
``signature: containerPolicy`` so every later upgrade is judged too."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .conftest import EXAMPLE, Host, bootc


def _env(work: Path, policy: dict) -> dict:
    conf = work / "home" / ".config" / "containers"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "policy.json").write_text(json.dumps(policy))
    return dict(os.environ, HOME=str(work / "home"))


def test_switch_enforces_container_policy(host: Host, workdir):
    target = f"{EXAMPLE}:v2"
    before = host.state()
    args = ("--transport=oci", "--enforce-container-sigpolicy", target, "--apply")
    reject = _env(workdir, {"default": [{"type": "reject"}]})
    p = bootc("switch", host.sr, *args, check=False, env=reject)
    assert p.returncode == 1 and "rejected by policy" in p.stderr, p.stderr
    lone_insecure = _env(workdir, {"default": [{"type": "insecureAcceptAnything"}]})
    p = bootc("switch", host.sr, *args, check=False, env=lone_insecure)
    assert p.returncode == 1 and "insecureAcceptAnything" in p.stderr, p.stderr
    assert host.state() == before
    allow_oci = _env(workdir, {"default": [{"type": "reject"}],
                               "transports": {"oci": {"": [{"type": "insecureAcceptAnything"}]}}})
    out = bootc("switch", host.sr, *args, env=allow_oci).stdout
    assert f"Queued for next boot: ostree-image-signed:oci:{target}\n" in out
    doc = json.loads(bootc("status", host.sr, "--format=json", env=allow_oci).stdout)
    assert doc["spec"]["image"] == {"image": target, "transport": "oci", "signature": "containerPolicy"}
    # the policy stays in force for upgrades of this spec
    reject = _env(workdir, {"default": [{"type": "reject"}]})  # the same file, rewritten
    p = bootc("upgrade", host.sr, "--check", check=False, env=reject)
    assert p.returncode == 1 and "rejected by policy" in p.stderr, p.stderr
