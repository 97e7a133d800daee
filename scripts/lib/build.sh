#!/usr/bin/env bash
# The one way scripts build and find stylize's binaries. Sourced by every script that needs one:
#     source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"      # from scripts/GROUP/NAME.sh
#     stylize=$(build_product stylize)                              # or stylize-bench
# Sourcing it sets STYLIZE_ROOT to the repository's root and changes to it, so that scripts name examples/, docs/,
# models/, scripts/... and ../shared relative to the root wherever they are run from, and sets stylize_scratch
# (absolute) to the build folder. build_product NAME runs `swift build -c release --product NAME` with all of
# its output on stderr (scripts that print Markdown tables on stdout stay clean), then prints the binary's
# absolute path on stdout. Run directly, `scripts/lib/build.sh NAME...` builds each NAME and prints its path.
#
# The one family of overrides, for every script (scripts/test.sh honours STYLIZE_SCRATCH; it always builds):
#   STYLIZE_SCRATCH=DIR   the build folder (swift build --scratch-path), absolute or relative to the root;
#                         default .build. The binaries are DIR/release/NAME.
#   STYLIZE_SKIP_BUILD=1  build nothing: use the binaries already in DIR/release (say while the sources are
#                         being edited); stops with an error when one is missing.
# A binary built elsewhere, e.g.:  mkdir -p /tmp/b/release && ln -s /path/to/stylize /tmp/b/release/stylize
#                                  STYLIZE_SCRATCH=/tmp/b STYLIZE_SKIP_BUILD=1 scripts/check/score-models.sh --size 128
STYLIZE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$STYLIZE_ROOT"
stylize_scratch=${STYLIZE_SCRATCH:-.build}
case $stylize_scratch in /*) ;; *) stylize_scratch=$STYLIZE_ROOT/$stylize_scratch ;; esac

build_product() {  # NAME -> builds it (unless STYLIZE_SKIP_BUILD=1), prints the binary's path
  local name=$1 binary=$stylize_scratch/release/$1
  if [ "${STYLIZE_SKIP_BUILD:-}" = 1 ]; then
    [ -x "$binary" ] || { echo "build: STYLIZE_SKIP_BUILD=1 but there is no $binary" >&2; return 1; }
  else
    swift build -c release --scratch-path "$stylize_scratch" --product "$name" >&2 || return 1
  fi
  echo "$binary"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run, not sourced
  set -euo pipefail
  [ $# -gt 0 ] || { echo "usage: scripts/lib/build.sh PRODUCT... (stylize, stylize-bench)" >&2; exit 2; }
  for product in "$@"; do build_product "$product"; done
fi
