#!/usr/bin/env bash
# `stylize apply` against the same network in PyTorch (scripts/transformer_net.py, same weights), in one run:
# the forward pass on a SIZE x SIZE image with THREADS threads, median of REPEATS runs after a first (warm-up) one,
# and the wall time of a whole `stylize apply` process (start, model load, read, stylize, write) for one photo.
#   usage: [STYLIZE_SCRATCH_PATH=.build] scripts/benchmark-apply.sh [MODEL (file or bundled name)] [SIZE] [THREADS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-starry-night}; size=${2:-1024}; threads=${3:-2}; repeats=${4:-5}
py=$(scripts/torch-venv.sh)
scratch=${STYLIZE_SCRATCH_PATH:-.build}  # e.g. .build-ff, to reuse another build folder
swift build -c release --scratch-path "$scratch" --product stylize >/dev/null
stylize=$scratch/release/stylize
[ -f "$model" ] || model=$(STYLIZE_MODELS=${STYLIZE_MODELS:-models} "$stylize" models | awk -v n="$model" '$1 == n {print $NF}')
[ -n "$model" ] || { echo "benchmark-apply: no model named ${1:-starry-night}" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$py" - "$size" "$work/photo.png" <<'PY'
import sys
from PIL import Image
size, out = int(sys.argv[1]), sys.argv[2]
im = Image.open("examples/chelsea-cat.png").convert("RGB")
im.resize((size, size), Image.LANCZOS).save(out)
PY
# The same image REPEATS + 1 times in one process: the first run also compiles oneDNN's kernels.
inputs=(); for _ in $(seq 0 "$repeats"); do inputs+=("$work/photo.png"); done
start=$(date +%s.%N)
"$stylize" apply "$model" "$work/photo.png" -o "$work/once.png" --threads "$threads" --quiet
wall=$(echo "$(date +%s.%N) - $start" | bc)
"$stylize" apply "$model" "${inputs[@]}" --output-dir "$work" --threads "$threads" 2>"$work/times.txt"
"$py" scripts/transformer_net.py bench --model "$model" --size "$size" --threads "$threads" --repeats "$repeats" > "$work/torch.json"
python3 - "$work" "$wall" "$size" "$threads" <<'PY'
import json, re, statistics, sys
work, wall, size, threads = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
ours = [float(m) for m in re.findall(r", ([0-9.]+) s\)", open(f"{work}/times.txt").read())]
torch = json.load(open(f"{work}/torch.json"))
mine = statistics.median(ours[1:])
print(f"apply {size}x{size}, {threads} threads (forward pass, median of {len(ours) - 1} after a warm-up run)")
print(f"  stylize  {mine:7.3f} s   (first run {ours[0]:.3f} s; whole `stylize apply` process {wall:.3f} s)")
print(f"  pytorch  {torch['median_seconds']:7.3f} s   (first run {torch['first_seconds']:.3f} s; torch {torch['torch']})")
print(f"  ratio stylize / pytorch: {mine / torch['median_seconds']:.2f}")
PY
