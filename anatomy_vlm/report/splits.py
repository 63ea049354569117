"""The fixed dev/test split of a report corpus by a hash of the report id.

The parser is tuned only on ``dev`` reports; ``test`` reports are read by the benchmark alone.
"""

from __future__ import annotations

import hashlib

__all__ = ["split_of", "is_dev"]


def split_of(report_id: str) -> str:
    """``"dev"`` when the last hex digit of sha1(report id) is below 5 (about 5/16), else ``"test"``."""
    digit = int(hashlib.sha1(report_id.encode("utf-8")).hexdigest()[-1], 16)
    return "dev" if digit < 5 else "test"


def is_dev(report_id: str) -> bool:
    """True for reports the parser may be tuned on."""
    return split_of(report_id) == "dev"
