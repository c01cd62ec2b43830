"""How long pair selection takes for 1,000 images (issue 6).

    python benchmarks/selection.py                      # the 1,000 files of cityscapes/train, budgets 10 40 100
    python benchmarks/selection.py --n 400 --data ../shared/data/facades/train
    OMP_WAIT_POLICY=PASSIVE python benchmarks/selection.py   # on a machine shared with other jobs (see README)

Rows: feature extraction with a cold cache (decode, photo half, resize 224, MobileNetV2 forward) and with a
warm cache (hash the files, read the cached vectors), then k-means (k = budget, 4 k-means++ seedings) + medoids,
and the total of a fresh ``select_pairs`` run. The cache lives in a temporary folder, deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from semicycle.data.io import list_images
from semicycle.selection import extract_features, select_pairs
from semicycle.selection.kmedoids import kmedoids
from semicycle.selection.features import file_hash

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMICYCLE_DATA", REPO.parent / "shared" / "data"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA / "cityscapes" / "train"))
    parser.add_argument("--n", type=int, default=1000, help="number of images (the first N in natural order)")
    parser.add_argument("--budget", type=int, nargs="+", default=[10, 40, 100])
    parser.add_argument("--extractor", default="mobilenet_v2", choices=["mobilenet_v2", "pixels"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    all_paths = list_images(args.data)
    if len(all_paths) < args.n:
        sys.exit(f"{args.data}: {len(all_paths)} images, fewer than --n {args.n}; pass --data or a smaller --n")
    paths = all_paths[: args.n]
    folder = Path(tempfile.mkdtemp(prefix="semicycle_bench_"))
    data = folder / "data"
    data.mkdir()
    for path in paths:
        os.symlink(path.resolve(), data / path.name)
    cache = folder / "cache"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {len(paths)} images from {args.data}; extractor {args.extractor}; batch {args.batch_size}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"with {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"load average {load:.1f} at start")
    try:
        rows = []
        start = time.perf_counter()
        features = extract_features(paths, args.extractor, cache_dir=cache, batch_size=args.batch_size, device="cpu", progress=False)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        hashes = [file_hash(p) for p in paths]
        extract_features(paths, args.extractor, cache_dir=cache, progress=False, hashes=hashes)
        warm = time.perf_counter() - start
        for budget in args.budget:
            start = time.perf_counter()
            result = kmedoids(features, budget, seed=0)
            cluster = time.perf_counter() - start
            start = time.perf_counter()
            method = "kmedoids-pixels" if args.extractor == "pixels" else "kmedoids"
            selection = select_pairs(data, budget, method=method, cache_dir=cache, progress=False, device="cpu")
            rerun = time.perf_counter() - start
            assert selection.names == [paths[i].name for i in result.medoids]
            rows.append((budget, cluster, rerun))

        print("\n| images | budget | features, cold cache (s) | features, warm cache (s) | k-means + medoids (s) | total, cold (s) | select_pairs again, warm (s) |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for budget, cluster, rerun in rows:
            print(f"| {len(paths)} | {budget} | {cold:.1f} | {warm:.2f} | {cluster:.2f} | {cold + cluster:.1f} | {rerun:.2f} |")
        print(f"\n# {len(paths) / cold:.1f} images/s for cold feature extraction; load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
