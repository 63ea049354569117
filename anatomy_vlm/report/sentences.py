"""Sentence splitting for radiology reports.

Report text has habits a general splitter trips on: section headers (``FINDINGS:``),
enumerations (``1. No pneumothorax.``), decimals (``2.5 cm``), abbreviations with a period
(``approx.``, ``e.g.``), de-identification tokens (``XXXX.``) and hard-wrapped lines. The
splitter is rule based and returns character spans into the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Sentence", "split_sentences", "report_sections"]

# Words that end with a period without ending a sentence (lower-cased, without the period).
NEVER_FINAL = frozenset(
    {"approx", "e.g", "i.e", "eg", "ie", "dr", "mr", "mrs", "ms", "vs", "cf", "incl", "fig", "st"}
)
# Words that may end a sentence but usually continue it before a digit ("No. 2", "approx. 3 cm").
ABBREVIATIONS = NEVER_FINAL | {"no", "nos", "etc", "prox", "ca", "resp", "pt", "hx", "approximately"}
# Section headers that start a new sentence and are not part of it.
_HEADER = re.compile(
    r"(?im)^[ \t]*(?:final report|findings|impression|conclusion|comparison|indication|"
    r"history|technique|examination|exam|clinical history|reason for exam|recommendations?)"
    r"[ \t]*:[ \t]*"
)
# FINDINGS / IMPRESSION bodies: up to the next all-capitals header at a line start, or the end.
_SECTION = re.compile(r"(?:FINDINGS|IMPRESSION):(.*?)(?=\n\s*[A-Z][A-Z /]+:|\Z)", re.S)
_ENUM = re.compile(r"(?:(?<=^)|(?<=\s))\(?\d{1,2}[.)](?=\s+\S)")
_BOUNDARY = re.compile(r"[.!?]+(?=\s|$|[A-Z][a-z])|\n[ \t]*\n|;(?=\s)")


def report_sections(text: str) -> list[str]:
    """FINDINGS and IMPRESSION section bodies in report order, whitespace collapsed; ``[]`` when
    the report has neither header (MIMIC-CXR free-text layout, as the phantom writes it)."""
    return [" ".join(body.split()) for body in _SECTION.findall(text)]


@dataclass(frozen=True)
class Sentence:
    """One sentence: its text and its ``[start, end)`` character span in the report."""

    text: str
    start: int
    end: int


def split_sentences(text: str, *, split_semicolons: bool = False) -> list[Sentence]:
    """Split report text into sentences.

    Args:
        text: the report (any sections; headers such as ``FINDINGS:`` are dropped).
        split_semicolons: also end a sentence at ``;`` (off: NegEx scope already stops there).

    Returns:
        Sentences in order, each with its span in ``text``; empty ones are skipped.
    """
    masked = _mask(text)
    cuts = [0]
    for match in _BOUNDARY.finditer(masked):
        if match.group().startswith(";") and not split_semicolons:
            continue
        if match.group().startswith(".") and _is_abbreviation(masked, match.start()):
            continue
        cuts.append(match.end())
    for match in _ENUM.finditer(text):
        if not text[: match.start()].rstrip(" \t") or text[: match.start()].rstrip(" \t")[-1] == "\n":
            cuts.append(match.start())
    headers = {(m.start(), m.end()) for m in _HEADER.finditer(text)}
    for start, end in headers:
        cuts.extend((start, end))
    cuts.append(len(text))
    cuts = sorted(set(cuts))
    sentences = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        if (start, end) in headers:
            continue
        sentence = _trim(text, start, end)
        if sentence is not None:
            sentences.append(sentence)
    return sentences


def _mask(text: str) -> str:
    """Hide periods that never end a sentence (enumerators, headers) without moving offsets."""
    chars = list(text)
    for match in _ENUM.finditer(text):
        if _at_line_or_sentence_start(text, match.start()):
            for i in range(match.start(), match.end()):
                chars[i] = "#"
    for match in _HEADER.finditer(text):
        for i in range(match.start(), match.end()):
            chars[i] = " " if text[i].isspace() else "#"
    return "".join(chars)


def _at_line_or_sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \t")
    return not before or before[-1] in ".!?:\n;"


def _is_abbreviation(masked: str, period: int) -> bool:
    """A period after a known abbreviation (before a digit or lower-case word for ``no``/``etc``…)."""
    word = re.search(r"([A-Za-z.]+)$", masked[:period])
    token = word.group(1).lower().rstrip(".") if word else ""
    if token in NEVER_FINAL:
        return True
    following = masked[period + 1 :].lstrip(" \t")
    if not following:
        return False
    # Open-I and MIMIC often start a sentence in lower case after a period, so only known
    # abbreviations (before a digit or a lower-case word) keep a period inside a sentence.
    return token in ABBREVIATIONS and (following[0].isdigit() or following[0].islower())


def _trim(text: str, start: int, end: int) -> Sentence | None:
    chunk = text[start:end]
    left = len(chunk) - len(chunk.lstrip())
    right = len(chunk.rstrip())
    if right <= left:
        return None
    inner = chunk[left:right]
    enum = re.match(r"\(?\d{1,2}[.)]\s+", inner)
    if enum:
        left += enum.end()
        inner = chunk[left:right]
    if not re.search(r"[A-Za-z]", inner):
        return None
    return Sentence(text=" ".join(inner.split()), start=start + left, end=start + right)
