# shellcheck shell=bash
# Sourced by the scripts:
#
#   apt_ensure <who> <package>...   installs those of the packages that are
#                                   not installed yet (after apt-get update)
apt_ensure() {
    local who=$1 p missing=""
    shift

    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done

    [ -n "$missing" ] || return 0

    echo "$who: installing$missing"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
