"""Near-duplicate photos (issue #14, second bullet): the listing image passed off as the packing photo
(``photo_is_listing``), one photo used for two orders (``photo_reused``); genuine photos, of one bench and of
flat printed products, left alone."""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from packcheck.core import duplicates as dup
from packcheck.core.imaging import load_image
from packcheck.core.locate import listing_mask
from packcheck.core.thresholds import load_thresholds
from packcheck.core.verdict import Status
from packcheck.tooling.bench.duplicates import attack, photo_product_frame, screen_photo

from helpers import SAMPLE_DATA

LIMITS = load_thresholds().duplicates


def _decoded(rgb: np.ndarray, quality: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return load_image(buf.getvalue()).rgb


def cover(seed: int = 0, size=(560, 400)) -> np.ndarray:
    """A printed product's listing image: a busy cover (text, shapes, a photo-like gradient) on white."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    x0, y0, x1, y1 = 40, 30, w - 40, h - 30
    grad = np.linspace(40, 200, x1 - x0)[None, :, None] * np.ones((y1 - y0, 1, 3))
    img[y0:y1, x0:x1] = (grad * rng.uniform(0.5, 1.0, 3)).astype(np.uint8)
    for _ in range(40):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        p = (int(rng.integers(x0, x1)), int(rng.integers(y0, y1)))
        if rng.random() < 0.5:
            cv2.circle(img, p, int(rng.integers(4, 30)), c, -1)
        else:
            cv2.putText(img, "".join(rng.choice(list("PACKCHEK0123"), 4)), p, cv2.FONT_HERSHEY_SIMPLEX,
                        float(rng.uniform(0.5, 1.4)), c, 2)
    return img


def bench(seed: int, size=(1280, 960), plain: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    if plain:
        return np.full((h, w, 3), (205, 200, 190), np.uint8)
    wood = np.linspace(0, 40 * np.pi, w)[None, :] + rng.normal(0, 0.4, (h, 1)).cumsum(axis=0)
    base = np.array([150, 110, 70], np.float32)
    img = base * (0.85 + 0.15 * np.sin(wood))[..., None]
    return (img + rng.normal(0, 4, img.shape)).clip(0, 255).astype(np.uint8)


def photographed(listing: np.ndarray, background: np.ndarray, seed: int, *, product_only: bool = True) -> np.ndarray:
    """A real photo of the printed product: its print (not the listing's white margin) in perspective on a
    bench, with a shadow."""
    rng = np.random.default_rng(seed)
    h, w = listing.shape[:2]
    mask = listing_mask(listing).mask
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    src = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    H, W = background.shape[:2]
    cx, cy, s = W / 2 + rng.uniform(-100, 100), H / 2 + rng.uniform(-60, 60), rng.uniform(0.9, 1.3)
    dst = np.float32([[cx - (x1 - x0) * s / 2, cy - (y1 - y0) * s / 2], [cx + (x1 - x0) * s / 2, cy - (y1 - y0) * s / 2],
                      [cx + (x1 - x0) * s / 2, cy + (y1 - y0) * s / 2], [cx - (x1 - x0) * s / 2, cy + (y1 - y0) * s / 2]])
    dst += rng.normal(0, 25, dst.shape).astype(np.float32)
    M = cv2.getPerspectiveTransform(src, dst)
    img = background.copy()
    shadow = cv2.fillConvexPoly(np.zeros((H, W), np.uint8), np.round(dst + 12).astype(np.int32), 255)
    img[shadow > 0] = (img[shadow > 0] * 0.6).astype(np.uint8)
    warped = cv2.warpPerspective(listing, M, (W, H))
    inside = cv2.warpPerspective(np.full((h, w), 255, np.uint8) if not product_only else mask, M, (W, H)) > 0
    img[inside] = warped[inside]
    return img


def listing_frame(rgb: np.ndarray) -> dup.Frame:
    return dup.frame_of(rgb, np.where(listing_mask(rgb).mask > 0, 0, 255).astype(np.uint8))


def photo_frame(rgb: np.ndarray) -> dup.Frame:
    """The photo as the checker's listing comparison sees it: its fingerprint's keypoints."""
    return photo_product_frame(load_image(_png(rgb)), load_thresholds().locate)


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _is_listing(photo: np.ndarray, listing: np.ndarray) -> bool:
    c = dup.compare_frames(photo_frame(photo), listing_frame(listing), LIMITS)
    return c is not None and dup.is_listing_copy(c, LIMITS)


def _is_reuse(a: np.ndarray, b: np.ndarray) -> bool:
    c = dup.compare_frames(dup.frame_of(a), dup.frame_of(b), LIMITS)
    return c is not None and dup.is_reuse(c, LIMITS)


# ---------------------------------------------------------------- the rules
def test_signature_round_trips_and_finds_re_encoded_copies():
    photo = photographed(cover(1), bench(1), 1)
    sig = dup.photo_signature(_decoded(photo))
    assert dup.PhotoSignature.from_bytes(sig.to_bytes()) == sig == dup.PhotoSignature.from_list(sig.to_list())
    other = dup.hash_distance(sig, dup.photo_signature(_decoded(photographed(cover(2), bench(5), 2))))
    rng = np.random.default_rng(0)
    for kind in ("reencode", "resize", "crop", "all"):
        copy = dup.hash_distance(sig, dup.photo_signature(_decoded(attack(photo, kind, rng))))
        assert copy <= LIMITS.candidate_max_distance and copy < other, kind


@pytest.mark.parametrize("kind", ["reencode", "resize", "crop", "all"])
def test_a_copied_photo_is_reuse(kind):
    """#14: the same photo (or a re-encoded, resized or cropped copy) behind two orders is noticed."""
    photo = photographed(cover(3), bench(3), 3)
    copy = _decoded(attack(photo, kind, np.random.default_rng(7)))
    assert _is_reuse(copy, _decoded(photo))


def test_two_shots_of_one_product_on_one_bench_are_not_reuse():
    """#14: genuine photos of the same SKU taken on one bench must not trip photo_reused."""
    listing = cover(4)
    surface = bench(4)
    shots = [_decoded(photographed(listing, surface, seed)) for seed in (10, 11, 12)]
    assert not any(_is_reuse(a, b) for i, a in enumerate(shots) for b in shots[i + 1:])


@pytest.mark.parametrize("kind", ["reencode", "resize", "crop", "all", "screen"])
def test_a_listing_image_passed_as_the_photo_is_found(kind):
    """#14: the listing image itself, re-encoded, resized, cropped or photographed on a screen, is
    photo_is_listing."""
    listing = cover(5)
    rng = np.random.default_rng(3)
    copy = screen_photo(listing, rng) if kind == "screen" else attack(listing, kind, rng)
    assert _is_listing(_decoded(copy), listing)


@pytest.mark.parametrize("plain", [False, True])
def test_a_real_photo_of_a_flat_printed_product_is_not_the_listing(plain):
    """#14: a genuine photo of a printed product matches the listing's print geometrically but must NOT be
    photo_is_listing, on a wooden bench or on a plain one."""
    listing = cover(6)
    for seed in range(3):
        photo = _decoded(photographed(listing, bench(seed, plain=plain), seed))
        c = dup.compare_frames(photo_frame(photo), listing_frame(listing), LIMITS)
        assert c is not None and c.inliers >= LIMITS.min_inliers  # the print is found ...
        assert not dup.is_listing_copy(c, LIMITS)  # ... and still it is a photo of the product


# ---------------------------------------------------------------- in the checker, the station, the audit
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "shop"
    shutil.copytree(SAMPLE_DATA, root, ignore=shutil.ignore_patterns(".packcheck-cache"))
    return root


def _ordered_listing(root: Path, order_id: str) -> Path:
    with open(root / "orders.csv", newline="") as f:
        sku = next(r["sku"] for r in csv.DictReader(f) if r["order_id"] == order_id)
    with open(root / "catalogue.csv", newline="") as f:
        return root / next(r["listing_images"] for r in csv.DictReader(f) if r["sku"] == sku).split(";")[0]


@pytest.mark.parametrize("resized", [False, True])
def test_check_with_its_own_listing_image_is_flagged(demo, tmp_path, resized):
    """#14: `packcheck check ORD --photo <its own listing image>` was PASS (a resized re-encode too)."""
    from packcheck.cli import cli

    listing = _ordered_listing(demo, "ORD-1001")
    photo = listing
    if resized:
        photo = tmp_path / "copy.jpg"
        rgb = load_image(listing, work_side=0).rgb
        Image.fromarray(cv2.resize(rgb, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)).save(photo, quality=70)
    r = CliRunner().invoke(cli, ["check", "ORD-1001", "--data", str(demo), "--photo", str(photo), "--json"])
    assert r.exit_code == 1, r.output
    import json

    v = json.loads(r.stdout)
    assert v["status"] == "FLAG" and "photo_is_listing" in v["reasons"]
    copy = next(c for c in v["checks"] if c["check"] == "is_listing")
    assert f"the photo is the listing image of {copy['sku']} ({listing.name})" in copy["message"]
    assert "retake a real photo" in copy["message"]


def test_the_station_names_the_order_a_reused_photo_belongs_to(demo, tmp_path):
    """#14: a photo reused for another order (a re-encoded copy) gives REVIEW photo_reused naming it; history
    shows it; the evidence keeps every judged photo's hashes."""
    from packcheck.apps.checker import Checker
    from packcheck.apps.evidence.store import EvidenceStore
    from packcheck.apps.station import FolderSource, Station
    from packcheck.cli import cli

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    checker = Checker.open(demo)
    original = (demo / "photos" / "ORD-1001.jpg").read_bytes()
    db = tmp_path / "ev" / "evidence.sqlite"
    with EvidenceStore.open(db) as store:
        st = Station(checker, store, FolderSource(inbox), timeout_s=5)
        (inbox / "ORD-1001.jpg").write_bytes(original)
        first = st.handle("ORD-1001")
        assert "photo_reused" not in first.verdict.reasons
        rgb = load_image(original, work_side=0).rgb
        Image.fromarray(cv2.resize(rgb, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)).save(
            inbox / "ORD-1002.jpg", quality=75)
        second = st.handle("ORD-1002")
        assert second.verdict.status in (Status.REVIEW, Status.FLAG) and "photo_reused" in second.verdict.reasons
        reused = second.verdict.check("reused")
        assert reused.message.startswith(f"the same photo was used for order ORD-1001 (check #{first.record.id}, "
                                         f"station {first.record.station})")
        # The very same file is refused before it is judged (#16's station: one photo proves one parcel):
        # an ERROR naming the order it was recorded for, and nothing of it kept for ORD-1003.
        (inbox / "ORD-1003.jpg").write_bytes(original)
        third = st.handle("ORD-1003")
        assert third.verdict.status is Status.ERROR and third.verdict.reasons == ("photo_of_other_order",)
        assert f"was already used for order ORD-1001 (check #{first.record.id})" in third.verdict.message
        assert len(list(store.photo_signatures())) == 2
        from packcheck.apps.evidence.sheet import render_sheet

        assert render_sheet(store, second.record).shape[1] == 1800  # the sheet says PHOTO REUSED in red
        assert [r[1] for r in store.checks_with_photo(first.record.photo_sha256[0])] == ["ORD-1001"]
    r = CliRunner().invoke(cli, ["history", "--db", str(db)])
    assert r.exit_code == 0
    assert "PHOTO REUSED: the same photo was used for order ORD-1001" in r.stdout


def test_the_audit_marks_both_orders_of_a_reused_photo(demo, tmp_path):
    """#14: in an audit run, two orders behind one photo (one a re-encoded copy) are both REVIEW, each naming
    the other; the other orders are untouched; every row keeps its photos' hashes in the journal."""
    from packcheck.apps.audit.run import AuditConfig, run_audit

    shop = tmp_path / "shop"
    shutil.copytree(demo, shop, ignore=shutil.ignore_patterns(".packcheck-cache"))
    rgb = load_image(shop / "photos" / "ORD-1001.jpg", work_side=0).rgb
    Image.fromarray(rgb).save(shop / "photos" / "ORD-1002.jpg", quality=60)  # ORD-1002's photo replaced
    out = tmp_path / "out" / "results.csv"
    html = tmp_path / "out" / "report.html"
    summary = run_audit(AuditConfig(data_dir=shop, out=out, html=html, workers=1, cache=tmp_path / "cache.sqlite"))
    assert html.read_text().count('<p class="copy"><b>PHOTO REUSED</b>: the same photo was used for order') == 2
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = {r["order_id"]: r for r in csv.DictReader(f)}
    for oid, other in (("ORD-1001", "ORD-1002"), ("ORD-1002", "ORD-1001")):
        assert "photo_reused" in rows[oid]["reasons"].split(";"), rows[oid]
        assert rows[oid]["status"] in ("REVIEW", "FLAG")
        assert f"the same photo was used for order {other}" in rows[oid]["message"]
    assert sum("photo_reused" in r["reasons"] for r in rows.values()) == 2
    assert summary.reasons.get("photo_reused") == 2
    import sqlite3
    import json

    conn = sqlite3.connect(out.with_name(out.name + ".journal"))
    extras = [json.loads(e) for (e,) in conn.execute("SELECT extra FROM rows WHERE status != 'ERROR'")]
    conn.close()
    assert extras and all(e["photo_hashes"] and all(len(h) == 6 for h in e["photo_hashes"]) for e in extras)



def _store_state(db, photos_dir) -> tuple:
    """What an evidence store holds: its rows per table and chain head (and, for SQLite, the file's bytes)."""
    import hashlib

    from packcheck.apps.evidence.store import EvidenceStore

    with EvidenceStore.open(db, create=False, photos_dir=photos_dir) as s:
        rows = tuple(s._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("checks", "check_files", "overrides", "photo_hashes"))
        head = s._chain_head(s._db)
    data = hashlib.sha256(Path(db).read_bytes()).hexdigest() if photos_dir is None else None
    return rows, head, data


def test_the_audit_finds_a_photo_already_used_at_a_station(demo, tmp_path, evidence_db):
    """#18 "the nightly audit cannot see that a photo was already used at another station": with --db, an
    order whose photo (re-encoded and resized) was recorded for another order at a station is REVIEW
    photo_reused naming that order, its check and its station, on SQLite and PostgreSQL; the other orders
    are untouched, and the evidence store is only read (same rows, same chain head, same SQLite bytes).
    Without --db (the old audit) nothing is found."""
    from packcheck.apps.checker import Checker
    from packcheck.apps.evidence.store import EvidenceStore
    from packcheck.apps.station import FolderSource, Station
    from packcheck.cli import cli

    db, photos_dir = evidence_db
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rgb = load_image(demo / "photos" / "ORD-1001.jpg", work_side=0).rgb
    # At bench-2, ORD-1002 is "proved" with ORD-1001's photo, resized and re-encoded.
    Image.fromarray(cv2.resize(rgb, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)).save(
        inbox / "ORD-1002.jpg", quality=75)
    with EvidenceStore.open(db, photos_dir=photos_dir) as store:
        at_station = Station(Checker.open(demo), store, FolderSource(inbox), station="bench-2",
                             timeout_s=5).handle("ORD-1002").record
    before = _store_state(db, photos_dir)

    def audit(out, *db_args):
        r = CliRunner().invoke(cli, ["audit", "--data", str(demo), "--out", str(out), "--workers", "1", "-q",
                                     "--cache", str(tmp_path / "cache.sqlite"), *db_args])
        assert r.exit_code in (0, 1), r.output
        with open(out, encoding="utf-8-sig", newline="") as f:
            return {row["order_id"]: row for row in csv.DictReader(f)}

    plain = audit(tmp_path / "plain.csv")
    assert not any("photo_reused" in row["reasons"] for row in plain.values())
    db_args = ["--db", str(db)] + (["--photos-dir", str(photos_dir)] if photos_dir else [])
    rows = audit(tmp_path / "with-db.csv", *db_args)
    hit = rows["ORD-1001"]
    assert hit["status"] in ("REVIEW", "FLAG") and "photo_reused" in hit["reasons"].split(";")
    assert (f"the same photo was used for order ORD-1002 (check #{at_station.id}, station bench-2): "
            "photograph this parcel") in hit["message"]
    changed = [oid for oid in rows if rows[oid] != plain[oid] and oid != "ORD-1001"]
    assert [rows[oid]["status"] for oid in changed] == [plain[oid]["status"] for oid in changed]  # seconds only
    assert not any("photo_reused" in rows[oid]["reasons"] for oid in rows if oid != "ORD-1001")
    assert _store_state(db, photos_dir) == before


def test_the_listing_image_dropped_in_the_station_inbox_is_recorded_as_flag(demo, tmp_path):
    """#14: the listing image dropped into the station inbox was recorded as PASS."""
    from packcheck.apps.checker import Checker
    from packcheck.apps.evidence.store import EvidenceStore
    from packcheck.apps.station import FolderSource, Station

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    listing = _ordered_listing(demo, "ORD-1001")
    (inbox / "ORD-1001.jpg").write_bytes(listing.read_bytes())
    with EvidenceStore.open(tmp_path / "evidence.sqlite") as store:
        out = Station(Checker.open(demo), store, FolderSource(inbox), timeout_s=5).handle("ORD-1001")
        assert out.record.status is Status.FLAG and "photo_is_listing" in out.record.reasons
        assert store.get_check(out.record.id).verdict["checks"][-1]["check"] == "is_listing"


def test_a_stored_listing_frame_round_trips_and_compares_the_same():
    """#19: a listing frame read back from its bytes holds equal arrays and gives the same comparison."""
    listing = cover(6)
    image = load_image(_png(listing))
    fresh = dup.listing_frame(image)
    back = dup.frame_from_bytes(dup.frame_to_bytes(fresh))
    for name in ("grey", "background", "chroma"):
        assert np.array_equal(getattr(back, name), getattr(fresh, name)), name
        assert getattr(back, name).dtype == getattr(fresh, name).dtype, name
    assert np.array_equal(back.keypoints.points, fresh.keypoints.points)
    assert np.array_equal(back.keypoints.descriptors, fresh.keypoints.descriptors)
    assert back.keypoints.size == fresh.keypoints.size and len(fresh.keypoints) >= LIMITS.min_inliers
    photo = photo_frame(_decoded(attack(listing, "all", np.random.default_rng(3))))
    assert dup.compare_frames(photo, back, LIMITS) == dup.compare_frames(photo, fresh, LIMITS) is not None


def _count_frames(monkeypatch) -> list:
    """Every :func:`~packcheck.core.duplicates.frame_of` call from now on, by the size of its picture."""
    calls, real = [], dup.frame_of
    monkeypatch.setattr(dup, "frame_of", lambda rgb, background=None: calls.append(rgb.shape) or real(rgb, background))
    return calls


def test_a_second_checker_computes_no_listing_frame(demo, tmp_path, monkeypatch):
    """#19: the listing frames are made once, with the index, and kept in its store: a Checker opened later
    on the same data folder (another audit, a station restart) flags its listing image without making
    one, with the same finding as a frame computed on the spot."""
    from packcheck.apps.checker import Checker
    from packcheck.apps.duplicates import CopyFinder

    cache = tmp_path / "cache.sqlite"
    calls = _count_frames(monkeypatch)
    first = Checker.open(demo, cache=cache)
    listings = sum(len(item.listing_images) for item in first.catalogue.items.values())
    assert len(calls) == listings  # made by the index, once per listing image
    photo = _ordered_listing(demo, "ORD-1001")
    calls.clear()
    again = Checker.open(demo, cache=cache)
    verdict = again.check_id("ORD-1001", photos=[photo])
    assert calls == [] and "photo_is_listing" in verdict.reasons
    fresh = Checker.open(demo, cache=cache)
    fresh._copies = CopyFinder(fresh.catalogue, fresh.thresholds.duplicates)  # no store: computed here
    computed = fresh.check_id("ORD-1001", photos=[photo])
    assert calls and computed.check("is_listing") == verdict.check("is_listing")


def test_a_changed_listing_image_gets_a_new_frame(demo, tmp_path, monkeypatch):
    """#19: a listing frame is kept by the image's content: an edited listing image (same path) gets a
    frame of its own the next time it is compared, and that one is stored too."""
    from packcheck.apps.checker import Checker

    shop = tmp_path / "shop"
    shutil.copytree(demo, shop, ignore=shutil.ignore_patterns(".packcheck-cache"))
    cache = tmp_path / "cache.sqlite"
    Checker.open(shop, cache=cache)  # the index and every listing frame
    listing = _ordered_listing(shop, "ORD-1001")
    photo = tmp_path / "photo.png"
    photo.write_bytes(listing.read_bytes())
    edited = cv2.flip(load_image(listing, work_side=0).rgb, 1)
    Image.fromarray(edited).save(listing)
    calls = _count_frames(monkeypatch)
    checker = Checker.open(shop, cache=cache)  # the index makes the edited image's frame
    assert len(calls) == 1
    checker._copies = None
    from packcheck.store.fingerprints import FingerprintStore

    store = FingerprintStore(cache)
    assert store.frame(store.digest(listing)) is not None
    verdict = checker.check_id("ORD-1001", photos=[photo])  # the old listing is no longer the listing
    assert len(calls) == 1 and "photo_is_listing" not in verdict.reasons


def test_a_listing_frame_missing_from_the_store_is_made_once_and_stored(demo, tmp_path, monkeypatch):
    """#19: a store without the frame (a large catalogue's index makes none) gets it on first need; the
    next CopyFinder on that store reads it."""
    from packcheck.apps.checker import Checker
    from packcheck.apps.duplicates import CopyFinder
    from packcheck.store.fingerprints import FingerprintStore

    checker = Checker.open(demo, cache=tmp_path / "cache.sqlite")
    photo = _ordered_listing(demo, "ORD-1001")
    order = checker.find("ORD-1001")
    calls = _count_frames(monkeypatch)
    store = FingerprintStore(tmp_path / "frames-only.sqlite")
    found = []
    for _ in range(2):
        checker._copies = CopyFinder(checker.catalogue, checker.thresholds.duplicates, store=store)
        found.append(checker.check(order, photos=[photo]).check("is_listing"))
    # One frame made: the photo is the SKU's first listing image, so the others are never compared.
    assert len(calls) == 1 and found[0] == found[1] is not None
    assert len(store.has_frames([store.digest(photo)])) == 1


def test_the_run_pass_decodes_only_candidates_whose_files_differ():
    """#19: the audit's reuse pass asks for a photo's frame only when another order's photo is near by hash
    and is not the same file: the same file twice is found from the SHA-256 alone, a far photo never
    decoded."""
    from packcheck.apps.duplicates import find_reuse_in_run

    photo = _decoded(photographed(cover(7), bench(7), 7))
    copy = _decoded(attack(photo, "reencode", np.random.default_rng(1)))
    other = 255 - photo  # its negative: every hash bit flips
    rgb = {"a.jpg": photo, "copy.jpg": copy, "other.jpg": other}
    sig = {name: dup.photo_signature(img) for name, img in rgb.items()}
    assert dup.hash_distance(sig["a.jpg"], sig["other.jpg"]) > LIMITS.candidate_max_distance
    loads = []

    def load(path, sha):
        loads.append((path, sha))
        return dup.frame_of(rgb[path])

    same = [("O1", "a.jpg", "sha-a", sig["a.jpg"]), ("O2", "a.jpg", "sha-a", sig["a.jpg"]),
            ("O3", "other.jpg", "sha-o", sig["other.jpg"])]
    found = find_reuse_in_run(same, load, LIMITS)
    assert loads == [] and sorted(found) == ["O1", "O2"]
    found = find_reuse_in_run([*same, ("O4", "copy.jpg", "sha-c", sig["copy.jpg"])], load, LIMITS)
    assert sorted(loads) == [("a.jpg", "sha-a"), ("copy.jpg", "sha-c")]  # each once, never other.jpg
    assert sorted(found) == ["O1", "O2", "O4"]


def test_bench_reports_listing_copies_per_set():
    """#14 measurement: screen photos of a listing with a white background around its product and of a
    full-bleed cover are told apart in `bench duplicates`' report (one overall rate hid the difference)."""
    from packcheck.tooling.bench.duplicates import format_report

    report = {"sets": {}, "seconds": 1.0, "copies": {"photo_is_listing, screen": {
        "n": 4, "hits": 2, "rate": 0.5, "by_set": {"a/manifest.csv": {"n": 2, "hits": 2, "rate": 1.0},
                                                   "b/manifest.csv": {"n": 2, "hits": 0, "rate": 0.0}}}}}
    lines = format_report(report).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("photo_is_listing, screen"))
    assert lines[at].split()[-3:] == ["4", "2", "50.0%"]
    assert lines[at + 1].split() == ["of", "a/manifest.csv", "2", "2", "100.0%"]
    assert lines[at + 2].split() == ["of", "b/manifest.csv", "2", "0", "0.0%"]
