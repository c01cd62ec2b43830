"""`semicycle serve`: the PNG of `semicycle translate` over HTTP (a real uvicorn process and curl, both backends),
a one-line JSON error for every bad request with the server still serving, the queue, the token, the page in
headless Chromium, and checkpoints with non-finite weights refused by every entry point."""

import base64
import http.client
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from semicycle.api import Translator, load
from semicycle.cli import main
from semicycle.data.labels import label_channels
from semicycle.data.palettes import get_palette
from semicycle.models import create_generator
from semicycle.serving import ServeLimits, serve
from semicycle.serving.app import create_app

from browser import open_page
from conftest import read_halves
from http_client import error_of, free_port, multipart, post_form, request, serving_in_thread

PALETTE = get_palette("facades")
SMALL_LIMITS = ServeLimits(max_upload_bytes=300_000, max_pixels=300 * 300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A `semicycle demo` run (2 steps), its AtoB generator exported to ONNX, and a real facades photo as JPEG."""
    folder = tmp_path_factory.mktemp("serve")
    run = folder / "demo"
    assert main(["demo", "--out", str(run), "train.max_steps=2", "log.progress=false", "runtime.precision=fp32"]) == 0
    assert main(["export", "--checkpoint", str(run), "--direction", "AtoB", "--output", str(folder / "demo.onnx")]) == 0
    return {"run": run, "onnx": folder / "demo.onnx", "folder": folder}


@pytest.fixture(scope="module")
def photo(demo, data_root):
    """A facades val photo (its A half, 256 x 256) as a JPEG file, and a second one cropped to a non-square size."""
    array = read_halves(data_root / "facades" / "val", count=1, side="photo")[0]
    Image.fromarray(array).save(demo["folder"] / "photo.jpg", quality=90)
    Image.fromarray(array[:200, :150]).save(demo["folder"] / "photo_150x200.png")
    return demo["folder"] / "photo.jpg"


def png_bytes(size=(40, 30), noise: bool = True) -> bytes:
    """A PNG of random pixels, or of one colour (a few hundred bytes at any size)."""
    shape = (size[1], size[0], 3)
    pixels = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8) if noise else np.full(shape, 90, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png(side: int = 100_000) -> bytes:
    """A PNG whose header declares side x side pixels, with a few bytes of data: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def segmenter_translator() -> Translator:
    """A photo -> label network (facades palette), untrained: the label-map direction of /info and format=json."""
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=8, in_channels=3, out_channels=label_channels(PALETTE), output="logits")
    return Translator({"AtoB": net}, torch.device("cpu"), {}, PALETTE)


@pytest.fixture(scope="module")
def demo_server(demo):
    """The demo checkpoint served in this process on a free loopback port (small limits)."""
    with serving_in_thread(create_app(load(demo["run"]), str(demo["run"]), "pytorch", SMALL_LIMITS)) as port:
        yield port


def start_server(args: list[str]) -> tuple[subprocess.Popen, int]:
    """`python -m semicycle serve ARGS --port P` in its own process, once /healthz answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "semicycle", "serve", *args, "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        try:
            if request(port, "GET", "/healthz", timeout=5)[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("semicycle serve did not answer /healthz within 120 s")


@pytest.mark.parametrize("backend", ["pytorch", "onnxruntime"])
def test_curl_gets_the_png_that_translate_writes(backend, demo, photo, tmp_path):
    source = demo["run"] if backend == "pytorch" else demo["onnx"]
    process, port = start_server(["--checkpoint", str(source), "--backend", backend])
    try:
        served = tmp_path / "served.png"
        curl = subprocess.run(["curl", "-sS", "--fail-with-body", "-F", f"image=@{photo}", "-o", str(served),
                               f"http://127.0.0.1:{port}/translate?direction=AtoB"], capture_output=True, text=True, timeout=120)
        assert curl.returncode == 0, curl.stderr + served.read_text(errors="replace")
        assert main(["translate", "--backend", backend, "--checkpoint", str(source), "--direction", "AtoB",
                     "--input", str(photo), "--output", str(tmp_path / "translated")]) == 0
        assert served.read_bytes() == (tmp_path / "translated" / "photo.png").read_bytes()
        assert Image.open(served).size == Image.open(photo).size
        status, _, body = post_form(port, "/translate", {"image": ("notes.txt", b"not an image")})
        assert status == 400 and "notes.txt" in error_of(body)
        assert request(port, "GET", "/healthz")[0] == 200
        info = json.loads(request(port, "GET", "/info")[2])
        assert info["backend"] == backend and info["model"] == str(source)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("path,fields,status,words", [
    ("/translate", {"image": ("notes.txt", b"plain text, no image")}, 400, "'notes.txt' is not an image"),
    ("/translate", {"image": ("cut.png", png_bytes()[:100])}, 400, "'cut.png' cannot be decoded"),
    ("/translate", {"image": ("empty.png", b"")}, 400, "'empty.png' is empty (0 bytes)"),
    ("/translate", {"photo": ("a.png", png_bytes())}, 400, "no 'image' field in the upload (fields sent: 'photo')"),
    ("/translate?direction=CtoD", {"image": ("a.png", png_bytes())}, 400, "direction 'CtoD' is not served"),
    ("/translate", {"image": ("a.png", png_bytes()), "direction": "sideways"}, 400, "direction 'sideways' is not served"),
    ("/translate?format=tiff", {"image": ("a.png", png_bytes())}, 400, "format 'tiff' is unknown"),
    ("/translate", {"image": ("huge.bin", b"\0" * 400_000)}, 413, "over the limit of 300000 (--max-upload-bytes)"),
    ("/translate", {"image": ("wide.png", png_bytes((400, 300), noise=False))}, 413, "'wide.png' is 400x300 pixels, over the limit"),
    ("/translate", {"image": ("bomb.png", bomb_png())}, 413, "'bomb.png' declares more pixels than Pillow allows"),
], ids=["not-an-image", "truncated", "zero-bytes", "wrong-field", "unknown-direction", "unknown-direction-form",
        "unknown-format", "over-bytes", "over-pixels", "decompression-bomb"])
def test_a_bad_upload_gets_its_status_and_one_line_and_the_server_serves_on(demo_server, path, fields, status, words):
    got, headers, body = post_form(demo_server, path, fields)
    assert got == status and headers["content-type"] == "application/json"
    message = error_of(body)
    assert words in message and "\n" not in message
    assert request(demo_server, "GET", "/healthz")[0] == 200
    good, headers, image = post_form(demo_server, "/translate", {"image": ("a.png", png_bytes())})
    assert good == 200 and headers["content-type"] == "image/png" and Image.open(io.BytesIO(image)).size == (40, 30)


def test_a_body_that_is_not_a_multipart_form_is_a_400(demo_server):
    status, _, body = request(demo_server, "POST", "/translate", png_bytes(), {"Content-Type": "image/png"})
    assert status == 400 and "multipart/form-data" in error_of(body) and "curl -F image=@" in error_of(body)
    status, _, body = request(demo_server, "POST", "/translate", b"--x\r\ngarbage", {"Content-Type": "multipart/form-data; boundary=x"})
    assert status == 400 and "'image'" in error_of(body)
    assert request(demo_server, "GET", "/healthz")[0] == 200


def test_a_chunked_upload_without_a_length_is_cut_off_at_the_byte_limit(demo_server):
    body, content_type = multipart({"image": ("huge.png", b"\0" * 400_000)})
    connection = http.client.HTTPConnection("127.0.0.1", demo_server, timeout=60)
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    connection.request("POST", "/translate", body=chunks, headers={"Content-Type": content_type}, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413 and "over the limit of 300000 bytes" in error_of(response.read())
    connection.close()
    assert request(demo_server, "GET", "/healthz")[0] == 200


def test_info_describes_a_label_map_model_and_json_gives_class_fractions():
    with serving_in_thread(create_app(segmenter_translator(), "segmenter.pt", "pytorch")) as port:
        info = json.loads(request(port, "GET", "/info")[2])
        assert info["directions"] == {"AtoB": {"input": "image", "output": "label_map", "size_multiple": 4}}
        assert info["default_direction"] == "AtoB" and info["palette"]["name"] == "facades"
        assert [c["name"] for c in info["palette"]["classes"]] == list(PALETTE.class_names)
        assert info["limits"] == {"max_upload_bytes": 20 * 1024 * 1024, "max_pixels": 4096 * 4096, "queue": 16}
        status, _, body = post_form(port, "/translate?format=json", {"image": ("a.png", png_bytes((37, 23)))})
        answer = json.loads(body)
        assert status == 200 and (answer["width"], answer["height"]) == (37, 23)
        label_map = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["image_png_base64"]))))
        fractions = {c["name"]: c["fraction"] for c in answer["classes"]}
        assert sum(fractions.values()) == pytest.approx(1.0)
        for name, color in zip(PALETTE.class_names, PALETTE.colors):  # each fraction counts that colour's pixels
            assert fractions[name] == pytest.approx((label_map == color).all(-1).mean())


def test_the_token_is_required_where_set_and_healthz_stays_open():
    with serving_in_thread(create_app(segmenter_translator(), "m", "pytorch", token="s3cret")) as port:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            status, _, body = post_form(port, "/translate", {"image": ("a.png", png_bytes())}, headers)
            assert status == 401 and "Authorization: Bearer" in error_of(body)
            assert request(port, "GET", "/info", headers=headers)[0] == 401
        assert request(port, "GET", "/healthz")[0] == 200 and request(port, "GET", "/")[0] == 200
        status, _, _ = post_form(port, "/translate", {"image": ("a.png", png_bytes())}, {"Authorization": "Bearer s3cret"})
        assert status == 200


class HeldNetwork(torch.nn.Module):
    """A generator whose forward waits until the test releases it (a request that stays in inference)."""

    def __init__(self, net):
        super().__init__()
        self.net, self.arch, self.size_multiple = net, net.arch, net.size_multiple
        self.entered, self.release = threading.Event(), threading.Event()

    def forward(self, x):
        self.entered.set()
        assert self.release.wait(timeout=60)
        return self.net(x)


def test_a_full_queue_is_refused_at_once_and_the_held_request_completes():
    held = HeldNetwork(segmenter_translator().generators["AtoB"])
    translator = Translator({"AtoB": held}, torch.device("cpu"), {}, PALETTE)
    with serving_in_thread(create_app(translator, "m", "pytorch", ServeLimits(queue=1))) as port:
        first = {}
        thread = threading.Thread(target=lambda: first.update(answer=post_form(port, "/translate", {"image": ("a.png", png_bytes())})))
        thread.start()
        assert held.entered.wait(timeout=60)
        started = time.monotonic()
        status, _, body = post_form(port, "/translate", {"image": ("b.png", png_bytes())})
        assert status == 503 and "--queue" in error_of(body) and time.monotonic() - started < 5
        assert request(port, "GET", "/healthz")[0] == 200  # the event loop answers while inference runs
        held.release.set()
        thread.join(timeout=60)
        assert first["answer"][0] == 200


class RendezvousNetwork(torch.nn.Module):
    """A generator whose forward goes on only once ``parties`` calls are inside it at the same time (a barrier): only
    inference threads running side by side pass it."""

    def __init__(self, net, parties: int):
        super().__init__()
        self.net, self.arch, self.size_multiple = net, net.arch, net.size_multiple
        self.barrier = threading.Barrier(parties, timeout=60)

    def forward(self, x):
        self.barrier.wait()
        return self.net(x)


def test_two_inference_threads_translate_two_uploads_at_once_as_one_thread_does_one_after_the_other():
    net = segmenter_translator().generators["AtoB"]
    uploads = [png_bytes((40, 30)), png_bytes((24, 36), noise=False)]
    with serving_in_thread(create_app(Translator({"AtoB": net}, torch.device("cpu"), {}, PALETTE), "m", "pytorch")) as port:
        expected = [post_form(port, "/translate", {"image": ("a.png", upload)}) for upload in uploads]
    together = Translator({"AtoB": RendezvousNetwork(net, parties=2)}, torch.device("cpu"), {}, PALETTE)
    with serving_in_thread(create_app(together, "m", "pytorch", ServeLimits(threads=2))) as port:
        answers = [None, None]

        def send(i):
            answers[i] = post_form(port, "/translate", {"image": ("a.png", uploads[i])})

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
    assert [a[0] for a in answers] == [e[0] for e in expected] == [200, 200]  # with one thread the barrier would time out
    assert [a[2] for a in answers] == [e[2] for e in expected]  # the same PNG bytes


def test_serving_elsewhere_than_loopback_without_a_token_warns(monkeypatch, demo, capsys):
    import uvicorn

    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: ran.append(kwargs))
    serve(str(demo["run"]), host="0.0.0.0", port=8123)
    assert "warning: serving on 0.0.0.0 without --token" in capsys.readouterr().err
    serve(str(demo["run"]), host="0.0.0.0", port=8123, token="t")
    serve(str(demo["run"]))
    assert "warning" not in capsys.readouterr().err
    assert [(r["host"], r["port"]) for r in ran] == [("0.0.0.0", 8123), ("0.0.0.0", 8123), ("127.0.0.1", 8000)]


@pytest.mark.parametrize("argv,message", [
    (["--port", "70000"], "--port 70000 is not a TCP port"),
    (["--queue", "0"], "--queue must be at least 1"),
    (["--max-pixels", "-5"], "--max-pixels must be at least 1"),
])
def test_serve_refuses_out_of_range_settings_in_one_line(demo, capsys, argv, message):
    assert main(["serve", "--checkpoint", str(demo["run"]), *argv]) == 2
    assert message in capsys.readouterr().err


def test_the_page_translates_an_uploaded_photo_in_chromium(demo_server, photo, demo, tmp_path):
    with open_page(tmp_path / "profile") as page:
        page.navigate(f"http://127.0.0.1:{demo_server}/")
        assert page.wait_for("document.querySelectorAll('#direction option').length") == 2
        assert page.evaluate("document.querySelector('#direction').value") == "AtoB"
        cropped = demo["folder"] / "photo_150x200.png"
        page.choose_file("#file", cropped)
        size = page.wait_for("(() => { const o = document.querySelector('#output');"
                             " return o.complete && o.naturalWidth ? [o.naturalWidth, o.naturalHeight] : null; })()")
        assert size == [150, 200] and page.evaluate("document.querySelector('#error').textContent") == ""
        assert page.evaluate("document.querySelectorAll('script[src], link[href]').length") == 0  # works offline
        text = tmp_path / "notes.txt"
        text.write_text("not an image")
        page.choose_file("#file", text)
        error = page.wait_for("document.querySelector('#error').textContent")
        assert "'notes.txt' is not an image" in error


def poison(run_dir, network: str = "G_AB") -> str:
    """Write a NaN into one weight of ``network`` in the run's checkpoint on disk; returns the tensor's name."""
    path = run_dir / "ckpt" / "latest.pt"
    state = torch.load(path, map_location="cpu", weights_only=True)
    name = next(k for k, v in state["models"][network].items() if v.is_floating_point())
    state["models"][network][name].view(-1)[0] = float("nan")
    torch.save(state, path)
    return name


def test_non_finite_weights_are_refused_by_every_entry_point(demo, photo, tmp_path, capsys):
    run = tmp_path / "poisoned"
    assert main(["demo", "--out", str(run), "train.max_steps=1", "log.progress=false", "runtime.precision=fp32"]) == 0
    tensor = poison(run)
    capsys.readouterr()
    commands = {
        "translate": ["translate", "--checkpoint", str(run), "--input", str(photo), "--output", str(tmp_path / "out")],
        "evaluate": ["evaluate", str(run), "--out", str(tmp_path / "eval")],
        "export": ["export", "--checkpoint", str(run), "--direction", "AtoB", "--output", str(tmp_path / "m.onnx")],
        "resume": ["train", "--resume", str(run), "train.max_steps=2"],
        "serve": ["serve", "--checkpoint", str(run)],
    }
    for entry, argv in commands.items():
        assert main(argv) == 2, entry
        err = capsys.readouterr().err.strip()
        assert f"network G_AB has non-finite weights in {tensor}" in err and len(err.splitlines()) == 1, (entry, err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("package", ["fastapi", "uvicorn", "python_multipart"])
def test_a_missing_serve_package_is_one_line_naming_it_and_the_extra(package, monkeypatch, capsys):
    import importlib.util
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real_find_spec(name, *a))
    assert main(["serve", "--checkpoint", "runs/nowhere"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and package in err[0] and "pip install 'semicycle[serve]'" in err[0], err
