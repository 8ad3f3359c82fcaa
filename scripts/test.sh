#!/usr/bin/env bash
# Runs every test of ngx_http_bedrock_module on Debian 12, as root or with
# sudo: installs what it needs (apt packages; npm packages from
# t/package-lock.json), builds the module with gcc and clang, checks the
# code style, runs the integration suite (the real nginx loading the built
# .so, against fake AWS endpoints that check every signature with AWS's own
# signer), the conformance and unit tests of the protocol code under ASan
# and UBSan, a short run of every fuzz target, then the integration suite
# twice more: on nginx and the module built with ASan and UBSan, and on
# that build again with EAGAIN and short reads and writes forced on every
# socket; then once on Debian 13's nginx 1.26 built from its source, and
# once on the Debian package of the module installed into the packaged
# nginx.
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

# 3. gcc and clang at -Wall -Wextra -Werror, nginx code style, whitespace
scripts/compilers.sh

# 4. the integration suite: the real nginx and the built module
(cd t && node --test --test-concurrency=1 ./*.test.js)

# 5. conformance (the official SigV4 and event-stream vectors) and unit
#    tests of the protocol code, with ASan and UBSan, then a short run of
#    each libFuzzer target (longer runs: scripts/unit.sh --fuzz-seconds N)
scripts/unit.sh --fuzz --fuzz-seconds "${FUZZ_SECONDS:-15}"

# 6. the whole integration suite on nginx and the module built from
#    Debian's source with ASan, UBSan and NGX_DEBUG_PALLOC: any sanitizer
#    report, [alert] or crashed worker fails it
scripts/sanitize.sh

# 7. and again with tests/eagain/eagain.so preloaded into that nginx:
#    every other socket read and write fails with EAGAIN, the others move
#    one byte (the first 64 KB of each connection, then varying sizes)
scripts/eagain.sh --asan --no-deps

# 8. the whole integration suite on Debian 13's nginx (1.26), built with
#    the module at -Werror from trixie's source package
scripts/nginx-release.sh trixie

# 9. the Debian package (dpkg-buildpackage, dh_nginx) installed into the
#    packaged nginx, and the whole integration suite on the installed .so
scripts/package.sh --test
