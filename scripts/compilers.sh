#!/usr/bin/env bash
# Builds ngx_http_bedrock_module with gcc and with clang at
# -Wall -Wextra -Werror against Debian's nginx-dev tree (the flags of the
# packaged nginx, as scripts/build.sh does), then checks the nginx code
# style of the C sources (80 columns, no tabs, no trailing spaces) and the
# whitespace of the working tree as "git log --check" would.  Every check
# runs, whatever the ones before it gave; the summary lists each, and the
# exit status is non-zero when any failed.
#
#   scripts/compilers.sh [--no-deps]
#
# Environment:
#   COMPILERS="gcc clang"   the compilers to build with
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/compilers"
src=/usr/share/nginx/src

deps=1

for arg in "$@"; do
    case "$arg" in
        --no-deps) deps=0 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *)         echo "compilers.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

t_start=$(date +%s)
results=()
failed=0

log() {
    echo "compilers.sh: $*"
}

result() {
    results+=("$(printf '  %-34s %s' "$1" "$2")")
    case "$2" in
        ok*|skipped*) ;;
        *) failed=1 ;;
    esac
}

if [ "$deps" -eq 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    missing=()
    for p in build-essential clang nginx-dev libyajl-dev libssl-dev \
             libpcre2-dev libpcre3-dev zlib1g-dev git
    do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'ok installed' || missing+=("$p")
    done

    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        if ! apt-get update -qq \
           || ! apt-get install -y -qq --no-install-recommends \
                "${missing[@]}" >/dev/null
        then
            echo "compilers.sh: apt-get failed" >&2
            exit 1
        fi
    fi
fi

if [ ! -x "$src/configure" ]; then
    echo "compilers.sh: $src is missing: install nginx-dev" >&2
    exit 1
fi

mkdir -p "$out"


# 1. the module with each compiler

# the packaged nginx's own flags (dpkg-buildflags), then the warnings
cc_opt='-g -O2 -fstack-protector-strong -Wformat -Werror=format-security'
cc_opt="$cc_opt -fPIC -Wdate-time -D_FORTIFY_SOURCE=2"
cc_opt="$cc_opt -Wall -Wextra -Wno-unused-parameter -Werror"

build_with() {
    local cc=$1 dir="$out/$1" t0 diags

    t0=$(date +%s)

    if ! command -v "$cc" >/dev/null 2>&1; then
        result "build with $cc" "FAILED: $cc is not installed"
        return
    fi

    rm -rf "$dir"
    mkdir -p "$dir"
    cp -a "$src" "$dir/nginx"

    (
        cd "$dir/nginx" || exit 1
        # shellcheck disable=SC1091
        . ./conf_flags
        ./configure "${NGX_CONF_FLAGS[@]}" --with-cc="$cc" \
            --with-cc-opt="$cc_opt" --add-dynamic-module="$top"
    ) >"$dir/configure.log" 2>&1 || {
        tail -20 "$dir/configure.log" | sed 's/^/    /'
        result "build with $cc" "FAILED: configure (see $dir/configure.log)"
        return
    }

    # -k: every file's diagnostics, not only the first file's
    if make -k -C "$dir/nginx" -j"$(nproc)" -f objs/Makefile modules \
        >"$dir/make.log" 2>&1
    then
        diags=$(grep -cE ': (warning|error): ' "$dir/make.log")
        result "build with $cc" \
            "ok ($($cc --version | head -1 | sed 's/ (.*)//'),"`
            `" $diags diagnostics, $(( $(date +%s) - t0 )) s)"
        return
    fi

    echo "  $cc:"
    # each diagnostic with its notes and source excerpts
    awk '/: (warning|error|note): / { on = 1; print; next }
         /^(clang|cc|gcc) |^make|^[0-9]+ (error|warning)s? gen|^cc1: / {
             on = 0
         }
         on' "$dir/make.log" \
        | sed "s|$top/||; s/^/    /" | head -80
    result "build with $cc" "FAILED: $(grep -cE ': (warning|error): ' \
        "$dir/make.log") diagnostics (see $dir/make.log)"
}

for cc in ${COMPILERS:-gcc clang}; do
    log "building the module with $cc"
    build_with "$cc"
done


# 2. nginx code style of the module's sources (scripts/style.sh), and of
#    the other C sources of the repository (tests/)

log "code style"
if style=$("$top/scripts/style.sh" 2>&1); then
    result "style (scripts/style.sh)" "ok"
else
    printf '%s\n' "$style" | sed 's/^/    /' | head -60
    result "style (scripts/style.sh)" \
        "FAILED: $(printf '%s\n' "$style" | grep -c ': ') lines"
fi

cd "$top" || exit 1

others=$(find tests -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null \
         | sort)

if [ -n "$others" ]; then
    # shellcheck disable=SC2086
    bad=$(awk 'length($0) > 80 { printf "%s:%d: longer than 80 columns\n", FILENAME, FNR }
               /\t/            { printf "%s:%d: tab\n", FILENAME, FNR }
               /[ \t]$/        { printf "%s:%d: trailing space\n", FILENAME, FNR }' \
          $others)

    if [ -z "$bad" ]; then
        result "style (tests/**/*.[ch])" "ok ($(echo "$others" | wc -l) files)"
    else
        printf '%s\n' "$bad" | sed 's/^/    /' | head -60
        result "style (tests/**/*.[ch])" \
            "FAILED: $(printf '%s\n' "$bad" | wc -l) lines"
    fi
fi


# 3. whitespace, as "git log --check" sees it: trailing whitespace, a space
#    before a tab in the indent, blank lines at the end of a file, and
#    conflict markers; tracked files with git itself (so .gitattributes
#    applies), files not yet added with the same rules

log "whitespace"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    empty=$(git hash-object -t tree /dev/null)
    ws=$(git -c core.whitespace=blank-at-eol,space-before-tab,blank-at-eof \
         diff --check "$empty" -- 2>&1)

    while IFS= read -r f; do
        [ -f "$f" ] || continue
        # binary files, and files with -whitespace in .gitattributes
        grep -Iq . "$f" 2>/dev/null || continue
        git check-attr whitespace -- "$f" | grep -q ': unset$' && continue
        ws+=$(awk -v f="$f" '
            /[ \t\r]$/           { printf "\n%s:%d: trailing whitespace.", f, FNR }
            /^[\t ]* \t/         { printf "\n%s:%d: space before tab in indent.", f, FNR }
            /^(<<<<<<<|>>>>>>>) / { printf "\n%s:%d: leftover conflict marker", f, FNR }
            /^[ \t]*$/           { blank++; next }
                                 { blank = 0 }
            END { if (blank > 0) printf "\n%s:%d: new blank line at EOF.", f, FNR }
            ' "$f")
    done < <(git ls-files --others --exclude-standard)

    ws=$(printf '%s\n' "$ws" | grep -E '^[^+ ].*:[0-9]+: ' || true)

    if [ -z "$ws" ]; then
        result "whitespace (git --check)" "ok"
    else
        printf '%s\n' "$ws" | sed 's/^/    /' | head -60
        result "whitespace (git --check)" \
            "FAILED: $(printf '%s\n' "$ws" | wc -l) lines"
    fi
else
    result "whitespace (git --check)" "skipped: not a git work tree"
fi


echo
echo "compilers: summary"
printf '%s\n' "${results[@]}"
echo "  time: $(( $(date +%s) - t_start )) s"

if [ "$failed" -ne 0 ]; then
    echo "compilers: FAILED"
    exit 1
fi

echo "compilers: ok"
