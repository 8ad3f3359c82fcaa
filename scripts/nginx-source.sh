# shellcheck shell=bash
# Sourced by the scripts: Debian's nginx source package, unpacked once into
# build/debian-src and shared by scripts/unit.sh and scripts/sanitize.sh.
# "apt-get source" needs a deb-src entry, which a fresh Debian 12 lacks:
# one for bookworm is added when there is none.
#
#   nginx_source <top>   sets NGINX_SRC to the unpacked source directory
#   nginx_configure_args <prefix> <cc-opt> <ld-opt> <module>
#                        sets NGINX_CONFIGURE_ARGS, the configure arguments
#                        of the nginx builds the suite runs on

# the newest source version first; when a mirror lists a version it cannot
# serve (a 404 for the security suite's files), the ones after it
nginx_source_fetch() {
    local cache=$1 v versions

    versions=$(apt-cache showsrc nginx 2>/dev/null \
               | sed -n 's/^Version: //p' | sort -u -r -V)

    mkdir -p "${cache%/*}"
    : >"$cache.log"

    for v in "" $versions; do
        rm -rf "$cache"
        mkdir -p "$cache"
        if (cd "$cache" && apt-get source -qq "nginx${v:+=$v}") \
               >>"$cache.log" 2>&1
        then
            return 0
        fi
    done

    return 1
}

nginx_source() {
    local top=$1 cache

    cache="$top/build/debian-src"
    NGINX_SRC=$(find "$cache" -mindepth 1 -maxdepth 1 -type d \
                -name 'nginx-1.*' 2>/dev/null | sort | tail -1 || true)

    if [ -n "$NGINX_SRC" ] && [ -x "$NGINX_SRC/configure" ]; then
        return 0
    fi

    if ! nginx_source_fetch "$cache"; then
        if ! grep -Eqrs '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
                /etc/apt/sources.list /etc/apt/sources.list.d/
        then
            echo "nginx-source.sh: adding deb-src entries for bookworm"
            cat >/etc/apt/sources.list.d/bedrock-deb-src.sources <<'END'
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
END
        fi

        apt-get update -qq
        if ! nginx_source_fetch "$cache"; then
            tail -20 "$cache.log" >&2
            echo "nginx-source.sh: apt-get source nginx failed" >&2
            return 1
        fi
    fi

    NGINX_SRC=$(find "$cache" -mindepth 1 -maxdepth 1 -type d \
                -name 'nginx-1.*' | sort | tail -1)

    if [ -z "$NGINX_SRC" ] || [ ! -x "$NGINX_SRC/configure" ]; then
        echo "nginx-source.sh: no nginx source in $cache" >&2
        return 1
    fi
}


# an nginx with everything the suite uses, its paths below <prefix>, the
# module (the folder with its config) as a dynamic module
nginx_configure_args() {
    local prefix=$1 cc_opt=$2 ld_opt=$3 module=$4

    NGINX_CONFIGURE_ARGS=(
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
    )

    if [ -n "$ld_opt" ]; then
        NGINX_CONFIGURE_ARGS+=(--with-ld-opt="$ld_opt")
    fi

    NGINX_CONFIGURE_ARGS+=(--add-dynamic-module="$module")
}
