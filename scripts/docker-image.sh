#!/usr/bin/env bash
# Builds the Dockerfile's image on a machine without a Docker daemon, then
# checks it.
#
#   scripts/docker-image.sh [--no-deps]
#
# As root on Debian 12:
#   1. installs podman and debootstrap (apt);
#   2. makes the debian:12 base from "debootstrap --variant=minbase
#      bookworm" (cached in build/docker/rootfs) with "podman import";
#   3. "podman build --isolation=chroot --pull=never" of the Dockerfile,
#      whose build stage makes the Debian package and whose image installs
#      it into Debian's nginx;
#   4. checks the image: its files mounted, the packaged module's files
#      and "nginx -t" of its nginx.conf run in a chroot of them; then,
#      where podman can run containers here, the gateway started in one,
#      answering GET /v1/models.
# Prints what each step took.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/docker"
rootfs="$out/rootfs"
image=localhost/nginx-bedrock:dev
deps=1

[ "${1:-}" = --no-deps ] && deps=0
[ "$(id -u)" = 0 ] || { echo "docker-image.sh: run as root" >&2; exit 1; }

log() { echo "docker-image.sh: $*"; }
die() { echo "docker-image.sh: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
mkdir -p "$out"
t0=$SECONDS

if [ $deps = 1 ]; then
    # shellcheck source=scripts/apt.sh
    . "$top/scripts/apt.sh"
    apt_ensure docker-image.sh podman debootstrap
fi

# 2. the base image

if [ ! -f "$rootfs/etc/debian_version" ]; then
    log "debootstrap --variant=minbase bookworm"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" \
        http://deb.debian.org/debian >"$out/debootstrap.log" 2>&1 \
        || { tail -20 "$out/debootstrap.log"; die "debootstrap failed"; }
fi

if ! podman image exists localhost/debian:12; then
    log "podman import of the base as debian:12"
    tar -C "$rootfs" -c . | podman import - localhost/debian:12 >/dev/null
fi

# the Dockerfile's "FROM debian:12", with no registry to pull from
podman tag localhost/debian:12 docker.io/library/debian:12
t1=$SECONDS

# 3. the image

log "podman build --isolation=chroot"
podman build --isolation=chroot --pull=never -t "$image" -f "$top/Dockerfile" \
    "$top" >"$out/build.log" 2>&1 \
    || { tail -30 "$out/build.log"; die "podman build failed (log: $out/build.log)"; }
t2=$SECONDS
podman image ls "$image"

# 4. the checks, without running a container: a container's files,
#    mounted, and nginx -t run in a chroot of them

cid=$(podman create "$image")
mnt=$(podman mount "$cid")
trap 'podman umount "$cid" >/dev/null 2>&1 || true;
      podman rm -f "$cid" >/dev/null 2>&1 || true' EXIT

for f in /usr/lib/nginx/modules/ngx_http_bedrock_module.so \
         /usr/share/nginx/modules-available/mod-http-bedrock.conf \
         /etc/nginx/modules-enabled/50-mod-http-bedrock.conf; do
    [ -e "$mnt$f" ] || die "the image lacks $f"
done
chroot "$mnt" dpkg-query -W -f='${Package} ${Version} ${Status}\n' \
    libnginx-mod-http-bedrock

# the module as Debian enables it, with a Bedrock endpoint given by address
cat >"$mnt/tmp/bedrock-check.conf" <<'END'
include /etc/nginx/modules-enabled/*.conf;
events {}
http {
    server {
        listen 127.0.0.1:18081;
        location /v1/ {
            bedrock_pass http://127.0.0.1:9;
            bedrock_region us-east-1;
            bedrock_model_map fast us.amazon.nova-micro-v1:0;
        }
    }
}
END
chroot "$mnt" nginx -t -c /tmp/bedrock-check.conf 2>&1
log "nginx -t with the packaged module from modules-enabled: ok"

# the image's own nginx.conf names Bedrock's default endpoint, which nginx
# resolves when it starts: where this machine cannot, a hosts line stands in
if ! getent hosts bedrock-runtime.us-east-1.amazonaws.com >/dev/null; then
    echo "127.0.0.1 bedrock-runtime.us-east-1.amazonaws.com" \
        >>"$mnt/etc/hosts"
    log "no DNS for bedrock-runtime.us-east-1.amazonaws.com here:" \
        "a hosts line in the checked container's files"
fi
chroot "$mnt" nginx -t 2>&1
log "nginx -t of the image's nginx.conf: ok"

# and where containers can run, a request through the gateway

if podman run --rm --isolation=chroot "$image" true >/dev/null 2>&1 \
   || podman run --rm "$image" true >"$out/run.log" 2>&1
then
    name=bedrock-check-$$
    podman run -d --rm --name "$name" -p 127.0.0.1:18080:8080 \
        -e AWS_ACCESS_KEY_ID=AKIDEXAMPLE -e AWS_SECRET_ACCESS_KEY=example \
        -e AWS_REGION=us-east-1 "$image" >/dev/null
    ok=0
    for _ in $(seq 1 50); do
        if curl -fsS http://127.0.0.1:18080/v1/models >"$out/models.json" 2>/dev/null
        then
            ok=1
            break
        fi
        sleep 0.2
    done
    podman stop "$name" >/dev/null 2>&1 || true
    [ $ok = 1 ] || die "the container did not answer GET /v1/models"
    log "a container of the image answered GET /v1/models: $(head -c 200 "$out/models.json")"
else
    log "podman cannot run containers on this machine ($(tail -1 "$out/run.log" 2>/dev/null)); the image was checked through its files only"
fi

log "base $((t1 - t0)) s, build $((t2 - t1)) s, all $((SECONDS - t0)) s"
