"""The reference system's OpenCV preprocessing alone (bench/baseline/resnet18.py `preprocess`), timed per image,
as JSON on stdout for bench/preprocess.mjs.

Run: v/bin/python bench/baseline/preprocess_bench.py --runs 30 IMAGE...
"""
import argparse
import json
import sys
import time

from resnet18 import preprocess


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    preprocess_ms = {}
    for path in args.images:
        with open(path, "rb") as f:
            data = f.read()
        for _ in range(args.warmup):
            preprocess(data)
        preprocess_ms[path] = []
        for _ in range(args.runs):
            t = time.perf_counter()
            preprocess(data)
            preprocess_ms[path].append((time.perf_counter() - t) * 1000)
    json.dump({"preprocess_ms": preprocess_ms}, sys.stdout)


if __name__ == "__main__":
    main()
