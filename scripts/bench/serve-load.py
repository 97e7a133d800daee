#!/usr/bin/env python3
"""The work of scripts/bench/serve.sh: see its header. Arguments: STYLIZE CLIENTS SIZE ITERATIONS ROUNDS INTERVAL."""
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

stylize, clients, size, iterations, rounds, interval = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), \
    int(sys.argv[5]), float(sys.argv[6])
photo, style = "examples/chelsea-cat.png", "examples/starry-night.jpg"


def per_iteration(seconds):
    """Median time of one iteration from the cumulative seconds at iterations 1, 2, ... (iteration 0 holds the set-up)."""
    return statistics.median(b - a for a, b in zip(seconds, seconds[1:]))


def command_line(work):
    log = work / "cli.jsonl"
    log.unlink(missing_ok=True)
    subprocess.run([stylize, "transfer", photo, style, "-o", str(work / "cli.png"), "--size", size, "--iterations",
                    str(iterations), "--log", str(log), "--quiet"], check=True)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return per_iteration([r["seconds"] for r in rows if r["iteration"] >= 1])


def served(work, latencies):
    server = subprocess.Popen([stylize, "serve", "--port", "0", "--data", str(work / "data"), "--quiet"],
                              stdout=subprocess.PIPE, text=True)
    url = re.search(r"(http://[^/ ]+)/", server.stdout.readline()).group(1)
    try:
        with open(photo, "rb") as content:
            job = requests.post(f"{url}/api/jobs", data={"kind": "transfer", "style": "starry-night", "size": size,
                                                         "iterations": str(iterations)},
                                files={"content": ("photo", content)}).json()["id"]
        finished = threading.Event()
        seconds = {}

        def reader(index):
            session = requests.Session()
            if index % 5 == 0:  # one client in five watches the event stream too
                threading.Thread(target=watch, args=(index == 0,), daemon=True).start()
            while not finished.is_set():
                for path in (f"/api/jobs/{job}", "/api/jobs"):
                    start = time.perf_counter()
                    response = session.get(url + path, timeout=10)
                    latencies.append(time.perf_counter() - start)
                    response.raise_for_status()
                finished.wait(interval)

        def watch(record):
            with requests.get(f"{url}/api/jobs/{job}/events", stream=True, timeout=600) as response:
                name = None
                for line in response.iter_lines(decode_unicode=True):
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: ") and record and name == "progress":
                        event = json.loads(line[6:])
                        seconds[event["done"]] = event["seconds"]
                    if name == "end":
                        finished.set()
                        return

        threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        finished.wait(3600)
        for thread in threads:
            thread.join(15)
        return per_iteration([seconds[k] for k in sorted(seconds) if k >= 1])
    finally:
        server.terminate()
        server.wait()


def main():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"stylize serve under load, {time.strftime('%Y-%m-%d')}, {cpu}: transfer {size} px, {iterations} iterations, "
          f"{clients} clients polling every {interval} s")
    cli, server, latencies = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for round in range(rounds):
            cli.append(command_line(work))
            server.append(served(work, latencies))
            print(f"  round {round + 1}: command line {cli[-1]:.4f} s/iteration, server under load {server[-1]:.4f} s/iteration")
    ratio = statistics.median(server) / statistics.median(cli)
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"  median s/iteration: command line {statistics.median(cli):.4f}, server {statistics.median(server):.4f}, "
          f"ratio {ratio:.3f}")
    print(f"  {len(latencies)} status requests: median {1000 * statistics.median(latencies):.1f} ms, "
          f"p99 {1000 * p99:.1f} ms, max {1000 * latencies[-1]:.1f} ms")


main()
