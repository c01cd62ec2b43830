"""`semicycle serve` under load (issue 43): a bounded burst of requests on the loopback against the raw throughput of
the same model through `Translator`, measured side by side in one run.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/serve_load.py [--checkpoint runs/demo] [--requests 300] [--concurrency 8]
    python -m experiments.regenerate_docs      # then: docs/serving.md's table from benchmarks/results/serve_load.json

1. The model: --checkpoint (a run folder, .pt or .onnx), default runs/demo, trained first with `semicycle demo` when
   missing (the `make demo` model: CycleGAN, ResNet-6, ngf 32).
2. The images: --size x --size crops of the facades val photos from $SEMICYCLE_DATA (or the demo's synthetic val
   images when it is unset), encoded as PNG once.
3. Raw: `semicycle.load(checkpoint).translate(image)` on the decoded images one after another in this process
   (--warmup first), images/s, while the server idles.
4. Served: `semicycle serve` in its own process (default limits, --queue = 2 x --concurrency), then --requests POST
   /translate (the same PNGs, round robin) from --concurrency client threads, each on its own keep-alive connection;
   it stops by itself after the last request. Images/s over the burst, p50/p99 latency, errors (any status but
   200), the server's resident memory (VmRSS) after a warm-up of --warmup requests and after the burst.
Goal: 0 errors, served >= 0.8 x raw, memory flat. The JSON goes to --json (default benchmarks/results/serve_load.json).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def images(size: int, count: int) -> list[np.ndarray]:
    data = os.environ.get("SEMICYCLE_DATA")
    if data:
        from semicycle.data.io import list_images, load_rgb

        paths = list_images(Path(data) / "facades" / "val")[:count]
        return [load_rgb(p)[0][:size, :size] for p in paths]  # the photo half of each A|B file
    from semicycle.data.synthetic import VAL_INDEX_OFFSET, make_pair

    return [make_pair(VAL_INDEX_OFFSET + i, size=size)[0] for i in range(count)]


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Client:
    """One keep-alive connection posting multipart uploads."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.boundary = uuid.uuid4().hex

    def post(self, data: bytes) -> tuple[int, float]:
        body = (f'--{self.boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.png"\r\n'
                f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{self.boundary}--\r\n".encode()
        started = time.perf_counter()
        self.connection.request("POST", "/translate", body=body,
                                headers={"Content-Type": f"multipart/form-data; boundary={self.boundary}"})
        response = self.connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started


def raw_throughput(checkpoint: str, arrays: list[np.ndarray], count: int, warmup: int) -> float:
    import semicycle

    translator = semicycle.load(checkpoint)
    pictures = [Image.fromarray(a) for a in arrays]
    for i in range(warmup):
        translator.translate(pictures[i % len(pictures)])
    started = time.perf_counter()
    for i in range(count):
        translator.translate(pictures[i % len(pictures)])
    return count / (time.perf_counter() - started)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(REPO / "runs" / "demo"))
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--raw-images", type=int, default=100, help="images translated for the raw throughput")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "serve_load.json"))
    args = p.parse_args(argv)
    checkpoint = Path(args.checkpoint)
    if not checkpoint.exists():
        print(f"training the demo model into {checkpoint} (semicycle demo, a few CPU minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "semicycle", "demo", "--out", str(checkpoint), "log.progress=false"], check=True)
    arrays = images(args.size, 16)
    uploads = [png(a) for a in arrays]

    raw = raw_throughput(str(checkpoint), arrays, args.raw_images, args.warmup)
    print(f"raw Translator: {raw:.2f} images/s ({args.size} px, {args.raw_images} images)", flush=True)

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "semicycle", "serve", "--checkpoint", str(checkpoint),
                               "--port", str(port), "--queue", str(2 * args.concurrency)])
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                Client(port).connection.request("GET", "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("semicycle serve did not start")
                time.sleep(0.2)
        warm = Client(port)
        for i in range(args.warmup):
            warm.post(uploads[i % len(uploads)])
        memory_before = resident_mib(server.pid)
        results, lock, counter = [], threading.Lock(), iter(range(args.requests))

        def worker():
            client = Client(port)
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                try:
                    outcome = client.post(uploads[index % len(uploads)])
                except OSError as exc:
                    outcome = (f"{type(exc).__name__}", float("nan"))
                    client = Client(port)
                with lock:
                    results.append(outcome)

        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for future in [pool.submit(worker) for _ in range(args.concurrency)]:
                future.result()
        elapsed = time.perf_counter() - started
        memory_after = resident_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)

    latencies = sorted(t for status, t in results if status == 200)
    errors = sum(status != 200 for status, _ in results)
    served = len(latencies) / elapsed
    record = {
        "command": " ".join(["python benchmarks/serve_load.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()},
        "model": os.path.relpath(checkpoint.resolve(), REPO), "size": args.size, "requests": args.requests, "concurrency": args.concurrency,
        "raw_images_per_s": round(raw, 3), "served_images_per_s": round(served, 3), "served_over_raw": round(served / raw, 3),
        "latency_p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "latency_p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 4) if latencies else None,
        "errors": errors, "server_rss_mib_before": round(memory_before, 1), "server_rss_mib_after": round(memory_after, 1),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        import torch

        record["machine"]["torch"] = torch.__version__
        record["machine"]["cpu"] = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                                        if line.startswith("model name")), record["machine"]["cpu"])
    except OSError:
        pass
    print(json.dumps(record, indent=2))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
