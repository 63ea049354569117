"""Sentence splitting for radiology reports.

Report text has habits a general splitter trips on: section headers (``FINDINGS:``),
enumerations (``1. No pneumothorax.``), decimals (``2.5 cm``), abbreviations with a period
(``approx.``, ``e.g.``), de-identification tokens (``XXXX.``) and hard-wrapped lines. The
splitter is rule based and returns character spans into the original text.

It runs in time linear in the text: every look-behind and look-ahead is bounded, and a
sentence longer than ``MAX_SENTENCE_CHARS`` is cut at whitespace into pieces of at most that
length (no real sentence is that long; the cap bounds the parser's per-sentence work and the
text it echoes per mention).
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
# A run of ``[.!?]`` is tried from its first character only, possessively: a long run of periods
# before a lower-case letter fails once, not once per start position.
_BOUNDARY = re.compile(r"(?<![.!?])[.!?]++(?=\s|$|[A-Z][a-z])|\n[ \t]*+\n|;(?=\s)")
_WORD_BEFORE = re.compile(r"[A-Za-z.]+$")
_NEXT_CHAR = re.compile(r"[ \t]*+(\S)")
MAX_SENTENCE_CHARS = 1000
_ABBREVIATION_CHARS = 16  # longer than any abbreviation above (``approximately``)


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


def split_sentences(text: str, *, split_semicolons: bool = False,
                    max_chars: int = MAX_SENTENCE_CHARS) -> list[Sentence]:
    """Split report text into sentences.

    Args:
        text: the report (any sections; headers such as ``FINDINGS:`` are dropped).
        split_semicolons: also end a sentence at ``;`` (off: NegEx scope already stops there).
        max_chars: a longer sentence is cut at whitespace into pieces of at most this many
            characters (a word longer than that is cut inside).

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
        if _char_before(text, match.start()) in ("", "\n"):
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
            sentences.extend(_pieces(text, sentence, max_chars))
    return sentences


def _pieces(text: str, sentence: Sentence, max_chars: int) -> list[Sentence]:
    """``sentence`` itself, or consecutive pieces of at most ``max_chars`` cut at whitespace."""
    if sentence.end - sentence.start <= max_chars:
        return [sentence]
    pieces = []
    start = sentence.start
    while start < sentence.end:
        end = min(start + max_chars, sentence.end)
        if end < sentence.end:
            space = max(text.rfind(" ", start + 1, end + 1), text.rfind("\n", start + 1, end + 1))
            end = space if space > start else end
        piece = _trim(text, start, end)
        if piece is not None:
            pieces.append(piece)
        start = end
    return pieces


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


def _char_before(text: str, pos: int) -> str:
    """The last character before ``pos`` that is not a space or tab (``""`` at the start).

    Walks back over blanks only, so over all enumerators of a text the walks add up to at most
    the text's length.
    """
    k = pos - 1
    while k >= 0 and text[k] in " \t":
        k -= 1
    return text[k] if k >= 0 else ""


def _at_line_or_sentence_start(text: str, pos: int) -> bool:
    before = _char_before(text, pos)
    return not before or before in ".!?:\n;"


def _is_abbreviation(masked: str, period: int) -> bool:
    """A period after a known abbreviation (before a digit or lower-case word for ``no``/``etc``…).

    Looks at most ``_ABBREVIATION_CHARS`` back and at the next non-blank character only.
    """
    window_start = max(0, period - _ABBREVIATION_CHARS - 1)
    word = _WORD_BEFORE.search(masked, window_start, period)
    if word is None or (word.start() == window_start and window_start > 0):
        token = ""  # no word, or one longer than any abbreviation
    else:
        token = word.group().lower().rstrip(".")
    if token in NEVER_FINAL:
        return True
    nxt = _NEXT_CHAR.match(masked, period + 1)
    if nxt is None:
        return False
    following = nxt.group(1)
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
