#!/usr/bin/env bash
# Runs the integration suite with tests/eagain/eagain.so preloaded into
# nginx (and only nginx): on every socket, every other read and write
# fails with EAGAIN and the others move at most one byte (for the first
# 64 KB each way, then 1 to 8192 bytes, varying), so that every NGX_AGAIN
# path of the module runs (see tests/eagain/eagain.c).
#
#   scripts/eagain.sh [--no-deps] [--asan] [test file ...]
#
#   --no-deps   do not apt-get/npm anything (the machine is ready)
#   --asan      use the ASan/UBSan nginx of scripts/sanitize.sh (built here
#               if needed) instead of Debian's nginx and build/*.so
#   test file   run only these files of t/ (default: every t/*.test.js)
#
# Environment (passed to the shim; see tests/eagain/eagain.c):
#   EAGAIN_SHIM_MODE=rw  EAGAIN_SHIM_EVERY=2  EAGAIN_SHIM_MAX=1
#   EAGAIN_SHIM_BYTES=65536
#   EAGAIN_SHIM_VERBOSE=1   log every injection into nginx's error log
#   EAGAIN_TEST_TIMEOUT     node --test-timeout per test, ms (300000)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/eagain"

deps=1
asan=0
tests=()

for arg in "$@"; do
    case "$arg" in
        --no-deps) deps=0 ;;
        --asan)    asan=1 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        -*)        echo "eagain.sh: unknown option $arg" >&2; exit 2 ;;
        *)         tests+=("$arg") ;;
    esac
done

t_start=$(date +%s)

log() {
    echo "eagain.sh: $*"
}

die() {
    echo "eagain.sh: $*" >&2
    echo "eagain: FAILED"
    exit 1
}

# shellcheck source=scripts/suite.sh
. "$top/scripts/suite.sh"

mkdir -p "$out"


# 1. nginx and the module

if [ "$asan" -eq 1 ]; then
    if [ "$deps" -eq 1 ]; then
        "$top/scripts/sanitize.sh" --build-only
    else
        "$top/scripts/sanitize.sh" --build-only --no-deps
    fi

    nginx_bin="$top/build/asan/nginx"
    module="$top/build/asan/ngx_http_bedrock_module.so"

else
    if [ "$deps" -eq 1 ]; then
        "$top/scripts/build.sh" --deps
    else
        "$top/scripts/build.sh"
    fi

    nginx_bin=/usr/sbin/nginx
    module="$top/build/ngx_http_bedrock_module.so"
fi


# 2. the shim

shim="$out/eagain.so"
cc=${CC:-gcc}

"$cc" -std=gnu99 -O2 -g -fPIC -shared -Wall -Wextra -Werror \
    -o "$shim.new" "$top/tests/eagain/eagain.c" -ldl \
    || die "cannot build the shim"
mv "$shim.new" "$shim"

preload="$shim"

if [ "$asan" -eq 1 ]; then
    # the ASan runtime must come first in the library list
    libasan=$(gcc -print-file-name=libasan.so)
    preload="$(readlink -f "$libasan"):$shim"
fi

# the shim at work, outside nginx: a socket pair, epoll, a file
"$cc" -std=gnu99 -O2 -Wall -Wextra -Werror -o "$out/eagain-selftest" \
    "$top/tests/eagain/selftest.c" || die "cannot build the self-test"

LD_PRELOAD="$shim" EAGAIN_SHIM_PROGRAM=eagain-selftest EAGAIN_SHIM_EVERY=2 \
    EAGAIN_SHIM_MAX=1 EAGAIN_SHIM_BYTES=4 EAGAIN_SHIM_MODE=rw \
    "$out/eagain-selftest" \
    || die "the shim does not work (tests/eagain/selftest.c)"

log "shim: $shim (self-test ok)"


# 3. the suite

if [ "$deps" -eq 1 ]; then
    # shellcheck source=scripts/node.sh
    . "$top/scripts/node.sh"
    ensure_node "$top"
fi

# nginx workers run as nobody: the file they append their counts to must
# be reachable by them, and the checkout may not be (a clone in a mktemp
# -d directory is 0700)
stats_dir=$(mktemp -d /tmp/bedrock-eagain.XXXXXX)
trap 'rm -rf "$stats_dir"' EXIT
chmod 0755 "$stats_dir"
stats="$stats_dir/stats"
: >"$stats"
chmod 0666 "$stats"

export NGINX_BIN="$nginx_bin"
export BEDROCK_MODULE="$module"
export NGINX_LD_PRELOAD="$preload"
export EAGAIN_SHIM_STATS="$stats"
export EAGAIN_SHIM_MODE=${EAGAIN_SHIM_MODE:-rw}
export EAGAIN_SHIM_EVERY=${EAGAIN_SHIM_EVERY:-2}
export EAGAIN_SHIM_MAX=${EAGAIN_SHIM_MAX:-1}
export EAGAIN_SHIM_BYTES=${EAGAIN_SHIM_BYTES:-65536}

if [ "$asan" -eq 1 ]; then
    # as in scripts/sanitize.sh
    export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:log_path=stderr"
    ASAN_OPTIONS+=":detect_leaks=0:detect_odr_violation=0"
    ASAN_OPTIONS+=":detect_stack_use_after_return=1:print_summary=1"
    export UBSAN_OPTIONS="abort_on_error=1:halt_on_error=1"
    UBSAN_OPTIONS+=":print_stacktrace=1:print_summary=1:log_path=stderr"
fi

suite="$out/suite.log"
t_built=$(date +%s)
log "running the suite: nginx $nginx_bin, LD_PRELOAD=$preload," \
    "mode $EAGAIN_SHIM_MODE, EAGAIN every $EAGAIN_SHIM_EVERY," \
    "max $EAGAIN_SHIM_MAX byte(s) for $EAGAIN_SHIM_BYTES (log: $suite)"

cd "$top/t"
run_suite "$suite" "${EAGAIN_TEST_TIMEOUT:-300000}" "$shim" \
    ${tests[@]+"${tests[@]}"}
rc=$SUITE_RC

t_end=$(date +%s)

totals=$(awk '{ for (i = 3; i < NF; i += 2) sum[$i] += $(i + 1); n++ }
              END {
                  printf "%d processes, EAGAIN: %d reads, %d writes; ", n,
                         sum["eagain_read"], sum["eagain_write"]
                  printf "short: %d reads, %d writes; %d events made up",
                         sum["short_read"], sum["short_write"], sum["events"]
              }' "$stats")
injected=$(awk '{ n += $4 + $6 } END { print n + 0 }' "$stats")
cp "$stats" "$out/stats"

echo
echo "eagain: summary"
suite_summary "$suite"
echo "  shim: $totals"
sanitizer=0
if [ "$asan" -eq 1 ]; then
    sanitizer=$(grep -cE 'Sanitizer|: runtime error: ' "$suite" || true)
    echo "  sanitizer lines in the suite output: $sanitizer"
fi
echo "  build: $((t_built - t_start)) s, suite: $((t_end - t_built)) s"

if [ "$injected" -eq 0 ]; then
    die "the shim injected nothing: is it loaded into nginx?"
fi

if [ "$rc" -ne 0 ] || [ "$sanitizer" -ne 0 ]; then
    echo "eagain: FAILED (node --test exit $rc; full log: $suite)"
    exit 1
fi

echo "eagain: ok"
