"""``anatomy-vlm report parse TEXT|FILE [--json] [--max-bytes N]``: report grounding from the CLI.

Light path: never imports torch.

Input is bounded: at most ``--max-bytes`` (default 1 MiB) are read from a file or stdin, and a
larger input is refused with one line (exit 2) instead of being read into memory. Only regular
files are read; a folder, a named pipe or a device (``/dev/zero``) is refused before it is
opened. An argument that looks like a path (no blanks and a path separator or a file
extension, or the name of something that exists) but names nothing is an error too, not report
text. Output is bounded by the parser: each mention echoes at most about 240 characters of its
sentence (``parse.SENTENCE_ECHO_CHARS``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys

from anatomy_vlm.errors import DataError, MissingFile, NotRegularFile, UnreadableFile

__all__ = ["add_parser", "read_report", "ReportTooLarge", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 1 << 20  # 1 MiB: a long radiology report is a few KB
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


class ReportTooLarge(DataError):
    """The report exceeds ``--max-bytes`` (nothing past the limit is read)."""

    reason = "report too large"


class NotText(DataError):
    """The report bytes are not UTF-8 text."""

    reason = "not UTF-8 text"


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
    parse.add_argument("--max-bytes", type=_positive_int, default=DEFAULT_MAX_BYTES, metavar="N",
                       help=f"refuse a report larger than N bytes (default {DEFAULT_MAX_BYTES}, 1 MiB)")
    parse.set_defaults(func=run_parse)
    return group


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return number


def read_report(source: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The report text named by ``source``: ``-`` (stdin), a regular file, or the text itself.

    Raises:
        MissingFile: ``source`` looks like a path but names nothing.
        NotRegularFile: it names a folder, a pipe, a socket or a device.
        UnreadableFile: the file exists but cannot be read.
        ReportTooLarge: the report is larger than ``max_bytes``.
        NotText: the bytes are not UTF-8.
    """
    if source == "-":
        return _decode(_read_bounded(sys.stdin.buffer, max_bytes, "standard input"), "standard input")
    if not _looks_like_path(source):
        if len(source.encode("utf-8", "surrogatepass")) > max_bytes:
            raise ReportTooLarge(f"report text is larger than {max_bytes} bytes (--max-bytes)")
        return source
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise MissingFile(f"report file not found: {source}") from None
    except OSError as err:
        raise UnreadableFile(f"cannot read report file {source}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a pipe, socket or device"
        raise NotRegularFile(f"report path is {kind}, not a regular file: {source}")
    if info.st_size > max_bytes:
        raise ReportTooLarge(f"report file is larger than {max_bytes} bytes (--max-bytes): {source}")
    try:
        with open(source, "rb") as handle:
            data = _read_bounded(handle, max_bytes, source)
    except OSError as err:
        raise UnreadableFile(f"cannot read report file {source}: {err.strerror or err}") from None
    return _decode(data, source)


def _read_bounded(handle, max_bytes: int, name: str) -> bytes:
    data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ReportTooLarge(f"report from {name} is larger than {max_bytes} bytes (--max-bytes)")
    return data


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotText(f"report file is not UTF-8 text: {name}") from None


def _looks_like_path(source: str) -> bool:
    """One blank-free word with a path separator or a file extension, or something that exists."""
    if not source or len(source) > 4096 or any(c.isspace() for c in source) or "\0" in source:
        return False
    if "/" in source or os.sep in source or source.startswith("~") or _EXTENSION.search(source):
        return True
    try:
        return os.path.lexists(source)
    except (OSError, ValueError):
        return False


def run_parse(args: argparse.Namespace) -> int:
    from anatomy_vlm.report.kgsource import graph_or_default
    from anatomy_vlm.report.parse import parse_report

    text = read_report(args.source, max_bytes=args.max_bytes)
    kg = graph_or_default()
    mentions = parse_report(text, kg)
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
