#!/usr/bin/env bash
# Conformance unit tests and libFuzzer targets of the module's protocol
# code (src/: SigV4, event stream, JSON, chat and stream translation,
# credential parsers), linked against nginx's own core objects.
#
#   scripts/unit.sh [--fuzz] [--fuzz-seconds N] [--seeds] [--suite NAME]
#
# On Debian 12, as root: installs what it needs (apt), fetches nginx's
# source package (apt-get source nginx, cached in build/debian-src), builds
# nginx's core, event and os objects with ASan and UBSan (and
# NGX_DEBUG_PALLOC, so every pool allocation is its own malloc) and the
# tests against them, then runs
#   - the unit tests (tests/unit/), with the vectors of ../shared/vectors
#     when that folder exists (BEDROCK_VECTORS overrides it);
#   - each fuzz target over its committed corpus and every regression input
#     (tests/fuzz/{corpus,regressions}/<target>/).
# --fuzz also builds the targets with clang and libFuzzer and runs each for
# N seconds (default 30).  --seeds regenerates the event-stream seeds.
# --suite runs one unit suite (sigv4, eventstream, stream, media, hostile,
# error, credentials, url, writer) and no fuzz target.
# The last line is "N passed, N failed"; any failure exits non-zero.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
vectors="${BEDROCK_VECTORS:-$top/../shared/vectors}"
targets="eventstream chat_request chat_response sigv4 messages responses
         embeddings"

fuzz=0
seconds=30
seeds=0
suite=""

while [ $# -gt 0 ]; do
    case "$1" in
        --fuzz) fuzz=1 ;;
        --fuzz-seconds) fuzz=1; seconds="${2:?--fuzz-seconds needs N}"; shift ;;
        --seeds) seeds=1 ;;
        --suite) suite="${2:?--suite needs a name}"; shift ;;
        *) echo "usage: $0 [--fuzz] [--fuzz-seconds N] [--seeds]" \
                "[--suite NAME]" >&2
           exit 2 ;;
    esac
    shift
done

export DEBIAN_FRONTEND=noninteractive
jobs=$(nproc)

# 1. packages

need="build-essential dpkg-dev libyajl-dev libssl-dev libpcre2-dev zlib1g-dev"
if [ $fuzz = 1 ]; then
    need="$need clang libclang-rt-14-dev"
fi

# shellcheck source=scripts/apt.sh
. "$top/scripts/apt.sh"
# shellcheck disable=SC2086
apt_ensure unit.sh $need

# 2. nginx's source, as Debian ships it

# shellcheck source=scripts/nginx-source.sh
. "$top/scripts/nginx-source.sh"
nginx_source "$top"
ngx=$NGINX_SRC

# 3. nginx's core, event and os objects, as a static library

san="-fsanitize=address,undefined -fno-sanitize-recover=all"
common="-g -O1 -fno-omit-frame-pointer $san"
common="$common -DNGX_DEBUG_PALLOC=1 -DNGX_HAVE_NONALIGNED=0"
warn="-W -Wall -Wextra -Wpointer-arith -Wno-unused-parameter -Werror"

# nginx's core copies "%V" arguments with memcpy() even when they are
# empty with a NULL pointer, an idiom all of nginx relies on: UBSan's
# nonnull check is off for core only (the module's own calls keep it)
core="$common -fno-sanitize=nonnull-attribute"

# build_nginx <dir> <cc>
build_nginx() {
    local dir="$1" cc="$2" objs

    if [ ! -f "$dir/Makefile" ] \
       || [ "$(cat "$dir/.flags" 2>/dev/null)" != "$ngx $cc $core" ]
    then
        rm -rf "$dir"
        mkdir -p "$dir"
        (cd "$ngx" && ./configure --with-http_ssl_module --with-debug \
            --builddir="$dir" --with-cc="$cc" --with-cc-opt="$core" \
            --with-ld-opt="$san") >"$dir.configure.log" 2>&1 || {
            tail -30 "$dir.configure.log" >&2
            exit 1
        }
        echo "$ngx $cc $core" > "$dir/.flags"
    fi

    objs=$(grep -oE "^$dir/src/(core|event|os/unix)/[^ :]*\.o:" \
           "$dir/Makefile" | tr -d : | grep -v '/core/nginx\.o$' | sort -u)

    # shellcheck disable=SC2086
    make -s -C "$ngx" -f "$dir/Makefile" -j"$jobs" $objs \
        >"$dir.make.log" 2>&1 || {
        grep -E "error" "$dir.make.log" >&2 || tail -30 "$dir.make.log" >&2
        exit 1
    }

    # shellcheck disable=SC2086
    if [ ! -f "$dir/libngx.a" ] \
       || [ -n "$(find $objs -newer "$dir/libngx.a")" ]
    then
        rm -f "$dir/libngx.a"
        # shellcheck disable=SC2086
        ar rcs "$dir/libngx.a" $objs
    fi
}

# compile <cc> <flags> <out.o> <src.c>: only when the source or a header
# changed
compile() {
    local cc="$1" flags="$2" out="$3" src="$4" h

    if [ -f "$out" ] && [ "$out" -nt "$src" ]; then
        for h in "$msrc"/*.h "$top"/tests/unit/*.h "$top"/tests/fuzz/*.h; do
            [ "$h" -nt "$out" ] && { rm -f "$out"; break; }
        done
        [ -f "$out" ] && return 0
    fi

    # shellcheck disable=SC2086
    $cc $flags -c "$src" -o "$out"
}

# objects <cc> <flags> <dir> <sources...>: compiles in parallel, prints
# the objects
objects() {
    local cc="$1" flags="$2" dir="$3" src out list="" pids="" pid rc=0
    shift 3

    if [ "$(cat "$dir/.flags" 2>/dev/null)" != "$cc $flags" ]; then
        rm -f "$dir"/*.o
        echo "$cc $flags" > "$dir/.flags"
    fi

    for src in "$@"; do
        out="$dir/$(basename "${src%.c}").o"
        list="$list $out"
        compile "$cc" "$flags" "$out" "$src" &
        pids="$pids $!"
        if [ "$(echo $pids | wc -w)" -ge "$jobs" ]; then
            for pid in $pids; do wait "$pid" || rc=1; done
            pids=""
        fi
    done

    for pid in $pids; do wait "$pid" || rc=1; done

    [ $rc = 0 ] || exit 1

    echo "$list"
}

incs() {
    echo "-I $ngx/src/core -I $ngx/src/event -I $ngx/src/event/modules" \
         "-I $ngx/src/os/unix -I $1 -I $msrc -I $top/tests/unit" \
         "-I $top/tests/fuzz"
}

libs="-lyajl -lssl -lcrypto -lpcre2-8 -lz -lcrypt -ldl -lpthread"

# BEDROCK_SRC: another copy of src/ to test (a patch under review)
msrc="${BEDROCK_SRC:-$top/src}"
module="$msrc/ngx_http_bedrock_json.c $msrc/ngx_http_bedrock_error.c
    $msrc/ngx_http_bedrock_converse.c $msrc/ngx_http_bedrock_chat.c
    $msrc/ngx_http_bedrock_messages.c $msrc/ngx_http_bedrock_responses.c
    $msrc/ngx_http_bedrock_media.c $msrc/ngx_http_bedrock_embeddings.c
    $msrc/ngx_http_bedrock_sigv4.c $msrc/ngx_http_bedrock_eventstream.c
    $msrc/ngx_http_bedrock_stream.c $msrc/ngx_http_bedrock_credentials.c
    $msrc/ngx_http_bedrock_fetch.c $msrc/ngx_http_bedrock_url.c
    $msrc/ngx_http_bedrock_image.c"

start=$SECONDS

unit="$build/unit"
mkdir -p "$unit/obj"

echo "unit.sh: nginx $(basename "$ngx") objects (gcc, ASan, UBSan)"
build_nginx "$unit/nginx" gcc

cflags="$common $warn $(incs "$unit/nginx")"

echo "unit.sh: the tests"
# shellcheck disable=SC2086
mod_objs=$(objects gcc "$cflags" "$unit/obj" $module)
# shellcheck disable=SC2086
unit_objs=$(objects gcc "$cflags" "$unit/obj" "$top"/tests/unit/ngx_unit*.c)
# shellcheck disable=SC2086
fuzz_objs=$(objects gcc "$cflags" "$unit/obj" "$top"/tests/fuzz/*.c)

lib_objs=""
for o in $unit_objs; do
    [ "$(basename "$o")" = ngx_unit_main.o ] || lib_objs="$lib_objs $o"
done

# shellcheck disable=SC2086
gcc $common -o "$unit/ngx_unit" $unit_objs $mod_objs \
    "$unit/nginx/libngx.a" $libs

for t in $targets; do
    # shellcheck disable=SC2086
    gcc $common -o "$unit/replay_$t" "$unit/obj/fuzz_$t.o" \
        "$unit/obj/ngx_fuzz.o" "$unit/obj/ngx_fuzz_replay.o" $lib_objs \
        $mod_objs "$unit/nginx/libngx.a" $libs
done

if [ $seeds = 1 ]; then
    # shellcheck disable=SC2086
    gcc $common -o "$unit/seeds" "$unit/obj/ngx_fuzz_seeds.o" $lib_objs \
        $mod_objs "$unit/nginx/libngx.a" $libs
    mkdir -p "$top/tests/fuzz/corpus/eventstream"
    "$unit/seeds" "$top/tests/fuzz/corpus/eventstream"
    echo "unit.sh: wrote tests/fuzz/corpus/eventstream/"
fi

echo "unit.sh: built in $((SECONDS - start)) s"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

passed=0
failed=0

# 4. the unit tests

if [ -d "$vectors" ]; then
    vectors=$(cd "$vectors" && pwd)
fi

set +e
# shellcheck disable=SC2086
"$unit/ngx_unit" "$vectors" $suite | tee "$unit/ngx_unit.log"
rc=${PIPESTATUS[0]}
set -e

line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed' "$unit/ngx_unit.log" \
       | tail -1 || true)

if [ -z "$line" ]; then
    echo "FAIL unit: ngx_unit crashed (exit $rc)"
    failed=$((failed + 1))
else
    p=$(echo "$line" | sed -E 's/^unit: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^unit: [0-9]+ passed, ([0-9]+) failed.*/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "FAIL unit: ngx_unit exited $rc"
        failed=$((failed + 1))
    fi
fi

# 5. the fuzz targets over their corpus and regression inputs

if [ -n "$suite" ]; then
    targets=""
    fuzz=0
fi

for t in $targets; do
    corpus="$top/tests/fuzz/corpus/$t"

    if [ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ]; then
        if ("$unit/replay_$t" "$corpus"/*) >"$unit/replay_$t.log" 2>&1; then
            echo "ok   fuzz/$t/corpus ($(ls "$corpus" | wc -l) inputs)"
            passed=$((passed + 1))
        else
            cat "$unit/replay_$t.log"
            echo "FAIL fuzz/$t/corpus"
            failed=$((failed + 1))
        fi
    fi

    for input in "$top/tests/fuzz/regressions/$t"/*; do
        [ -f "$input" ] || continue
        if ("$unit/replay_$t" "$input") >"$unit/replay_$t.log" 2>&1; then
            echo "ok   fuzz/$t/regressions/$(basename "$input")"
            passed=$((passed + 1))
        else
            sed -n '1,40p' "$unit/replay_$t.log"
            echo "FAIL fuzz/$t/regressions/$(basename "$input")"
            failed=$((failed + 1))
        fi
    done
done

# 6. fuzzing

if [ $fuzz = 1 ]; then
    fz="$build/fuzz"
    mkdir -p "$fz/obj"

    echo "unit.sh: nginx objects and the fuzz targets (clang, libFuzzer)"
    build_nginx "$fz/nginx" clang

    # BEDROCK_FUZZ_CFLAGS adds flags, e.g. -fno-sanitize=pointer-overflow
    # to fuzz on past a known report
    fflags="$common ${BEDROCK_FUZZ_CFLAGS:-} -fsanitize=fuzzer-no-link"
    fflags="$fflags $warn $(incs "$fz/nginx")"

    # shellcheck disable=SC2086
    fmod=$(objects clang "$fflags" "$fz/obj" $module)
    # shellcheck disable=SC2086
    fcommon=$(objects clang "$fflags" "$fz/obj" "$top/tests/fuzz/ngx_fuzz.c" \
              "$top/tests/unit/ngx_unit_nginx.c" "$top/tests/unit/ngx_unit.c")
    # shellcheck disable=SC2086
    ftargets=$(objects clang "$fflags" "$fz/obj" "$top"/tests/fuzz/fuzz_*.c)

    for t in $targets; do
        # shellcheck disable=SC2086
        clang $common -fsanitize=fuzzer -o "$fz/fuzz_$t" "$fz/obj/fuzz_$t.o" \
            $fcommon $fmod "$fz/nginx/libngx.a" $libs
    done

    for t in $targets; do
        work="$fz/corpus/$t"
        artifacts="$fz/artifacts/$t"
        rm -rf "$work" "$artifacts"
        mkdir -p "$work" "$artifacts"

        cp "$top/tests/fuzz/corpus/$t"/* "$work/" 2>/dev/null || true

        # the regression inputs as seeds too: clang's UBSan reports what
        # the replay's gcc build lets pass (a null pointer plus zero)
        cp "$top/tests/fuzz/regressions/$t"/* "$work/" 2>/dev/null || true

        # the shared vectors, when they are there, as more seeds (after
        # the eventstream target's 6 bytes: include_usage, and for the
        # corrupt ones checksums kept as they are)
        if [ -d "$vectors" ]; then
            case $t in
            eventstream)
                for f in "$vectors"/bedrock/converse-stream/*.bin \
                         "$vectors"/eventstream/aws-sdk-go/encoded/*/*; do
                    [ -f "$f" ] || continue
                    flags='\001'
                    case $f in */negative/*) flags='\003' ;; esac
                    seed="$work/vector-$(basename "$(dirname "$f")")"
                    { printf "\\007$flags\\021\\042\\063\\104"; cat "$f"; } \
                        > "$seed-$(basename "$f")"
                done
                ;;
            chat_response)
                for f in "$vectors"/bedrock/converse/*.response.json; do
                    [ -f "$f" ] && cp "$f" "$work/vector-$(basename "$f")"
                done
                ;;
            esac
        fi

        dict=""
        if [ -f "$top/tests/fuzz/$t.dict" ]; then
            dict="-dict=$top/tests/fuzz/$t.dict"
        fi

        set +e
        # shellcheck disable=SC2086
        (cd "$artifacts" && "$fz/fuzz_$t" -max_total_time="$seconds" \
            -max_len=65536 -timeout=10 -rss_limit_mb=4096 $dict \
            -print_final_stats=1 -artifact_prefix="$artifacts/" "$work") \
            >"$fz/fuzz_$t.log" 2>&1
        rc=$?
        set -e

        log="$fz/fuzz_$t.log"
        stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" \
                | tail -1 || true)
        execs=$(grep -E '^stat::number_of_executed_units' "$log" \
                | awk '{print $2}' || true)
        cov=$(echo "$stats" | grep -oE 'cov: [0-9]+' || true)
        ft=$(echo "$stats" | grep -oE 'ft: [0-9]+' || true)
        corp=$(echo "$stats" | grep -oE 'corp: [0-9]+/[0-9a-zA-Z]+' || true)

        if [ $rc = 0 ] && [ -z "$(ls -A "$artifacts")" ]; then
            echo "ok   fuzz/$t: ${execs:-?} runs in $seconds s," \
                 "$cov, $ft, $corp"
            passed=$((passed + 1))
        else
            { grep -E -A30 'ERROR: [A-Za-z]+Sanitizer|ERROR: libFuzzer' \
                  "$log" || true; } | head -60
            { grep -E -A12 'runtime error|ngx_fuzz:' "$log" || true; } \
                | head -30
            echo "FAIL fuzz/$t: exit $rc; crash inputs in $artifacts"
            echo "     (minimize: $fz/fuzz_$t -minimize_crash=1" \
                 "-runs=100000 <input>)"
            failed=$((failed + 1))
        fi
    done
fi

echo "unit.sh: $((SECONDS - start)) s in all"
echo "$passed passed, $failed failed"

[ $failed = 0 ]
