"""CSV tables as datasets ship them: plain, gzip or zip; the names they ship under.

Rows come back as dicts keyed by stripped header names; malformed rows are counted on the
loader's :class:`~anatomy_vlm.data.datasets.base.LoadReport` (skipped, or DataError under the
strict policy).
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from anatomy_vlm.errors import DataError

if TYPE_CHECKING:
    from anatomy_vlm.data.datasets.base import LoadReport

__all__ = ["find_table", "first_file", "read_csv_rows"]


def find_table(folder: Path, stem: str) -> Path | None:
    """``folder/stem.csv.gz`` or ``folder/stem.csv``, whichever exists."""
    return first_file(folder, (f"{stem}.csv.gz", f"{stem}.csv"))


def first_file(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of ``names`` that is a file in ``folder`` (the names a dataset ships under), or None."""
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _open_text(path: Path) -> io.TextIOBase:
    """Plain, gzip (by magic bytes, whatever the suffix) or zip (first .csv inside)."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    if magic == b"PK":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if n.endswith(".csv")]
        if not names:
            raise DataError(f"{path.name}: zip holds no .csv")
        return io.TextIOWrapper(archive.open(names[0]), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_csv_rows(
    path: Path, report: LoadReport, *, required: Sequence[str] = (), delimiter: str = ","
) -> Iterator[dict[str, str]]:
    """Rows of a CSV (plain, .gz or .zip) as dicts with stripped header names.

    A row with too few or too many fields, or an empty required field, counts as
    ``malformed row`` (skipped, or DataError under the strict policy).
    """
    if not path.is_file():
        raise DataError(f"missing file: {path.name}")
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise DataError(f"{path.name}: missing column(s) {', '.join(missing)}")
            width = len(header)
            # trailing unnamed header columns (NIH BBox_List's ",,,") may be absent in rows
            named = max((i + 1 for i, h in enumerate(header) if h), default=0)
            for line, fields in enumerate(reader, start=2):
                if not fields:
                    continue
                extra = fields[width:]
                row = dict(zip(header, fields[:width], strict=False))
                if len(fields) < named or any(x.strip() for x in extra) or any(
                    not row.get(c, "").strip() for c in required
                ):
                    report.skip("malformed row", f"{path.name}:{line}")
                    continue
                yield row
    except (UnicodeDecodeError, csv.Error, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path.name}: unreadable CSV ({type(err).__name__})") from None
