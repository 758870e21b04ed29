"""Pure-inference numbers of the PyTorch baseline, as JSON on stdout (bench/run.mjs reads them).

Loads the checkpoint like the reference system (TorchScript-traced ResNet-18 in eval mode), then `runs`
times per image: OpenCV preprocessing, then one batch-1 forward pass under torch.inference_mode(), timed apart.

Set-up (once): python3 -m venv v && v/bin/pip install torch==2.13.0 numpy opencv-python-headless flask
Run: v/bin/python bench/baseline/infer_bench.py --weights W --runs 20 IMAGE...
"""
import argparse
import json
import resource
import sys
import time

import cv2
import torch

from resnet18 import load_traced, preprocess


def rss_mb():
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()

    rss_before_load = rss_mb()["VmRSS"]
    t0 = time.perf_counter()
    model = load_traced(args.weights)
    load_ms = (time.perf_counter() - t0) * 1000

    infer_ms, preprocess_ms = [], {}
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(torch.zeros(1, 3, 224, 224))
        # Each run is one request's work: preprocess the bytes, then one batch-1 forward pass, timed apart.
        for path in args.images:
            with open(path, "rb") as f:
                data = f.read()
            preprocess_ms[path] = []
            for _ in range(args.runs):
                t = time.perf_counter()
                x = preprocess(data)
                preprocess_ms[path].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                model(x)
                infer_ms.append((time.perf_counter() - t) * 1000)
    rss = rss_mb()
    json.dump({
        "runtime": f"Python {sys.version.split()[0]}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
                   f"OpenCV {cv2.__version__}",
        "load_ms": load_ms,
        "infer_ms": infer_ms,
        "preprocess_ms": preprocess_ms,
        "rss_before_load_mb": rss_before_load,
        "rss_mb": rss["VmRSS"],
        # ru_maxrss is in KiB on Linux; VmHWM says the same, both are kept for the record.
        "peak_rss_mb": max(rss["VmHWM"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }, sys.stdout)


if __name__ == "__main__":
    main()
