"""The reference system's OpenCV preprocessing alone (bench/baseline/resnet18.py `preprocess`), timed per image,
as JSON on stdout for bench/preprocess.mjs.

Run: v/bin/python bench/baseline/preprocess_bench.py --runs 30 IMAGE...
"""
import json
import sys

from resnet18 import preprocess
from timing import per_image_args, timed


def main():
    args = per_image_args()
    preprocess_ms = {}
    for path in args.images:
        with open(path, "rb") as f:
            data = f.read()
        preprocess_ms[path] = timed(lambda d=data: preprocess(d), args.runs, args.warmup)
    json.dump({"preprocess_ms": preprocess_ms}, sys.stdout)


if __name__ == "__main__":
    main()
