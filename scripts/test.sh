#!/usr/bin/env bash
# Runs the whole test suite: the Swift tests, then the server's tests against the real `stylize serve` (HTTP API,
# restarts, and the page in headless Chromium; Tests/server, pytest). Installs what it needs on the way (apt
# packages, Python modules, the VGG19 weights). Arguments go to `swift test` (e.g. --filter Transfer); with
# arguments, the server's tests are skipped.
# Tests are built optimised (-c release, with testing enabled): the end-to-end runs loop over millions of
# values, which an unoptimised Swift build makes tens of times slower. STYLIZE_SCRATCH names the build folder
# (scripts/lib/build.sh); this script always builds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
scripts/setup.sh --tests
flags=(-c release -Xswiftc -enable-testing --scratch-path "$stylize_scratch")
swift build "${flags[@]}" --build-tests
"$stylize_scratch/release/stylize" weights
swift test "${flags[@]}" --skip-build "$@"
if [ $# -eq 0 ]; then
  STYLIZE="$stylize_scratch/release/stylize" python3 -m pytest -q -p no:cacheprovider Tests/server
fi
