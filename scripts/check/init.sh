#!/usr/bin/env bash
# Does a blurred start make the optimisation smoother? Runs `stylize transfer` from each start (content,
# noise, the content blurred at two sigmas) on the example image pairs and reports the objective after 25, 50,
# 100 and 200 L-BFGS iterations, as a Markdown table on stdout (docs/bench-init.md is its committed output).
# The objective's values do not depend on the machine's load, only on the inputs: the numbers are reproducible.
#   usage: scripts/check/init.sh [SIZE] [ITERATIONS]  > docs/bench-init.md
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
size=${1:-192}; iterations=${2:-200}
stylize=$(build_product stylize)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pairs=("examples/chelsea-cat.png examples/starry-night.jpg" "examples/cincinnati-bridge.jpg examples/great-wave.png")
starts=("content" "noise" "blurred 2" "blurred 8")
for pair in "${pairs[@]}"; do
  read -r content style <<<"$pair"
  for start in "${starts[@]}"; do
    read -r kind sigma <<<"$start"
    name="$(basename "${content%.*}")+$(basename "${style%.*}") ${kind}${sigma:+ σ=$sigma}"
    echo "check/init: $name" >&2
    "$stylize" transfer "$content" "$style" -o "$work/out.png" --size "$size" --iterations "$iterations" \
      --init "$kind" ${sigma:+--init-blur "$sigma"} --convolution winograd --threads 2 --quiet --log "$work/log.jsonl"
    python3 - "$work/log.jsonl" "$name" >>"$work/rows" <<'PY'
import json, sys
rows = {r["iteration"]: r["total"] for r in map(json.loads, open(sys.argv[1]))}
print("|" + sys.argv[2] + "|" + "|".join(f"{rows[i]:.4g}" if i in rows else "" for i in (0, 25, 50, 100, 200)) + "|")
PY
  done
done
echo "Objective (content + style + tv, neural-style's default weights) by start, ${size} px, L-BFGS, winograd."
echo
echo "| pair and start | start | 25 | 50 | 100 | 200 |"
echo "|---|---|---|---|---|---|"
cat "$work/rows"
