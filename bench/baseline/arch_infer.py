"""PyTorch's batch-1 inference time for one TorchVision architecture, as JSON on stdout (bench/architectures.mjs).

TorchVision's own module (`torchvision.models.get_model(ARCH, weights=None)`) with the state_dict at --weights
loaded into it, in eval mode, under torch.inference_mode(), with --threads intra-op threads (as ONNX Runtime gets
on our side): `warmup` forward passes left out, then up to `runs` timed ones on one seeded [1, 3, SIZE, SIZE]
input, stopping early after --max-seconds once --min-runs are in, so the biggest models stay bounded in time.
With --serve it prints a JSON line once warmed up, then for each line N on stdin N timed passes as one JSON line
(until stdin closes): bench/architectures.mjs alternates blocks of these with its own runs.

Needs torch and torchvision only (the venv .ci/run makes, .cache/venv):
    .cache/venv/bin/python bench/baseline/arch_infer.py --arch resnet50 --weights resnet50.pth --runs 30
"""
import argparse
import json
import sys
import time
import types

# torchvision's compiled ops do not match this torch; its Python model definitions need none of them
# (as in test/fixtures/make_arch_fixtures.py).
sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")

import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision.models import get_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--min-runs", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=5.0)
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    # On a CPU NNPACK does not support, every convolution tries to initialise it again and prints a warning; it
    # falls back to the same kernels either way, so it is turned off to keep those attempts out of the times.
    torch.backends.nnpack.set_flags(False)
    model = get_model(args.arch, weights=None)
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    model.eval()
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(17))

    runtime = (f"Python {sys.version.split()[0]}, torch {torch.__version__}, torchvision {torchvision.__version__} "
               f"({torch.get_num_threads()} threads)")

    def timed(n):
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            model(x)
            samples.append((time.perf_counter() - t) * 1000)
        return samples

    infer_ms = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(x)
        if args.serve:
            print(json.dumps({"runtime": runtime}), flush=True)
            for line in sys.stdin:
                print(json.dumps({"infer_ms": timed(int(line))}), flush=True)
            return
        deadline = time.perf_counter() + args.max_seconds
        while len(infer_ms) < args.runs and (len(infer_ms) < args.min_runs or time.perf_counter() < deadline):
            infer_ms.extend(timed(1))
    json.dump({"runtime": runtime, "infer_ms": infer_ms}, sys.stdout)


if __name__ == "__main__":
    main()
