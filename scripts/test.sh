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

# 2. Node.js 20 or later and the suite's npm packages (t/package-lock.json)
# shellcheck source=scripts/node.sh
. scripts/node.sh
ensure_node "$top"

# 3. nginx code style: 80 columns, no tabs, no trailing spaces
scripts/style.sh

# 4. the suite
cd t
exec node --test --test-concurrency=1 ./*.test.js
