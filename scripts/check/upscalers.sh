#!/usr/bin/env bash
# The side-by-side crop in the README (docs/images/upscalers-PHOTO.png): one held-back photo, halved (the ground
# truth), degraded and upscaled x4 by bicubic, by the x4 pixel-loss model and by the x4 perceptual model; the same
# CROP x CROP region of each, enlarged 2x with nearest neighbours so the pixels show. Uses Pillow from the torch venv
# for the cropping only.
#   usage: scripts/check/upscalers.sh PHOTO [LEFT TOP CROP]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
photo=$1; left=${2:-200}; top=${3:-100}; crop=${4:-160}
py=$(scripts/reference/torch-venv.sh)
stylize=$(build_product stylize)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir "$work/one" "$work/out"
ln -s "$(realpath "$photo")" "$work/one/"
name=$(basename "${photo%.*}")
for model in x4 x4-perceptual; do
  "$stylize" evaluate-upscaler --photos "$work/one" --model "$model" --save-dir "$work/out" | tail -1 | sed "s/^/$model: /"
done
"$py" - "$work/out" "$name" "$left" "$top" "$crop" "docs/images/upscalers-$name.png" <<'PY'
import sys
from PIL import Image, ImageDraw
folder, name, left, top, crop, out = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]), sys.argv[6]
panels = [("bicubic", "bicubic"), ("x4", "x4 (pixel loss)"), ("x4-perceptual", "x4-perceptual"), ("truth", "original")]
zoom, gap, label = 2, 6, 18
side = crop * zoom
sheet = Image.new("RGB", (len(panels) * side + (len(panels) - 1) * gap, side + label), "white")
draw = ImageDraw.Draw(sheet)
for i, (suffix, title) in enumerate(panels):
    image = Image.open(f"{folder}/{name}-{suffix}.png").convert("RGB").crop((left, top, left + crop, top + crop))
    sheet.paste(image.resize((side, side), Image.NEAREST), (i * (side + gap), label))
    draw.text((i * (side + gap) + 4, 3), title, fill="black")
sheet.save(out)
print(out)
PY
