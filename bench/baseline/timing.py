"""What the per-image timing scripts share: their command line and their timing loop (milliseconds)."""
import argparse
import time


def per_image_args():
    """`--runs N --warmup N IMAGE...`, as bench/preprocess.mjs passes them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("images", nargs="+")
    return parser.parse_args()


def timed(fn, runs, warmup):
    """`runs` durations of `fn()` in milliseconds, after `warmup` calls left out."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return samples
