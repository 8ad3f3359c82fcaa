#!/usr/bin/env bash
# Builds the Debian package libnginx-mod-http-bedrock from this tree with
# dpkg-buildpackage and nginx-dev's dh_nginx, installs it into the packaged
# nginx, and checks that nginx loads it from /etc/nginx/modules-enabled.
#
#   scripts/package.sh [--no-deps] [--test]
#
#   --no-deps  install no apt packages (the machine is ready)
#   --test     then run the integration suite against the installed module
#
# Debian 12 (or 13), as root: nginx-dev's build configures
# /usr/share/nginx/src in place.  The package is built from a copy of the
# files git tracks (or of the tree, without build/), in build/package/;
# the .deb lands there.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/package"
deps=1
test=0

for arg in "$@"; do
    case "$arg" in
        --no-deps) deps=0 ;;
        --test)    test=1 ;;
        *) echo "usage: $0 [--no-deps] [--test]" >&2; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || { echo "package.sh: run as root" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive

if [ $deps = 1 ]; then
    # shellcheck source=scripts/apt.sh
    . "$top/scripts/apt.sh"
    apt_ensure package.sh dpkg-dev debhelper nginx nginx-dev libyajl-dev \
        libssl-dev zlib1g-dev
fi

rm -rf "$out"
mkdir -p "$out/src"

if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$top" && git ls-files -z | xargs -0 tar cf -) | tar xf - -C "$out/src"
else
    (cd "$top" && tar cf - --exclude=./build --exclude=./t/node_modules .) \
        | tar xf - -C "$out/src"
fi

start=$SECONDS
(cd "$out/src" && dpkg-buildpackage -b -uc -us) >"$out/build.log" 2>&1 || {
    tail -40 "$out/build.log"
    echo "package.sh: dpkg-buildpackage failed (log: $out/build.log)"
    exit 1
}

deb=$(ls "$out"/libnginx-mod-http-bedrock_*.deb)
echo "package.sh: built $(basename "$deb") in $((SECONDS - start)) s"
dpkg-deb -f "$deb" Package Version Depends
dpkg-deb -c "$deb" | awk '{print "    " $6}' | grep -v '/$'

apt-get install -y -qq --no-install-recommends "$deb" >/dev/null

# the Debian way: a load file in modules-available, linked from enabled
conf=/usr/share/nginx/modules-available/mod-http-bedrock.conf
link=/etc/nginx/modules-enabled/50-mod-http-bedrock.conf
so=/usr/lib/nginx/modules/ngx_http_bedrock_module.so

[ -f "$so" ] || { echo "package.sh: $so is missing"; exit 1; }
[ -f "$conf" ] || { echo "package.sh: $conf is missing"; exit 1; }
[ "$(readlink -f "$link")" = "$conf" ] \
    || { echo "package.sh: $link does not point at $conf"; exit 1; }
grep -q "load_module modules/ngx_http_bedrock_module.so;" "$conf"

# the packaged nginx loads it through its own nginx.conf
nginx -t -q
nginx -V 2>&1 | sed -n 1p
echo "package.sh: installed; nginx -t loads the module"

if [ $test = 1 ]; then
    # shellcheck source=scripts/node.sh
    . "$top/scripts/node.sh"
    ensure_node "$top"
    (cd "$top/t" && BEDROCK_MODULE="$so" \
        node --test --test-concurrency=1 ./*.test.js)
fi
