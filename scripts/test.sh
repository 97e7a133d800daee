#!/usr/bin/env bash
# Runs the whole test suite. Installs what it needs on the way (apt packages, the VGG19 weights).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift run stylize weights
swift test --skip-build "$@"
