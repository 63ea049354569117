"""``anatomy-vlm report parse TEXT|FILE [--json]``: report grounding from the command line.

Light path: never imports torch.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from anatomy_vlm.errors import DataError

__all__ = ["add_parser", "read_report"]


def add_parser(subparsers, *, name: str = "report", help: str = "report grounding") -> argparse.ArgumentParser:
    """Register ``report`` with its ``parse`` leaf on the top-level ``subparsers``."""
    group = subparsers.add_parser(name, help=help, description=help)
    leaves = group.add_subparsers(dest="report_command", metavar="COMMAND")
    parse = leaves.add_parser(
        "parse",
        help="report text → finding mentions (finding, regions, negated, uncertain)",
        description="Parse a radiology report (a string, a file, or - for stdin) into finding mentions.",
    )
    parse.add_argument("source", metavar="TEXT|FILE", help="report text, a path to a text file, or - for stdin")
    parse.add_argument("--json", action="store_true", help="one JSON object per mention on stdout (JSON lines)")
    parse.set_defaults(func=run_parse)
    return group


def read_report(source: str) -> str:
    """The report text named by ``source``: ``-`` (stdin), an existing file, or the text itself.

    A ``source`` that looks like a path (ends in ``.txt``/``.xml``, or has a path separator and no
    spaces) but does not exist raises :class:`FileNotFoundError` (exit 2 through the CLI).
    """
    if source == "-":
        import sys

        return sys.stdin.read()
    path = Path(source)
    if _looks_like_path(source):
        if not path.exists():
            raise FileNotFoundError(f"report file not found: {source}")
        if path.is_dir():
            raise IsADirectoryError(f"report path is a folder, not a file: {source}")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"report file is not UTF-8 text: {source}") from err
    return source


def _looks_like_path(source: str) -> bool:
    if "\n" in source or len(source) > 1024:
        return False
    if source.lower().endswith((".txt", ".xml", ".rpt", ".text")):
        return True
    if (os.sep in source or "/" in source) and " " not in source.strip():
        return True
    try:
        return Path(source).is_file()
    except OSError:  # e.g. ENAMETOOLONG: a long one-line report is text, not a path
        return False


def run_parse(args: argparse.Namespace) -> int:
    from anatomy_vlm.report.kgsource import default_kg
    from anatomy_vlm.report.parse import parse_report

    text = read_report(args.source)
    mentions = parse_report(text)
    kg = default_kg()
    if args.json:
        for mention in mentions:
            print(json.dumps(mention.to_json(kg)))
        return 0
    if not mentions:
        print("no finding mentions")
    for mention in mentions:
        flags = ("negated " if mention.negated else "") + ("uncertain" if mention.uncertain else "")
        regions = ", ".join(mention.regions) or "-"
        print(f"{mention.finding:28s} {regions:48s} {flags.strip() or 'positive':18s} | {mention.sentence}")
    return 0
