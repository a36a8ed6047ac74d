"""Builders shared by the core tests: small images and data folders made in the test."""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "grocerystore"
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


@contextlib.contextmanager
def hang_guard(seconds: int):
    """Fail (TimeoutError) instead of blocking when the body runs longer than ``seconds`` (SIGALRM)."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"no answer after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def peak_rss_mb(code: str, *args: str) -> float:
    """Peak resident memory, in MB, of ``python -c code args`` run in a fresh process.

    VmHWM, not getrusage's ru_maxrss: on Linux the latter carries over the peak of
    the forking process (this pytest), which may be large.
    """
    prog = code + ("\nprint(next(int(line.split()[1]) for line in open('/proc/self/status') "
                   "if line.startswith('VmHWM:')) / 1024)")
    out = subprocess.run([sys.executable, "-c", prog, *args], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.strip().splitlines()[-1])


def load_corpus_module():
    """tests/badinput/make_corpus.py as a module, loaded by path (tests/ need not be a package)."""
    name = "packcheck_badinput_corpus"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "badinput" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def blob_image(size=(120, 160), colour=(200, 30, 30), background=(255, 255, 255), seed=0) -> np.ndarray:
    """RGB: a coloured ellipse and a square with some print on a plain background."""
    h, w = size
    img = np.full((h, w, 3), background, np.uint8)
    cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 3), 15, 0, 360, colour, -1)
    cv2.rectangle(img, (w // 2 - 10, h // 2 - 10), (w // 2 + 10, h // 2 + 10), (20, 20, 20), -1)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        x, y = int(rng.integers(w // 3, 2 * w // 3)), int(rng.integers(h // 3, 2 * h // 3))
        cv2.circle(img, (x, y), 3, (250, 250, 250), -1)
    return img


def encode(rgb: np.ndarray, fmt: str = "PNG", **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **save)
    return buf.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def synth_shop(root: Path, products=(("trousers", 3), ("mug", 2), ("towel", 1), ("bottle", 1)), *,
               listing_size=360) -> dict[str, tuple[str, str]]:
    """A data folder of synthetic products: catalogue.csv and listing images. Returns sku -> (product, variant)."""
    from packcheck.tooling import synth

    (root / "listings").mkdir(parents=True, exist_ok=True)
    rows, skus = [], {}
    for product, n in products:
        for variant in synth.list_variants(product)[:n]:
            sku = f"{product[:3].upper()}-{variant[:3].upper()}"
            path = root / "listings" / f"{sku}.jpg"
            synth.save_jpeg(path, synth.render_listing(product, variant, size=listing_size), quality=90)
            rows.append([sku, product, product.title(), variant, f"listings/{sku}.jpg"])
            skus[sku] = (product, variant)
    write_csv(root / "catalogue.csv", ["sku", "product_id", "title", "variant", "listing_images"], rows)
    return skus
