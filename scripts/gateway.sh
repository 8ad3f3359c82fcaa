#!/usr/bin/env bash
# Builds the module and runs nginx as an OpenAI-compatible gateway to
# Amazon Bedrock on http://127.0.0.1:$PORT/v1 (PORT defaults to 8080), in
# the foreground; Ctrl-C stops it.  Run as root or with sudo on Debian 12.
#
#   scripts/gateway.sh          real Bedrock, with credentials found as the
#                               AWS SDKs find them (environment, ~/.aws,
#                               web identity, container or instance role);
#                               AWS_REGION (default us-east-1)
#   scripts/gateway.sh --fake   the test suite's fake Bedrock instead, for
#                               a try without an AWS account
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

port=${PORT:-8080}
mode=real

case "${1:-}" in
    --fake) mode=fake ;;
    "") ;;
    *) echo "usage: $0 [--fake]" >&2; exit 2 ;;
esac

export DEBIAN_FRONTEND=noninteractive
scripts/build.sh --deps

run="$top/build/run"
rm -rf "$run"
mkdir -p "$run"

fake_pid=
cleanup() {
    if [ -n "$fake_pid" ]; then
        kill "$fake_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

if [ "$mode" = fake ]; then
    # shellcheck source=scripts/node.sh
    . scripts/node.sh
    ensure_node "$top"

    node t/fake-bedrock-server.js $((port + 1)) >"$run/fake.env" &
    fake_pid=$!

    for _ in $(seq 50); do
        grep -q AWS_SECRET_ACCESS_KEY "$run/fake.env" 2>/dev/null && break
        sleep 0.1
    done

    # shellcheck disable=SC1091
    . "$run/fake.env"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    unset AWS_SESSION_TOKEN AWS_BEARER_TOKEN_BEDROCK
    pass=$FAKE_BEDROCK_URL
    region=us-east-1
    echo "fake Bedrock on $FAKE_BEDROCK_URL"

else
    pass=
    region=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}

    # the module looks for credentials as the AWS SDKs do: environment,
    # web identity, ~/.aws files, container and instance roles
    export AWS_REGION=$region
fi

cat >"$run/nginx.conf" <<CONF
load_module $top/build/ngx_http_bedrock_module.so;

# the credential chain reads these in the worker processes, which see
# only what "env" names
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
env AWS_SESSION_TOKEN;
env AWS_BEARER_TOKEN_BEDROCK;
env AWS_REGION;
env AWS_PROFILE;
env AWS_SHARED_CREDENTIALS_FILE;
env AWS_CONFIG_FILE;
env HOME;
env AWS_WEB_IDENTITY_TOKEN_FILE;
env AWS_ROLE_ARN;
env AWS_ROLE_SESSION_NAME;
env AWS_ENDPOINT_URL_STS;
env AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
env AWS_CONTAINER_CREDENTIALS_FULL_URI;
env AWS_CONTAINER_AUTHORIZATION_TOKEN;
env AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
env AWS_EC2_METADATA_SERVICE_ENDPOINT;
env AWS_EC2_METADATA_DISABLED;

worker_processes auto;
error_log stderr notice;
pid $run/nginx.pid;

events {}

http {
    log_format bedrock '\$remote_addr "\$request" \$status '
                       'model=\$bedrock_model id=\$bedrock_model_id '
                       'in=\$bedrock_input_tokens out=\$bedrock_output_tokens '
                       'stop=\$bedrock_stop_reason aws=\$bedrock_request_id '
                       '\$request_time';
    access_log /dev/stdout bedrock;

    client_body_temp_path $run/body;
    proxy_temp_path $run/proxy;
    fastcgi_temp_path $run/fastcgi;
    uwsgi_temp_path $run/uwsgi;
    scgi_temp_path $run/scgi;

    server {
        listen 127.0.0.1:$port;

        client_max_body_size 20m;
        client_body_buffer_size 1m;

        location /v1/ {
            bedrock_pass $pass;
            bedrock_region $region;

            bedrock_model_map gpt-4o           us.anthropic.claude-sonnet-4-20250514-v1:0;
            bedrock_model_map claude-sonnet-4  us.anthropic.claude-sonnet-4-20250514-v1:0;
            bedrock_model_map claude-haiku-3.5 us.anthropic.claude-3-5-haiku-20241022-v1:0;
            bedrock_model_map nova-micro       us.amazon.nova-micro-v1:0;
        }
    }
}
CONF

echo "gateway on http://127.0.0.1:$port/v1 (config: $run/nginx.conf)"
nginx -p "$run" -c "$run/nginx.conf" -e stderr -g 'daemon off;'
