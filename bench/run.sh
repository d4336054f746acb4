#!/bin/sh
# Runs the benchmarks one after the other: the conversation cache
# (bench/cache.mjs), then the push daemon (bench/pushd.mjs). They use the
# optimized programs in build/, or in the folder named by
# BLINKCHAT_TEST_BUILD; `make bench` builds them first. About 5 minutes
# on 2 cores.
set -eu
cd "$(dirname "$0")/.."

# The push benchmark opens 10,000 sockets: pushd and the WebSocket client
# each need a file descriptor per socket, plus their own.
needed=10200
wanted=65536
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$wanted" ]; then
    wanted=$hard
fi
if [ "$wanted" -lt "$needed" ]; then
    echo "bench/run.sh: the hard limit of open files is $hard; the push benchmark" \
        "needs $needed. Raise it (ulimit -Hn as root, or LimitNOFILE=) and retry." >&2
    exit 1
fi
ulimit -n "$wanted"

export BLINKCHAT_TEST_BUILD="${BLINKCHAT_TEST_BUILD:-build}"
# Other work on the machine skews every number, so say how busy it was.
echo "load average before the benchmarks: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== bench/cache.mjs"
node bench/cache.mjs
echo
echo "== bench/pushd.mjs"
node bench/pushd.mjs
