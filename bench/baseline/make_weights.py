"""Writes the benchmark's synthetic ResNet-18 checkpoint: torchvision's names and shapes, seeded random values.

The real IMAGENET1K_V1 weights cannot be downloaded here; both sides of the benchmark load this same
state_dict, so they run the same graph at the same widths and the compute is the real model's.

Set-up (once): python3 -m venv v && v/bin/pip install torch==2.13.0 numpy opencv-python-headless flask
Run: v/bin/python bench/baseline/make_weights.py bench/.work/resnet18-synthetic.pth
"""
import sys

import torch

from resnet18 import ResNet18


def main(out_path):
    torch.manual_seed(20240601)
    model = ResNet18(torchvision_init=True)
    # Non-trivial BatchNorm statistics, as a trained checkpoint has, so folding them is real work for converters.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.0)
                m.bias.normal_(0.0, 0.05)
    torch.save(model.state_dict(), out_path)
    print(out_path)


if __name__ == "__main__":
    main(sys.argv[1])
