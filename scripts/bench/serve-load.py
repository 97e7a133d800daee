#!/usr/bin/env python3
"""The work of scripts/bench/serve.sh: see its header. Arguments: STYLIZE CLIENTS SIZE ITERATIONS ROUNDS INTERVAL."""
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

if sys.argv[1] == "--clients":  # the clients' own process: URL JOB CLIENTS INTERVAL
    clients, interval = int(sys.argv[4]), float(sys.argv[5])
else:
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


async def get(reader, writer, host, path):
    """One GET on a kept-alive connection; returns the body. Raw asyncio streams: the clients must cost the 2 cores
    far less than the job they watch (50 threads of `requests` took most of a core)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    body = await reader.readexactly(length)
    if status != 200:
        raise RuntimeError(f"{path}: {status} {body[:200]!r}")
    return body


async def load(url, job, latencies):
    """The clients, as the page is: each holds the job's event stream open and reads its status and the job list
    every `interval` seconds. Returns the job's median seconds per iteration, from the first stream's events."""
    host, port = url.removeprefix("http://").split(":")
    finished, seconds = asyncio.Event(), {}

    async def poll():
        reader, writer = await asyncio.open_connection(host, int(port))
        while not finished.is_set():
            for path in (f"/api/jobs/{job}", "/api/jobs"):
                start = time.perf_counter()
                await get(reader, writer, host, path)
                latencies.append(time.perf_counter() - start)
            try:
                await asyncio.wait_for(finished.wait(), interval)
            except asyncio.TimeoutError:
                pass
        writer.close()

    async def watch(record):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET /api/jobs/{job}/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        name = None
        while True:
            line = (await reader.readline()).decode().strip()
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and record and name == "progress":
                event = json.loads(line[6:])
                seconds[event["done"]] = event["seconds"]
            if line.startswith("data: ") and name == "end":
                finished.set()
                writer.close()
                return

    await asyncio.gather(*[poll() for _ in range(clients)], *[watch(i == 0) for i in range(clients)])
    return per_iteration([seconds[k] for k in sorted(seconds) if k >= 1])


def served(work, latencies, niceness):
    """The job through the server, the clients in a process of their own at `niceness`: at 19 (the lowest priority),
    as if they were on other machines, for the job's speed (what the clients cost this machine is not the server's);
    at 0 for the requests' latency (at 19, a client waits for the CPU itself)."""
    server = subprocess.Popen([stylize, "serve", "--port", "0", "--data", str(work / "data"), "--quiet"],
                              stdout=subprocess.PIPE, text=True)
    url = re.search(r"(http://[^/ ]+)/", server.stdout.readline()).group(1)
    try:
        with open(photo, "rb") as content:
            job = requests.post(f"{url}/api/jobs", data={"kind": "transfer", "style": "starry-night", "size": size,
                                                         "iterations": str(iterations)},
                                files={"content": ("photo", content)}).json()["id"]
        run = subprocess.run(["nice", "-n", str(niceness), sys.executable, __file__, "--clients", url, job, str(clients),
                              str(interval)], check=True, capture_output=True, text=True)
        result = json.loads(run.stdout)
        latencies.extend(result["latencies"])
        return result["per_iteration"]
    finally:
        server.terminate()
        server.wait()


def main():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"stylize serve under load, {time.strftime('%Y-%m-%d')}, {cpu}: transfer {size} px, {iterations} iterations, "
          f"{clients} clients, each holding the event stream and polling every {interval} s")
    cli, server, latencies = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for round in range(rounds):
            cli.append(command_line(work))
            server.append(served(work, [], 19))
            print(f"  round {round + 1}: command line {cli[-1]:.4f} s/iteration, server with the clients at nice 19 "
                  f"{server[-1]:.4f} s/iteration")
        loaded = served(work, latencies, 0)
    ratio = statistics.median(server) / statistics.median(cli)
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"  median s/iteration: command line {statistics.median(cli):.4f}, server {statistics.median(server):.4f}, "
          f"ratio {ratio:.3f}")
    print(f"  clients at nice 0 (the job then ran at {loaded:.4f} s/iteration): {len(latencies)} status requests, "
          f"median {1000 * statistics.median(latencies):.1f} ms, p99 {1000 * p99:.1f} ms, max {1000 * latencies[-1]:.1f} ms")

if sys.argv[1] == "--clients":
    measured = []
    print(json.dumps({"per_iteration": asyncio.run(load(sys.argv[2], sys.argv[3], measured)), "latencies": measured}))
else:
    main()
