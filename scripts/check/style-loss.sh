#!/usr/bin/env bash
# For each bundled style model and example photo: the style loss (the `transfer` objective's, against the model's
# style image, at the long side SIZE) of the photo itself and of the model's stylization of it (docs/images/, from
# scripts/train/style-models.sh), measured by `stylize transfer --iterations 0 --init IMAGE --log`, which scores
# the start image and stops. Prints a Markdown table.
#   usage: scripts/check/style-loss.sh [SIZE (default 512)]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
size=${1:-512}
stylize=$(build_product stylize)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
score() {  # content style-image init -> style loss
  "$stylize" transfer "$1" "$2" -o "$work/out.png" --size "$size" --iterations 0 --init "$3" --log "$work/log.jsonl" --quiet
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["style"])' "$work/log.jsonl"
}
echo "| model | photo | style loss of the photo | of the stylized photo | ratio |"
echo "|---|---|---:|---:|---:|"
for name in starry-night great-wave kandinsky-composition-viii; do
  [ -f "models/$name.safetensors" ] || continue
  style=$(ls ../shared/images/style/"$name".* | head -1)
  for photo in examples/chelsea-cat.png examples/cincinnati-bridge.jpg; do
    base=$(basename "${photo%.*}")
    before=$(score "$photo" "$style" "$photo")
    after=$(score "$photo" "$style" "docs/images/$name-$base.png")
    python3 -c 'import sys; b, a = float(sys.argv[3]), float(sys.argv[4]); print(f"| {sys.argv[1]} | {sys.argv[2]} | {b:.3g} | {a:.3g} | {a / b:.3f} |")' \
      "$name" "$base" "$before" "$after"
  done
done
