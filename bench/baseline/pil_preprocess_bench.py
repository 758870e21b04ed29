"""torchvision's own preprocessing on PIL, timed per image and per filter, as JSON on stdout for bench/preprocess.mjs:
what resnet-serve's kernels reproduce bit for bit, so the ratio compares equal work.

For each image and for BILINEAR (ResNet-18 IMAGENET1K_V1) and BICUBIC (efficientnet_b0 IMAGENET1K_V1), both
Resize(256) + CenterCrop(224) + ToTensor + Normalize as `weights.transforms()` builds them:
  transforms_ms  - the preset on the decoded RGB image (PIL's resize, crop, to tensor, normalise): the step
                   resnet-serve's resample kernels do;
  end_to_end_ms  - Image.open(bytes).convert('RGB') and the preset: what resnet-serve's preprocess() does.
torch runs on one thread, as Node's kernels do.

Set-up: v/bin/pip install torch==2.13.0 pillow numpy && v/bin/pip install --no-deps torchvision
Run: v/bin/python bench/baseline/pil_preprocess_bench.py --runs 30 IMAGE...
"""
import io
import json
import sys
import types

import PIL
import torch
from PIL import Image

# torchvision's compiled ops do not match this torch; its transforms need none of them.
sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
from torchvision.models import EfficientNet_B0_Weights, ResNet18_Weights  # noqa: E402

from timing import per_image_args, timed  # noqa: E402

PRESETS = {
    "bilinear": ResNet18_Weights.IMAGENET1K_V1.transforms(),
    "bicubic": EfficientNet_B0_Weights.IMAGENET1K_V1.transforms(),
}


def main():
    args = per_image_args()
    torch.set_num_threads(1)
    results = {}
    for path in args.images:
        with open(path, "rb") as f:
            data = f.read()
        rgb = Image.open(io.BytesIO(data)).convert("RGB")
        results[path] = {}
        for name, preset in PRESETS.items():
            results[path][name] = {
                "transforms_ms": timed(lambda p=preset: p(rgb), args.runs, args.warmup),
                "end_to_end_ms": timed(lambda p=preset: p(Image.open(io.BytesIO(data)).convert("RGB")), args.runs, args.warmup),
            }
    json.dump({"pillow": PIL.__version__, "torch": torch.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
