#!/usr/bin/env bash
# `stylize serve` under load: the same transfer job run by the command line and by the server while CLIENTS clients
# watch it as the page does (each holds the job's event stream open and reads GET /api/jobs/{id} and GET /api/jobs
# every INTERVAL seconds; the page polls every 2), ROUNDS times each, alternating. Prints each run's median seconds per iteration,
# their ratio, and the latency of the clients' requests (median, 99th percentile, maximum; uploads and results are
# not among them). scripts/bench/serve-load.py does the work.
#   usage: scripts/bench/serve.sh [CLIENTS (50)] [SIZE (384)] [ITERATIONS (80)] [ROUNDS (3)] [INTERVAL (2)]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
stylize=$(build_product stylize)
python3 -c "import requests" 2>/dev/null || python3 -m pip install --quiet requests
exec python3 scripts/bench/serve-load.py "$stylize" "${1:-50}" "${2:-384}" "${3:-80}" "${4:-3}" "${5:-2}"
