"""The parser's vocabulary, built from the knowledge graph.

Finding, disease and device nodes give finding terms; anatomy nodes give region terms; both
from their preferred label, synonyms and abbreviations. A short supplement (report phrasing the
ontology does not list as synonyms, tuned on the Open-I dev split only) is added for ids the
graph holds. Nothing is cached on disk; one lexicon per graph is kept in memory.

Words are normalised by :func:`kg.normalise.singular`, the project's one plural normaliser, the
same one ``kg resolve`` uses: a term the parser reads is a term the resolver finds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from anatomy_vlm.report import vocabulary
from kg.normalise import singular

__all__ = ["Lexicon", "Token", "tokenize"]

FINDING_TYPES = ("finding", "disease", "device")
_TOKEN = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+(?:\.\d+)?|[^\sA-Za-z\d]")


@dataclass(frozen=True)
class Token:
    """One token: ``text`` as written, ``norm`` = ``kg.normalise.singular(text)``, ``[start, end)`` chars."""

    text: str
    norm: str
    start: int
    end: int


def tokenize(text: str, offset: int = 0) -> list[Token]:
    """Word, number and punctuation tokens; hyphens and slashes are dropped (``x-ray`` = ``x ray``)."""
    tokens = []
    for match in _TOKEN.finditer(text):
        word = match.group()
        if word in {"-", "/"}:
            continue
        tokens.append(Token(word, singular(word), offset + match.start(), offset + match.end()))
    return tokens


@dataclass(frozen=True)
class Entry:
    """A lexicon hit: node id, its kind (``finding`` | ``anatomy``) and how it was matched."""

    node_id: str
    kind: str
    source: str  # label | synonym | abbreviation | supplement


@dataclass
class Lexicon:
    """Phrase tables: normalised token tuples (and case-sensitive abbreviations) → entries.

    Build with :meth:`from_nodes` (any objects with ``id``, ``label``, ``type``, ``synonyms``,
    ``abbreviations``, ``laterality``) or :meth:`from_kg`.
    """

    phrases: dict[tuple[str, ...], Entry] = field(default_factory=dict)
    abbreviations: dict[tuple[str, ...], Entry] = field(default_factory=dict)
    node_types: dict[str, str] = field(default_factory=dict)
    laterality: dict[str, str] = field(default_factory=dict)
    max_len: int = 1
    first_words: set[str] = field(default_factory=set)  # first norm / text of every phrase

    @classmethod
    def from_kg(cls, kg) -> Lexicon:
        """Lexicon of an :class:`kg.AnatomyKG` (its anatomy, finding, disease and device nodes)."""
        nodes = [n for t in ("anatomy", *FINDING_TYPES) for n in kg.nodes(type=t)]
        return cls.from_nodes(nodes)

    @classmethod
    def from_nodes(cls, nodes: Iterable) -> Lexicon:
        lexicon = cls()
        nodes = list(nodes)
        for node in nodes:
            lexicon.node_types[node.id] = node.type
            side = getattr(node, "laterality", None) or _side_from_id(node.id)
            if side:
                lexicon.laterality[node.id] = side
        for source in ("label", "synonym", "abbreviation"):
            for node in nodes:
                kind = "anatomy" if node.type == "anatomy" else "finding"
                if node.type not in ("anatomy", *FINDING_TYPES):
                    continue
                for term in _terms(node, source):
                    # a coordination ("nodule or mass") is two mentions in report text, not one
                    if (node.id, term.lower()) not in vocabulary.AMBIGUOUS and " or " not in f" {term.lower()} ":
                        lexicon.add(term, Entry(node.id, kind, source))
        for node_id, terms in vocabulary.SUPPLEMENT.items():
            if node_id in lexicon.node_types:
                kind = "anatomy" if lexicon.node_types[node_id] == "anatomy" else "finding"
                for term in terms:
                    lexicon.add(term, Entry(node_id, kind, "supplement"))
        return lexicon

    def add(self, term: str, entry: Entry) -> None:
        """Add one term; the first entry for a phrase wins (labels before synonyms)."""
        if entry.source == "abbreviation" or _looks_like_abbreviation(term):
            key = tuple(t.text for t in tokenize(term))
            table = self.abbreviations
        else:
            key = tuple(t.norm for t in tokenize(term) if t.norm not in {".", ","})
            table = self.phrases
        if not key or key in table:
            return
        table[key] = entry
        self.max_len = max(self.max_len, len(key))
        self.first_words.add(key[0])

    def has(self, node_id: str) -> bool:
        return node_id in self.node_types

    def side_of(self, node_id: str) -> str | None:
        """``left`` | ``right`` | ``bilateral`` | ``midline`` | None for a region id."""
        return self.laterality.get(node_id)

    def match_at(self, tokens: list[Token], i: int, limit: int | None = None) -> tuple[int, Entry] | None:
        """The longest lexicon phrase starting at token ``i`` and ending by token ``limit``
        (default: the end): ``(length, entry)`` or None."""
        if tokens[i].norm not in self.first_words and tokens[i].text not in self.first_words:
            return None
        end = len(tokens) if limit is None else min(limit, len(tokens))
        for length in range(min(self.max_len, end - i), 0, -1):
            window = tokens[i : i + length]
            entry = self.abbreviations.get(tuple(t.text for t in window))
            if entry is None:
                entry = self.phrases.get(tuple(t.norm for t in window))
            if entry is not None:
                return length, entry
        return None


def _terms(node, source: str) -> list[str]:
    if source == "label":
        return [node.label] if node.label else []
    if source == "synonym":
        return list(getattr(node, "synonyms", ()) or ())
    return list(getattr(node, "abbreviations", ()) or ())


def _looks_like_abbreviation(term: str) -> bool:
    """Short all-capital terms (``RLL``, ``L CPA``, ``ETT``) match case-sensitively."""
    letters = term.replace(" ", "")
    return letters.isalpha() and letters.isupper() and len(letters) <= 6


def _side_from_id(node_id: str) -> str | None:
    for side in ("left", "right"):
        if node_id.startswith(side + "_"):
            return side
    return None
