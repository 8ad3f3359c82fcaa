# shellcheck shell=bash
# shellcheck disable=SC2034  # SUITE_RC, SUITE_LEFTOVER: for the caller
# Sourced by scripts/sanitize.sh and scripts/eagain.sh: the integration
# suite run against a special nginx, and what is left of it.
#
#   run_suite <log> <timeout ms> <match> [test file ...]
#       runs t/ (or the given files of it) one file at a time into <log>,
#       then kills the nginx processes of the run still alive (those
#       started since, mapping a file whose path contains <match>): when a
#       master does not stop in time the harness kills it (SIGKILL) and its
#       workers live on, e.g. one still reading a large request body.
#       Sets SUITE_RC (node's exit code) and SUITE_LEFTOVER (what it killed).
#
#   suite_summary <log>
#       prints the killed processes, node's counts and the failed tests.

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

run_suite() {
    local log=$1 timeout=$2 match=$3 since
    shift 3

    if [ $# -eq 0 ]; then
        set -- ./*.test.js
    fi

    since=$(sed 's/.*) //' /proc/self/stat | awk '{ print $20 }')

    SUITE_RC=0
    node --test --test-concurrency=1 --test-timeout="$timeout" "$@" \
        >"$log" 2>&1 || SUITE_RC=$?

    SUITE_LEFTOVER=$(reap "$match" "$since")
}

suite_summary() {
    local log=$1

    [ -z "$SUITE_LEFTOVER" ] || echo "$SUITE_LEFTOVER"
    grep -E '^# (tests|pass|fail|cancelled|skipped|todo)' "$log" \
        | sed 's/^# /  /' || true
    echo "  failed:"
    grep -E '^ *not ok' "$log" | sed 's/^/  /' | head -100 || true
}
