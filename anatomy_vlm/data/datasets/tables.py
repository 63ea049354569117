"""CSV tables as datasets ship them: plain, gzip or zip; the names they ship under.

Rows come back as :class:`Row` dicts keyed by stripped header names, each knowing where it
came from (``row.where`` = ``"<table> row <line>"``: a file name and a line number, never a
value); malformed rows are counted on the loader's
:class:`~anatomy_vlm.data.datasets.base.LoadReport` (skipped, or ``BadRow`` under the strict
policy). A table without a column the loader needs raises ``MissingColumn`` naming it.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from anatomy_vlm.errors import (
    BadRow,
    DataError,
    MissingColumn,
    MissingFile,
    NotRegularFile,
    UnreadableTable,
)

if TYPE_CHECKING:
    from anatomy_vlm.data.datasets.base import LoadReport

__all__ = ["Row", "find_table", "first_file", "read_csv_rows"]


class Row(dict):
    """One CSV row (header name -> stripped-header value) with its table and line number."""

    table: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        """``"<table file> row <line>"``: where the row is, without any of its values."""
        return f"{self.table} row {self.line}"


def find_table(folder: Path, stem: str) -> Path | None:
    """``folder/stem.csv.gz`` or ``folder/stem.csv``, whichever exists."""
    return first_file(folder, (f"{stem}.csv.gz", f"{stem}.csv"))


def first_file(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of ``names`` that is a file in ``folder`` (the names a dataset ships under), or None."""
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _open_text(path: Path) -> io.TextIOBase:
    """Plain, gzip (by magic bytes, whatever the suffix) or zip (first .csv inside)."""
    from anatomy_vlm.data.io import open_regular

    with open_regular(path) as handle:  # a named pipe here is refused, never waited on
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    if magic == b"PK":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if n.endswith(".csv")]
        if not names:
            raise UnreadableTable(f"{path.name}: zip holds no .csv")
        return io.TextIOWrapper(archive.open(names[0]), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_csv_rows(
    path: Path,
    report: LoadReport,
    *,
    required: Sequence[str] = (),
    columns: Sequence[str] = (),
    delimiter: str = ",",
) -> Iterator[Row]:
    """Rows of a CSV (plain, .gz or .zip) as :class:`Row` dicts with stripped header names.

    ``required`` columns must exist and be non-empty in every row; ``columns`` must exist (they
    may be blank). A missing column raises ``MissingColumn`` naming it; a row with too few or
    too many fields, or an empty required field, counts as ``malformed row`` (skipped, or
    ``BadRow`` under the strict policy).
    """
    if not path.exists():
        raise MissingFile(f"missing file: {path.name}")
    if not path.is_file():
        raise NotRegularFile(f"not a regular file: {path.name}")
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in dict.fromkeys([*required, *columns]) if c not in header]
            if missing:
                raise MissingColumn(f"{path.name}: missing column(s) {', '.join(missing)}")
            width = len(header)
            # trailing unnamed header columns (NIH BBox_List's ",,,") may be absent in rows
            named = max((i + 1 for i, h in enumerate(header) if h), default=0)
            for line, fields in enumerate(reader, start=2):
                if not fields:
                    continue
                extra = fields[width:]
                row = Row(zip(header, fields[:width], strict=False))
                row.table, row.line = path.name, line
                if len(fields) < named or any(x.strip() for x in extra) or any(
                    not row.get(c, "").strip() for c in required
                ):
                    report.skip(BadRow(f"{row.where}: wrong number of fields or an empty required field"))
                    continue
                yield row
    except DataError:
        raise
    except (UnicodeDecodeError, csv.Error, OSError, EOFError, zipfile.BadZipFile) as err:
        raise UnreadableTable(f"{path.name}: unreadable CSV ({type(err).__name__})") from None
