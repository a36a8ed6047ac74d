"""Enrolment (#13): confirmed real photos become references of their SKU, with provenance, a cap,
diversity, removal, and never a way to make another SKU's photo pass."""
from __future__ import annotations

import csv
import dataclasses
import hashlib

import pytest
from click.testing import CliRunner

from packcheck.apps import enrolment
from packcheck.apps.checker import Checker
from packcheck.cli import cli
from packcheck.core.thresholds import load_thresholds
from packcheck.core.verdict import Status
from packcheck.errors import DataError, PackcheckError
from packcheck.store import references
from packcheck.tooling import synth
from helpers import synth_shop, write_csv

PRODUCTS = (("trousers", 2), ("mug", 1), ("towel", 1), ("bottle", 1), ("cap", 1))


def _sku(product: str, vi: int = 0) -> str:
    return f"{product[:3].upper()}-{synth.list_variants(product)[vi][:3].upper()}"


@pytest.fixture()
def shop(tmp_path):
    """A synthetic shop; packing photos of the mug and the towel on one bench (several seeds each)."""
    root = tmp_path / "shop"
    synth_shop(root, products=PRODUCTS)
    (root / "photos").mkdir()
    orders = []
    for product in ("mug", "towel"):
        variant = synth.list_variants(product)[0]
        for seed in range(3):
            name = f"{product}-{seed}.jpg"
            synth.save_jpeg(root / "photos" / name, synth.render_scene([(product, variant)], seed=500 + seed,
                                                                       size=(800, 600)), quality=88)
            orders.append([f"ORD-{product}-{seed}", _sku(product), 1, f"photos/{name}"])
    # The towel's photo ordered as the mug: a wrong item.
    orders.append(["ORD-WRONG", _sku("mug"), 1, "photos/towel-2.jpg"])
    write_csv(root / "orders.csv", ["order_id", "sku", "qty", "photo"], orders)
    return root


def _checker(root, **rules) -> Checker:
    th = load_thresholds()
    if rules:
        th = dataclasses.replace(th, references=dataclasses.replace(th.references, **rules))
    return Checker.open(root, thresholds=th, cache=root / ".cache" / "index.sqlite")


def test_enrolment_keeps_provenance_and_the_photo_by_its_digest(shop):
    checker = _checker(shop)
    got = enrolment.enrol(checker, _sku("mug"), shop / "photos" / "mug-0.jpg", confirmed_by="ana",
                          source="manual", order_id="ORD-mug-0")
    ref = got.reference
    data = (shop / "photos" / "mug-0.jpg").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert ref.sku == _sku("mug") and ref.confirmed_by == "ana" and ref.source == "manual"
    assert ref.order_id == "ORD-mug-0" and ref.photo_sha256 == digest and ref.ref_id == digest[:12]
    assert (shop / ref.path).read_bytes() == data and ref.path == f"references/{digest}.jpg"
    rows = list(csv.DictReader(open(shop / "references.csv", encoding="utf-8")))
    assert [r["ref_id"] for r in rows] == [ref.ref_id] and rows[0]["added_utc"].endswith("+00:00")
    # The index holds it as a reference row of the SKU, and a fresh checker loads it again.
    assert checker.index.references.sum() == 1
    again = _checker(shop)
    rows = again.index.rows_of(_sku("mug"))
    assert sum(bool(again.index.references[r]) for r in rows) == 1


def test_an_enrolled_photo_is_fingerprinted_once(shop, monkeypatch):
    """Enrolment fingerprints the photo to judge its diversity; the index rebuilt after it reuses that."""
    from packcheck.core import fingerprint as fp_mod

    checker = _checker(shop)
    calls = []
    real = fp_mod.fingerprint_reference

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(fp_mod, "fingerprint_reference", counting)
    monkeypatch.setattr(enrolment, "fingerprint_reference", counting)
    got = enrolment.enrol(checker, _sku("mug"), shop / "photos" / "mug-0.jpg", confirmed_by="ana", source="manual")
    assert got.reference is not None and checker.index.references.sum() == 1
    assert len(calls) == 1


def test_the_same_photo_twice_and_a_near_copy_are_not_enrolled(shop):
    checker = _checker(shop)
    photo = shop / "photos" / "mug-0.jpg"
    enrolment.enrol(checker, _sku("mug"), photo, confirmed_by="ana", source="manual")
    again = enrolment.enrol(checker, _sku("mug"), photo, confirmed_by="ana", source="manual")
    assert again.reference is None and "already reference" in again.reason
    # A re-encoded copy: other bytes, the same picture: skipped as adding nothing new.
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.open(photo).save(buf, "JPEG", quality=70)
    got = enrolment.enrol(checker, _sku("mug"), buf.getvalue(), name="copy.jpg", confirmed_by="ana",
                          source="manual")
    assert got.reference is None and "nearly the same" in got.reason


def test_references_are_capped_per_sku(shop):
    checker = _checker(shop, max_per_sku=2, max_similarity=0.9999)
    got = [enrolment.enrol(checker, _sku("mug"), shop / "photos" / f"mug-{i}.jpg", confirmed_by="ana",
                           source="manual") for i in range(3)]
    assert [g.reference is not None for g in got] == [True, True, False]
    assert "the cap is 2" in got[2].reason


def test_a_reference_of_one_sku_never_makes_another_skus_photo_pass(shop):
    """Enrol every mug photo taken on the bench; the towel's photo (same bench) ordered as the mug is
    still not a PASS, and the mug's own photos are matched to the references (which the verdict names)."""
    checker = _checker(shop, max_similarity=0.9999)
    before = checker.check_id("ORD-WRONG")
    for i in range(3):
        enrolment.enrol(checker, _sku("mug"), shop / "photos" / f"mug-{i}.jpg", confirmed_by="ana",
                        source="manual")
    after = checker.check_id("ORD-WRONG")
    assert after.status is not Status.PASS, after.message
    assert before.status is not Status.PASS
    genuine = checker.check_id("ORD-mug-1")
    item = genuine.check("item")
    assert genuine.status is Status.PASS and item.details.matched_reference
    assert "reference photo" in item.message


def test_removing_a_reference_takes_it_out_of_the_index(shop):
    checker = _checker(shop)
    ref = enrolment.enrol(checker, _sku("mug"), shop / "photos" / "mug-0.jpg", confirmed_by="ana",
                          source="manual").reference
    gone = references.remove_reference(shop, ref.ref_id)
    assert gone == ref and references.load_references(shop) == []
    checker.reload_references()
    assert not checker.index.references.any()
    with pytest.raises(PackcheckError, match="no reference 'nope'"):
        references.remove_reference(shop, "nope")


def test_a_reference_row_naming_an_unknown_sku_is_an_error_naming_the_row(shop):
    write_csv(shop / "references.csv", list(references.COLUMNS),
              [["abc", "NOPE-1", "photos/mug-0.jpg", "", "ana", "manual", "2026-01-01T00:00:00+00:00", "x"]])
    with pytest.raises(DataError, match=r"references.csv, row 2, field 'sku': SKU 'NOPE-1' is not in the catalogue"):
        _checker(shop)


def test_station_enrols_only_clear_passes_decided_by_a_listing(shop):
    checker = _checker(shop)
    v = checker.check_id("ORD-mug-0")
    reason = enrolment.auto_enrol_reason(v, _sku("mug"), checker)
    item = v.check("item")
    clear = item.value >= checker.thresholds.item.review_below + checker.thresholds.references.enrol_margin
    assert (reason is None) == (v.status is Status.PASS and clear)
    assert enrolment.auto_enrol_reason(checker.check_id("ORD-WRONG"), _sku("mug"), checker) is not None


def test_enrol_command_adds_lists_and_removes(shop):
    runner = CliRunner()
    photo = str(shop / "photos" / "towel-0.jpg")
    r = runner.invoke(cli, ["enrol", _sku("towel"), photo, "--data", str(shop), "--by", "ana", "--order", "ORD-1"])
    assert r.exit_code == 0, r.output
    assert f"as reference" in r.output and "1 of 1 photo(s) enrolled" in r.output
    r = runner.invoke(cli, ["enrol", "--list", "--data", str(shop)])
    assert r.exit_code == 0 and _sku("towel") in r.output and "manual" in r.output and "1 reference(s)" in r.output
    ref_id = references.load_references(shop)[0].ref_id
    r = runner.invoke(cli, ["enrol", "--remove", ref_id, "--data", str(shop)])
    assert r.exit_code == 0 and f"removed reference {ref_id}" in r.output
    r = runner.invoke(cli, ["enrol", _sku("towel"), photo, "--data", str(shop)])
    assert r.exit_code == 2 and "--by NAME" in r.output
    r = runner.invoke(cli, ["enrol", "NOPE", photo, "--data", str(shop), "--by", "ana"])
    assert r.exit_code == 2 and "Error: SKU 'NOPE' is not in the catalogue" in r.output


@pytest.mark.parametrize("enrol", [True, False])
def test_the_station_enrols_a_clear_pass_by_itself_unless_told_not_to(shop, tmp_path, enrol):
    """#13: the station keeps a clear PASS of a one-SKU order as a reference (``--no-enrol`` stops it),
    never a wrong item's photo."""
    from packcheck.apps.evidence.store import EvidenceStore
    from packcheck.apps.station import FolderSource, Station

    checker = _checker(shop)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    store = EvidenceStore.open(tmp_path / "ev.sqlite")
    bench = Station(checker, store, FolderSource(inbox, poll_s=0.01), station="b1", timeout_s=5, enrol=enrol)
    try:
        outcomes = {}
        for order, photo in (("ORD-WRONG", "towel-2.jpg"), ("ORD-mug-0", "mug-0.jpg")):
            (inbox / f"{order}.jpg").write_bytes((shop / "photos" / photo).read_bytes())
            outcomes[order] = bench.handle(order)
    finally:
        store.close()
    mug = outcomes["ORD-mug-0"].verdict
    clear = enrolment.auto_enrol_reason(mug, _sku("mug"), checker) is None
    assert outcomes["ORD-WRONG"].verdict.status is not Status.PASS
    refs = references.load_references(shop, known_skus=checker.catalogue.items)
    assert clear, "the synthetic mug's own photo is a clear PASS"
    if enrol:
        assert [(r.sku, r.order_id, r.source) for r in refs] == [(_sku("mug"), "ORD-mug-0", "station_pass")]
        assert any(checker.index.references)
    else:
        assert refs == []
