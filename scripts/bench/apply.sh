#!/usr/bin/env bash
# `stylize apply` against the same network in PyTorch (scripts/reference/transformer_net.py, same weights), in one run:
# the forward pass on a SIZE x SIZE image with THREADS threads, median of REPEATS runs after a first (warm-up) one,
# for stylize in each of PRECISIONS and PyTorch in fp32 and, on CPUs with bf16 instructions, in its fastest CPU
# setting (autocast bf16 with channels_last; scripts/reference/torch-precisions.sh), and the wall time of a whole
# `stylize apply` process (start, model load, read, stylize, write).
#   usage: scripts/bench/apply.sh [MODEL (file, bundled name, or width-1.0)] [SIZE]
#          [THREADS] [REPEATS] [PRECISIONS]
# `width-1.0` makes a network of the paper's width (32-64-128 channels) with fresh weights: one training step on the
# example photos (speed does not depend on the weights).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
source scripts/lib/model-file.sh
model=${1:-starry-night}; size=${2:-1024}; threads=${3:-2}; repeats=${4:-5}; precisions=${5:-"auto fp32"}
py=$(scripts/reference/torch-venv.sh)
stylize=$(build_product stylize)  # STYLIZE_SCRATCH=.build-ff reuses another build folder (scripts/lib/build.sh)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
if [ "$model" = width-1.0 ]; then
  mkdir "$work/photos"; cp examples/*.png examples/*.jpg "$work/photos/"
  "$stylize" train examples/starry-night.jpg --photos "$work/photos" -o "$work/width-1.0.safetensors" --width 1 \
    --steps 1 --batch 1 --size 64 --style-size 64 --quiet
  model="$work/width-1.0.safetensors"
fi
model=$(model_file "$model" "$stylize")
[ -n "$model" ] || { echo "bench/apply: no model named ${1:-starry-night}" >&2; exit 1; }
"$py" - "$size" "$work/photo.png" <<'PY'
import sys
from PIL import Image
size, out = int(sys.argv[1]), sys.argv[2]
im = Image.open("examples/chelsea-cat.png").convert("RGB")
im.resize((size, size), Image.LANCZOS).save(out)
PY
# The same image REPEATS + 1 times in one process: the first run also compiles oneDNN's kernels (and, for auto,
# times both formats the first time this size is seen); then one whole process, with the timings remembered.
# (One link per run: `apply` refuses two inputs that would write the same output.)
mkdir "$work/in"
inputs=(); for i in $(seq 0 "$repeats"); do ln -s "$work/photo.png" "$work/in/photo-$i.png"; inputs+=("$work/in/photo-$i.png"); done
for precision in $precisions; do
  rm -rf "$work/out"; mkdir "$work/out"
  "$stylize" apply "$model" "${inputs[@]}" --output-dir "$work/out" --threads "$threads" --precision "$precision" 2>"$work/times-$precision.txt"
  start=$(date +%s.%N)
  "$stylize" apply "$model" "$work/photo.png" -o "$work/once.png" --threads "$threads" --precision "$precision" --quiet
  echo "$(date +%s.%N) - $start" | bc > "$work/wall-$precision.txt"
done
torch_precisions=$(scripts/reference/torch-precisions.sh)
for precision in $torch_precisions; do
  "$py" scripts/reference/transformer_net.py bench --model "$model" --size "$size" --threads "$threads" \
    --repeats "$repeats" --precision "$precision" > "$work/torch-$precision.json"
done
python3 - "$work" "$size" "$threads" "$precisions" "$torch_precisions" <<'PY'
import json, re, statistics, sys
work, size, threads, precisions = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].splitlines()[0].strip()
torch = {p: json.load(open(f"{work}/torch-{p}.json")) for p in sys.argv[5].split()}
fastest = min(t["median_seconds"] for t in torch.values())
print(f"apply {size}x{size}, {threads} threads, {cpu} (forward pass, median after a warm-up run)")
for p in precisions:
    ours = [float(m) for m in re.findall(r", ([0-9.]+) s\)", open(f"{work}/times-{p}.txt").read())]
    wall = float(open(f"{work}/wall-{p}.txt").read())
    mine = statistics.median(ours[1:])
    print(f"  stylize --precision {p:4s} {mine:7.3f} s   (whole `stylize apply` process {wall:.3f} s; ratio to PyTorch's faster {mine / fastest:.2f})")
for p, t in torch.items():
    print(f"  pytorch {p:4s} {t['median_seconds']:7.3f} s   (first run {t['first_seconds']:.3f} s; torch {t['torch']})")
PY
