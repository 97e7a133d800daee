#!/usr/bin/env bash
# Runs the whole test suite. Installs what it needs on the way (apt packages, the VGG19 weights).
# Tests are built optimised (-c release, with testing enabled): the end-to-end runs loop over millions of
# values, which an unoptimised Swift build makes tens of times slower. STYLIZE_SCRATCH names the build folder
# (scripts/lib/build.sh); this script always builds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
scripts/setup.sh
flags=(-c release -Xswiftc -enable-testing --scratch-path "$stylize_scratch")
swift build "${flags[@]}" --build-tests
"$stylize_scratch/release/stylize" weights
swift test "${flags[@]}" --skip-build "$@"
