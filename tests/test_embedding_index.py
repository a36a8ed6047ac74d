"""The ONNX embedding (pinned, verified at load, equal to torch) and the listing index cache."""
import shutil

import numpy as np
import pytest

from packcheck import errors
from packcheck.core import embedding
from packcheck.core.fingerprint import Fingerprint, PIPELINE_VERSION, fingerprint_listing
from packcheck.core.imaging import load_image
from packcheck.store.fingerprints import FingerprintStore
from packcheck.store.index import build_index
from helpers import blob_image, encode


def _two_tone():
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32] = (200, 30, 30)
    img[:, 32:] = (20, 40, 220)
    return img


def test_embedding_of_a_synthetic_image_matches_pinned_values():
    v = embedding.embed([_two_tone()])[0]
    assert v.shape == (embedding.EMBEDDING_DIM,)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert v[:6] == pytest.approx([0.0, 0.0, 0.00473, 0.03637, 0.0, 0.0], abs=2e-4)
    assert int(np.argmax(v)) == 1277


def test_embedding_is_similar_for_the_same_object_and_not_for_another():
    a = blob_image(colour=(200, 30, 30), seed=0)
    a_shifted = np.roll(a, 6, axis=1)
    other = np.full_like(a, 255)
    other[20:100, 30:130] = (30, 140, 40)
    e = embedding.embed([a, a_shifted, other])
    assert e[0] @ e[1] > e[0] @ e[2] + 0.1


def test_damaged_or_missing_model_is_a_clear_error(tmp_path):
    model = tmp_path / embedding.MODEL_PATH.name
    shutil.copy(embedding.MODEL_PATH, model)
    shutil.copy(embedding.MODEL_PATH.with_suffix(".sha256"), model.with_suffix(".sha256"))
    with open(model, "r+b") as f:  # flip one byte in the middle
        f.seek(1_000_000)
        b = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(errors.ModelError, match="damaged"):
        embedding.load_model(model)
    with pytest.raises(errors.ModelError, match="missing"):
        embedding.load_model(tmp_path / "absent.onnx")


def test_onnx_matches_torch_where_torch_is_installed():
    torch = pytest.importorskip("torch", reason="torch is a dev-time extra: pip install -e '.[export]'")
    pytest.importorskip("efficientnet_lite_pytorch", reason="needs the [export] extra")
    from packcheck.models.export_embedding import build_torch_model

    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        want = build_torch_model()(torch.from_numpy(x)).numpy()
    net = embedding.load_model()
    net.setInput(x)
    got = net.forward()
    assert np.abs(got - want).max() < 1e-4


def test_fingerprint_round_trips_through_bytes():
    fp = fingerprint_listing(load_image(encode(blob_image())))
    back = Fingerprint.from_bytes(fp.to_bytes())
    assert np.allclose(back.embeddings, fp.embeddings, atol=1e-3)  # stored as float16
    for name in ("hists", "labs", "colour_hashes", "hashes"):
        assert np.array_equal(getattr(back, name), getattr(fp, name)), name
    assert np.array_equal(back.keypoints.descriptors, fp.keypoints.descriptors)
    assert back.location == fp.location and back.work_size == fp.work_size


def _listing_files(tmp_path, n=3):
    paths = []
    for i in range(n):
        p = tmp_path / f"l{i}.png"
        p.write_bytes(encode(blob_image(colour=(40 * i + 50, 30, 200 - 40 * i), seed=i)))
        paths.append((f"SKU-{i}", p))
    return paths


def _count_fingerprints(cache):
    return FingerprintStore(cache)._conn().execute(
        "SELECT COUNT(*) FROM fingerprints WHERE pipeline=?", (PIPELINE_VERSION,)).fetchone()[0]


def test_index_fingerprints_once_and_reindexes_an_edited_image(tmp_path, monkeypatch):
    import packcheck.store.index as index_mod

    entries = _listing_files(tmp_path)
    cache = tmp_path / "cache" / "index.sqlite"
    calls = []
    real = index_mod.fingerprint_file
    monkeypatch.setattr(index_mod, "fingerprint_file", lambda p, locate=None: calls.append(p) or real(p, locate))
    idx = build_index(entries, cache=cache)
    assert len(calls) == 3 and len(idx) == 3 and idx.rows_of("SKU-1") == [1]
    build_index(entries, cache=cache)
    assert len(calls) == 3  # nothing recomputed for unchanged files
    entries[1][1].write_bytes(encode(blob_image(colour=(10, 200, 10), seed=9)))  # edit one listing image
    idx2 = build_index(entries, cache=cache)
    assert len(calls) == 4 and calls[-1] == str(entries[1][1])
    assert _count_fingerprints(cache) == 4
    assert not np.array_equal(idx2.hists[1], idx.hists[1])


def test_index_arrays_match_fresh_fingerprints(tmp_path):
    entries = _listing_files(tmp_path, 2)
    idx = build_index(entries, cache=None)
    fp = fingerprint_listing(load_image(entries[0][1]))
    assert np.array_equal(idx.hists[0], fp.hists[0])
    assert idx.embeddings.shape[1:] == (4, 1280) and np.allclose(idx.embeddings[0], fp.embeddings, atol=1e-3)
    assert np.array_equal(idx.keypoints(0).descriptors, fp.keypoints.descriptors)
