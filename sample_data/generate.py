"""Rebuild everything in sample_data/ from packcheck.tooling.synth.

Usage::

    python sample_data/generate.py            # writes next to this script
    python sample_data/generate.py --out DIR  # writes somewhere else

The output is byte-identical on every run with the same library versions
(numpy, OpenCV, Pillow, scikit-image): every random choice comes from a fixed
seed below. The generated folders (listings/, photos/, stations/) are deleted
and rewritten; README.md and this script are left alone.

The expected outcome of each order is design intent for the packcheck core:
see README.md for what each scene shows.
"""
from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from packcheck.tooling import synth

PHOTO_SIZE = (1280, 960)      # (width, height) of packing photos
LISTING_SIZE = 800            # front listing image, square
LISTING_ALT_SIZE = 700        # second ("angled") listing image, square

# sku: (product_id, title, product, variant, weight_g, n_listing_images)
CATALOGUE = {
    "TS-ROCKET-BLK": ("P-TSHIRT", "Rocket Club T-shirt, black", "tshirt", "black", 180, 2),
    "TS-ROCKET-WHT": ("P-TSHIRT", "Rocket Club T-shirt, white", "tshirt", "white", 180, 2),
    "TS-ROCKET-NVY": ("P-TSHIRT", "Rocket Club T-shirt, navy", "tshirt", "navy", 180, 2),
    "TS-ROCKET-YEL": ("P-TSHIRT", "Rocket Club T-shirt, yellow", "tshirt", "yellow", 180, 2),
    "TR-CHINO-RED": ("P-CHINO", "Pack&Co chino trousers, red", "trousers", "red", 520, 1),
    "TR-CHINO-GRN": ("P-CHINO", "Pack&Co chino trousers, green", "trousers", "green", 520, 1),
    "TR-CHINO-BLU": ("P-CHINO", "Pack&Co chino trousers, blue", "trousers", "blue", 520, 1),
    "MUG-GM-WHT": ("P-MUG", "Good Morning mug, white", "mug", "white", 350, 2),
    "MUG-GM-RED": ("P-MUG", "Good Morning mug, red", "mug", "red", 350, 2),
    "PHN-PX1-GRA": ("P-PX1", "PX1 smartphone, graphite", "phone", "graphite", 190, 2),
    "CHG-20W-WHT": ("P-CHG20", "20 W USB-C charger, white", "charger", "white", 60, 1),
    "CBL-USBC-WHT": ("P-CBLC", "USB-C to USB-A cable 1 m, white", "cable", "white", 40, 1),
    "KIT-PX1-GRA": ("P-KIT-PX1", "PX1 starter kit: phone, charger and cable, graphite", None, "graphite", 290, 1),
    "TWL-STRIPE-BLU": ("P-TOWEL", "Striped bath towel, blue", "towel", "blue", 450, 1),
    "TWL-STRIPE-GRY": ("P-TOWEL", "Striped bath towel, grey", "towel", "grey", 450, 1),
    "SNK-RUN-RED": ("P-SNEAKER", "Run sneaker, red", "sneaker", "red", 780, 2),
    "SNK-RUN-BLK": ("P-SNEAKER", "Run sneaker, black", "sneaker", "black", 780, 2),
    "BTL-HYDRO-GRN": ("P-BOTTLE", "Hydro insulated bottle 750 ml, green", "bottle", "green", 340, 2),
    "BTL-HYDRO-ORG": ("P-BOTTLE", "Hydro insulated bottle 750 ml, orange", "bottle", "orange", 340, 2),
    "CER-CATCR-HNY": ("P-CEREAL", "Cat Crunch cereal 375 g, honey", "cereal", "honey", 420, 1),
    "CAP-PK-BLK": ("P-CAP", "PK baseball cap, black", "cap", "black", 110, 1),
    "CAP-PK-RED": ("P-CAP", "PK baseball cap, red", "cap", "red", 110, 1),
    "HP-PK-BLU": ("P-HEADPHONES", "PK over-ear headphones, blue", "headphones", "blue", 250, 1),
}
KIT = "KIT-PX1-GRA"
KIT_COMPONENTS = [("PHN-PX1-GRA", 1), ("CHG-20W-WHT", 1), ("CBL-USBC-WHT", 1)]

# name: (station_seed, surface, in_box, write an empty reference?)
# Named stations appear in orders.csv's `station` column and have
# stations/<name>/empty.jpg. The unnamed ones are other benches (no reference).
STATIONS = {
    "bench-1": (101, "wood", False, True),
    "bench-2": (102, "mat", True, True),
    "bench-3": (103, "cardboard", False, True),
    "_other-4": (204, "wood", True, False),
    "_other-5": (205, "mat", False, False),
    "_other-6": (206, "wood", False, False),
}


@dataclass
class Shot:
    """One packing photo: what is on the bench and how it is photographed."""

    skus: list                      # SKUs physically in the photo (repeat for qty)
    seed: int
    hand: bool = False
    clutter: object = None          # None random, int count, or list of names
    coverage: tuple = (0.25, 0.5)
    dark: bool = False
    blurred: bool = False
    empty: bool = False
    exif: int | None = None
    quality: int = 85
    truncate: float | None = None   # keep this fraction of the JPEG bytes
    apart: bool = False             # lay the items out with a gap between them (countable pieces)


@dataclass
class Order:
    order_id: str
    lines: list                     # [(sku, qty)]
    shots: list
    station: str                    # key of STATIONS
    status: str
    reason: str = ""
    packed: list = field(default_factory=list)  # [(component, count)]
    photo_row: int = 0              # which line item carries the photo cell
    weight_g: float | None = None   # packed_weight_g: what the bench scale measured


PHONE, CHARGER, CABLE = "PHN-PX1-GRA", "CHG-20W-WHT", "CBL-USBC-WHT"

ORDERS = [
    # --- PASS: the right item and variant --------------------------------
    Order("ORD-1001", [("TS-ROCKET-NVY", 1)], [Shot(["TS-ROCKET-NVY"], 1, hand=True, clutter=2)],
          "bench-1", "PASS", packed=[("TS-ROCKET-NVY", 1)]),
    Order("ORD-1002", [("MUG-GM-RED", 1)], [Shot(["MUG-GM-RED"], 2, clutter=2, exif=6, quality=84)],
          "_other-4", "PASS"),
    Order("ORD-1003", [("SNK-RUN-BLK", 1)], [Shot(["SNK-RUN-BLK"], 3, hand=True, clutter=1, quality=82)],
          "bench-2", "PASS"),
    Order("ORD-1004", [("BTL-HYDRO-ORG", 1)], [Shot(["BTL-HYDRO-ORG"], 4, clutter=2, exif=8, quality=86)],
          "_other-5", "PASS"),
    # multi-line order: 2 x blue trousers + 1 red cap; photo on the 2nd row; laid out apart, so
    # the bench-1 reference photo counts three pieces
    Order("ORD-1005", [("TR-CHINO-BLU", 2), ("CAP-PK-RED", 1)],
          [Shot(["TR-CHINO-BLU", "TR-CHINO-BLU", "CAP-PK-RED"], 5, clutter=1, coverage=(0.5, 0.6), apart=True)],
          "bench-1", "PASS", packed=[("TR-CHINO-BLU", 2), ("CAP-PK-RED", 1)], photo_row=1),
    # two photos of one order
    Order("ORD-1006", [("TWL-STRIPE-GRY", 1)],
          [Shot(["TWL-STRIPE-GRY"], 6, clutter=0, quality=87), Shot(["TWL-STRIPE-GRY"], 60, hand=True, clutter=1)],
          "bench-3", "PASS"),
    # complete kit, its three pieces laid apart (the count sees all three)
    Order("ORD-1007", [(KIT, 1)],
          [Shot([PHONE, CHARGER, CABLE], 7, hand=True, clutter=0, coverage=(0.3, 0.4), apart=True)],
          "bench-2", "PASS", packed=[(PHONE, 1), (CHARGER, 1), (CABLE, 1)]),
    Order("ORD-1008", [("CER-CATCR-HNY", 1)], [Shot(["CER-CATCR-HNY"], 8, clutter=1, quality=88)],
          "_other-6", "PASS"),
    Order("ORD-1009", [("HP-PK-BLU", 1)], [Shot(["HP-PK-BLU"], 9, hand=True, clutter=1)],
          "bench-3", "PASS"),
    Order("ORD-1010", [("CHG-20W-WHT", 1)], [Shot(["CHG-20W-WHT"], 10, clutter=2, coverage=(0.2, 0.3))],
          "_other-4", "PASS"),
    # --- FLAG wrong_item: a different product was packed -----------------
    Order("ORD-1011", [("BTL-HYDRO-GRN", 1)], [Shot(["CAP-PK-BLK"], 11, clutter=1)],
          "_other-5", "FLAG", "wrong_item"),
    Order("ORD-1012", [("CER-CATCR-HNY", 1)], [Shot(["TWL-STRIPE-BLU"], 12, hand=True, clutter=1)],
          "bench-1", "FLAG", "wrong_item"),
    Order("ORD-1013", [("MUG-GM-WHT", 1)], [Shot(["SNK-RUN-RED"], 13, hand=True, clutter=0, quality=83)],
          "bench-2", "FLAG", "wrong_item"),
    # --- FLAG wrong_variant: a sibling colour was packed ------------------
    # (the packer scanned the ordered SKU; the photo shows otherwise)
    Order("ORD-1014", [("TR-CHINO-GRN", 1)], [Shot(["TR-CHINO-RED"], 14, clutter=1)],
          "bench-3", "FLAG", "wrong_variant", packed=[("TR-CHINO-GRN", 1)]),
    Order("ORD-1015", [("TS-ROCKET-YEL", 1)], [Shot(["TS-ROCKET-BLK"], 15, hand=True, clutter=1, exif=6)],
          "_other-6", "FLAG", "wrong_variant"),
    Order("ORD-1016", [("CAP-PK-BLK", 1)], [Shot(["CAP-PK-RED"], 16, clutter=2, coverage=(0.3, 0.45))],
          "bench-1", "FLAG", "wrong_variant"),
    # --- FLAG missing_component: kit without the charger ----------------
    Order("ORD-1017", [(KIT, 1)], [Shot([PHONE, CABLE], 17, clutter=0, coverage=(0.3, 0.4), apart=True)],
          "bench-2", "FLAG", "missing_component", packed=[(PHONE, 1), (CABLE, 1)]),
    Order("ORD-1018", [(KIT, 1)], [Shot([PHONE, CABLE], 18, hand=True, clutter=0, coverage=(0.3, 0.4), apart=True)],
          "_other-4", "FLAG", "missing_component", packed=[(PHONE, 1), (CHARGER, 0), (CABLE, 1)]),
    # --- REVIEW retake_photo: the photo cannot be judged ------------------
    Order("ORD-1019", [("TS-ROCKET-WHT", 1)], [Shot(["TS-ROCKET-WHT"], 19, clutter=1, dark=True)],
          "bench-3", "REVIEW", "retake_photo"),
    Order("ORD-1020", [("SNK-RUN-RED", 1)], [Shot(["SNK-RUN-RED"], 20, clutter=1, blurred=True)],
          "_other-5", "REVIEW", "retake_photo"),
    Order("ORD-1021", [("TR-CHINO-RED", 1)], [Shot([], 21, clutter=["packing_slip"], empty=True)],
          "bench-1", "REVIEW", "retake_photo"),
    # --- ERROR photo_unreadable: the upload was cut off -----------------
    Order("ORD-1022", [("CAP-PK-BLK", 1)], [Shot(["CAP-PK-BLK"], 22, clutter=1, truncate=0.3)],
          "_other-6", "ERROR", "photo_unreadable"),
    # --- more PASS --------------------------------------------------------
    Order("ORD-1023", [("TS-ROCKET-BLK", 1)], [Shot(["TS-ROCKET-BLK"], 23, hand=True, clutter=1)],
          "bench-2", "PASS"),
    Order("ORD-1024", [("TWL-STRIPE-BLU", 1)], [Shot(["TWL-STRIPE-BLU"], 24, clutter=2, quality=81)],
          "_other-6", "PASS"),
    # --- the weight set: packed.csv's packed_weight_g against the pieces' weight_g ----------
    # (kit = phone 190 g + charger 60 g + cable 40 g; limits: [weight] of the thresholds file)
    # genuine: the complete kit, scanned and weighed
    Order("ORD-1025", [(KIT, 1)], [Shot([PHONE, CHARGER, CABLE], 25, clutter=0, coverage=(0.3, 0.4), apart=True)],
          "bench-2", "PASS", packed=[(PHONE, 1), (CHARGER, 1), (CABLE, 1)], weight_g=291),
    # missing component, seen only by the scale: photographed complete and scanned complete, but the
    # closed box is 59 g light: the charger's weight (the FLAG names it)
    Order("ORD-1026", [(KIT, 1)], [Shot([PHONE, CHARGER, CABLE], 26, clutter=0, coverage=(0.3, 0.4), apart=True)],
          "bench-2", "FLAG", "weight_short", packed=[(PHONE, 1), (CHARGER, 1), (CABLE, 1)], weight_g=231),
    # extra item: one T-shirt ordered and photographed, a second one under it in the box (362 g)
    Order("ORD-1027", [("TS-ROCKET-NVY", 1)], [Shot(["TS-ROCKET-NVY"], 27, clutter=0, coverage=(0.35, 0.45))],
          "bench-1", "FLAG", "weight_over", packed=[("TS-ROCKET-NVY", 1)], weight_g=362),
    # within tolerance: a 350 g mug weighed at 361 g (box tape, a packing slip), nothing scanned
    Order("ORD-1028", [("MUG-GM-RED", 1)], [Shot(["MUG-GM-RED"], 28, clutter=1, coverage=(0.3, 0.4))],
          "bench-3", "PASS", weight_g=361),
]


def _write_csv(path: Path, header: list, rows: list) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _product(sku: str) -> tuple[str, str]:
    _, _, product, variant, _, _ = CATALOGUE[sku]
    return product, variant


def _labels() -> list:
    """Labelled pairs for ``packcheck calibrate --labels labels.csv --data sample_data``.

    Every usable photo of a single product is a ``match`` against its own SKU, a
    ``wrong_variant`` against each sibling and a ``wrong_item`` against three other
    products (the first three in catalogue order), so the demo shop can be
    calibrated too. Dark, blurred, empty, cut-off and multi-item photos are left out.
    """
    rows = []
    skus = [s for s in CATALOGUE if s != KIT]
    for o in ORDERS:
        for k, sh in enumerate(o.shots):
            if len(set(sh.skus)) != 1 or sh.dark or sh.blurred or sh.empty or sh.truncate is not None:
                continue
            sku = sh.skus[0]
            pid = CATALOGUE[sku][0]
            suffix = "" if len(o.shots) == 1 else f"_{chr(ord('a') + k)}"
            photo = f"photos/{o.order_id}{suffix}.jpg"
            rows.append([photo, sku, "match"])
            rows += [[photo, s, "wrong_variant"] for s in skus if s != sku and CATALOGUE[s][0] == pid]
            rows += [[photo, s, "wrong_item"] for s in [s for s in skus if CATALOGUE[s][0] != pid][:3]]
    return rows


def build(out: Path) -> None:
    """Write the whole sample data folder into ``out``."""
    t0 = time.time()
    for sub in ("listings", "photos", "stations"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    # catalogue + listing images
    cat_rows = []
    for sku, (pid, title, product, variant, weight, n_img) in CATALOGUE.items():
        paths = []
        if sku == KIT:
            rel = f"listings/{sku}_1.jpg"
            img = synth.render_listing_group([_product(c) for c, _ in KIT_COMPONENTS], size=LISTING_SIZE)
            synth.save_jpeg(out / rel, img, quality=90)
            paths.append(rel)
        else:
            rel = f"listings/{sku}_1.jpg"
            synth.save_jpeg(out / rel, synth.render_listing(product, variant, size=LISTING_SIZE), quality=90)
            paths.append(rel)
            if n_img > 1:
                rel = f"listings/{sku}_2.jpg"
                img = synth.render_listing(product, variant, size=LISTING_ALT_SIZE, shot="angled")
                synth.save_jpeg(out / rel, img, quality=90)
                paths.append(rel)
        cat_rows.append([sku, pid, title, variant, ";".join(paths), weight])
    _write_csv(out / "catalogue.csv", ["sku", "product_id", "title", "variant", "listing_images", "weight_g"],
               cat_rows)
    _write_csv(out / "components.csv", ["sku", "component", "qty_per_unit"],
               [[KIT, c, q] for c, q in KIT_COMPONENTS])

    # empty-station references
    for name, (seed, surface, in_box, ref) in STATIONS.items():
        if ref:
            img = synth.render_empty_station(seed, size=PHOTO_SIZE, surface=surface, in_box=in_box, shot_seed=1)
            synth.save_jpeg(out / "stations" / name / "empty.jpg", img, quality=88)

    # orders, photos, packed declarations, expected outcomes
    order_rows, packed_rows, expected_rows = [], [], []
    for o in ORDERS:
        seed, surface, in_box, _ = STATIONS[o.station]
        photos = []
        for k, sh in enumerate(o.shots):
            img = synth.render_scene([_product(s) for s in sh.skus], seed=1000 + sh.seed, size=PHOTO_SIZE,
                                     station_seed=seed, surface=surface, in_box=in_box, hand=sh.hand,
                                     clutter=sh.clutter, coverage=sh.coverage, dark=sh.dark,
                                     blurred=sh.blurred, empty=sh.empty, apart=sh.apart)
            suffix = "" if len(o.shots) == 1 else f"_{chr(ord('a') + k)}"
            rel = f"photos/{o.order_id}{suffix}.jpg"
            if sh.truncate is None:
                synth.save_jpeg(out / rel, img, quality=sh.quality, exif_orientation=sh.exif)
            else:
                # a realistic failed upload: the file stops part-way through the scan data
                tmp = io.BytesIO()
                from PIL import Image
                Image.fromarray(img).save(tmp, "JPEG", quality=sh.quality, optimize=True)
                data = tmp.getvalue()
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_bytes(data[:int(len(data) * sh.truncate)])
            photos.append(rel)
        station = "" if o.station.startswith("_") else o.station
        for i, (sku, qty) in enumerate(o.lines):
            order_rows.append([o.order_id, sku, qty, ";".join(photos) if i == o.photo_row else "", station])
        # the weight goes on the order's first packed row, or on a row of its own (no scan)
        weight = "" if o.weight_g is None else f"{o.weight_g:g}"
        for i, (comp, n) in enumerate(o.packed):
            packed_rows.append([o.order_id, comp, n, weight if i == 0 else ""])
        if weight and not o.packed:
            packed_rows.append([o.order_id, "", "", weight])
        expected_rows.append([o.order_id, o.status, o.reason])
    _write_csv(out / "orders.csv", ["order_id", "sku", "qty", "photo", "station"], order_rows)
    _write_csv(out / "packed.csv", ["order_id", "component", "count", "packed_weight_g"], packed_rows)
    _write_csv(out / "expected.csv", ["order_id", "status", "reason"], expected_rows)
    _write_csv(out / "labels.csv", ["photo", "sku", "label"], _labels())

    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e6:.2f} MB, {len(ORDERS)} orders) in {time.time() - t0:.1f} s")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: next to this script)")
    args = ap.parse_args(argv)
    build(args.out)


if __name__ == "__main__":
    main()
