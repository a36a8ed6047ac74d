"""Typed records the layers hand each other: plain data, no I/O.

* the catalogue and the orders (:class:`Catalogue`, :class:`CatalogueItem`,
  :class:`Order`, :class:`OrderLine`), which :mod:`packcheck.store.dataset`
  reads from a data folder's CSVs and the checks read by field;
* where the product is in a photo (:class:`Location`, with its mask, and
  :class:`LocationSummary`, without it, which a fingerprint keeps);
* what each check found besides its score: one frozen record per check
  (:class:`ItemDetails`, :class:`VariantDetails`, :class:`ComponentDetails`,
  :class:`CountDetails`, :class:`QualityDetails`, :class:`WeightDetails`), read by field in the audit,
  the report and the evidence store. ``to_dict()`` gives each one's JSON form
  (``Verdict.to_dict``): the same names and values the JSON always had.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CatalogueItem:
    sku: str
    product_id: str
    title: str
    variant: str
    listing_images: tuple[Path, ...]
    weight_g: float | None = None

    @property
    def label(self) -> str:
        """How people name it: "Trousers (red)"; the title alone when it already names the variant.

        >>> CatalogueItem("S", "P", "T-shirt, navy", "navy", ()).label, CatalogueItem("S", "P", "Mug", "red", ()).label
        ('T-shirt, navy', 'Mug (red)')
        """
        if not self.variant or re.search(rf"(?<!\w){re.escape(self.variant)}(?!\w)", self.title, re.IGNORECASE):
            return self.title
        return f"{self.title} ({self.variant})"


@dataclass(frozen=True)
class OrderLine:
    sku: str
    qty: int
    row: int


@dataclass(frozen=True)
class Order:
    """One order: its line items, photos and what was packed.

    ``problems`` holds the :class:`DataError` messages of this order's rows; an order
    with problems is reported as ERROR without being judged.
    """

    order_id: str
    lines: tuple[OrderLine, ...]
    photos: tuple[Path, ...]
    station: str | None = None
    packed: tuple[tuple[str, int], ...] | None = None  # None: not recorded
    packed_weight_g: float | None = None
    problems: tuple[str, ...] = ()
    first_row: int = 0

    @property
    def skus(self) -> tuple[str, ...]:
        return tuple(line.sku for line in self.lines)


@dataclass
class Catalogue:
    items: dict[str, CatalogueItem]
    components: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    #: Grams per piece of a component, from components.csv's optional ``weight_g`` column.
    component_weights: dict[str, float] = field(default_factory=dict)

    def unit_weight(self, piece: str) -> float | None:
        """Grams of one piece: components.csv's ``weight_g``, else the catalogue's row of that SKU, else None."""
        if piece in self.component_weights:
            return self.component_weights[piece]
        item = self.items.get(piece)
        return item.weight_g if item else None

    def bill_of_materials(self, sku: str) -> tuple[tuple[str, int], ...]:
        """(component, qty per unit); a SKU without rows is one piece of itself, named by its SKU
        (what a packer scans)."""
        return self.components.get(sku) or ((sku, 1),)

    def siblings(self, sku: str) -> list[str]:
        """Other SKUs of the same listing (same ``product_id``)."""
        pid = self.items[sku].product_id
        return [s for s, it in self.items.items() if it.product_id == pid and s != sku]


# ---------------------------------------------------------------- where the product is
@dataclass(frozen=True)
class Location:
    """Where the product is in a photo.

    Attributes
    ----------
    bbox : (x0, y0, x1, y1) in pixels of the image passed in; the whole frame if not found.
    mask : (H, W) uint8, 255 on product pixels (the whole frame if not found).
    found : whether a product region separate from the background was found.
    n_items : separate items counted on the surface (0 when nothing was found).
    fraction : share of the frame the product mask covers.
    method : "reference" (empty-station photo), "border" (surface learnt from the
        frame's edge), "alpha"/"background" (listing images), "empty" (nothing but
        a bare surface) or "none" (a busy scene where nothing could be singled out).
    item_boxes : bounding boxes of the individual items, largest first.
    """

    bbox: tuple[int, int, int, int]
    mask: np.ndarray
    found: bool
    n_items: int
    fraction: float
    method: str
    item_boxes: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True)
class LocationSummary:
    """A :class:`Location` without its mask: what a fingerprint keeps of where the product was.

    ``bbox`` is in pixels of the work image; ``method`` as :attr:`Location.method`.
    """

    bbox: tuple[int, int, int, int]
    found: bool
    n_items: int
    fraction: float
    method: str

    @classmethod
    def of(cls, loc: Location) -> "LocationSummary":
        return cls(tuple(int(v) for v in loc.bbox), bool(loc.found), int(loc.n_items), float(loc.fraction),
                   str(loc.method))


# ---------------------------------------------------------------- what each check found
def _plain(v):
    """JSON-ready: tuples as lists, numpy scalars as Python numbers."""
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if hasattr(v, "item"):
        return v.item()
    return v


@dataclass(frozen=True)
class SignalValues:
    """One number per fused signal (None: the signal is off), in the order reports list signals."""

    embedding: float | None = None
    keypoints: float | None = None
    colour: float | None = None
    hash: float | None = None

    def items(self) -> list[tuple[str, float]]:
        """(signal, value) of the signals that are on."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]


@dataclass(frozen=True)
class ItemDetails:
    """The item check's evidence: the ordered product's best row (listing image or reference photo)
    and, per signal, its feature (``z``), raw score and log-odds contribution (``evidence``); the
    SKU the photo looks most like besides the ordered ones (``nearest_sku``, a sibling included)
    and the best other product (``nearest_product``); the signal that decided."""

    own_fused: float
    listing_image: str
    z: SignalValues
    raw: SignalValues
    nearest_sku: str | None = None
    nearest_fused: float | None = None
    nearest_image: str | None = None
    decided_by: str | None = None
    evidence: SignalValues = SignalValues()  # each signal's log-odds contribution to own_fused
    matched_sku: str | None = None  # whose row matched best: the ordered SKU or a sibling variant
    matched_reference: bool = False  # the row is an enrolled reference photo, not a listing image
    conclusive: bool = False  # keypoint geometry decided (a conclusive match, see packcheck.core.scoring)
    nearest_product: str | None = None  # the best SKU of another product (not a sibling): the item score's rival

    def to_dict(self) -> dict:
        d = {"own_fused": self.own_fused, "listing_image": self.listing_image}
        d.update((f"z_{s}", v) for s, v in self.z.items())
        d.update((f"raw_{s}", v) for s, v in self.raw.items())
        d.update((f"evidence_{s}", v) for s, v in self.evidence.items())
        if self.nearest_sku is not None:
            d.update(nearest_sku=self.nearest_sku, nearest_fused=self.nearest_fused, nearest_image=self.nearest_image)
        d.update(decided_by=self.decided_by, matched_sku=self.matched_sku, matched_reference=self.matched_reference,
                 conclusive=self.conclusive, nearest_product=self.nearest_product)
        return {k: _plain(v) for k, v in d.items()}


@dataclass(frozen=True)
class VariantDetails:
    """The variant check's evidence: colour distances to the ordered variant and the nearest
    sibling, and the three colours a report shows as swatches, in CIE L*a*b* (D65; L* 0-100,
    see :func:`packcheck.core.colour.cie_lab`)."""

    distance_ordered: float
    distance_sibling: float
    nearest_sibling: str
    ordered_lab: tuple[float, float, float]
    sibling_lab: tuple[float, float, float]
    found_lab: tuple[float, float, float]
    colour_position: float | None = None  # +1 the ordered colour, -1 the sibling's
    lead: float | None = None  # the ordered SKU's fused score minus the sibling's

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ComponentDetails:
    """The component check's evidence, as text: ``"CHG-20W x1, CASE x1"``; ``missing`` and ``extra``
    are None when nothing was recorded as packed."""

    expected: str
    packed: str
    missing: str | None = None
    extra: str | None = None

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class CountDetails:
    """The count check's evidence: separate items on the bench, pieces the order has, and how they
    were counted ("reference": against the empty-bench photo; "border": without one, less reliable)."""

    items_seen: int
    pieces_expected: int
    method: str = "reference"

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class WeightDetails:
    """The weight check's evidence, in grams: what the order's pieces weigh (``expected``, with
    ``pieces`` saying how, e.g. ``"PHN-PX1-GRA 190 g x1, CHG-20W-WHT 60 g x1"``), what the scale
    measured, the difference (measured - expected), the limits either side, and ``likely``: the
    piece whose weight explains the difference, if one does (e.g. ``"CHG-20W-WHT x1 missing"``)."""

    expected_g: float | None
    measured_g: float
    difference_g: float | None
    review_beyond_g: float | None
    flag_beyond_g: float | None
    pieces: str
    likely: str | None = None

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class QualityDetails:
    """The quality check's measures, one per photo of the order."""

    brightness: tuple[float, ...]
    sharpness: tuple[float, ...]

    def to_dict(self) -> dict:
        return {f"photo{n}_{name}": _plain(v) for n, pair in enumerate(zip(self.brightness, self.sharpness), 1)
                for name, v in zip(("brightness", "sharpness"), pair)}


@dataclass(frozen=True)
class DuplicateDetails:
    """Why a photo is a copy (:mod:`packcheck.core.duplicates`): of what (``other``: a listing image or
    an order), the homography's inliers and the share of the frame they cover, the share of tiles
    whose pixels agree after warping, the hashes' distance, and for a listing the share of its
    background that agrees."""

    other: str
    inliers: int
    coverage: float
    agreement: float
    hash_distance: int | None = None
    background_agreement: float | None = None

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}


Details = (ItemDetails | VariantDetails | ComponentDetails | CountDetails | QualityDetails | WeightDetails
           | DuplicateDetails)


@dataclass(frozen=True)
class VerdictMeta:
    """Facts about the order beside the checks: its station, SKUs, items located, colour found (CIE L*a*b*)."""

    station: str
    skus: tuple[str, ...]
    items_located: int
    found_lab: tuple[float, float, float]
    #: The fingerprint stages computed for this verdict; the cascade leaves "embedding" out of a clear PASS.
    stages_run: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
