"""`admin switch`, `admin instutil set-kargs`, `admin --print-current-dir` and deployed
overlayfs whiteouts, which ostree's own admin scripts (v2022.7) use: the same commands
on the same commits give ostree 2022.7's sysroot and output."""

from __future__ import annotations

import os
import stat

from .conftest import NAMING_1_ENV, commit, dump, write_tree
from .test_compat import _both, _status


def test_switch_set_kargs_print_current_dir_as_ostree(workdir):
    tree = workdir / "tree"

    def steps(sr, t):
        log = []
        write_tree(tree, etc={"myconf": "a\n"})
        (tree / "usr/share/layer").mkdir(parents=True)
        (tree / "usr/share/layer/.ostree-wh.hidden").write_text("")
        commit(sr, "os/one", tree, "1.0", day=1)
        write_tree(tree, etc={"myconf": "b\n"}, kernel=b"K2\n")
        commit(sr, "os/two", tree, "2.0", day=2)
        t(f"--sysroot={sr}", "deploy", "--os=myos", "os/one", "--karg=root=UUID=1", env=NAMING_1_ENV)
        cur = t(f"--sysroot={sr}", "--print-current-dir").stdout
        log.append(os.path.relpath(cur.strip(), sr))
        wh = os.lstat(os.path.join(cur.strip(), "usr/share/layer/hidden"))
        log.append((stat.S_ISCHR(wh.st_mode), wh.st_rdev))
        os.unlink(os.path.join(cur.strip(), "usr/share/layer/hidden"))  # dump() reads every file
        t(f"--sysroot={sr}", "instutil", "set-kargs", "FOO=BAR", "KEYWORD", env=NAMING_1_ENV)
        t(f"--sysroot={sr}", "instutil", "set-kargs", "--merge", "--append=FOO=BAZ", "--replace=KEYWORD=x",
          env=NAMING_1_ENV)
        log.append(_status(sr, t))
        log.append(t(f"--sysroot={sr}", "switch", "--os=myos", "os/two", env=NAMING_1_ENV).stdout)
        log.append(_status(sr, t))
        return log, dump(sr, with_nlink=False)

    outs = _both(workdir, steps)
    (log_o, snap_o), (log_r, snap_r) = outs["ours"], outs["real"]
    assert log_o[1] == log_r[1] == (True, 0)
    assert log_o == log_r
    assert "Deleting ref '(null):os/one'" in log_o[3]
    assert snap_o == snap_r
