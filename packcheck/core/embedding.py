"""A learned image embedding, run by OpenCV's own DNN module (no torch at run time).

The network is ImageNet-trained EfficientNet-Lite0 without its classifier: one
forward pass of a square crop gives 1280 global-average-pooled features. Two
crops of the same product give nearby vectors even under a change of light,
angle and background, which hashes and colour histograms cannot promise. See
``packcheck/models/NOTICE`` for the weights' origin and licence and
``packcheck/models/export_embedding.py`` for how the ONNX file was made.

The model's SHA-256 is checked when it is loaded; a missing or damaged file is a
:class:`~packcheck.errors.ModelError`, never a silent fallback.
"""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError

MODEL_DIR = Path(__file__).resolve().parents[1] / "models"
MODEL_PATH = MODEL_DIR / "efficientnet_lite0_features.onnx"
#: The network was trained at 224 px; global pooling makes it accept any size. At
#: 160 px a forward pass costs half as much, and on the real-photo benchmark the
#: fused check is no worse (rank-1 0.67 vs 0.60 at 224 on grocerystore).
INPUT_SIDE_PX = 160
EMBEDDING_DIM = 1280
# EfficientNet-Lite was trained on pixels mapped to [-1, 1) this way (TF preprocessing);
# ImageNet mean/std normalisation, used by other models, measurably hurts it here.
_MEAN = 127.0
_STD = 128.0

_lock = threading.Lock()
_nets: dict[str, cv2.dnn.Net] = {}


def expected_sha256(model_path: Path = MODEL_PATH) -> str:
    """The digest recorded beside the model when it was exported."""
    digest_file = model_path.with_suffix(".sha256")
    try:
        return digest_file.read_text().split()[0]
    except (OSError, IndexError):
        raise ModelError(f"{digest_file} is missing; reinstall packcheck to restore the embedding model") from None


def load_model(model_path: Path = MODEL_PATH) -> cv2.dnn.Net:
    """Load (once per process) and verify the ONNX embedding model."""
    key = str(model_path)
    with _lock:
        net = _nets.get(key)
        if net is not None:
            return net
        try:
            data = model_path.read_bytes()
        except OSError:
            raise ModelError(
                f"embedding model {model_path} is missing; reinstall packcheck, "
                "or turn the signal off with --signals"
            ) from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected_sha256(model_path):
            raise ModelError(
                f"embedding model {model_path} is damaged (SHA-256 {digest[:12]}... does not match "
                "the recorded digest); reinstall packcheck"
            )
        try:
            net = cv2.dnn.readNetFromONNX(str(model_path))
        except cv2.error as e:
            raise ModelError(f"OpenCV could not load the embedding model {model_path}: {e}") from None
        _nets[key] = net
        return net


def preprocess(crops: list[np.ndarray]) -> np.ndarray:
    """RGB crops of any size to the network's (N, 3, INPUT_SIDE_PX, INPUT_SIDE_PX) float32 input, one batch.

    Each crop is shrunk with area averaging (``blobFromImages`` itself would
    only interpolate bilinearly); ``blobFromImages`` then scales, centres and
    lays the batch out in one C++ pass. ``1 / _STD`` is exact in float32, so the
    values equal ``(px - _MEAN) / _STD``.
    """
    side = (INPUT_SIDE_PX, INPUT_SIDE_PX)
    sized = [cv2.resize(crop, side, interpolation=cv2.INTER_AREA) for crop in crops]
    return cv2.dnn.blobFromImages(sized, scalefactor=1.0 / _STD, size=side, mean=(_MEAN,) * 3,
                                  swapRB=False, crop=False, ddepth=cv2.CV_32F)


def embed(crops: list[np.ndarray], *, model_path: Path = MODEL_PATH) -> np.ndarray:
    """L2-normalised embeddings, one row per RGB crop, float32 (N, 1280), from ONE batched forward pass.

    Examples
    --------
    >>> import numpy as np
    >>> v = embed([np.full((50, 80, 3), 128, np.uint8)])
    >>> v.shape, round(float(np.linalg.norm(v[0])), 4)
    ((1, 1280), 1.0)
    """
    if not crops:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    net = load_model(model_path)
    with _lock:  # a cv2.dnn.Net is not safe to run from two threads at once
        net.setInput(preprocess(crops))
        out = np.asarray(net.forward(), np.float32).reshape(len(crops), -1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)
