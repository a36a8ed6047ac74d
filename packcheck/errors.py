"""The one exception family a user can act on.

Every error the library raises on bad input is a :class:`PackcheckError`. The CLI
turns it into an ``Error: ...`` line and exit code 2; the audit turns it into an
ERROR row. Messages say what went wrong, where (file, row, field) and what to do.
"""
from __future__ import annotations


class PackcheckError(Exception):
    """Base for errors a user can act on."""


class ImageError(PackcheckError):
    """A photo or listing image is missing, unreadable or not an image."""


class ImageUnreadable(ImageError):
    """The file exists but is empty, truncated, corrupt or not an image."""


class ImageTooLarge(ImageError):
    """The image claims more pixels than the configured limit (decompression bomb)."""


class ImageMissing(ImageError):
    """The file does not exist, is a directory, or cannot be opened."""


class UnsupportedFormat(ImageError):
    """A format that needs an optional extra (HEIC) or is not supported."""


class ImageStillWriting(ImageError):
    """The file changed while it was being read (a camera app still writing it)."""


class DataError(PackcheckError):
    """A CSV in the data folder is malformed; the message names file, row and field."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None):
        where = ", ".join(
            part for part in (
                file and f"{file}",
                row is not None and f"row {row}",
                field and f"field '{field}'",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.row = row
        self.field = field


class PathEscapes(DataError):
    """A path in a CSV resolves outside the data folder."""


class OutputError(PackcheckError):
    """An output file cannot be written there: a folder, device or pipe in its place, a symbolic
    link planted where packcheck writes in place, a full disk, no permission. The message names it."""


class UnknownOrder(PackcheckError):
    """The order id is not in orders.csv."""


class ThresholdsError(PackcheckError):
    """The thresholds file is missing, malformed or of an unknown schema version."""


class ModelError(PackcheckError):
    """The embedding model file is missing or damaged."""


class CameraError(PackcheckError):
    """The station camera is missing or returns unusable frames."""
