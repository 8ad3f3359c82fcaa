#!/usr/bin/env bash
# nginx code style gate for the module's C sources.
set -euo pipefail
cd "$(dirname "$0")/.."

bad=$(awk 'length($0) > 80 { printf "%s:%d: longer than 80 columns\n", FILENAME, FNR }
           /\t/            { printf "%s:%d: tab\n", FILENAME, FNR }
           /[ \t]$/        { printf "%s:%d: trailing space\n", FILENAME, FNR }' \
      ngx_http_bedrock_module.c src/*.c src/*.h)

if [ -n "$bad" ]; then
    echo "$bad"
    echo "style: FAILED"
    exit 1
fi

echo "style: ok"
