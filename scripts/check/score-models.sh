#!/usr/bin/env bash
# Johnson et al.'s yardstick for a feed-forward style model (arXiv 1603.08155, section 4.1): how many L-BFGS iterations
# of the optimisation, started from noise with the same objective, reach the objective of the model's one pass. For
# each model and each photo (photos the model never saw), at long side SIZE:
#   - the model's own training objective (content, style and TV weights, layers and pooling, and the style image's
#     size, read from the file's metadata; the style image from ../shared/images/style/ by the name it records) of
#     `stylize apply`'s output,
#     scored by `stylize transfer --iterations 0 --init OUTPUT`;
#   - the photo's own style loss against the output's (the output's should be far lower);
#   - `stylize transfer --init noise` for ITERATIONS iterations with those settings, and the first iteration whose
#     image, saved and scored as the model's output is, has an objective at or below the model's: the model's
#     "equivalent L-BFGS iterations" (">N" if none).
# Prints a Markdown table. The objective's values depend only on the inputs, not on the machine's load.
#   usage: scripts/check/score-models.sh [--size 512] [--iterations 100] [--photos "examples/chelsea-cat.png ..."] [MODEL...]
# MODEL: a model file or a bundled model's name (default: every file in models/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
source scripts/lib/model-file.sh
size=512; iterations=100; photos="examples/chelsea-cat.png examples/cincinnati-bridge.jpg"
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --photos) photos=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(models/*.safetensors)
stylize=$(build_product stylize)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# The objective's flags and the style image's path, from a model file's "training" metadata. The style image is scaled
# to the long side it was trained at (--style-size), whatever SIZE the photos are scored at: its Gram matrices, and so
# the strokes the objective asks for, depend on it.
settings() {
  python3 - "$1" "$size" <<'PY'
import json, struct, sys, glob
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n))["__metadata__"]
t = json.loads(meta["training"])
style = glob.glob(f"../shared/images/style/{t['style'].rsplit('.', 1)[0]}.*")
print(" ".join([style[0] if style else "-", "--content-weight", str(t.get("contentWeight", 5)),
                "--style-weight", str(t.get("styleWeight", 100)), "--tv-weight", str(t.get("tvWeight", 1e-3)),
                "--content-layers", t.get("contentLayers", "relu4_2"),
                "--style-layers", t.get("styleLayers", "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"),
                "--pooling", t.get("pooling", "max"),
                "--style-scale", str(t.get("styleSize", 512) / int(sys.argv[2]))]))
PY
}
field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$1" "$2"; }

echo "| model | photo | model's objective | iterations from noise to reach it | photo's style loss | output's style loss | ratio |"
echo "|---|---|---:|---:|---:|---:|---:|"
for model in "${models[@]}"; do
  given=$model
  model=$(model_file "$model" "$stylize")
  [ -n "$model" ] || { echo "score-models: no model file or bundled model named $given" >&2; exit 1; }
  read -r style objective <<<"$(settings "$model")"
  [ "$style" != - ] || { echo "score-models: no style image for $model in ../shared/images/style" >&2; continue; }
  for photo in $photos; do
    name=$(basename "${photo%.*}")
    "$stylize" apply "$model" "$photo" --size "$size" -o "$work/out.png" --quiet
    # shellcheck disable=SC2086  # $objective is a list of flags
    score() { "$stylize" transfer "$photo" "$style" -o "$work/scored.png" --size "$size" --quiet $objective "$@"; }
    score --iterations 0 --init "$work/out.png" --log "$work/model.jsonl"
    score --iterations 0 --init content --log "$work/photo.jsonl"
    # The optimisation's images are scored as saved files, as the model's output is: both are clamped to 0..255 and
    # rounded to 8 bits, which costs the optimisation's unclamped iterate several percent of its objective.
    score --iterations "$iterations" --init noise --log "$work/noise.jsonl" --save-every 1
    mv "$work/scored.png" "$work/scored-$iterations.png"
    # From the first iteration whose logged objective is at or below the model's, the first whose saved image is.
    reached=">$iterations"
    start=$(python3 - "$work" <<'PY'
import json, sys
ours = json.loads(open(f"{sys.argv[1]}/model.jsonl").readline())["total"]
curve = [json.loads(l) for l in open(f"{sys.argv[1]}/noise.jsonl")]
print(next((r["iteration"] for r in curve if r["total"] <= ours and r["iteration"] > 0), ""))
PY
)
    if [ -n "$start" ]; then
      for ((i = start; i <= iterations; i++)); do
        score --iterations 0 --init "$work/scored-$i.png" --log "$work/saved.jsonl"
        if python3 -c 'import json,sys; f=lambda p: json.loads(open(p).readline())["total"]; sys.exit(f(sys.argv[1]) > f(sys.argv[2]))' \
             "$work/saved.jsonl" "$work/model.jsonl"; then reached=$i; break; fi
      done
    fi
    python3 - "$work" "$(basename "$model" .safetensors)" "$name" "$reached" <<'PY'
import json, sys
work, model, photo, reached = sys.argv[1:5]
first = lambda f: json.loads(open(f"{work}/{f}").readline())
ours, own = first("model.jsonl"), first("photo.jsonl")
print(f"| {model} | {photo} | {ours['total']:.3e} | {reached} | "
      f"{own['style']:.3e} | {ours['style']:.3e} | {ours['style'] / own['style']:.2f} |")
PY
    rm -f "$work"/scored-*.png
  done
done
