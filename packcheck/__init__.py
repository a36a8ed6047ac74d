"""packcheck: check that a packed parcel holds what the listing promised."""

__version__ = "0.1.0"
