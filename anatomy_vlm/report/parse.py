"""Report grounding: report text → finding mentions with regions, negation and uncertainty.

``parse_report(text)`` splits the report into sentences, finds finding and anatomy phrases with
the KG lexicon (longest match first), turns "anatomy + descriptor" clauses into findings ("the
cardiac silhouette is enlarged" → cardiomegaly), attaches each location phrase to one finding
(a location after a preposition belongs to the finding before it, otherwise to the finding after
it), expands sides into region ids (``bibasilar`` → both lower lung zones), and decides
negation and uncertainty with NegEx-style triggers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anatomy_vlm.report import vocabulary as V
from anatomy_vlm.report.lexicon import Lexicon, Token, tokenize
from anatomy_vlm.report.negation import Triggers, assertion_of, find_triggers
from anatomy_vlm.report.sentences import Sentence, split_sentences

__all__ = ["Mention", "parse_report", "parse_sentence"]

_ALTERNATIVES = frozenset({"or", "versus", "vs"})


@dataclass(frozen=True)
class Mention:
    """One finding mention.

    Attributes:
        sentence: the sentence text (whitespace-normalised).
        finding: ontology id of the finding, disease or device.
        regions: anatomy ids where the sentence places it (empty when it names no place).
        negated: the sentence says it is absent.
        uncertain: the sentence hedges it (never True together with ``negated``).
        sides: patient sides the sentence gives it (``left``/``right``), from side words and
            sided regions; empty when it names none.
        span: ``[start, end)`` characters of the matched words in the report text.
        text: the matched words as written.
        sentence_index: position of the sentence in the report (0-based).
    """

    sentence: str
    finding: str
    regions: tuple[str, ...]
    negated: bool
    uncertain: bool
    sides: tuple[str, ...]
    span: tuple[int, int]
    text: str
    sentence_index: int

    def to_json(self, kg=None) -> dict:
        """``{"sentence", "finding": node, "regions": [node], "negated", "uncertain", "span", "text"}``."""
        return {
            "sentence": self.sentence,
            "finding": _node_json(kg, self.finding),
            "regions": [_node_json(kg, r) for r in self.regions],
            "negated": self.negated,
            "uncertain": self.uncertain,
            "sides": list(self.sides),
            "span": list(self.span),
            "text": self.text,
        }


@dataclass
class _Item:
    """A phrase found in a sentence: a finding, an anatomy node, a side word or a generic site."""

    kind: str  # finding | anatomy | side | generic
    start: int  # token indices [start, end)
    end: int
    node_id: str | None = None
    sides: tuple[str, ...] = ()
    suffix: str | None = None  # generic site suffix, e.g. lower_lung_zone
    locations: list[_Item] = field(default_factory=list)
    negated: bool = False  # set by a negating composite ("heart size is normal")


def parse_report(text: str, kg=None, *, lexicon: Lexicon | None = None) -> list[Mention]:
    """Parse a report into finding mentions, in reading order.

    Args:
        text: report text (sections such as ``FINDINGS:`` allowed).
        kg: an :class:`kg.AnatomyKG` whose vocabulary to use; default ``AnatomyKG.load()``.
        lexicon: a prebuilt :class:`Lexicon` (overrides ``kg``).
    """
    lex = lexicon or _lexicon_for(kg)
    mentions: list[Mention] = []
    for index, sentence in enumerate(split_sentences(text)):
        mentions.extend(parse_sentence(text, sentence, lex, index=index))
    return mentions


def parse_sentence(text: str, sentence: Sentence, lex: Lexicon, *, index: int = 0) -> list[Mention]:
    """Mentions of one sentence (``sentence`` carries its span in ``text``)."""
    tokens = tokenize(text[sentence.start : sentence.end], offset=sentence.start)
    items = _scan(tokens, lex)
    triggers = find_triggers(tokens)
    findings = _composites(items, tokens, triggers) + [i for i in items if i.kind == "finding"]
    findings.sort(key=lambda i: i.start)
    _attach_locations(items, findings, tokens, triggers)
    _share_locations(findings, tokens)
    for item in findings:
        _specialise(item, lex)
    alternatives = _alternatives(findings, tokens, triggers)
    mentions = []
    for item in findings:
        status = assertion_of(triggers, item.start, item.end)
        negated = status.negated or item.negated
        uncertain = (status.uncertain or id(item) in alternatives) and not negated
        regions = _regions(item, lex)
        mentions.append(Mention(
            sentence=sentence.text,
            finding=item.node_id,
            regions=regions,
            negated=negated,
            uncertain=uncertain,
            sides=_sides(item, regions, lex),
            span=(tokens[item.start].start, tokens[item.end - 1].end),
            text=text[tokens[item.start].start : tokens[item.end - 1].end],
            sentence_index=index,
        ))
    return mentions


def _scan(tokens: list[Token], lex: Lexicon) -> list[_Item]:
    """Longest-match scan for lexicon phrases, side words and generic sites."""
    items: list[_Item] = []
    i = 0
    while i < len(tokens):
        best = _best_at(tokens, i, lex)
        if best is None:
            i += 1
            continue
        items.append(best)
        i = best.end
    return items


def _best_at(tokens: list[Token], i: int, lex: Lexicon) -> _Item | None:
    candidates: list[_Item] = []
    hit = lex.match_at(tokens, i)
    if hit is not None:
        length, entry = hit
        candidates.append(_Item(entry.kind, i, i + length, node_id=entry.node_id))
    for length in (3, 2, 1):
        key = tuple(t.norm for t in tokens[i : i + length])
        if len(key) < length:
            continue
        if key in V.GENERIC_SITES:
            candidates.append(_Item("generic", i, i + length, suffix=V.GENERIC_SITES[key]))
            break
    side = V.SIDE_WORDS.get((tokens[i].norm,))
    if side is not None and (len(tokens[i].text) > 1 or tokens[i].text.isupper()):
        item = _Item("side", i, i + 1, sides=side[0], suffix=side[1])
        # "bibasilar" carries both sides and a zone: it beats a one-word graph synonym
        candidates.insert(0 if side[1] else len(candidates), item)
    if not candidates:
        return None
    return max(candidates, key=lambda c: c.end - c.start)  # earlier candidate wins ties


def _composites(items: list[_Item], tokens: list[Token], triggers: Triggers) -> list[_Item]:
    """Findings stated as anatomy + descriptor ("the heart is enlarged", "widening of the mediastinum").

    A negating descriptor ("heart size is normal") gives a negated mention, only when the
    sentence speaks of size.
    """
    made = []
    speaks_of_size = any(t.norm in {"size", "sized"} for t in tokens)
    tables = [(a, d, f, False) for a, d, f in V.COMPOSITES]
    tables += [(a, d, f, True) for a, d, f in V.NEGATING_COMPOSITES if speaks_of_size]
    for item in items:
        anatomy = item.node_id if item.kind == "anatomy" else item.suffix if item.kind == "generic" else None
        for anatomy_ids, descriptors, finding, negating in tables:
            if anatomy not in anatomy_ids:
                continue
            where = _descriptor_near(item, tokens, triggers, descriptors, items)
            if where is None:
                continue
            composite = _Item("finding", where, where + 1, node_id=finding, negated=negating)
            composite.locations.append(item)
            item.kind = "used"
            made.append(composite)
            break
    return made


def _descriptor_near(item, tokens, triggers, descriptors, items) -> int | None:
    """Token index of a descriptor within the anatomy's clause (up to 6 after, 3 before)."""
    occupied = {k for other in items if other is not item for k in range(other.start, other.end)}
    stops = triggers.terminators | triggers.commas
    for k in range(item.end, min(len(tokens), item.end + 6)):
        if k in stops:
            break
        if tokens[k].norm in descriptors and k not in occupied:
            return k
    for k in range(item.start - 1, max(-1, item.start - 4), -1):
        if k in stops:
            break
        if tokens[k].norm in descriptors and k not in occupied:
            return k
    return None


def _specialise(item: _Item, lex: Lexicon) -> None:
    """``fracture`` of the clavicle → ``clavicle_fracture`` (when the graph has it)."""
    rules = V.SPECIALISE.get(item.node_id)
    if not rules:
        return
    named = [loc.node_id or loc.suffix or "" for loc in item.locations]
    for fragment, specific in rules:
        if lex.has(specific) and any(fragment in name for name in named):
            item.node_id = specific
            return


def _attach_locations(items, findings, tokens, triggers) -> None:
    """Give each location phrase to one finding of its clause (see module docstring)."""
    stops = triggers.terminators
    for loc in items:
        if loc.kind not in ("anatomy", "side", "generic"):
            continue
        before = [f for f in findings if f.end <= loc.start and not _crosses(stops, f.end, loc.start)]
        after = [f for f in findings if f.start >= loc.end and not _crosses(stops, loc.end, f.start)]
        previous = before[-1] if before else None
        following = after[0] if after else None
        if previous is not None and _after_preposition(tokens, loc, previous, items):
            previous.locations.append(loc)
        elif following is not None:
            following.locations.append(loc)
        elif previous is not None:
            previous.locations.append(loc)


_COORDINATORS = frozenset({"and", "or", "versus", "vs", ",", "with", "&"})


def _share_locations(findings, tokens) -> None:
    """Coordinated findings without a place of their own share their neighbour's places."""
    for left, right in zip(findings, findings[1:], strict=False):
        between = {tokens[k].text.lower() for k in range(left.end, right.start)}
        if not between or not between <= _COORDINATORS:
            continue
        if not left.locations and right.locations:
            left.locations.extend(right.locations)
        elif not right.locations and left.locations:
            right.locations.extend(left.locations)


def _crosses(stops: frozenset[int], left: int, right: int) -> bool:
    return any(left <= i < right for i in stops)


def _after_preposition(tokens, loc: _Item, previous: _Item, items) -> bool:
    """True when a preposition leads into this location ("opacity *in the* left base").

    Walks back from the location over articles and other location words; any other word
    (``and``, a comma, a verb) means the location does not hang on the previous finding.
    """
    location_tokens = {k for it in items if it.kind in ("anatomy", "side", "generic")
                       for k in range(it.start, it.end)}
    for k in range(loc.start - 1, previous.end - 1, -1):
        word = tokens[k].norm
        if word in V.PREPOSITIONS:
            return True
        if k in location_tokens or word in _SKIPPABLE:
            continue
        return False
    return False


_SKIPPABLE = frozenset({"the", "a", "an", "both", "entire", "whole", "region", "area", "aspect",
                        "portion", "segment", "inferior", "superior", "distal", "proximal", "mid",
                        "upper", "lower"})


def _alternatives(findings, tokens, triggers) -> set[int]:
    """Findings joined by ``or``/``versus`` ("atelectasis or pneumonia") are hedged."""
    hedged: set[int] = set()
    for left, right in zip(findings, findings[1:], strict=False):
        between = [tokens[k].text.lower() for k in range(left.end, right.start)]
        if len(between) <= 4 and _ALTERNATIVES & set(between) and not _crosses(triggers.terminators, left.end, right.start):
            hedged.update((id(left), id(right)))
    return hedged


def _regions(item: _Item, lex: Lexicon) -> tuple[str, ...]:
    """Region ids of a finding from its attached locations (sides expand generic sites)."""
    sides = _side_words(item)
    regions: list[str] = []
    for loc in item.locations:
        if loc.kind in ("anatomy", "used") and loc.node_id:
            regions.extend(_lateralise(V.REGION_ALIASES.get(loc.node_id, loc.node_id), sides, lex))
        elif loc.kind == "generic" or (loc.kind == "side" and loc.suffix):
            suffix = loc.suffix or V.SIDED_SITE.get(item.node_id, "lung")
            regions.extend(_sided(suffix, loc.sides or sides, lex))
    sided = any(lex.side_of(r) in ("left", "right") for r in regions)
    if sides and not sided and lex.node_types.get(item.node_id) != "device":
        regions.extend(_sided(V.SIDED_SITE.get(item.node_id, "lung"), sides, lex))
    if not regions:
        regions.extend(r for r in V.UNSIDED_SITE.get(item.node_id, ()) if lex.has(r))
    return tuple(dict.fromkeys(regions))


def _side_words(item: _Item) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for loc in item.locations if loc.kind == "side" for s in loc.sides))


def _sides(item: _Item, regions: tuple[str, ...], lex: Lexicon) -> tuple[str, ...]:
    """Patient sides of a mention: its side words plus the sides of its sided regions."""
    found = set(_side_words(item))
    found.update(lex.side_of(r) for r in regions if lex.side_of(r) in ("left", "right"))
    if item.node_id in V.UNSIDED_SITE and not _side_words(item):
        found -= {lex.side_of(r) for r in V.UNSIDED_SITE[item.node_id]}
    return tuple(side for side in ("left", "right") if side in found)


def _lateralise(node_id: str, sides: tuple[str, ...], lex: Lexicon) -> list[str]:
    """A generic anatomy id named with a side becomes its sided ids (``lung`` + left → ``left_lung``)."""
    if lex.side_of(node_id) in ("left", "right") or not sides:
        return [node_id]
    sided = [f"{side}_{node_id}" for side in sides if lex.has(f"{side}_{node_id}")]
    return sided or [node_id]


def _sided(suffix: str, sides: tuple[str, ...], lex: Lexicon) -> list[str]:
    suffix = suffix or "lung"
    if not sides:
        return [suffix] if lex.has(suffix) else []
    found = [f"{side}_{suffix}" for side in sides if lex.has(f"{side}_{suffix}")]
    return found or [f"{side}_lung" for side in sides if lex.has(f"{side}_lung")]


def _lexicon_for(kg) -> Lexicon:
    from anatomy_vlm.report.kgsource import default_lexicon, lexicon_of

    return default_lexicon() if kg is None else lexicon_of(kg)


def _node_json(kg, node_id: str) -> dict:
    from anatomy_vlm.report.kgsource import node_json

    return node_json(kg, node_id)
