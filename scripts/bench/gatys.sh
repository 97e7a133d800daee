#!/usr/bin/env bash
# Side-by-side benchmark of one Gatys iteration: stylize-bench and scripts/reference/gatys.py bench, alternating
# in one run so that both see the same machine load. stylize runs at each of --precisions; PyTorch runs in fp32
# and in its fastest CPU setting (autocast bf16 with channels_last), and the table compares stylize with the faster
# of the two. Prints a Markdown table naming the CPU and the instruction set oneDNN dispatched.
#   usage: scripts/bench/gatys.sh [--sizes "256 512"] [--rounds 3] [--iterations 6] [--precisions "auto fp32"]
#                           [--convolution direct|winograd|auto] [--no-torch] [--torch-precisions "fp32 bf16"]
# PyTorch's autocast bf16 runs by default only on CPUs with bf16 instructions (scripts/reference/torch-precisions.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
sizes="256 512"; rounds=3; iterations=6; convolution=auto; torch=1; precisions="auto fp32"
torch_precisions=$(scripts/reference/torch-precisions.sh)
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --convolution) convolution=$2; shift 2 ;;
    --no-torch) torch=0; shift ;;
    --torch-precisions) torch_precisions=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh
stylize_bench=$(build_product stylize-bench)
py=""
[ "$torch" = 1 ] && py=$(scripts/reference/torch-venv.sh)
results=$(mktemp); trap 'rm -f "$results"' EXIT
for size in $sizes; do
  for round in $(seq "$rounds"); do
    for precision in $precisions; do
      "$stylize_bench" transfer --size "$size" --iterations "$iterations" --repeats 1 --threads 2 \
        --convolution "$convolution" --precision "$precision" >>"$results"
    done
    if [ -n "$py" ]; then
      for precision in $torch_precisions; do
        "$py" scripts/reference/gatys.py bench --sizes "$size" --iterations "$iterations" --repeats 1 --threads 2 \
          --precision "$precision" \
          | python3 -c 'import json,sys; d=json.load(sys.stdin); r=d["results"][0]; print(json.dumps({"tool":"pytorch "+d["torch_version"],"precision":d["precision"],"size":r["size_hw"][0],"median_seconds_per_iteration":r["median_seconds_per_iteration"],"peak_rss_mib":r["peak_rss_mib"]}))' >>"$results"
      done
    fi
  done
done
python3 - "$results" "$rounds" "$(date -u +%F)" "$(nproc)" "$convolution" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours_rows = [r for r in rows if r["tool"] == "stylize"]
cpu, isa = ours_rows[0]["cpu"], ours_rows[0]["isa"]
print(f"{sys.argv[3]}, {cpu} ({sys.argv[4]} cores, oneDNN dispatches {isa}), 2 threads, median of {sys.argv[2]} rounds, "
      f"stylize --convolution {sys.argv[5]}\n")
print("| size | stylize --precision | ran in | s/iter | peak RSS | PyTorch fp32 | PyTorch autocast bf16 | ratio to PyTorch's faster | GFLOP/s (direct-conv FLOPs) |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
def med(rs): return statistics.median(r["median_seconds_per_iteration"] for r in rs) if rs else None
for size in sorted({r["size"] for r in rows}):
    torch = {p: [r for r in rows if r["size"] == size and r["tool"] != "stylize" and r["precision"] == p] for p in ("fp32", "bf16")}
    t32, t16 = med(torch["fp32"]), med(torch["bf16"])
    best = min(t for t in (t32, t16) if t is not None) if (t32 or t16) else None
    for precision in dict.fromkeys(r["precision"] for r in ours_rows):
        ours = [r for r in ours_rows if r["size"] == size and r["precision"] == precision]
        if not ours: continue
        a = med(ours)
        ran = "/".join(sorted({r["ran_in"] for r in ours}))
        rss = max(r["peak_rss_mib"] for r in ours)
        cell = lambda t: f"{t:.3f}" if t is not None else "–"
        ratio = f"{a / best:.2f}" if best else "–"
        print(f"| {size} | {precision} | {ran} | {a:.3f} | {rss:.0f} MiB | {cell(t32)} | {cell(t16)} | {ratio} | {ours[0]['direct_convolution_flops'] / a / 1e9:.0f} |")
for precision in dict.fromkeys(r["precision"] for r in ours_rows):
    last = [r for r in ours_rows if r["precision"] == precision][-1]
    print(f"\nKernels, stylize --precision {precision} at {last['size']} px (forward / backward-data): " + "; ".join(last["kernels"]))
if any(r["tool"] != "stylize" for r in rows):
    print("\nPyTorch peak RSS: " + ", ".join(f"{s} px {p} {max(r['peak_rss_mib'] for r in rows if r['tool'] != 'stylize' and r['size'] == s and r['precision'] == p):.0f} MiB"
                                        for s in sorted({r['size'] for r in rows})
                                        for p in dict.fromkeys(r['precision'] for r in rows if r['tool'] != 'stylize')))
PY
