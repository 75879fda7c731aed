"""Start-up cost: the store and its command line load no HTTP or crypto stack."""

from __future__ import annotations

import subprocess
import sys


def test_ostreepy_does_not_import_requests_or_cryptography():
    code = ("import sys, ostreepy, ostreepy.store.repo, ostreepy.store.commit, ostreepy.store.checkout, ostreepy.cli.main, "
            "ostreepy.container, ostreepy.container.store, ostreepy.sysroot.sysroot\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'cryptography', 'urllib3'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_cli_help_runs_without_the_network_stack():
    code = ("import sys\nfrom ostreepy.cli.main import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('requests' in sys.modules, 'cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
