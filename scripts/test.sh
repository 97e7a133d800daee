#!/usr/bin/env bash
# Runs the whole test suite. Installs what it needs on the way (apt packages, the VGG19 weights).
# Tests are built optimised (-c release, with testing enabled): the end-to-end runs loop over millions of
# values, which an unoptimised Swift build makes tens of times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --build-tests
.build/release/stylize weights
swift test "${flags[@]}" --skip-build "$@"
