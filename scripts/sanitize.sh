#!/usr/bin/env bash
# Builds Debian's nginx 1.22 and ngx_http_bedrock_module (as a dynamic
# module) with AddressSanitizer and UndefinedBehaviorSanitizer into
# build/asan/, then runs the whole integration suite against them.  Any
# sanitizer report is fatal: the process aborts, the report lands in that
# nginx's error.log, and the harness (t/lib/nginx.js) fails the test.
#
#   scripts/sanitize.sh [--no-deps] [--build-only] [test file ...]
#
#   --no-deps     do not apt-get/npm anything (the machine is ready)
#   --build-only  build build/asan/nginx and the .so, run no test
#   test file     run only these files of t/ (default: every t/*.test.js)
#
# Environment:
#   SANITIZE_LEAKS=1   also run LeakSanitizer in nginx (see below; default 0)
#   SANITIZE_TEST_TIMEOUT  node --test-timeout per test, ms (300000)
#   SANITIZE_KEEP=1    keep the prefix dirs (error logs) of the suite's nginx
#
# Runs on Debian 12 as root.  The nginx source comes from
# "apt-get source nginx" (a deb-src entry is added if there is none) and is
# cached in build/debian-src/; reruns rebuild only what changed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
asan="$build/asan"
cache="$build/debian-src"

deps=1
build_only=0
tests=()

for arg in "$@"; do
    case "$arg" in
        --no-deps)    deps=0 ;;
        --build-only) build_only=1 ;;
        -h|--help)    sed -n '2,23p' "$0"; exit 0 ;;
        -*)           echo "sanitize.sh: unknown option $arg" >&2; exit 2 ;;
        *)            tests+=("$arg") ;;
    esac
done

t_start=$(date +%s)

log() {
    echo "sanitize.sh: $*"
}

die() {
    echo "sanitize.sh: $*" >&2
    echo "sanitize: FAILED"
    exit 1
}

# the nginx processes of this run still alive after the suite: when a
# master does not stop in time, the harness kills it (SIGKILL) and its
# workers live on, e.g. one still reading a large request body
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


# 1. system packages

packages=(build-essential dpkg-dev libyajl-dev libssl-dev libpcre2-dev
          zlib1g-dev ca-certificates openssl)

if [ "$deps" -eq 1 ]; then
    export DEBIAN_FRONTEND=noninteractive

    # "apt-get source" needs a deb-src entry; a fresh Debian 12 has none
    if ! grep -rqsE '^[[:space:]]*(Types:.*deb-src|deb-src[[:space:]])' \
            /etc/apt/sources.list /etc/apt/sources.list.d/
    then
        log "adding deb-src entries for bookworm"
        cat >/etc/apt/sources.list.d/bedrock-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        apt_update=1
    fi

    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'ok installed' || missing+=("$p")
    done

    if [ "${apt_update:-0}" -eq 1 ] || [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq
    fi

    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get install -y -qq --no-install-recommends "${missing[@]}" \
            >/dev/null
    fi
fi


# 2. Debian's nginx source, cached

src=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'nginx-1.22.*' \
      2>/dev/null | sort | tail -1 || true)

if [ -z "$src" ] || [ ! -x "$src/configure" ]; then
    log "apt-get source nginx into $cache"
    rm -rf "$cache"
    mkdir -p "$cache"
    (cd "$cache" && apt-get source -qq nginx >"$cache/apt-get.log" 2>&1) || {
        tail -20 "$cache/apt-get.log" >&2
        die "apt-get source nginx failed (is there a deb-src entry?)"
    }
    src=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'nginx-1.22.*' \
          | sort | tail -1)
    if [ -z "$src" ] || [ ! -x "$src/configure" ]; then
        die "apt-get source nginx did not give nginx 1.22 (see $cache)"
    fi
fi

dsc=$(find "$cache" -maxdepth 1 -name '*.dsc' -printf '%f ' 2>/dev/null || true)
log "nginx source: $src (${dsc% })"


# 3. the sanitizer build

mkdir -p "$asan"

# Sanitizer defaults compiled into the binary, so that every run of
# build/asan/nginx reports the same way, also those that do not go through
# t/lib/nginx.js (t/examples.test.js runs "nginx -t" with a bare
# environment).  ASAN_OPTIONS and friends in the environment still win.
#
#   abort_on_error: a report ends the process with SIGABRT, which the
#     master logs as "[alert] ... exited on signal 6";
#   log_path=stderr: the report goes to fd 2, which nginx points at the
#     error log of the configuration (ngx_log_redirect_stderr) in the
#     master and so in every worker;
#   detect_leaks=0: see "LeakSanitizer" below;
#   detect_odr_violation=0: a dynamic module defines ngx_modules[],
#     ngx_module_names[] and ngx_module_order[] as nginx itself does (that
#     is how nginx finds them with dlsym()), which ASan reports as an ODR
#     violation when the module is loaded.
cat >"$asan/sanitizer-defaults.c.new" <<'EOF'
/* generated by scripts/sanitize.sh */

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__lsan_default_options(void);


const char *
__asan_default_options(void)
{
    return "abort_on_error=1:halt_on_error=1:log_path=stderr"
           ":detect_leaks=0:detect_odr_violation=0"
           ":detect_stack_use_after_return=1"
           ":check_initialization_order=1:strict_init_order=1"
           ":print_summary=1:disable_coredump=1";
}


const char *
__ubsan_default_options(void)
{
    return "abort_on_error=1:halt_on_error=1:print_stacktrace=1"
           ":print_summary=1:log_path=stderr";
}


const char *
__lsan_default_options(void)
{
    return "print_suppressions=0";
}
EOF

if ! cmp -s "$asan/sanitizer-defaults.c.new" "$asan/sanitizer-defaults.c"
then
    mv "$asan/sanitizer-defaults.c.new" "$asan/sanitizer-defaults.c"
    gcc -c -O1 -fPIC -o "$asan/sanitizer-defaults.o" \
        "$asan/sanitizer-defaults.c"
else
    rm -f "$asan/sanitizer-defaults.c.new"
fi

san='-fsanitize=address,undefined -fno-sanitize-recover=all'
cc_opt="$san -fno-omit-frame-pointer -g -O1"
cc_opt="$cc_opt -DNGX_DEBUG_PALLOC=1 -DNGX_HAVE_NONALIGNED=0"
ld_opt="$san $asan/sanitizer-defaults.o"

# nginx 1.22 itself passes NULL with a length of 0 to memcpy() in normal
# operation (ngx_pstrdup() of the empty conf_param at every start,
# ngx_cycle.c:118; ngx_vslprintf() of an empty %V, ngx_string.c:586, e.g.
# from ngx_http_process_request_uri() and ngx_http_log_error_handler()):
# with every check fatal, no nginx would start.  So nginx's own objects
# are built without -fsanitize=nonnull-attribute; the module's are built
# with exactly $cc_opt.
core_extra='-fno-sanitize=nonnull-attribute'

prefix="$asan/prefix"

configure_args=(
    --prefix="$prefix"
    --conf-path="$prefix/conf/nginx.conf"
    --error-log-path=stderr
    --http-log-path="$prefix/logs/access.log"
    --pid-path="$prefix/logs/nginx.pid"
    --lock-path="$prefix/logs/nginx.lock"
    --http-client-body-temp-path="$prefix/body"
    --http-proxy-temp-path="$prefix/proxy"
    --http-fastcgi-temp-path="$prefix/fastcgi"
    --http-uwsgi-temp-path="$prefix/uwsgi"
    --http-scgi-temp-path="$prefix/scgi"
    --with-compat
    --with-debug
    --with-threads
    --with-pcre-jit
    --with-http_ssl_module
    --with-http_v2_module
    --with-http_realip_module
    --with-http_stub_status_module
    --with-http_auth_request_module
    --with-cc-opt="$cc_opt"
    --with-ld-opt="$ld_opt"
    --add-dynamic-module="$top"
)

objs="$asan/nginx-src"

# configure again when the source, the flags or the module's config change;
# otherwise make rebuilds only what changed
stamp=$( { echo "$src"; printf '%s\n' "${configure_args[@]}";
           echo "$core_extra"; cat "$top/config"; } \
         | sha256sum | cut -d' ' -f1)

if [ ! -f "$objs/objs/Makefile" ] \
   || [ "$(cat "$objs/.configure-stamp" 2>/dev/null)" != "$stamp" ]
then
    log "configuring nginx with the sanitizers"
    rm -rf "$objs"
    cp -a "$src" "$objs"
    (cd "$objs" && ./configure "${configure_args[@]}") \
        >"$asan/configure.log" 2>&1 || {
        tail -30 "$asan/configure.log" >&2
        die "configure failed (see $asan/configure.log)"
    }
    echo "$stamp" >"$objs/.configure-stamp"
fi

log "building nginx and the module (gcc, -O1, ASan + UBSan)"
cflags=$(sed -n 's/^CFLAGS = *//p' "$objs/objs/Makefile")
{
    make -C "$objs" -j"$(nproc)" -f objs/Makefile binary \
        CFLAGS="$cflags $core_extra" \
    && make -C "$objs" -j"$(nproc)" -f objs/Makefile modules
} >"$asan/make.log" 2>&1 || {
    grep -E "error|warning" "$asan/make.log" >&2 \
        || tail -30 "$asan/make.log" >&2
    die "build failed (see $asan/make.log)"
}

cp "$objs/objs/nginx" "$asan/nginx.new"
mv "$asan/nginx.new" "$asan/nginx"
cp "$objs/objs/ngx_http_bedrock_module.so" "$asan/so.new"
mv "$asan/so.new" "$asan/ngx_http_bedrock_module.so"
mkdir -p "$prefix/logs" "$prefix/conf"

"$asan/nginx" -V 2>&1 | grep -q 'fsanitize=address' \
    || die "$asan/nginx is not built with the sanitizers"

t_built=$(date +%s)
log "built $asan/nginx and $asan/ngx_http_bedrock_module.so" \
    "in $((t_built - t_start)) s"

if [ "$build_only" -eq 1 ]; then
    echo "sanitize: built (no tests run)"
    exit 0
fi


# 4. the suite

if [ "$deps" -eq 1 ]; then
    # shellcheck source=scripts/node.sh
    . "$top/scripts/node.sh"
    ensure_node "$top"
fi

# LeakSanitizer is off by default (detect_leaks=0).  It works in nginx
# (also in workers running as nobody), but it scans at exit, and nginx
# does not free at exit what it keeps for the life of a process, so most
# of what it reports is nginx's, not the module's, and would fail tests
# that are fine:
#  - "nginx -t", and any nginx that stops on a bad configuration, returns
#    from main() with the cycle still allocated (init_cycle's pool is on
#    main()'s stack): every allocation of the configuration "leaks";
#  - a worker frees its cycle pool at exit, but in nginx 1.22 a TLS
#    upstream peer keeps the SSL_SESSION of its last connection
#    (ngx_http_upstream_save_round_robin_peer_session(), SSL_get1_session())
#    and nothing frees it, nor the SSL_CTX it pins;
#  - what the module itself keeps for the life of a worker outside the
#    cycle pool (the credentials' pool) shows as a leak at exit.
# What matters during a run, memory used after its pool is freed, ASan
# catches with NGX_DEBUG_PALLOC (every pool allocation is a malloc()).
# SANITIZE_LEAKS=1 turns LSan on, to look at leaks on purpose (expect the
# reports above).
leaks=${SANITIZE_LEAKS:-0}

export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:log_path=stderr"
ASAN_OPTIONS+=":detect_leaks=$leaks:detect_odr_violation=0"
ASAN_OPTIONS+=":detect_stack_use_after_return=1"
ASAN_OPTIONS+=":check_initialization_order=1:strict_init_order=1"
ASAN_OPTIONS+=":print_summary=1:disable_coredump=1"
if [ "$leaks" -eq 1 ]; then
    # whole stacks through OpenSSL, which has no frame pointers
    ASAN_OPTIONS+=":fast_unwind_on_malloc=0"
fi
export UBSAN_OPTIONS="abort_on_error=1:halt_on_error=1:print_stacktrace=1"
UBSAN_OPTIONS+=":print_summary=1:log_path=stderr"
export LSAN_OPTIONS="print_suppressions=0"

export NGINX_BIN="$asan/nginx"
export BEDROCK_MODULE="$asan/ngx_http_bedrock_module.so"

if [ "$leaks" -eq 1 ]; then
    # LSan scans after the cycle pool is gone, and with it the module
    # (ngx_load_module()'s cleanup dlclose()s it): preloaded, it stays
    # mapped and the frames of a leak name its functions.  The ASan
    # runtime must come first.
    libasan=$(readlink -f "$(gcc -print-file-name=libasan.so)")
    export NGINX_LD_PRELOAD="$libasan:$BEDROCK_MODULE"
fi

# every nginx of the suite gets its prefix dir in here, kept after it
# stops, so that the whole of each report (the harness quotes only the
# matching lines) can be shown below
scratch=$(mktemp -d /tmp/bedrock-sanitize.XXXXXX)
chmod 0755 "$scratch"
export TMPDIR="$scratch"
export KEEP_NGINX_DIR=1

out="$asan/suite.log"
reports="$asan/reports.log"
log "running the suite against $NGINX_BIN (log: $out)"

cd "$top/t"

if [ ${#tests[@]} -eq 0 ]; then
    tests=(./*.test.js)
fi

since=$(sed 's/.*) //' /proc/self/stat | awk '{ print $20 }')

set +e
node --test --test-concurrency=1 \
    --test-timeout="${SANITIZE_TEST_TIMEOUT:-300000}" \
    "${tests[@]}" >"$out" 2>&1
rc=$?
set -e

leftover=$(reap "$asan/nginx" "$since")

t_end=$(date +%s)


# 5. the reports, with the module's frames symbolized (ASan leaves frames
#    of a dlopen()ed module as "(file.so+0xoffset)" in a worker)

symbolize() {
    local line file off sym

    while IFS= read -r line; do
        if [[ "$line" =~ ^(.*#[0-9]+\ 0x[0-9a-f]+)\ +\((/[^+]+)\+0x([0-9a-f]+)\)$ ]]
        then
            file=${BASH_REMATCH[2]}
            off=$(printf '0x%x' $((0x${BASH_REMATCH[3]} - 1)))
            sym=$(addr2line -f -i -p -e "$file" "$off" 2>/dev/null \
                  | head -1 | sed 's/ at / /')
            line="${BASH_REMATCH[1]} in $sym"
        fi
        printf '%s\n' "$line"
    done
}

: >"$reports"
for log_file in "$scratch"/*/error.log; do
    [ -f "$log_file" ] || continue
    grep -qE 'Sanitizer|: runtime error: ' "$log_file" || continue
    {
        echo "=== $log_file"
        awk '/==[0-9]+==ERROR: |: runtime error: |^WARNING: .*Sanitizer/ {
                 on = 1
             }
             on { print }
             /^SUMMARY: / { on = 0; print "" }' "$log_file" | symbolize
    } >>"$reports"
done
# reports of "nginx -t" runs and of an nginx that did not start are only
# in the suite's own output, in the harness's error message
awk '/hit a sanitizer|nginx failed to start/ { on = 1; block = ""; hit = 0 }
     on && /Sanitizer|: runtime error: / { hit = 1 }
     on { block = block $0 "\n" }
     on && (/SUMMARY: / || /^ *(code|failureType|stack):/) {
         on = 0
         if (hit) printf "=== %s\n%s\n", FILENAME, block
     }' "$out" | symbolize >>"$reports"

if [ -z "${SANITIZE_KEEP:-}" ]; then
    rm -rf "$scratch"
fi

nreports=$(grep -cE '^ *SUMMARY: ' "$reports" || true)

echo
echo "sanitize: summary"
[ -z "$leftover" ] || echo "$leftover"
grep -E '^# (tests|pass|fail|cancelled|skipped|todo)' "$out" \
    | sed 's/^# /  /' || true
echo "  failed:"
grep -E '^ *not ok' "$out" | sed 's/^/  /' | head -100 || true
echo "  sanitizer reports: $nreports (full: $reports)"
# one line per distinct report: what, and the first frame in the module
awk '/: runtime error: |==ERROR: / {
         what = $0; frame = ""
         sub(/^ +/, "", what); sub(/==[0-9]+==/, "", what)
         gsub(/ 0x[0-9a-f]+/, "", what)
     }
     /#[0-9]+ / && frame == "" && /bedrock/ {
         frame = $0; sub(/^ *#[0-9]+ 0x[0-9a-f]+ in /, "", frame)
     }
     /^ *SUMMARY: / && what != "" {
         print "    " what "\n      at " (frame != "" ? frame : "(not in the module)")
         what = ""
     }' "$reports" | paste - - | sort | uniq -c | sort -rn \
    | sed 's/\t/\n/' | head -60
echo "  build: $((t_built - t_start)) s, suite: $((t_end - t_built)) s"

if [ "$rc" -ne 0 ] || [ "$nreports" -ne 0 ]; then
    echo "sanitize: FAILED (node --test exit $rc; suite log: $out)"
    exit 1
fi

echo "sanitize: ok"
