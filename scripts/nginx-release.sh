#!/usr/bin/env bash
# Builds the nginx of another Debian release from its source package, with
# the module as a dynamic module, both at -Werror, into build/<release>/,
# and runs the integration suite against them.
#
#   scripts/nginx-release.sh [--no-deps] [--build-only] [release] [test ...]
#
#   release     a Debian suite whose nginx to build (default: trixie, whose
#               nginx is 1.26)
#   test        files of t/ to run (default: every t/*.test.js)
#
# As root on Debian 12: a deb-src entry for the release is added when apt
# has none, and "apt-get source nginx/<release>" fetches the source (the
# newest version apt lists first, then older ones, as nginx-source.sh
# does).  Only the source comes from that release; it is built with this
# machine's compiler and libraries.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps=1
build_only=0
release=trixie
tests=()

for arg in "$@"; do
    case "$arg" in
        --no-deps)    deps=0 ;;
        --build-only) build_only=1 ;;
        -*)           echo "nginx-release.sh: unknown option $arg" >&2; exit 2 ;;
        *.test.js)    tests+=("$arg") ;;
        *)            release=$arg ;;
    esac
done

out="$top/build/$release"
cache="$out/src"

log() { echo "nginx-release.sh: $*"; }
die() { echo "nginx-release.sh: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive

if [ $deps = 1 ]; then
    # shellcheck source=scripts/apt.sh
    . "$top/scripts/apt.sh"
    apt_ensure nginx-release.sh build-essential dpkg-dev libssl-dev \
        libpcre2-dev zlib1g-dev libyajl-dev
fi

# 1. the source: apt-get source nginx/<release>, newest version first

# A mirror may list a version whose Debian files it cannot serve (a 404 for
# the .dsc of a security update) while it serves the upstream tarball, which
# apt checks against the signed index all the same: then that tarball is
# unpacked, without Debian's patches.
fetch() {
    local v versions orig

    versions=$(apt-cache madison nginx 2>/dev/null \
               | awk -F' *[|] *' -v r="$release" \
                     '$3 ~ "/(debian|debian-security) " r "[-/]" \
                      && $3 ~ /Sources/ { print $2 }' \
               | sort -u -r -V)

    : >"$out/source.log"

    for v in $versions; do
        rm -rf "$cache"
        mkdir -p "$cache"
        (cd "$cache" && apt-get source -qq "nginx=$v") \
            >>"$out/source.log" 2>&1 || true

        if find "$cache" -maxdepth 1 -name 'nginx-1.*' -type d | grep -q .
        then
            return 0
        fi

        orig=$(find "$cache" -maxdepth 1 -name 'nginx_*.orig.tar.gz' | head -1)

        if [ -n "$orig" ] && tar xzf "$orig" -C "$cache" 2>>"$out/source.log"
        then
            echo "$v: the upstream tarball, without Debian's patches" \
                >>"$out/source.log"
            return 0
        fi
    done

    return 1
}

mkdir -p "$out"
src=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'nginx-1.*' \
      2>/dev/null | sort | tail -1 || true)

if [ -z "$src" ] || [ ! -x "$src/configure" ]; then
    if ! fetch; then
        list=/etc/apt/sources.list.d/bedrock-deb-src-$release.sources
        if [ ! -f "$list" ]; then
            log "adding deb-src entries for $release"
            cat >"$list" <<END
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $release $release-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $release-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
END
        fi
        apt-get update -qq || true
        fetch || { tail -20 "$out/source.log" >&2;
                   die "apt-get source nginx/$release failed"; }
    fi
    src=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'nginx-1.*' \
          | sort | tail -1)
fi

[ -x "$src/configure" ] || die "no nginx source in $cache"

version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
          "$src/src/core/nginx.h")
log "nginx $version from $release's source ($(tail -1 "$out/source.log" 2>/dev/null | grep -o '^[^:]*: the upstream tarball' || basename "$src"))"

# 2. nginx and the module, -Werror (nginx's own flags for gcc add it)

prefix="$out/prefix"
objs="$out/nginx"

# shellcheck source=scripts/nginx-source.sh
. "$top/scripts/nginx-source.sh"
nginx_configure_args "$prefix" "-g -O2 -Werror" "" "$top"
configure_args=("${NGINX_CONFIGURE_ARGS[@]}")

start=$SECONDS
rm -rf "$objs"
cp -a "$src" "$objs"
(cd "$objs" && ./configure "${configure_args[@]}") >"$out/configure.log" 2>&1 \
    || { tail -30 "$out/configure.log" >&2; die "configure failed"; }

{
    make -C "$objs" -j"$(nproc)" -f objs/Makefile binary \
    && make -C "$objs" -j"$(nproc)" -f objs/Makefile modules
} >"$out/make.log" 2>&1 || {
    grep -E "error|warning" "$out/make.log" >&2 || tail -30 "$out/make.log" >&2
    die "the build failed (see $out/make.log)"
}

mkdir -p "$prefix/logs" "$prefix/conf"
nginx_bin="$out/nginx-$version"
module="$out/ngx_http_bedrock_module.so"
cp "$objs/objs/nginx" "$nginx_bin.new" && mv "$nginx_bin.new" "$nginx_bin"
cp "$objs/objs/ngx_http_bedrock_module.so" "$module.new" \
    && mv "$module.new" "$module"
log "built $nginx_bin and $module in $((SECONDS - start)) s"
"$nginx_bin" -V 2>&1 | sed -n 1p

[ $build_only = 1 ] && exit 0

# 3. the integration suite on them

# shellcheck source=scripts/node.sh
. "$top/scripts/node.sh"
[ $deps = 1 ] && ensure_node "$top"

cd "$top/t"

if [ ${#tests[@]} -eq 0 ]; then
    tests=(./*.test.js)
fi

NGINX_BIN="$nginx_bin" BEDROCK_MODULE="$module" \
    node --test --test-concurrency=1 "${tests[@]}"
