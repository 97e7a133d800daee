#!/usr/bin/env python3
"""Summarises a `stylize train` or `stylize distill` --log file: losses over the first and last N steps, steps, time, images/second.
A resumed run's log holds several segments (seconds restart at each); their times are added up. A model made in
stages (a fine-tuning after a training, its steps counted again from 1) has their logs joined in order; each stage gets
its own summary, since their losses may weigh the terms differently.
    usage: scripts/train/summarize-log.py LOG.jsonl [N]"""
import json, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
if not rows:
    sys.exit("train/summarize-log: the log is empty")

def mean(part, key):
    return sum(r[key] for r in part) / len(part)

def summarize(rows, indent):
    seconds, previous = 0.0, 0.0
    for row in rows:
        if row["seconds"] < previous:  # a new segment (resume)
            seconds += previous
        previous = row["seconds"]
    seconds += previous
    first, last = rows[:n], rows[-n:]
    print(f"{indent}steps {rows[0]['step']}..{rows[-1]['step']} ({len(rows)} logged), {seconds / 60:.1f} min of "
          f"training, {len(rows) / seconds:.3f} steps/s, last images/s {rows[-1]['images_per_second']:.2f}")
    for key in [k for k in ("content", "style", "tv", "pixel", "feature", "total") if k in rows[-1]]:
        print(f"{indent}  {key:8} first {len(first)} steps {mean(first, key):12.4g}   last {len(last)} steps "
              f"{mean(last, key):12.4g}   ratio {mean(last, key) / max(mean(first, key), 1e-30):.3f}")

stages = [[rows[0]]]
for row in rows[1:]:
    if row["step"] == 1:
        stages.append([])
    stages[-1].append(row)
if len(stages) == 1:
    summarize(stages[0], "")
else:
    for number, stage in enumerate(stages, 1):
        print(f"stage {number} of {len(stages)}:")
        summarize(stage, "  ")
