# shellcheck shell=bash
# Sourced by scripts/sanitize.sh and scripts/eagain.sh.
#
#   reap <match> <since>
#
# Kills the processes started at or after <since> (a start time in clock
# ticks, field 22 of /proc/PID/stat) that map a file whose path contains
# <match>, and says which: the nginx processes of a suite still alive after
# it.  When a master does not stop in time the harness kills it (SIGKILL)
# and its workers live on, e.g. one still reading a large request body.

reap() {
    local match=$1 since=$2 p start pids=()

    for p in /proc/[0-9]*; do
        grep -qsF "$match" "$p/maps" || continue
        start=$(sed 's/.*) //' "$p/stat" 2>/dev/null | awk '{ print $20 }')
        if [ -n "$start" ] && [ "$start" -ge "$since" ]; then
            pids+=("${p#/proc/}")
        fi
    done

    if [ ${#pids[@]} -gt 0 ]; then
        echo "  left running after the suite, killed: ${pids[*]}"
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
}
