"""ResNet-18 with torchvision's exact module names, plus the reference system's OpenCV preprocessing.

The architecture is scripts/torchvision_resnet.py (torchvision's module names): the state_dict keys and shapes
are those of `resnet18-f37072fd.pth`, so the same checkpoint loads on both sides of the benchmark.

Set-up (once): python3 -m venv v && v/bin/pip install torch==2.13.0 numpy opencv-python-headless flask
"""
import pathlib
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
from torchvision_resnet import ResNet18  # noqa: E402,F401  (re-exported for make_weights.py)

# ResNet18_Weights.IMAGENET1K_V1.transforms() (torchvision/transforms/_presets.py ImageClassification).
RESIZE_SIZE = 256
CROP_SIZE = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def load_traced(weights_path):
    """The reference system's model load: state_dict → eval() → torch.jit.trace, then one warm-up run."""
    model = ResNet18()
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    model.eval()
    example = torch.zeros(1, 3, CROP_SIZE, CROP_SIZE)
    with torch.inference_mode():
        traced = torch.jit.trace(model, example)
        traced(example)
    return traced


def preprocess(data):
    """bytes → float32 [1,3,224,224]: OpenCV decode, shorter side to 256 (bilinear), centre crop 224, normalise."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    scale = RESIZE_SIZE / min(h, w)
    nw, nh = max(RESIZE_SIZE, round(w * scale)), max(RESIZE_SIZE, round(h * scale))
    image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = int(round((nh - CROP_SIZE) / 2.0)), int(round((nw - CROP_SIZE) / 2.0))
    image = image[top:top + CROP_SIZE, left:left + CROP_SIZE]
    x = (image.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
