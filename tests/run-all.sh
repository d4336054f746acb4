#!/usr/bin/env bash
# Runs every test suite: the C unit tests of build/asan/unit-tests, then the
# *.test.mjs files of tests/api, tests/push, the other suite folders and
# tests/browser with node's test runner, one file at a time because each
# file starts its own stack. Exits non-zero if any suite failed. Run it through `make test`,
# which builds build/asan first.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Chromium and the npm packages of tests/, when missing or out of date.
deploy/install-deps.sh --test || exit 1

failed=0

if [ -x build/asan/unit-tests ]; then
    echo "== unit tests (build/asan/unit-tests)"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        build/asan/unit-tests || failed=1
else
    echo "== unit tests: build/asan/unit-tests is missing (make asan builds it); skipped"
fi

# tests/api, tests/push, any other suite folder, and tests/browser last.
# lib/ contains helpers and unit/ the C tests, so both are skipped.
suites=()
for dir in tests/*/; do
    suite=$(basename "$dir")
    case $suite in
    api | push | browser | lib | unit | node_modules | artifacts) ;;
    *) suites+=("$suite") ;;
    esac
done
files=()
for suite in api push "${suites[@]}" browser; do
    [ -d "tests/$suite" ] || continue
    while IFS= read -r file; do
        files+=("$file")
    done < <(find "tests/$suite" -type f \( -name '*.test.mjs' -o -name '*.test.js' \) | sort)
done

if ((${#files[@]} == 0)); then
    echo "== no *.test.mjs files found in the folders of tests/"
    exit 1
fi

# --test-concurrency exists from node 20.10 on. Older versions of node lack
# the flag and choose their own concurrency.
concurrency=()
if node -e 'const [major, minor] = process.versions.node.split(".").map(Number);
            process.exit(major > 20 || (major === 20 && minor >= 10) ? 0 : 1)'; then
    concurrency=(--test-concurrency=1)
fi
# A test that fails while sockets are open can keep its file's process
# alive after the last test; --test-force-exit (node 20.14 and later) ends
# it once its tests are done, so a failure cannot hang the whole run.
if node -e 'const [major, minor] = process.versions.node.split(".").map(Number);
            process.exit(major > 20 || (major === 20 && minor >= 14) ? 0 : 1)'; then
    concurrency+=(--test-force-exit)
fi

echo "== node tests: ${files[*]}"
node --test "${concurrency[@]}" "${files[@]}" || failed=1

if ((failed)); then
    echo "== some tests failed"
    exit 1
fi
echo "== all test suites passed"
