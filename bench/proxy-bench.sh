#!/usr/bin/env bash
# The module against plain nginx proxy_pass, side by side in one run.
#
#   bench/proxy-bench.sh [--duration 8s] [--connections 50] [--only LIST]
#
# Starts, on loopback, each with one worker and the access log off:
#   - a canned upstream: nginx answering every POST with a recorded
#     Converse answer (../shared/vectors/bedrock/converse/...) or, for
#     .../converse-stream, a recorded 9-frame event stream, as static
#     files (no signature checked: the test suite does that);
#   - nginx with plain proxy_pass to it (keepalive), the ceiling;
#   - nginx with the module (build/ngx_http_bedrock_module.so; keepalive,
#     SigV4 with throw-away keys), Chat Completions, Anthropic Messages and
#     Responses requests for a Nova model, plain and streamed.
# Then drives each with wrk (-t1, Debian's package, installed if missing)
# and prints requests/s, mean and p99 latency, the front worker's CPU time
# per request (user + system, from /proc: steadier than requests/s on a
# shared machine), and the ratios of each of the module's paths to
# proxy_pass of the same upstream answer (plain answers to proxy_pass of
# the JSON, streams to proxy_pass of the raw event-stream bytes). It
# prints figures; it is not a test and asserts nothing beyond every answer
# being a 200.
#
# --only: a comma-separated subset of proxy,proxy-stream,chat,chat-stream,
# messages,messages-stream,responses,responses-stream.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
vectors="${BEDROCK_VECTORS:-$top/../shared/vectors}"
module="${MODULE:-$top/build/ngx_http_bedrock_module.so}"
nginx="${NGINX:-/usr/sbin/nginx}"

duration=8s
connections=50
only=""

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration="${2:?}"; shift ;;
        --connections) connections="${2:?}"; shift ;;
        --only) only="${2:?}"; shift ;;
        *) echo "usage: $0 [--duration 8s] [--connections 50] [--only LIST]" >&2
           exit 2 ;;
    esac
    shift
done

die() { echo "proxy-bench: $*" >&2; exit 1; }

json="$vectors/bedrock/converse/pydantic-nova-micro-max-tokens.response.json"
stream="$vectors/bedrock/converse-stream/aigw-claude-text-endturn.bin"
[ -r "$json" ] && [ -r "$stream" ] || die "the recorded answers are absent ($vectors)"
[ -r "$module" ] || die "$module is absent: run scripts/build.sh"

if ! command -v wrk >/dev/null; then
    [ "$(id -u)" = 0 ] || die "wrk is missing (apt-get install wrk)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -qq wrk >/dev/null; }
fi

dir=$(mktemp -d /tmp/proxy-bench.XXXXXX)
chmod 755 "$dir"
pids=()

cleanup() {
    for p in "${pids[@]}"; do
        kill -QUIT "$p" 2>/dev/null || true
    done
    sleep 0.3
    rm -rf "$dir"
}
trap cleanup EXIT

port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

canned=$(port); proxy=$(port); gw=$(port)

mkdir -p "$dir/c"
cp "$json" "$dir/c/converse.json"
cp "$stream" "$dir/c/stream.bin"

common="worker_processes 1;
worker_rlimit_nofile 16384;
pid PIDFILE;
error_log ERRLOG warn;
events { worker_connections 4096; }"

conf() {    # name, main text, http text
    local name=$1
    mkdir -p "$dir/$name"
    {
        echo "$2"
        echo "${common//PIDFILE/$dir/$name/nginx.pid}" \
            | sed "s|ERRLOG|$dir/$name/error.log|"
        echo "http {"
        echo "    access_log off;"
        echo "    client_body_temp_path $dir/$name/body;"
        echo "    proxy_temp_path $dir/$name/proxy;"
        echo "$3"
        echo "}"
    } >"$dir/$name/nginx.conf"
}

start() {   # name
    local name=$1
    "$nginx" -p "$dir/$name" -c "$dir/$name/nginx.conf" -e "$dir/$name/error.log" \
        || die "$name did not start: $(tail -5 "$dir/$name/error.log")"
    pids+=("$(cat "$dir/$name/nginx.pid")")
}

# the canned upstream: every POST is a 405 that error_page turns into the
# recorded file, served as to a GET
conf canned "" "
    server {
        listen 127.0.0.1:$canned;
        keepalive_requests 1000000;
        location ~ -stream\$ {
            error_page 405 =200 /c/stream.bin;
            return 405;
        }
        location / {
            error_page 405 =200 /c/converse.json;
            return 405;
        }
        location /c/ {
            internal;
            root $dir;
            types { }
            default_type application/json;
            location = /c/stream.bin {
                default_type application/vnd.amazon.eventstream;
            }
            add_header x-amzn-RequestId bench-0000;
        }
    }"

conf proxy "" "
    upstream canned { server 127.0.0.1:$canned; keepalive 64; }
    server {
        listen 127.0.0.1:$proxy;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://canned;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
        location ~ -stream\$ {
            proxy_pass http://canned;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering off;
        }
    }"

conf gateway "load_module $module;
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
env AWS_EC2_METADATA_DISABLED;
env AWS_SHARED_CREDENTIALS_FILE;
env AWS_CONFIG_FILE;" "
    upstream bench_canned { server 127.0.0.1:$canned; keepalive 64; }
    server {
        listen 127.0.0.1:$gw;
        keepalive_requests 1000000;
        location /v1/ {
            bedrock_pass http://bench_canned;
            bedrock_region us-east-1;
            bedrock_model_map fast amazon.nova-micro-v1:0;
        }
    }"

export AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE
export AWS_SECRET_ACCESS_KEY=bench/secret/not/a/real/one
export AWS_EC2_METADATA_DISABLED=true
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent

start canned
start proxy
start gateway
sleep 0.3

# wrk scripts: the request, and one line of figures (errors: wrk's count
# of answers of 400 and up, and of socket errors)
lua() {     # file, path, body, extra header lines
    cat >"$dir/$1.lua" <<EOF
wrk.method = "POST"
wrk.path = "$2"
wrk.body = [[$3]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
$4
done = function(summary, latency, requests)
    io.write(string.format("BENCH %.0f %.3f %.3f %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency.mean / 1000, latency:percentile(99) / 1000,
        summary.errors.status + summary.errors.connect
          + summary.errors.read + summary.errors.write
          + summary.errors.timeout, summary.requests))
end
EOF
}

chat='{"model":"fast","messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":5}'
chat_s='{"model":"fast","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":5}'
msg='{"model":"fast","max_tokens":5,"messages":[{"role":"user","content":"What is the capital of France?"}]}'
msg_s='{"model":"fast","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}]}'
resp='{"model":"fast","max_output_tokens":5,"input":"What is the capital of France?"}'
resp_s='{"model":"fast","max_output_tokens":5,"stream":true,"input":"What is the capital of France?"}'
anth='wrk.headers["anthropic-version"] = "2023-06-01"'

lua proxy "/model/amazon.nova-micro-v1:0/converse" "$chat" ""
lua proxy-stream "/model/amazon.nova-micro-v1:0/converse-stream" "$chat_s" ""
lua chat "/v1/chat/completions" "$chat" ""
lua chat-stream "/v1/chat/completions" "$chat_s" ""
lua messages "/v1/messages" "$msg" "$anth"
lua messages-stream "/v1/messages" "$msg_s" "$anth"
lua responses "/v1/responses" "$resp" ""
lua responses-stream "/v1/responses" "$resp_s" ""

# each path answers 200 once before it is measured
for name in proxy proxy-stream chat chat-stream messages messages-stream \
            responses responses-stream
do
    case $name in proxy*) p=$proxy ;; *) p=$gw ;; esac
    wrk -t1 -c1 -d1s -s "$dir/$name.lua" "http://127.0.0.1:$p" \
        >"$dir/$name.warm" 2>&1 || die "wrk failed on $name"
    read -r _ rps _ _ errs reqs < <(grep '^BENCH' "$dir/$name.warm")
    if [ "$errs" != 0 ] || [ "$reqs" = 0 ]; then
        die "$name: $errs of $reqs answers were not 200"
    fi
done

declare -A rate mean p99 errors cpu

# the worker's CPU time (user + system), in clock ticks
ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

run() {
    local name=$1 p=$2 master=$3 worker before after reqs
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then
        return
    fi
    worker=$(pgrep -P "$master" | head -1)
    before=$(ticks "$worker")
    wrk -t1 -c"$connections" -d"$duration" -s "$dir/$name.lua" \
        "http://127.0.0.1:$p" >"$dir/$name.out" 2>&1 || die "wrk failed on $name"
    after=$(ticks "$worker")
    read -r _ rate[$name] mean[$name] p99[$name] errors[$name] reqs \
        < <(grep '^BENCH' "$dir/$name.out")
    cpu[$name]=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
                     -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
}

# interleaved, so that a noisy moment does not fall on one side only
for name in proxy chat messages responses proxy-stream chat-stream \
            messages-stream responses-stream
do
    case $name in
        proxy*) run "$name" "$proxy" "${pids[1]}" ;;
        *) run "$name" "$gw" "${pids[2]}" ;;
    esac
done

echo "proxy-bench: wrk -t1 -c$connections -d$duration, one nginx worker each," \
     "$(nproc) cores, nginx $("$nginx" -v 2>&1 | sed 's|.*/||')"
printf '%-18s %9s %8s %8s %6s %8s  %s\n' path 'req/s' 'mean ms' 'p99 ms' \
    errors 'CPU us' 'ratio to proxy_pass: req/s, CPU per request'
for name in proxy chat messages responses proxy-stream chat-stream \
            messages-stream responses-stream
do
    [ -n "${rate[$name]:-}" ] || continue
    case $name in
        proxy|proxy-stream) base="" ;;
        *-stream) base=proxy-stream ;;
        *) base=proxy ;;
    esac
    ratio=""
    if [ -n "$base" ] && [ -n "${rate[$base]:-}" ]; then
        ratio=$(awk -v a="${rate[$name]}" -v b="${rate[$base]}" \
                    -v c="${cpu[$name]}" -v d="${cpu[$base]}" \
                    'BEGIN { printf "%.2fx, %.2fx", a / b, c / d }')
        ratio="$ratio (of $base)"
    fi
    printf '%-18s %9s %8s %8s %6s %8s  %s\n' "$name" "${rate[$name]}" \
        "${mean[$name]}" "${p99[$name]}" "${errors[$name]}" "${cpu[$name]}" \
        "$ratio"
done
