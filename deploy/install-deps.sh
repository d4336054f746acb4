#!/usr/bin/env bash
# Installs the Debian 12 packages that BlinkChat needs to build and run,
# and with --test (or BLINKCHAT_INSTALL_TEST_DEPS=1) also the test tools:
# Chromium and the npm packages of tests/. Only missing packages are
# installed, so a second run changes nothing and needs no network.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PACKAGES=(
    # build
    build-essential pkg-config
    libfcgi-dev libpq-dev libhiredis-dev libjson-c-dev libjwt-dev
    libcurl4-openssl-dev libwebsockets-dev libuv1-dev libsodium-dev libvips-dev
    # services
    postgresql postgresql-client redis-server redis-tools
    lighttpd nginx spawn-fcgi
    # tools that deploy/blinkchat-stack uses
    curl openssl procps acl util-linux passwd
    # the curl walkthrough of README.md
    jq
)
# The browser tests drive Debian's Chromium; node runs every black-box test;
# the upload tests make images with the vips command; the benchmarks load the
# service with wrk.
TEST_PACKAGES=(chromium libvips-tools wrk)

with_tests=${BLINKCHAT_INSTALL_TEST_DEPS:-0}
for arg in "$@"; do
    case $arg in
    --test) with_tests=1 ;;
    -h | --help)
        echo "Usage: deploy/install-deps.sh [--test]"
        echo "Installs the missing Debian packages; --test adds Chromium and runs npm ci in tests/."
        exit 0
        ;;
    *)
        echo "install-deps: unknown option '$arg'; see --help" >&2
        exit 2
        ;;
    esac
done

say() { printf 'install-deps: %s\n' "$*" >&2; }

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        say "the command '$*' needs root; run this script as root or install sudo"
        exit 1
    fi
}

wanted=("${PACKAGES[@]}")
if ((with_tests)); then
    wanted+=("${TEST_PACKAGES[@]}")
    # Node.js and npm may come from Debian or from elsewhere, such as
    # NodeSource's nodejs package, which contains npm. Debian's package is
    # installed only for a missing command.
    command -v node >/dev/null || wanted+=(nodejs)
    command -v npm >/dev/null || wanted+=(npm)
fi

missing=()
for package in "${wanted[@]}"; do
    is_installed "$package" || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

((with_tests)) || exit 0

# The tests run with node's built-in runner; playwright-core needs node 18.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 18)); then
    say "node $(node --version) is too old for the tests; install Node.js 18 or newer"
    exit 1
fi

# npm ci reinstalls tests/node_modules from the lockfile when the folder is
# missing or older than the lockfile. npm writes its own copy of the
# lockfile into node_modules on every install, so that copy dates it.
lock=$ROOT/tests/package-lock.json
installed_lock=$ROOT/tests/node_modules/.package-lock.json
if [ ! -f "$installed_lock" ] || [ "$lock" -nt "$installed_lock" ] ||
    [ "$ROOT/tests/package.json" -nt "$installed_lock" ]; then
    say "installing the npm packages of tests/"
    (cd "$ROOT/tests" && npm ci --no-audit --no-fund --loglevel=error)
fi
