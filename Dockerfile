# Debian 12's nginx with ngx_http_bedrock_module, configured as in
# conf-examples/minimal.conf (listening on all addresses, port 8080).
#
#   docker build -t nginx-bedrock .
#   docker run -p 8080:8080 -e AWS_REGION=us-east-1 \
#       -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_SESSION_TOKEN \
#       nginx-bedrock

FROM debian:12 AS build

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       build-essential nginx nginx-dev libyajl-dev libssl-dev libpcre2-dev \
       libpcre3-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

COPY config ngx_http_bedrock_module.c /src/
COPY src /src/src
COPY scripts/build.sh /src/scripts/

RUN /src/scripts/build.sh


FROM debian:12

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       nginx libyajl2 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /src/build/ngx_http_bedrock_module.so /usr/lib/nginx/modules/
COPY conf-examples/minimal.conf /etc/nginx/nginx.conf

RUN sed -i -e 's/listen 127.0.0.1:8080;/listen 8080;/' \
           -e 's/^events {}/error_log stderr notice;\nevents {}/' \
           /etc/nginx/nginx.conf

EXPOSE 8080

CMD ["nginx", "-g", "daemon off;"]
