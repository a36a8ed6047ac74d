"""The benchmarks' imagehash baselines and the ratios they print (issue #19, "honest baselines").

Not timed tests: they check what the loops compute and that the ratios are the
ones the issue sets targets for, never how fast anything is.
"""
from __future__ import annotations

import numpy as np
import pytest

from packcheck.tooling.bench import audit as audit_bench
from packcheck.tooling.bench import baselines, speed
from helpers import blob_image, encode


def _jpeg(tmp_path, name="photo.jpg", size=(3000, 4000)):
    rgb = np.ascontiguousarray(np.kron(blob_image(size=(size[0] // 40, size[1] // 40)), np.ones((40, 40, 1), np.uint8)))
    path = tmp_path / name
    path.write_bytes(encode(rgb, "JPEG", quality=90))
    return path


def _sizes_hashed(monkeypatch) -> list:
    """Record the size of every image imagehash's pHash is given."""
    import imagehash

    seen = []
    real = imagehash.phash

    def phash(im, *a, **k):
        seen.append(im.size)
        return real(im, *a, **k)

    monkeypatch.setattr(imagehash, "phash", phash)
    return seen


def test_careful_loop_decodes_a_12mp_jpeg_at_one_eighth(tmp_path, monkeypatch):
    """#19 honest baselines: the careful loop uses Image.draft (1/8 DCT decode); the naive one decodes in full."""
    path = _jpeg(tmp_path)
    seen = _sizes_hashed(monkeypatch)
    careful = baselines.careful_hashes(path)
    naive = baselines.naive_hashes(path)
    assert seen == [(500, 375), (4000, 3000)]
    # The same photo either way: the hashes barely differ (phash shrinks to 32 px anyway).
    assert baselines.distance(careful, naive) <= 8


def test_careful_loop_hashes_each_listing_image_once(tmp_path, monkeypatch):
    """#19 honest baselines: the careful loop caches listing hashes; the naive one re-hashes per order."""
    photo = _jpeg(tmp_path)
    listing = tmp_path / "listing.png"
    listing.write_bytes(encode(blob_image(size=(300, 300))))
    for careful, hashed in ((True, 1), (False, 3)):
        calls = []
        loop = baselines.ImagehashLoop(careful=careful)
        fn = "careful_hashes" if careful else "naive_hashes"
        real = getattr(baselines, fn)
        monkeypatch.setattr(baselines, fn, lambda p, real=real: calls.append(str(p)) or real(p))
        for _ in range(3):
            assert loop.check(photo, [listing]) >= 0
        assert calls.count(str(listing)) == hashed
        assert calls.count(str(photo)) == 3  # every order's photo is hashed, careful or not
        monkeypatch.undo()


def test_speed_ratios_include_the_careful_loop_and_the_floor():
    """#19: check/careful and check/floor are printed beside check/naive and check/full_decode, with targets."""
    ms = {"full_decode": 60.0, "reduced_8": 20.0, "reduced_4": 25.0, "reduced_2": 30.0, "naive": 500.0,
          "careful": 25.0, "hash_colour": 24.0, "check": 80.0}
    r = speed.ratios(ms)
    assert r["check/careful"] == pytest.approx(3.2) and r["check/floor"] == pytest.approx(4.0)
    assert r["check/full_decode"] == pytest.approx(80 / 60, abs=1e-3) and r["check/naive"] == pytest.approx(0.16)
    assert speed.TARGETS["check/floor"] == 3.0 and speed.TARGETS["check/full_decode"] == 1.5
    assert speed.TARGETS["check/careful"] == 2.0


def _run(n, workers, per_s, steady=None, peak=100.0):
    return {"n": n, "workers": workers, "orders_per_s": per_s, "steady_orders_per_s": steady,
            "cpu_ms_per_order": 1000 / per_s, "peak_tree_rss_mb": peak}


def test_audit_ratios_are_times_against_both_loops_with_targets():
    """#19 targets, on the largest N run with 1 and 2 workers: audit time per order over the careful
    loop's (<= 2) and the naive loop's (<= 0.2), two workers over one (>= 1.9), memory of the largest
    run over the smallest (<= 1.1)."""
    runs = [_run(40, 1, 9.0, peak=200.0), _run(40, 2, 19.5, peak=400.0),
            _run(1000, 1, 10.0, steady=12.0, peak=210.0), _run(1000, 2, 18.0, peak=460.0)]
    naive = {"orders_per_s": 1.0, "cpu_ms_per_order": 1000.0}
    careful = {"orders_per_s": 25.0, "cpu_ms_per_order": 40.0}
    r = audit_bench.ratios(runs, naive, careful)
    assert r["time_vs_careful"] == pytest.approx(2.5) and r["time_vs_naive"] == pytest.approx(0.1)
    assert r["time_vs_careful_steady"] == pytest.approx(25 / 12)
    assert r["two_vs_one_worker"] == pytest.approx(1.8)
    assert r["memory_1000_vs_40_w1"] == pytest.approx(1.05) and r["memory_1000_vs_40_w2"] == pytest.approx(1.15)
    assert audit_bench.judged("time_vs_careful", 2.5) == " (target <= 2.0): MISSED"
    assert audit_bench.judged("time_vs_naive", 0.1) == " (target <= 0.2): met"
    assert audit_bench.judged("two_vs_one_worker", 1.8) == " (target >= 1.9): MISSED"
    assert audit_bench.judged("memory_1000_vs_40_w1", 1.05) == " (target <= 1.1): met"
    assert audit_bench.judged("one_worker_vs_naive", 9.0) == ""
    assert "one_worker_cores_busy" not in r  # not measured in these runs


def test_bench_audit_says_how_many_cores_one_worker_already_keeps_busy():
    """Two workers / one is bounded by the cores one worker's own threads leave idle: the bench prints it."""
    one = {**_run(40, 1, 4.0), "wall_s": 10.0, "cpu_s": 18.4}
    r = audit_bench.ratios([one, _run(40, 2, 4.4)], {"orders_per_s": 1.0, "cpu_ms_per_order": 1000.0})
    assert r["one_worker_cores_busy"] == pytest.approx(1.84)
    text = audit_bench.format_table({"photo_size": [640, 480], "cpu_count": 2, "load_average": [0.1, 0.2],
                                     "runs": [], "ratios": r})
    assert "cores kept busy by 1 worker" in text and ": 1.84 " not in text and "1.84" in text


def test_bench_audit_refuses_a_photo_size_it_cannot_use(tmp_path):
    """--photo-size is WIDTHxHEIGHT; anything else is a plain error, exit 2."""
    from click.testing import CliRunner

    from packcheck.cli import cli

    (tmp_path / "orders.csv").write_text("order_id,sku,qty,photo\n")
    r = CliRunner().invoke(cli, ["bench", "audit", "--data", str(tmp_path), "--photo-size", "12x5"])
    assert r.exit_code == 2
    assert r.output.strip().endswith("Error: --photo-size '12x5' is not WIDTHxHEIGHT with both at least 64, "
                                     "e.g. 4000x3000")
