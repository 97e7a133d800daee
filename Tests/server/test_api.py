"""Every endpoint of `stylize serve` and every error it promises, against the real server (conftest.Server)."""
import http.client
import json
import signal
import socket
import struct
import subprocess
import time

import requests

from conftest import EXAMPLES, ROOT, STYLIZE


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def events(server, id, timeout=300):
    """The job's server-sent events, as (name, data) pairs, until `end`."""
    out, name = [], None
    with server.session.get(f"{server.url}/api/jobs/{id}/events", stream=True, timeout=timeout) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
                if name == "end":
                    break
    return out


def test_health_page_and_security_headers(serve):
    server = serve()
    assert server.get("/api/health").json() == {"status": "ok"}
    page = server.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    # Only its own scripts: no inline script or style for the policy to block.
    assert "<script>" not in page.text and "style=" not in page.text and 'src="/app.js"' in page.text
    assert server.get("/app.js").headers["content-type"].startswith("text/javascript")
    assert server.get("/style.css").headers["content-type"].startswith("text/css")


def test_defaults_models_and_examples_come_from_the_library(serve):
    server = serve()
    defaults = server.get("/api/defaults").json()
    help_text = subprocess.run([STYLIZE, "transfer", "--help"], capture_output=True, text=True).stdout
    assert f"(default: {defaults['transfer']['size']})" in help_text
    assert f"(default: {defaults['transfer']['iterations']})" in help_text
    assert "style" in defaults["fields"]["transfer"] and "scale" in defaults["fields"]["upscale"]
    models = server.get("/api/models").json()
    assert "starry-night" in [m["name"] for m in models["style"]]
    assert {"x2", "x4"} <= {m["name"] for m in models["upscalers"]}
    examples = server.get("/api/examples").json()
    assert "starry-night" in [e["name"] for e in examples]
    image = server.get("/api/examples/starry-night")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert server.get("/api/examples/nothing-like-this").status_code == 404


def test_transfer_streams_progress_and_previews_then_its_result(serve):
    server = serve()
    response = server.submit(size=96, iterations=120, init="noise")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and len(body["id"]) == 32
    id = body["id"]
    assert server.get(f"/api/jobs/{id}/result").status_code == 404  # not yet
    stream = events(server, id)
    assert stream[0][0] == "state"
    progress = [data for name, data in stream if name == "progress"]
    assert [p["done"] for p in progress] == list(range(0, 121)), "one progress event per iteration"
    assert progress[-1]["loss"] < progress[0]["loss"] and progress[-1]["total"] == 120
    assert any(name == "preview" for name, _ in stream), "a preview while it ran"
    assert stream[-1] == ("end", {"status": "done", "error": ""})
    job = server.job(id)
    assert job["status"] == "done" and job["progress"] == {"done": 120, "total": 120} and job["result"]
    assert job["settings"]["size"] == "96" and job["settings"]["styles"] == 1
    result = server.get(f"/api/jobs/{id}/result")
    assert result.headers["content-type"] == "image/png" and max(png_size(result.content)) == 96
    assert png_size(server.get(f"/api/jobs/{id}/preview").content) == png_size(result.content)
    # The events of a finished job: its state, then the end.
    assert [name for name, _ in events(server, id)] == ["state", "end"]
    assert server.get("/api/jobs").json()[0]["id"] == id


def test_apply_and_upscale_with_bundled_and_uploaded_models(serve):
    server = serve()
    bundled = server.submit("apply", model="starry-night", size=128).json()["id"]
    uploaded = server.submit("apply", files=[("model", ("m", (ROOT / "models/great-wave.safetensors").read_bytes()))]).json()["id"]
    upscaled = server.submit("upscale", photo="cincinnati-bridge.jpg", model="x2", **{"self-ensemble": "on"}).json()["id"]
    upscaler = (ROOT / "models/upscalers/x2.safetensors").read_bytes()
    uploaded_upscaler = server.submit("upscale", files=[("model", ("u", upscaler))]).json()["id"]
    # The upscale reports each tile the network has done: the 1302x953 bridge is 3x2 tiles of 512, each in 8 turns.
    progress = [data for name, data in events(server, upscaled) if name == "progress"]
    assert progress == [{"done": done, "total": 48} for done in range(1, 49)], progress
    for id in (bundled, uploaded, upscaled, uploaded_upscaler):
        assert server.wait(id)["status"] == "done", server.job(id)
    assert max(png_size(server.get(f"/api/jobs/{bundled}/result").content)) == 128
    cat = png_size((EXAMPLES / "chelsea-cat.png").read_bytes())
    assert png_size(server.get(f"/api/jobs/{uploaded}/result").content) == cat
    assert server.job(upscaled)["settings"]["self-ensemble"] == "on"
    bridge = server.get(f"/api/jobs/{upscaled}/result").content
    assert len(bridge) > 1000 and server.job(upscaled)["progress"] == {"done": 48, "total": 48}
    assert png_size(server.get(f"/api/jobs/{uploaded_upscaler}/result").content) == (2 * cat[0], 2 * cat[1])
    # Newest first.
    assert [j["id"] for j in server.get("/api/jobs").json()] == [uploaded_upscaler, upscaled, uploaded, bundled]


def cli_error(*arguments):
    """The one line `stylize` prints for a refusal, without its prefix."""
    run = subprocess.run([STYLIZE, *arguments], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode != 0
    return run.stderr.strip().removeprefix("stylize: error: ").removesuffix(" (see --help)")


def test_bad_settings_get_400_with_the_command_lines_message(serve, tmp_path):
    server = serve()
    photo, style, out = str(EXAMPLES / "chelsea-cat.png"), str(EXAMPLES / "starry-night.jpg"), str(tmp_path / "o.png")
    for field, value in [("style-scale", "20"), ("iterations", "-3"), ("content-weight", "-1"), ("style-layers", "relu9_9"),
                         ("size", "0"), ("init-blur", "-2")]:
        response = server.submit(**{field: value, "init": "blurred"})
        assert response.status_code == 400, (field, response.text)
        cli = cli_error("transfer", photo, style, "-o", out, "--init", "blurred", f"--{field}={value}")
        assert response.json()["error"] == cli, field
    for form, words in [(dict(kind="paint"), "'kind'"), (dict(colour="red"), "unknown field 'colour'"),
                        (dict(styles=("no-such-style",)), "no-such-style"), (dict(styles=()), "needs a style"),
                        (dict(photo=None, files=[("style", ("s.png", (EXAMPLES / "great-wave.png").read_bytes()))]), "'content'"), (dict(init="photo.png"), "--init must be content, noise or blurred"),
                        (dict(kind="apply", model="no-such-model"), "no-such-model"), (dict(kind="upscale", scale="5"), "--scale"),
                        (dict(kind="upscale", **{"self-ensemble": "yes"}), "--self-ensemble should be on or off"),
                        # a path in a name field must not make the server read a file of the client's choosing
                        (dict(kind="apply", model=str(ROOT / "models/great-wave.safetensors")), "is not a bundled style model"),
                        (dict(kind="upscale", model="/etc/passwd"), "is not a bundled upscaler model")]:
        response = server.submit(**form)
        assert response.status_code == 400 and words in response.json()["error"], (form, response.text)
    assert server.post("/api/jobs", data=b"{}", headers={"content-type": "application/json"}).status_code == 400
    assert server.get("/api/jobs").json() == [], "nothing refused was queued"


def test_unreadable_and_oversized_images_get_422_before_queueing(serve):
    server = serve("--max-pixels", "200000")
    response = server.submit(files=[("content", ("x.png", b"not an image at all"))], photo=None)
    assert response.status_code == 422 and "the content upload" in response.json()["error"] and "x.png" not in response.text
    response = server.submit(photo="cincinnati-bridge.jpg")
    assert response.status_code == 422 and "1240806 pixels, over the pixel limit of 200000" in response.json()["error"]
    response = server.submit(kind="upscale", model="x4")  # 451x300 is under the limit, its result is not
    assert response.status_code == 422
    assert response.json()["error"] == "--max-pixels 200000 is below the 1804x1200 pixels of the result"
    assert server.get("/api/jobs").json() == []
    assert list((server.data / "jobs").iterdir()) == [] and list((server.data / "incoming").iterdir()) == []


def test_uploads_over_the_limit_get_413(serve):
    server = serve("--max-upload-mb", "1")
    big = [("style", ("s.png", b"\0" * 1_500_000))]
    response = server.submit(files=big)
    assert response.status_code == 413 and "limit" in response.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(30):
            yield b"x" * 65536
    response = server.post("/api/jobs", data=chunks(), headers={"content-type": "multipart/form-data; boundary=abc"})
    assert response.status_code == 413
    assert server.get("/api/health").status_code == 200


def raw_get(server, path):
    """A request with the path exactly as written (requests would normalise ../)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def test_unknown_ids_and_path_tricks_get_404(serve):
    server = serve()
    done = server.submit("apply", model="starry-night", size=64).json()["id"]
    server.wait(done)
    for path in ["/api/jobs/" + "0" * 32, "/api/jobs/abc", f"/api/jobs/{done.upper()}", "/api/jobs/../jobs.sqlite",
                 "/api/jobs/..%2F..%2Fjobs.sqlite/result", f"/api/jobs/{done}/..%2F..%2Fjobs.sqlite",
                 f"/api/jobs/%2e%2e/{done}/result", "/api/jobs/" + "0" * 32 + "/result", "/etc/passwd", "/api/nothing",
                 "/api/examples/..%2F..%2FPackage.swift", "/api/examples/../Package.swift"]:
        status, body = raw_get(server, path)
        assert status == 404 and "error" in json.loads(body), (path, status, body)
    assert server.delete("/api/jobs/" + "f" * 32).status_code == 404


def test_a_full_queue_gets_429(serve):
    server = serve("--max-queued", "2")
    running = server.submit(size=128, iterations=100000).json()["id"]
    server.wait(running, until=("running",))
    queued = [server.submit(size=64, iterations=5).json()["id"] for _ in range(2)]
    response = server.submit(size=64, iterations=5)
    assert response.status_code == 429 and "queue is full" in response.json()["error"]
    assert [server.job(id)["position"] for id in queued] == [1, 2]
    for id in [running] + queued:
        server.delete(f"/api/jobs/{id}")


def test_cancel_a_queued_and_a_running_transfer(serve):
    server = serve()
    running = server.submit(size=128, iterations=100000).json()["id"]
    queued = server.submit(size=64, iterations=5).json()["id"]
    response = server.delete(f"/api/jobs/{queued}")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    deadline = time.time() + 120
    while server.job(running)["progress"]["done"] < 5 and time.time() < deadline:
        time.sleep(0.1)
    server.delete(f"/api/jobs/{running}")
    job = server.wait(running)
    assert job["status"] == "cancelled" and job["progress"]["done"] >= 5
    result = server.get(f"/api/jobs/{running}/result")  # the latest image is kept
    assert result.status_code == 200 and max(png_size(result.content)) == 128
    assert server.get(f"/api/jobs/{queued}/result").status_code == 404


def test_the_token_is_required_everywhere_when_set(serve):
    server = serve("--token", "correct-horse-battery")
    for path in ["/", "/api/health", "/api/jobs", "/app.js"]:
        response = server.get(path)
        assert response.status_code == 401 and "token" in response.json()["error"], path
    assert server.get("/api/health", headers={"authorization": "Bearer wrong-horse-battery"}).status_code == 401
    assert server.get("/api/health", headers={"authorization": "Bearer correct-horse-battery"}).status_code == 200
    page = server.get("/?token=correct-horse-battery")
    assert page.status_code == 200 and "stylize-token" in page.headers["set-cookie"]
    assert "HttpOnly" in page.headers["set-cookie"]
    assert server.get("/api/jobs").status_code == 200, "the page's cookie admits its own calls"


def test_only_loopback_without_a_token(tmp_path):
    run = subprocess.run([STYLIZE, "serve", "--host", "0.0.0.0", "--port", "0", "--data", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode != 0 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--token is required when --host is not a loopback address" in lines[0]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        taken = subprocess.run([STYLIZE, "serve", "--port", str(port), "--data", str(tmp_path)], capture_output=True,
                               text=True, timeout=30)
    assert taken.returncode != 0 and f"cannot serve on 127.0.0.1:{port}" in taken.stderr, taken.stderr


def running_with_a_saved_image(server, id, at_least, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = server.job(id)
        if job["preview"] and job["status"] == "running" and job["progress"]["done"] >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"no saved image: {server.job(id)}")


def test_sigkill_loses_nothing(serve, tmp_path):
    data = tmp_path / "kept"
    first = serve(data=data)
    finished = first.submit("apply", model="starry-night", size=64).json()["id"]
    first.wait(finished)
    painting = first.submit(size=128, iterations=400).json()["id"]
    waiting = [first.submit("apply", model="great-wave", size=96).json()["id"],
               first.submit("upscale", model="x2").json()["id"]]
    running_with_a_saved_image(first, painting, at_least=20)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = serve(data=data)
    jobs = {job["id"]: job for job in second.get("/api/jobs").json()}
    assert set(jobs) == {finished, painting, *waiting}
    assert jobs[finished]["status"] == "done" and second.get(f"/api/jobs/{finished}/result").status_code == 200
    saved = jobs[painting]["progress"]["done"]  # the iterations of its last saved image
    assert jobs[painting]["status"] in ("queued", "running") and saved > 0, jobs[painting]
    stream = events(second, painting)
    resumed = [data["done"] for name, data in stream if name == "progress"]
    assert resumed and resumed[0] > saved, "resumed from its saved image, not from the start"
    assert stream[-1][1]["status"] == "done" and resumed[-1] == 400
    for id in waiting:
        assert second.wait(id)["status"] == "done"


def test_sigterm_saves_the_running_job_and_requeues_it(serve, tmp_path):
    data = tmp_path / "kept"
    first = serve(data=data)
    painting = first.submit(size=128, iterations=400).json()["id"]
    running_with_a_saved_image(first, painting, at_least=10)
    assert first.stop(signal.SIGTERM) == 0
    said = first.process.stderr.read()
    assert said.strip() == "stylize: stopped; running jobs saved and back in the queue", said
    second = serve(data=data)
    job = second.job(painting)
    assert job["status"] in ("queued", "running") and job["progress"]["done"] >= 10 and job["preview"]
    job = second.wait(painting)
    assert job["status"] == "done", job
    assert not list((data / "incoming").iterdir())
