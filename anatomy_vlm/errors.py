"""Typed errors of the anatomy_vlm package. The CLI turns each into one line on stderr and exit 2.

Data errors carry a typed ``reason`` (a short phrase): dataset loaders count skipped inputs by
it (``LoadReport.skipped``) and code branches on the class, never on the message text.
Messages name files, row numbers and reasons, never a patient, study or image identifier.
"""

from __future__ import annotations

__all__ = [
    "AnatomyVLMError",
    "ConfigError",
    "DataError",
    "MissingFile",
    "NotRegularFile",
    "UnreadableFile",
    "CorruptImage",
    "ImageTooLarge",
    "FileTooLarge",
    "CorruptAnnotation",
    "BadRow",
    "MissingColumn",
    "UnreadableTable",
    "OutsideRoot",
    "MalformedReport",
    "UnlabelledStudy",
]


class AnatomyVLMError(Exception):
    """Base class of every error a user can cause with bad input."""


class ConfigError(AnatomyVLMError):
    """A configuration or command-line value is invalid."""


class DataError(AnatomyVLMError):
    """A dataset file is missing, corrupt or in the wrong format.

    ``reason`` is the skip-count key of the subclass; ``detail`` an optional id-free phrase
    (e.g. ``"truncated pixel data"``) that survives when a loader restates the error at a row.
    """

    reason = "bad data"

    def __init__(self, message: str = "", *, detail: str = "") -> None:
        super().__init__(message or self.reason)
        self.detail = detail

    def at(self, where: str) -> DataError:
        """The same kind of error, restated at ``where`` (a row or sample, never an id)."""
        text = f"{where}: {self.reason}" + (f" ({self.detail})" if self.detail else "")
        return type(self)(text, detail=self.detail)


class MissingFile(DataError):
    reason = "missing file"


class NotRegularFile(DataError):
    """A named pipe, device, socket or folder where a file was expected (never opened)."""

    reason = "not a regular file"


class UnreadableFile(DataError):
    """The file exists but cannot be opened (permissions, a symlink loop, an I/O error)."""

    reason = "unreadable file"


class CorruptImage(DataError):
    reason = "corrupt image"


class ImageTooLarge(DataError):
    """An image whose declared size exceeds the pixel limit (a decompression bomb)."""

    reason = "image too large"


class FileTooLarge(DataError):
    """A file larger than its kind ever is (an annotation of gigabytes, a device posing as one)."""

    reason = "file too large"


class CorruptAnnotation(DataError):
    """A scene graph (or other per-image annotation) that does not parse or has the wrong shape."""

    reason = "corrupt annotation"


class BadRow(DataError):
    reason = "malformed row"


class MissingColumn(DataError):
    """A table lacks a column the loader needs (the whole table is unusable: always raised)."""

    reason = "missing column"


class UnreadableTable(DataError):
    """A table (CSV, report archive) that does not decode: not UTF-8, NUL bytes, a broken
    archive. The whole table is unusable: always raised."""

    reason = "unreadable table"


class OutsideRoot(DataError):
    """A path built from table values leaves the dataset root (``../``, an absolute path)."""

    reason = "outside root"


class MalformedReport(DataError):
    reason = "malformed report"


class UnlabelledStudy(DataError):
    reason = "unlabelled study"
