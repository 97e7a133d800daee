#!/usr/bin/env bash
# Repeats RobustnessTests.testSigtermSavesTraining's run RUNS times, to catch what that test saw once in about 115
# runs: a heap corruption (`malloc(): unaligned tcache chunk detected`). Each run is a tiny `stylize train` (32 px,
# width 0.125, one photo) with a cold kernel-timing cache (its own STYLIZE_HOME), under glibc's malloc checks
# (libc_malloc_debug, MALLOC_CHECK_=3, MALLOC_PERTURB_), stopped by SIGTERM after its first logged step. A run
# passes when it exits with 130 and leaves its checkpoint; a failed run keeps its folder, its stderr and its core
# file (core files go to the run's folder when /proc/sys/kernel/core_pattern is `core`), and the script ends with
# status 1. Read a core with: gdb -batch -ex "thread apply all bt" .build/release/stylize DIR/core
# STYLIZE_BINARY=PATH tests another build (an address-sanitised one, say: the malloc checks are then left out).
#   usage: scripts/check/interrupts.sh [RUNS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
runs=${1:-100}
stylize=${STYLIZE_BINARY:-$(build_product stylize)}
weights=${STYLIZE_HOME:-$HOME/.cache/stylize}/vgg19.safetensors
[ -f "$weights" ] || "$stylize" weights
checks=(LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0 MALLOC_CHECK_=3 MALLOC_PERTURB_=165)
[ -f /usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0 ] && [ -z "${STYLIZE_BINARY:-}" ] || checks=()
failed=0
for run in $(seq 1 "$runs"); do
  dir=$(mktemp -d "${TMPDIR:-/tmp}/stylize-interrupts.XXXXXX")
  mkdir "$dir/home" "$dir/photos"
  ln -s "$weights" "$dir/home/vgg19.safetensors"
  cp examples/starry-night.jpg "$dir/style.jpg"; cp examples/cincinnati-bridge.jpg "$dir/photos/bridge.jpg"
  (
    ulimit -c unlimited; cd "$dir"
    env SWIFT_BACKTRACE=enable=no STYLIZE_HOME="$dir/home" ASAN_OPTIONS=detect_leaks=0 "${checks[@]}" \
      "$stylize" train style.jpg --photos photos -o m.safetensors --steps 100000 --size 32 --batch 1 --width 0.125 \
      --log log.jsonl --quiet 2>stderr.txt &
    pid=$!
    for _ in $(seq 1 2400); do grep -qs step log.jsonl && break; sleep 0.05; done
    kill -TERM "$pid"
    status=0; wait "$pid" || status=$?
    echo "$status" > status
  )
  status=$(cat "$dir/status")
  if [ "$status" = 130 ] && [ -f "$dir/m.checkpoint.safetensors" ]; then
    rm -rf "$dir"
  else
    failed=$((failed + 1))
    echo "run $run: exit status $status, kept in $dir" >&2
    head -5 "$dir/stderr.txt" >&2
  fi
done
echo "$((runs - failed)) of $runs runs saved and exited with 130"
[ "$failed" = 0 ]
