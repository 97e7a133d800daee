#!/usr/bin/env bash
# `stylize upscale` of a SIZE x SIZE photo with a bundled upscaler (default x4: 512 -> 2048), THREADS threads: the
# upscaling alone (bicubic part, network in tiles, pixel shuffle), median of REPEATS runs after a first (warm-up) one
# in the same process; the same for `--method bicubic`; and the wall time of one whole `stylize upscale` process.
# Further arguments go to the network's runs (`--self-ensemble`).
#   usage: scripts/bench/upscale.sh [MODEL (bundled name or file)] [SIZE] [THREADS] [REPEATS] [UPSCALE FLAGS...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
model=${1:-x4}; size=${2:-512}; threads=${3:-2}; repeats=${4:-5}; shift $(($# < 4 ? $# : 4)); flags=("$@")
py=$(scripts/reference/torch-venv.sh)  # for Pillow, to make the input
stylize=$(build_product stylize)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$py" - "$size" "$work/photo.png" <<'PY'
import sys
from PIL import Image
size, out = int(sys.argv[1]), sys.argv[2]
Image.open("examples/cincinnati-bridge.jpg").convert("RGB").resize((size, size), Image.LANCZOS).save(out)
PY
# (One link per run: `upscale` refuses two inputs that would write the same output.)
mkdir "$work/in"
inputs=(); for i in $(seq 0 "$repeats"); do ln -s "$work/photo.png" "$work/in/photo-$i.png"; inputs+=("$work/in/photo-$i.png"); done
start=$(date +%s.%N)
"$stylize" upscale "$work/photo.png" --model "$model" "${flags[@]}" -o "$work/once.png" --threads "$threads" --quiet
wall=$(echo "$(date +%s.%N) - $start" | bc)
mkdir "$work/net" "$work/bicubic"
"$stylize" upscale "${inputs[@]}" --model "$model" "${flags[@]}" --output-dir "$work/net" --threads "$threads" 2>"$work/net.txt"
"$stylize" upscale "${inputs[@]}" --method bicubic --scale "$("$stylize" models | awk -v n="$model" '$1 == n {print substr($3, 2, 1)}')" \
  --output-dir "$work/bicubic" --threads "$threads" 2>"$work/bicubic.txt"
python3 - "$work" "$wall" "$size" "$threads" "$model ${flags[*]}" <<'PY'
import re, statistics, sys
work, wall, size, threads, model = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].strip()
def times(name):
    text = open(f"{work}/{name}.txt").read()
    return [float(m) for m in re.findall(r", ([0-9.]+) s\)", text)], re.search(r"-> (\d+x\d+)", text).group(1)
net, out = times("net")
bicubic, _ = times("bicubic")
print(f"upscale {size}x{size} -> {out} with {model}, {threads} threads (median of {len(net) - 1} after a warm-up run)")
print(f"  network  {statistics.median(net[1:]):7.3f} s   (first run {net[0]:.3f} s; whole `stylize upscale` process {wall:.3f} s)")
print(f"  bicubic  {statistics.median(bicubic[1:]):7.3f} s")
PY
