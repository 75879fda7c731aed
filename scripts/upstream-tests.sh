#!/bin/bash
# Runs ostree's own shell tests (tests/*.sh of an ostree source checkout the caller
# provides, any tag) with ostreepy standing in for `ostree`, and prints a table per
# script: TAP ok / not ok / skipped lines and the first command that failed.
#
#   scripts/upstream-tests.sh [--keep-going] [--ostree=BIN] [--logs=DIR] [--timeout=S] \
#       [--env=VAR=VALUE]... OSTREE_SRC [TESTS...]
#
# TESTS are names under OSTREE_SRC/tests (test-basic.sh or basic); by default every
# tests/test-*.sh. --ostree=/usr/bin/ostree runs the same scripts against the real tool,
# for the comparison. --keep-going lets each script run past failures and judges each
# block (the commands up to an `ok` line) on its own. --env sets a variable for the
# scripts, e.g. OSTREE_SYSROOT_OPTS=bootloader-naming-1: ostreepy names boot entries as
# current ostree does (ostree-N.conf) and v2022.7's scripts expect ostree-N-OS.conf.
#
# How the scripts are pointed at ostreepy: libtest.sh runs `ostree` from PATH, so a
# directory with an `ostree` wrapper goes first in PATH (BIN's own directory goes
# last, for the tools installed beside it: the peer's composefs-info; ostreepy's run
# gets the peer's composefs-info, or ostreepy's reader, through the wrapper directory); the HTTP
# server comes from libtest.sh's own hooks: `ostree trivial-httpd` (the wrapper's
# one verb of its own, which v2022.7's libtest.sh falls back to) and $OSTREE_HTTPD
# (newer tags). Debian ships no ostree-trivial-httpd: scripts/upstream-httpd.py is a
# loopback-only stand-in. $OSTREE_UNINSTALLED is left unset, so test-commit-sign's C
# test skips as upstream skips it outside a build tree. G_TEST_SRCDIR points
# libtest.sh at the checkout, G_TEST_BUILDDIR at stand-ins for the test programs an
# unbuilt checkout lacks: tests/get-byte-order; and tests/repo-finder-mount, a C
# program of libostree's API (not the command line), whose stand-in marks its block
# skipped ("@@upstream-tests: skip: WHY"; such a block counts as skipped). Scripts
# that test a libostree build, not the command line (test-symbols), are not run and
# show as SKIP with the reason. A SKIP row shows the script's own reason. Failures are found
# through libtest-core.sh's ERR trap ("Unexpected nonzero exit status ... while
# running: CMD"), which a BASH_ENV file extends into functions (set -E) but not into
# command substitutions, and through a mark `exit` leaves when an assertion fails.
#
# Isolation: each script runs alone in its own mount and PID namespace
# (`unshare -m -p -f`): every mount, `/` included, is remounted read-only there except
# the script's own scratch directory, so a test gone wrong (or a keep-going run past a
# failed `cd`) cannot write to the host; the PID namespace ends daemons it leaves
# behind (the HTTP server) when it exits. Needs root (CAP_SYS_ADMIN); bwrap is not
# used because Debian's base system lacks it.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
keep_going=0
ostree_bin="$here/.venv/bin/ostreepy"
logs=""
timeout_s=300
extra_env=()
while [ $# -gt 0 ]; do
    case "$1" in
        --keep-going) keep_going=1 ;;
        --ostree=*) ostree_bin=${1#--ostree=} ;;
        --logs=*) logs=${1#--logs=} ;;
        --timeout=*) timeout_s=${1#--timeout=} ;;
        --env=*) extra_env+=("${1#--env=}") ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --*) echo "error: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
if [ $# -lt 1 ]; then
    echo "usage: $0 [--keep-going] [--ostree=BIN] [--logs=DIR] [--timeout=S] OSTREE_SRC [TESTS...]" >&2
    exit 2
fi
src=$(cd "$1" && pwd); shift
[ -f "$src/tests/libtest.sh" ] || { echo "error: $src/tests/libtest.sh not found" >&2; exit 2; }
[ -x "$ostree_bin" ] || ostree_bin=$(command -v "$ostree_bin") || { echo "error: no $ostree_bin" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: needs root for unshare -m (read-only /)" >&2; exit 2; }

tests=()
if [ $# -eq 0 ]; then
    for f in "$src"/tests/test-*.sh; do tests+=("$(basename "$f")"); done
else
    for t in "$@"; do
        t=${t#tests/}; t=${t%.sh}; t=${t#test-}
        tests+=("test-$t.sh")
    done
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/ostreepy-upstream.XXXXXX")
[ -n "$logs" ] || logs="$work/logs"
mkdir -p "$logs" "$work/bin"
cat > "$work/bin/ostree" <<EOF
#!/bin/sh
if [ "\$1" = trivial-httpd ]; then
    shift
    exec python3 "$here/scripts/upstream-httpd.py" "\$@"
fi
exec "$ostree_bin" "\$@"
EOF
cat > "$work/bin/ostree-trivial-httpd" <<EOF
#!/bin/sh
exec python3 "$here/scripts/upstream-httpd.py" "\$@"
EOF
chmod +x "$work/bin/ostree" "$work/bin/ostree-trivial-httpd"
# test-composefs checks the images `checkout --composefs` writes with composefs-info,
# which Debian does not package: the real one of the upstream peer when it is unpacked
# (it reads what ostreepy wrote), else ostreepy's own reader (`ostree composefs info`).
if ! command -v composefs-info >/dev/null && [ ! -x "$(dirname "$ostree_bin")/composefs-info" ]; then
    peer_cfs="${OSTREEPY_UPSTREAM_PEERS:-/opt/peers}/bin/composefs-info"
    if [ -x "$peer_cfs" ] && "$peer_cfs" 2>&1 | grep -q '^usage:'; then
        ln -s "$peer_cfs" "$work/bin/composefs-info"
    else
        printf '#!/bin/sh\nexec "%s" composefs info "$@"\n' "$ostree_bin" > "$work/bin/composefs-info"
        chmod +x "$work/bin/composefs-info"
    fi
fi
# The test programs of a built checkout's tests/ that scripts run (libtest.sh finds
# them under $G_TEST_BUILDDIR/tests): get-byte-order prints G_BYTE_ORDER.
mkdir -p "$work/build/tests"
cat > "$work/build/tests/get-byte-order" <<'EOF'
#!/bin/sh
exec python3 -c 'import sys; print(1234 if sys.byteorder == "little" else 4321)'
EOF
chmod +x "$work/build/tests/get-byte-order"
# (the scripts send its output to files of their own: the reason goes through a file
# of the runner's, which the ERR trap prints to the log)
cat > "$work/build/tests/repo-finder-mount" <<'EOF'
#!/bin/sh
echo "repo-finder-mount is a C test program of libostree's OstreeRepoFinderMount API, not built here" > "$OT_UPSTREAM_SKIPFILE"
exit 77
EOF
chmod +x "$work/build/tests/repo-finder-mount"

# Sourced by every non-interactive bash, the test script first: only the script
# itself gets the extra traps, not the bash helpers it starts.
cat > "$work/bashenv.sh" <<'EOF'
if [ "$0" = "$OT_UPSTREAM_SCRIPT" ]; then
    # libtest-core.sh's ERR trap, extended into functions (set -E) but kept out of
    # command substitutions, whose failures the script may expect ($(cmd) || ...)
    set -E
    trap() {
        if [ "$*" = "report_err ERR" ]; then
            builtin trap '__ot_report_err' ERR
        else
            builtin trap "$@"
        fi
    }
    # only where the script runs with -e: assert_fail turns it off around the
    # command it expects to fail
    __ot_errexit=0
    __ot_report_err() {
        local rc=$?
        if [ -s "$OT_UPSTREAM_SKIPFILE" ]; then
            echo "@@upstream-tests: skip: $(< "$OT_UPSTREAM_SKIPFILE")" >&2
            : > "$OT_UPSTREAM_SKIPFILE"
        fi
        [ "$BASH_SUBSHELL" = 0 ] || return 0
        case "$OT_UPSTREAM_KEEP_GOING:$__ot_errexit:$-" in
            1:1:*|0:*:*e*) echo "Unexpected nonzero exit status $rc while running: $BASH_COMMAND" >&2 ;;
        esac
    }
    # fatal/assert_* end in `exit 1` after printing why: mark it, with where it was
    # called from; in keep-going mode note the failed block and go on
    exit() {
        local rc=${1:-$?} n=${#FUNCNAME[@]}
        if [ "$rc" != 0 ] && [ "$BASH_SUBSHELL" = 0 ]; then
            # the outermost call, the one in the test script
            echo "@@upstream-tests: exit $rc at ${BASH_SOURCE[n-1]##*/}:${BASH_LINENO[n-2]} ${FUNCNAME[n-2]}" >&2
            if [ "$OT_UPSTREAM_KEEP_GOING" = 1 ]; then
                return "$rc"
            fi
        fi
        builtin exit "$rc"
    }
    if [ "$OT_UPSTREAM_KEEP_GOING" = 1 ]; then
        # the script's own `set -euo pipefail` keeps working except for -e, which is
        # only noted (for __ot_report_err)
        set() {
            local a
            for a in "$@"; do
                case "$a" in -*e*) __ot_errexit=1 ;; +*e*) __ot_errexit=0 ;; esac
            done
            builtin set "$@"; builtin set +e
        }
    fi
fi
EOF

run_one() {  # test-name -> writes $logs/NAME.log, returns the script's status
    local t=$1 d="$work/run/${1%.sh}"
    mkdir -p "$d/t" "$d/tmp" "$d/home"
    unshare -m -p -f --mount-proc --propagation private /bin/bash -c '
        d=$1; shift
        mount --bind "$d" "$d"
        findmnt -rn -o TARGET | sort -u | while read -r m; do
            case "$m" in /proc|/proc/*|/dev|/dev/pts|"$d") continue ;; esac
            mount -o remount,bind,ro "$m" 2>/dev/null || true
        done
        cd "$d/t"
        exec "$@"
    ' _ "$d" \
        env PATH="$work/bin:$PATH:$(dirname "$ostree_bin")" OSTREE_HTTPD="$work/bin/ostree-trivial-httpd" \
            G_TEST_SRCDIR="$src" G_TEST_BUILDDIR="$work/build" TMPDIR="$d/tmp" HOME="$d/home" \
            BASH_ENV="$work/bashenv.sh" OT_UPSTREAM_SCRIPT="$src/tests/$t" \
            OT_UPSTREAM_KEEP_GOING="$keep_going" OT_UPSTREAM_SKIPFILE="$d/skip" PYTHONDONTWRITEBYTECODE=1 ${extra_env[@]+"${extra_env[@]}"} \
        timeout "$timeout_s" /bin/bash "$src/tests/$t" > "$logs/${t%.sh}.log" 2>&1 < /dev/null
}

# One row from a log: ok, not ok, skipped, blocks passed, blocks, first failure.
summarize() {
    awk -v rc="$2" '
        /^@@upstream-tests: skip: / {
            # a stand-in for an unbuilt test program: the block is skipped, and what
            # fails after it in the block follows from that
            if (!failed && !skipping) { skipping = 1; why = $0; sub(/^@@upstream-tests: /, "", why) }
            next
        }
        skipping && (/^@@upstream-tests: exit / || /^Unexpected nonzero exit status/) { next }
        /^@@upstream-tests: exit / {
            # what fatal printed just before, and where it was called
            if (!failed) { w = $0; sub(/^.* at /, "", w); first = prev " [" w "]" }
            failed = 1; next
        }
        /^Unexpected nonzero exit status/ {
            if (!failed) { first = $0 }
            failed = 1
        }
        /^ok[ ,]/ {
            if (skipping) { skip++; blocks++; pass++; skipping = 0; if (!firstskip) firstskip = why; next }
            if ($0 ~ /# [Ss][Kk][Ii][Pp]/) skip++; else ok++
            blocks++; if (!failed) pass++
            if (failed && !firstfail) firstfail = first
            failed = 0; next
        }
        /^not ok/ { notok++; blocks++; if (!firstfail) firstfail = $0; failed = 0; next }
        /^1\.\.0 *# *SKIP/ { skip++; skipped_all = 1 }
        NF { last = $0; prev = $0 }
        END {
            if (skipping) { skip++; blocks++; pass++ }
            if (failed || (rc != 0 && !skipping)) {
                if (!skipped_all) blocks++
                if (!firstfail) firstfail = (first != "" ? first : last)
            }
            if (skipping && !firstskip) firstskip = why
            if (!firstfail) firstfail = firstskip
            sub(/^Unexpected nonzero exit status /, "rc ", firstfail)
            sub(/ while running: /, ": ", firstfail)
            gsub(/\t/, " ", firstfail)
            printf "%d\t%d\t%d\t%d\t%d\t%s\n", ok, notok, skip, pass, blocks, substr(firstfail, 1, 110)
        }' "$1"
}

echo "ostree: $ostree_bin ${extra_env[*]:-} $("$ostree_bin" --version 2>&1 | tr -s " \n" " " | cut -c1-40)   source: $src   keep-going: $keep_going"
printf '%-40s %-7s %5s %4s %6s %4s %9s  %s\n' script result time ok "not-ok" skip blocks "first failure"
n=0; passed=0; tok=0; tnotok=0; tskip=0; tpass=0; tblocks=0
# Scripts that test a build of libostree rather than the command line: not run, for
# any BIN, and shown as skipped with the reason.
declare -A not_run=(
    [test-symbols.sh]="checks the symbols a built libostree-1.so exports (eu-readelf on \$G_TEST_BUILDDIR/.libs)"
)
for t in "${tests[@]}"; do
    if [ ! -f "$src/tests/$t" ]; then echo "$t: no such test" >&2; continue; fi
    start=$(date +%s)
    if [ -n "${not_run[$t]:-}" ]; then
        echo "1..0 # SKIP not run by scripts/upstream-tests.sh: ${not_run[$t]}" > "$logs/${t%.sh}.log"
        rc=0
    else
        rc=0; run_one "$t" || rc=$?
    fi
    secs=$(( $(date +%s) - start ))
    IFS=$'\t' read -r ok notok skip pass blocks first < <(summarize "$logs/${t%.sh}.log" "$rc")
    if [ "$rc" = 124 ]; then result=TIMEOUT
    elif [ "$rc" != 0 ]; then result=FAIL
    elif grep -Eq '^1\.\.0 *# *SKIP' "$logs/${t%.sh}.log"; then result=SKIP
    elif [ "$notok" != 0 ] || { [ "$keep_going" = 1 ] && [ "$pass" != "$blocks" ]; }; then result=FAIL
    else result=PASS
    fi
    n=$((n + 1)); case $result in PASS|SKIP) passed=$((passed + 1)) ;; esac
    tok=$((tok + ok)); tnotok=$((tnotok + notok)); tskip=$((tskip + skip))
    tpass=$((tpass + pass)); tblocks=$((tblocks + blocks))
    [ "$result" = PASS ] || [ "$result" = SKIP ] || [ -n "$first" ] || first="exit $rc"
    [ "$result" != PASS ] || [[ "$first" == skip:* ]] || first=""
    [ "$result" != SKIP ] || first=$(sed -n 's/^1\.\.0 *# *SKIP *//p' "$logs/${t%.sh}.log" | head -1)
    printf '%-40s %-7s %4ds %4d %6d %4d %4d/%-4d  %s\n' "${t%.sh}" "$result" "$secs" "$ok" "$notok" "$skip" "$pass" "$blocks" "$first"
done
printf 'TOTAL: %d/%d scripts passed (SKIP counts as passed), %d ok, %d not ok, %d skipped, blocks %d/%d; logs in %s\n' \
    "$passed" "$n" "$tok" "$tnotok" "$tskip" "$tpass" "$tblocks" "$logs"
