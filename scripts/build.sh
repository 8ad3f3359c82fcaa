#!/usr/bin/env bash
# Builds ngx_http_bedrock_module.so against the nginx installed here
# (Debian's nginx with nginx-dev), into build/.
#
#   scripts/build.sh [--deps]     --deps: apt-get the build dependencies
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"

if [ "${1:-}" = "--deps" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        build-essential nginx nginx-dev libyajl-dev libssl-dev \
        libpcre2-dev libpcre3-dev zlib1g-dev openssl ca-certificates \
        >/dev/null
fi

src=/usr/share/nginx/src
if [ ! -x "$src/configure" ]; then
    echo "build.sh: $src is missing: install nginx-dev (or run with --deps)" >&2
    exit 1
fi

# configure with the flags the installed nginx was built with, so that
# the module's binary signature matches it
# shellcheck disable=SC1091
. "$src/conf_flags"

rm -rf "$build/nginx"
mkdir -p "$build"
cp -a "$src" "$build/nginx"

cd "$build/nginx"
./configure "${NGX_CONF_FLAGS[@]}" \
    --with-cc-opt="${BEDROCK_CC_OPT:--g -O2 -Wall -Wextra -Wno-unused-parameter -Werror}" \
    --add-dynamic-module="$top" >"$build/configure.log" 2>&1 || {
    tail -30 "$build/configure.log" >&2
    exit 1
}
make -j"$(nproc)" -f objs/Makefile modules >"$build/make.log" 2>&1 || {
    grep -E "error|warning" "$build/make.log" >&2 || tail -30 "$build/make.log" >&2
    exit 1
}
# a running nginx maps the installed .so: overwriting it in place crashes
# its workers, so the new one is written beside it and renamed over it
# (the old inode stays with the running nginx until a reload or restart)
cp objs/ngx_http_bedrock_module.so "$build/.ngx_http_bedrock_module.so.new"
mv -f "$build/.ngx_http_bedrock_module.so.new" \
    "$build/ngx_http_bedrock_module.so"
echo "built $build/ngx_http_bedrock_module.so"
