#!/usr/bin/env python3
"""Sigstore signing benchmark: ``ociclient`` against Debian 13's skopeo 1.18 (the
chroot peer of tests/trixie_peer.py), alternating the tools in one run:

  generate-sigstore-key   a new P-256 key, encrypted (scrypt N=65536 dominates)
  copy-sign               copy --sign-by-sigstore-private-key of a one-layer oci: image
                          to a dir:, the signature included (opens the key: scrypt again)

Both are whole processes (Python start-up against Go's; skopeo's includes the
unshare+chroot wrapper, a few ms). Prints the median wall time of each and the
ratio ociclient/skopeo.

  .venv/bin/python benchmarks/sigstore_sign.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "tests" / "ociclient"))
import trixie_peer  # noqa: E402
from ocitest_helpers import build_layout  # noqa: E402

OCICLIENT = [sys.executable, "-m", "ociclient.cli"]


def timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    why = trixie_peer.trixie_skopeo_available()
    if why:
        print(f"skipped: {why}")
        return 0
    root = tempfile.mkdtemp(prefix="sigbench-", dir="/tmp")
    try:
        layout = os.path.join(root, "img")
        build_layout(layout, seed=5, layers=1, layer_size=4000)
        passfile = os.path.join(root, "pass")
        Path(passfile).write_text("pw\n")
        times: Dict[str, List[float]] = {k: [] for k in ("gen-ours", "gen-skopeo", "sign-ours", "sign-skopeo")}
        for i in range(a.repeat):
            for who in ("ours", "skopeo"):
                prefix = os.path.join(root, f"k-{who}-{i}")
                gen = ["generate-sigstore-key", "--output-prefix", prefix, "--passphrase-file", passfile]
                if who == "ours":
                    times["gen-ours"].append(timed(lambda: subprocess.run(OCICLIENT + gen, check=True,
                                                                          capture_output=True)))
                else:
                    times["gen-skopeo"].append(timed(lambda: trixie_peer.skopeo(gen)))
                sign = ["--insecure-policy", "copy", "--quiet", "--sign-by-sigstore-private-key",
                        prefix + ".private", "--sign-passphrase-file", passfile, "--sign-identity",
                        "example.com/bench:1", f"oci:{layout}:v1", f"dir:{root}/d-{who}-{i}"]
                if who == "ours":
                    times["sign-ours"].append(timed(lambda: subprocess.run(OCICLIENT + sign, check=True,
                                                                           capture_output=True)))
                else:
                    times["sign-skopeo"].append(timed(lambda: trixie_peer.skopeo(sign)))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{'':24}{'ociclient':>10}{'skopeo':>10}{'ratio':>8}   (median of {a.repeat})")
        for name, key in (("generate-sigstore-key", "gen"), ("copy-sign", "sign")):
            o, s = med[f"{key}-ours"], med[f"{key}-skopeo"]
            print(f"{name:24}{o:9.3f}s{s:9.3f}s{o / s:8.2f}")
        print(os.popen("uptime").read().strip())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
