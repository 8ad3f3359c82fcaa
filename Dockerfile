# Debian 12's nginx with ngx_http_bedrock_module installed as its Debian
# package (libnginx-mod-http-bedrock, built here with dh_nginx), configured
# as in conf-examples/minimal.conf (listening on all addresses, port 8080).
#
#   docker build -t nginx-bedrock .
#   docker run -p 8080:8080 -e AWS_REGION=us-east-1 \
#       -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_SESSION_TOKEN \
#       nginx-bedrock
#
# Without a Docker daemon: scripts/docker-image.sh (podman, chroot
# isolation, a debootstrapped base).

FROM debian:12 AS build

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       build-essential dpkg-dev debhelper nginx nginx-dev libyajl-dev \
       libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

COPY config ngx_http_bedrock_module.c /src/
COPY src /src/src
COPY debian /src/debian

RUN cd /src && dpkg-buildpackage -b -uc -us


FROM debian:12

COPY --from=build /libnginx-mod-http-bedrock_*.deb /tmp/

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       nginx ca-certificates /tmp/libnginx-mod-http-bedrock_*.deb \
    && rm -rf /var/lib/apt/lists/* /tmp/*.deb

# minimal.conf loads the module itself; it does not read modules-enabled
COPY conf-examples/minimal.conf /etc/nginx/nginx.conf

RUN sed -i -e 's/listen 127.0.0.1:8080;/listen 8080;/' \
           -e 's/^events {}/error_log stderr notice;\nevents {}/' \
           /etc/nginx/nginx.conf

EXPOSE 8080

CMD ["nginx", "-g", "daemon off;"]
