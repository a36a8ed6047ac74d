"""Typed records the layers hand each other: plain data, no I/O.

* the catalogue and the orders (:class:`Catalogue`, :class:`CatalogueItem`,
  :class:`Order`, :class:`OrderLine`), which :mod:`packcheck.store.dataset`
  reads from a data folder's CSVs and the checks read by field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
        """How people name it: "Trousers (red)"."""
        return f"{self.title} ({self.variant})" if self.variant else self.title


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

    def bill_of_materials(self, sku: str) -> tuple[tuple[str, int], ...]:
        """(component, qty per unit); a SKU without rows is one piece of itself, named by its SKU
        (what a packer scans)."""
        return self.components.get(sku) or ((sku, 1),)

    def siblings(self, sku: str) -> list[str]:
        """Other SKUs of the same listing (same ``product_id``)."""
        pid = self.items[sku].product_id
        return [s for s, it in self.items.items() if it.product_id == pid and s != sku]
