#!/usr/bin/env bash
# Creates (once) the Python venv used by scripts/reference/*.py and prints its python's path on stdout.
# Everything else goes to stderr, so callers can do:  PY=$(scripts/reference/torch-venv.sh)
#
# Location: ${STYLIZE_HOME:-$HOME/.cache/stylize}/torch-venv.  Idempotent: if the venv already imports
# torch, PIL and numpy, nothing is installed.
#
# Which torch: PyPI's default Linux x86_64 torch wheel depends on the whole CUDA stack (nvidia-*, triton,
# several GB) which is useless here (no GPU).  pip on these machines is configured with find-links
# /opt/wheels, which holds a CPU-only torch wheel (~190 MB, no nvidia deps); we install that one when it
# exists for this Python.  Otherwise we fall back to plain `pip install torch` from PyPI (large, slow).
# STYLIZE_TORCH_SPEC overrides both (any pip requirement or wheel path).
set -euo pipefail

VENV="${STYLIZE_HOME:-$HOME/.cache/stylize}/torch-venv"
PY="$VENV/bin/python"

if [ -x "$PY" ] && "$PY" -c 'import torch, PIL, numpy' 2>/dev/null; then
  echo "$PY"
  exit 0
fi

log() { echo "torch-venv: $*" >&2; }

mkdir -p "$(dirname "$VENV")"
[ -x "$PY" ] || python3 -m venv "$VENV" >&2

find_cpu_wheel() {
  # Look in pip's find-links dirs (env var first, then the machine default) for a +cpu wheel
  # matching this interpreter's tag, newest version last.
  local tag dirs d
  tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  dirs="${PIP_FIND_LINKS:-} /opt/wheels"
  for d in $dirs; do
    [ -d "$d" ] || continue
    ls "$d"/torch-*+cpu-"$tag"-"$tag"-*linux*_"$(uname -m)".whl 2>/dev/null || true
  done | sort -V | tail -n 1
}

SPEC="${STYLIZE_TORCH_SPEC:-}"
if [ -z "$SPEC" ]; then
  SPEC=$(find_cpu_wheel)
  if [ -n "$SPEC" ]; then
    log "using CPU-only wheel $SPEC"
  else
    log "no local CPU torch wheel found; installing PyPI's default torch (pulls the CUDA stack, several GB)"
    SPEC=torch
  fi
fi

start=$(date +%s)
"$PY" -m pip install --quiet "$SPEC" pillow numpy >&2
log "installed in $(( $(date +%s) - start )) s; $(du -sh "$VENV" | cut -f1) on disk;" \
    "torch $("$PY" -c 'import torch; print(torch.__version__)')"
echo "$PY"
