"""The accuracy benchmark: metrics with known answers, pair construction, manifest errors, a tiny run."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from packcheck.cli import cli
from packcheck.errors import DataError
from packcheck.tooling import evaluate, synth
from packcheck.tooling.bench import accuracy
from helpers import REALDATA, write_csv


def test_auc_known_answers():
    assert accuracy.auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert accuracy.auc([0, 1], [2, 3]) == 0.0
    assert accuracy.auc([1, 1], [1, 1]) == 0.5  # ties count half
    assert accuracy.auc([2, 0], [1]) == 0.5


def test_flag_rate_at_uses_the_limit_that_respects_the_false_flag_budget():
    genuine = np.arange(100, dtype=float)  # 0..99
    impostor = np.array([-5.0, 0.5, 1.5, 50.0])
    # 1% of 100 genuine may be flagged: limit = genuine[1] = 1.0, flags scores < 1.0
    assert accuracy.flag_rate_at(genuine, impostor, 0.01) == 0.5
    # 5%: limit = genuine[5] = 5.0
    assert accuracy.flag_rate_at(genuine, impostor, 0.05) == 0.75
    assert accuracy.flag_rate_at(genuine, impostor, 0.0) == 0.25


def test_pair_counts_follow_coarse_classes():
    coarse = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "c1": "C"}
    truth = ["a1", "a1", "b1"]
    assert accuracy._pair_counts(truth, coarse) == {"genuine": 3, "lookalike": 4, "wrong_item": 2 * 2 + 4}
    scores = [{"a1": 1.0, "a2": 0.5, "a3": 0.4, "b1": 0.1, "c1": 0.0}] * 2 + [
        {"a1": 0.2, "a2": 0.2, "a3": 0.2, "b1": 0.9, "c1": 0.3}]
    gen, look, wrong = accuracy._split_pairs(scores, truth, coarse)
    assert sorted(gen) == [0.9, 1.0, 1.0] and len(look) == 4 and len(wrong) == 8


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory):
    """Two products x two colour variants, two photos each, in the real-data manifest format."""
    root = tmp_path_factory.mktemp("manifest")
    rows = []
    cid = 0
    for product in ("mug", "towel"):
        for variant in synth.list_variants(product)[:2]:
            cid += 1
            name = f"{product}-{variant}"
            synth.save_jpeg(root / f"{name}_iconic.jpg", synth.render_listing(product, variant, size=300), quality=90)
            rows.append([cid, name, product, "iconic", f"{name}_iconic.jpg"])
            for k in range(2):
                img = synth.render_scene([(product, variant)], seed=cid * 10 + k, size=(640, 480))
                synth.save_jpeg(root / f"{name}_{k}.jpg", img, quality=85)
                rows.append([cid, name, product, "photo", f"{name}_{k}.jpg"])
    return write_csv(root / "manifest.csv", list(evaluate.COLUMNS), rows)


def test_benchmark_on_a_tiny_manifest(tiny_manifest, tmp_path):
    out = tmp_path / "acc.json"
    r = CliRunner().invoke(cli, ["bench", "accuracy", "--manifest", str(tiny_manifest), "--json", str(out),
                                 "--workers", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert report["pairs"] == {"genuine": 8, "lookalike": 8, "wrong_item": 16}
    methods = report["methods"]
    base = methods["baseline: imagehash pHash, whole images"]
    ours = methods["packcheck verdict (item + variant checks)"]
    for m in (base, ours):
        assert set(m) >= {"auc_wrong_item", "auc_lookalike", "flag_rate_wrong_item_at_1pct",
                          "flag_rate_lookalike_at_1pct", "flag_rate_wrong_item_at_5pct", "rank1"}
    assert ours["auc_wrong_item"] > base["auc_wrong_item"]
    assert ours["rank1"] >= 0.75
    # The variant check ranks nothing (it only compares sibling colours): no rank-1 of its own.
    assert methods["variant check alone (pairs with siblings)"]["rank1"] is None
    assert "packcheck verdict" in r.output and "baseline" in r.output


@pytest.mark.parametrize("content, words", [
    ("class_id,class_name,kind,path\n", "missing column(s) coarse_class"),
    ("class_id,class_name,coarse_class,kind,path\n1,a,A,iconic,nope.jpg\n1,a,A,photo,nope2.jpg\n",
     "image file(s) missing: row 2: nope.jpg"),
    ("class_id,class_name,coarse_class,kind,path\n1,a,A,listing,x.jpg\n", "is not 'iconic', 'photo' or 'reference'"),
])
def test_manifest_errors_name_the_problem(tmp_path, content, words):
    (tmp_path / "x.jpg").write_bytes(b"")
    m = tmp_path / "manifest.csv"
    m.write_text(content)
    with pytest.raises(DataError, match=words.replace("(", r"\(").replace(")", r"\)")):
        evaluate.read_manifest(m)
    r = CliRunner().invoke(cli, ["bench", "accuracy", "--manifest", str(m)])
    assert r.exit_code == 2 and r.stderr.startswith("Error: manifest.csv")


@pytest.mark.realdata
@pytest.mark.slow
def test_real_photos_beat_plain_phash_by_a_wide_margin():
    if not (REALDATA / "manifest.csv").exists():
        pytest.skip(f"real data not present at {REALDATA} (it sits beside the checkout in ../shared)")
    report = accuracy.run(REALDATA / "manifest.csv", workers=2, ablate=False)
    ours = report["methods"]["packcheck verdict (item + variant checks)"]
    base = report["methods"]["baseline: imagehash pHash, whole images"]
    assert base["auc_wrong_item"] < 0.6
    assert ours["auc_wrong_item"] >= 0.90 and ours["auc_lookalike"] >= 0.80 and ours["rank1"] >= 0.55


def test_reference_rows_become_rows_of_their_class_never_queries(tiny_manifest, tmp_path):
    """#13: a manifest row with kind=reference is a confirmed real photo of its class: it joins the
    catalogue as a reference row and is never judged as a query (the pair counts do not change)."""
    import csv as _csv

    root = tiny_manifest.parent
    with open(tiny_manifest, newline="") as f:
        rows = list(_csv.reader(f))[1:]
    extra = []
    for cid, name, product, kind, path in rows:
        if kind == "iconic":  # one more scene of that class, as a confirmed reference
            variant = name.split("-", 1)[1]
            img = synth.render_scene([(product, variant)], seed=900 + int(cid), size=(640, 480))
            synth.save_jpeg(root / f"{name}_ref.jpg", img, quality=85)
            extra.append([cid, name, product, "reference", f"{name}_ref.jpg"])
    with_refs = write_csv(root / "with_refs.csv", list(evaluate.COLUMNS), rows + extra)
    out = tmp_path / "acc.json"
    r = CliRunner().invoke(cli, ["bench", "accuracy", "--manifest", str(with_refs), "--json", str(out),
                                 "--workers", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert report["pairs"] == {"genuine": 8, "lookalike": 8, "wrong_item": 16}
    assert report["n_references"] == 4
    assert report["methods"]["packcheck verdict (item + variant checks)"]["rank1"] >= 0.75
