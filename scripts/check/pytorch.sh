#!/usr/bin/env bash
# Acceptance check against PyTorch: the same content and style PNGs, at their exact size, through stylize and
# through scripts/reference/gatys.py (torch, L-BFGS history 100, one evaluation per step, content start).
# Prints the objective at iterations 0, 10, 25 and 50 for both, and the relative gaps. PRECISION fp32 (the default)
# runs both in float32; bf16 runs stylize --precision bf16 against PyTorch's autocast bf16.
#   usage: scripts/check/pytorch.sh [CONTENT STYLE SIZE ITERATIONS PRECISION]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
content=${1:-examples/chelsea-cat.png}; style=${2:-examples/starry-night.jpg}
size=${3:-256}; iterations=${4:-50}; precision=${5:-fp32}
py=$(scripts/reference/torch-venv.sh)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# Both programs read the same already-resized PNGs, so resampling filters play no part.
"$py" - "$content" "$style" "$size" "$work" <<'PY'
import sys
from PIL import Image
content, style, size, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for src, name in [(content, "content.png"), (style, "style.png")]:
    im = Image.open(src).convert("RGB"); w, h = im.size; s = size / max(w, h)
    im.resize((round(w * s), round(h * s)), Image.LANCZOS).save(f"{work}/{name}")
PY
stylize=$(build_product stylize)
"$stylize" transfer "$work/content.png" "$work/style.png" -o "$work/stylize.png" --size "$size" \
  --iterations "$iterations" --log "$work/stylize.jsonl" --threads 2 --quiet --precision "$precision"
"$py" scripts/reference/gatys.py run "$work/content.png" "$work/style.png" --exact --iterations "$iterations" \
  --threads 2 --precision "$precision" --out-json "$work/torch.json" >/dev/null
python3 - "$work" "$iterations" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
ours = {r["iteration"]: r for r in map(json.loads, open(f"{work}/stylize.jsonl"))}
torch = json.load(open(f"{work}/torch.json"))
theirs = {r["iteration"]: r for r in torch["iterations"]}
theirs[n] = torch["final"]
print(f"{'iteration':>9} {'stylize':>14} {'pytorch':>14} {'gap':>9}")
for i in sorted({0, 10, 25, n} & set(ours) & set(theirs)):
    a, b = ours[i]["total"], theirs[i]["total"]
    print(f"{i:>9} {a:>14.6e} {b:>14.6e} {(a - b) / b:>+9.2%}")
PY
