"""A real `stylize serve` on an ephemeral loopback port, for the HTTP and browser tests.

STYLIZE names the binary (scripts/test.sh sets it; default .build/release/stylize). Each server gets its own --data
folder unless a test passes one (the restart tests start a second server on the first one's folder)."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
STYLIZE = os.environ.get("STYLIZE", str(ROOT / ".build/release/stylize"))
EXAMPLES = ROOT / "examples"


class Server:
    def __init__(self, data, *arguments):
        self.data = Path(data)
        self.process = subprocess.Popen([STYLIZE, "serve", "--port", "0", "--data", str(data), *arguments],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.process.stdout.readline()
        match = re.search(r"serving (http://[^/ ]+)/", line)
        if not match:
            self.process.kill()
            raise AssertionError(f"no address from stylize serve: {line!r} {self.process.stderr.read()!r}")
        self.url = match.group(1)
        self.session = requests.Session()

    def get(self, path, **kw):
        return self.session.get(self.url + path, timeout=30, **kw)

    def post(self, path, **kw):
        return self.session.post(self.url + path, timeout=60, **kw)

    def delete(self, path, **kw):
        return self.session.delete(self.url + path, timeout=30, **kw)

    def submit(self, kind="transfer", photo="chelsea-cat.png", styles=("starry-night",), files=None, **fields):
        form = [("kind", kind)] + [(k.replace("_", "-"), str(v)) for k, v in fields.items()]
        uploads = [("content", ("photo", (EXAMPLES / photo).read_bytes()))] if photo else []
        if kind == "transfer":
            form += [("style", name) for name in styles]
        uploads += files or []
        return self.post("/api/jobs", data=form, files=uploads)

    def job(self, id):
        return self.get(f"/api/jobs/{id}").json()

    def wait(self, id, until=("done", "failed", "cancelled"), timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.job(id)
            if job["status"] in until:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {id} still {job['status']} after {timeout} s")

    def stop(self, sig=signal.SIGTERM, timeout=120):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=timeout)
        return self.process.returncode


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(*arguments, data=None):
        server = Server(data or tmp_path / "data", *arguments)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
