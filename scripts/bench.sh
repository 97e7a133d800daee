#!/usr/bin/env bash
# Side-by-side benchmark of one Gatys iteration: stylize-bench and scripts/gatys_reference.py bench, alternating
# in one run so that both see the same machine load. Prints a Markdown table.
#   usage: scripts/bench.sh [--sizes "256 512"] [--rounds 3] [--iterations 6] [--convolution direct|winograd|auto] [--no-torch]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="256 512"; rounds=3; iterations=6; convolution=auto; torch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --convolution) convolution=$2; shift 2 ;;
    --no-torch) torch=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
swift build -c release --product stylize-bench >/dev/null
py=""
[ "$torch" = 1 ] && py=$(scripts/torch-venv.sh)
results=$(mktemp); trap 'rm -f "$results"' EXIT
for size in $sizes; do
  for round in $(seq "$rounds"); do
    .build/release/stylize-bench transfer --size "$size" --iterations "$iterations" --repeats 1 --threads 2 \
      --convolution "$convolution" >>"$results"
    if [ -n "$py" ]; then
      "$py" scripts/gatys_reference.py bench --sizes "$size" --iterations "$iterations" --repeats 1 --threads 2 \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); r=d["results"][0]; print(json.dumps({"tool":"pytorch "+d["torch_version"],"size":r["size_hw"][0],"median_seconds_per_iteration":r["median_seconds_per_iteration"],"peak_rss_mib":r["peak_rss_mib"]}))' >>"$results"
    fi
  done
done
python3 - "$results" "$rounds" "$(date -u +%F)" "$(nproc)" "$convolution" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{sys.argv[3]}, {sys.argv[4]} cores ({open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}), 2 threads, "
      f"median of {sys.argv[2]} rounds, stylize --convolution {sys.argv[5]}\n")
print("| size | stylize s/iter | PyTorch s/iter | ratio | stylize peak RSS | PyTorch peak RSS | GFLOP/s (direct-conv FLOPs) |")
print("|---:|---:|---:|---:|---:|---:|---:|")
def flops(n):  # VGG19 to relu5_1: 3x3 convs forward + backward-data (2x forward), multiply-adds x2
    blocks = [(2, 64), (2, 128), (4, 256), (4, 512), (1, 512)]
    total, c_in, side = 0, 3, n
    for b, (convs, c) in enumerate(blocks):
        for i in range(convs):
            total += 2 * 9 * c_in * c * side * side
            c_in = c
        side //= 2
    return 2 * total  # forward and backward to the input (the first layer's input gradient included)
for size in sorted({r["size"] for r in rows}):
    ours = [r for r in rows if r["size"] == size and r["tool"] == "stylize"]
    theirs = [r for r in rows if r["size"] == size and r["tool"] != "stylize"]
    a = statistics.median(r["median_seconds_per_iteration"] for r in ours)
    ma = max(r["peak_rss_mib"] for r in ours)
    gf = flops(size) / a / 1e9
    if theirs:
        b = statistics.median(r["median_seconds_per_iteration"] for r in theirs)
        mb = max(r["peak_rss_mib"] for r in theirs)
        print(f"| {size} | {a:.3f} | {b:.3f} | {a / b:.2f} | {ma:.0f} MiB | {mb:.0f} MiB | {gf:.0f} |")
    else:
        print(f"| {size} | {a:.3f} | – | – | {ma:.0f} MiB | – | {gf:.0f} |")
PY
