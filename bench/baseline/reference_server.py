"""The PyTorch baseline server, built like the reference system: Flask, the model loaded once as a
TorchScript-traced ResNet-18 in eval mode, OpenCV preprocessing, inference under torch.inference_mode().

POST /predict (multipart field `file`) → {"predictions": [{"index", "probability"}...]} top-3;
GET /readyz → 200 once the model is loaded (it is loaded before the socket opens).
Listens on 127.0.0.1 only.

Set-up (once): python3 -m venv v && v/bin/pip install torch==2.13.0 numpy opencv-python-headless flask
Run: v/bin/python bench/baseline/reference_server.py --weights W --port 8090
"""
import argparse

import torch
from flask import Flask, jsonify, request

from resnet18 import load_traced, preprocess


def create_app(weights):
    model = load_traced(weights)
    app = Flask(__name__)

    @app.get("/readyz")
    def readyz():
        return jsonify(status="ready")

    @app.post("/predict")
    def predict():
        upload = request.files.get("file")
        if upload is None:
            return jsonify(error="multipart field 'file' is missing"), 400
        try:
            x = preprocess(upload.read())
        except ValueError as error:
            return jsonify(error=str(error)), 415
        with torch.inference_mode():
            probabilities = torch.softmax(model(x)[0], dim=0)
        top = torch.topk(probabilities, 3)
        return jsonify(predictions=[
            {"index": int(i), "probability": float(p)} for p, i in zip(top.values, top.indices)
        ])

    return app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    # threaded=True is Flask's default for app.run: one thread per request, all sharing the one model.
    create_app(args.weights).run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
