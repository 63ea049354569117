"""Report grounding: report text → finding mentions with regions, negation and uncertainty.

``parse_report(text)`` splits the report into sentences, finds finding and anatomy phrases with
the KG lexicon (longest match first), turns "anatomy + descriptor" clauses into findings ("the
cardiac silhouette is enlarged" → cardiomegaly), attaches each location phrase to one finding
(a location after a preposition belongs to the finding before it, otherwise to the finding after
it), expands sides into region ids (``bibasilar`` → both lower lung zones), and decides
negation and uncertainty with NegEx-style triggers.
"""

from __future__ import annotations

from dataclasses import dataclass

from anatomy_vlm.report import vocabulary as V
from anatomy_vlm.report.lexicon import Lexicon, Token, tokenize
from anatomy_vlm.report.locations import (
    Phrase,
    attach_locations,
    crosses,
    inherit_locations,
    regions_of,
    share_locations,
    sides_of,
)
from anatomy_vlm.report.negation import Triggers, assertion_of, find_triggers, orient
from anatomy_vlm.report.sentences import Sentence, split_sentences

__all__ = ["Mention", "parse_report", "parse_sentence"]

_ALTERNATIVES = frozenset({"or", "versus", "vs"})
_VERSUS = frozenset({"versus", "vs"})
# A mention echoes its sentence up to this many characters; a longer sentence is echoed as a
# window around the mention, so output stays proportional to the input (not to mentions x
# sentence length).
SENTENCE_ECHO_CHARS = 240


@dataclass(frozen=True)
class Mention:
    """One finding mention.

    Attributes:
        sentence: the sentence text (whitespace-normalised); a sentence longer than
            ``SENTENCE_ECHO_CHARS`` (240) is echoed as a window of about that many characters
            around the mention, with ``…`` where it was cut.
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


def parse_report(text: str, kg=None, *, lexicon: Lexicon | None = None) -> list[Mention]:
    """Parse a report into finding mentions, in reading order.

    Args:
        text: report text (sections such as ``FINDINGS:`` allowed).
        kg: an :class:`kg.AnatomyKG` whose vocabulary to use; default
            ``anatomy_vlm.kgload.load_kg()`` (raises ``KGError`` when no graph can be loaded).
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
    items = _merge_heads(_scan(tokens, lex))
    triggers = find_triggers(tokens)
    findings = _composites(items, tokens, triggers) + [i for i in items if i.kind == "finding"]
    findings.sort(key=lambda i: i.start)
    findings = _merge_adjectives(findings, tokens, triggers, lex)
    attach_locations(items, findings, tokens, triggers)
    share_locations(findings, tokens)
    for item in findings:
        _specialise(item, lex)
    alternatives = _alternatives(findings, tokens, triggers, text)
    triggers = orient(triggers, [(item.start, item.end) for item in findings])
    statuses = {id(item): assertion_of(triggers, item.start, item.end) for item in findings}
    inherit_locations(findings, lambda item: not (statuses[id(item)].negated or item.negated))
    mentions = []
    for item in findings:
        status = statuses[id(item)]
        negated = status.negated or item.negated
        uncertain = (status.uncertain or id(item) in alternatives) and not negated
        regions = regions_of(item, lex)
        span = (tokens[item.start].start, tokens[item.end - 1].end)
        mentions.append(Mention(
            sentence=_echo(text, sentence, span),
            finding=item.node_id,
            regions=regions,
            negated=negated,
            uncertain=uncertain,
            sides=sides_of(item, regions, lex),
            span=span,
            text=text[span[0] : span[1]],
            sentence_index=index,
        ))
    return mentions


def _echo(text: str, sentence: Sentence, span: tuple[int, int]) -> str:
    """The sentence, or a window of about ``SENTENCE_ECHO_CHARS`` around ``span`` when longer."""
    if len(sentence.text) <= SENTENCE_ECHO_CHARS:
        return sentence.text
    width = max(SENTENCE_ECHO_CHARS, span[1] - span[0])
    start = max(sentence.start, span[0] - (width - (span[1] - span[0])) // 2)
    end = min(sentence.end, start + width)
    start = max(sentence.start, end - width)
    window = " ".join(text[start:end].split())
    return ("…" if start > sentence.start else "") + window + ("…" if end < sentence.end else "")


def _scan(tokens: list[Token], lex: Lexicon) -> list[Phrase]:
    """Longest-match scan for lexicon phrases, side words and generic sites.

    A place phrase gives way to a finding phrase that starts inside it and runs past it
    ("left *chest tube*": the side word, then the device, not "left chest" and a bare "tube").
    """
    items: list[Phrase] = []
    i = 0
    while i < len(tokens):
        best = _best_at(tokens, i, lex)
        if best is not None and best.kind != "finding":
            inner = _finding_inside(tokens, best, lex)
            if inner is not None:
                best = _best_at(tokens, i, lex, limit=inner)
                if best is None:
                    i = inner
                    continue
        if best is None:
            i += 1
            continue
        items.append(best)
        i = best.end
    return items


def _finding_inside(tokens: list[Token], place: Phrase, lex: Lexicon) -> int | None:
    for j in range(place.start + 1, place.end):
        hit = lex.match_at(tokens, j)
        if hit is not None and hit[1].kind == "finding" and j + hit[0] > place.end:
            return j
    return None


def _merge_heads(items: list[Phrase]) -> list[Phrase]:
    """A generic head right after a finding is part of it: "mass lesion" is one mass, not a mass
    and a lesion (``V.GENERIC_HEADS``)."""
    kept: list[Phrase] = []
    for item in items:
        previous = kept[-1] if kept else None
        if (previous is not None and item.kind == "finding" and previous.kind == "finding"
                and item.node_id in V.GENERIC_HEADS and previous.end == item.start):
            previous.end = item.end
            continue
        kept.append(item)
    return kept


def _best_at(tokens: list[Token], i: int, lex: Lexicon, *, limit: int | None = None) -> Phrase | None:
    """The longest phrase starting at token ``i`` (ending by token ``limit`` when given)."""
    limit = len(tokens) if limit is None else limit
    candidates: list[Phrase] = []
    hit = lex.match_at(tokens, i, limit)
    if hit is not None:
        length, entry = hit
        plural = entry.kind == "anatomy" and _plural_pair(tokens[i + length - 1], entry.node_id, lex)
        phrase = Phrase(entry.kind, i, i + length, node_id=entry.node_id, plural=plural)
        prefix = next((side for p, side in V.SIDE_PREFIXES.items() if tokens[i].norm.startswith(p)), None)
        if entry.kind == "finding" and prefix:
            phrase.locations.append(Phrase("side", i, i + 1, sides=(prefix,)))
        candidates.append(phrase)
    for length in (3, 2, 1):
        key = tuple(t.norm for t in tokens[i : min(i + length, limit)])
        if len(key) < length:
            continue
        if key in V.GENERIC_SITES:
            candidates.append(Phrase("generic", i, i + length, suffix=V.GENERIC_SITES[key]))
            break
    side = V.SIDE_WORDS.get((tokens[i].norm,))
    if side is not None and (len(tokens[i].text) > 1 or tokens[i].text.isupper()):
        item = Phrase("side", i, i + 1, sides=side[0], suffix=side[1])
        # "bibasilar" carries both sides and a zone: it beats a one-word graph synonym
        candidates.insert(0 if side[1] else len(candidates), item)
    if not candidates:
        return None
    return max(candidates, key=lambda c: c.end - c.start)  # earlier candidate wins ties


_NOT_PAIRED_PLURALS = frozenset({"lung"})  # "the lungs" names no side


def _plural_pair(last: Token, node_id: str, lex: Lexicon) -> bool:
    """A generic site with left/right variants, written in the plural ("bases", "hila")."""
    plural = last.text.lower() != last.norm or last.text.lower() in ("bases", "hila", "apices")
    return (plural and node_id not in _NOT_PAIRED_PLURALS and lex.side_of(node_id) is None
            and lex.has(f"left_{node_id}") and lex.has(f"right_{node_id}"))


def _composites(items: list[Phrase], tokens: list[Token], triggers: Triggers) -> list[Phrase]:
    """Findings stated as anatomy + descriptor ("the heart is enlarged", "widening of the mediastinum").

    A negating descriptor ("heart size is normal") gives a negated mention, only when the
    sentence speaks of size.
    """
    made = []
    speaks_of_size = any(t.norm in {"size", "sized"} for t in tokens)
    tables = [(a, d, f, False) for a, d, f in V.COMPOSITES]
    tables += [(a, d, f, True) for a, d, f in V.NEGATING_COMPOSITES if speaks_of_size]
    for item in items:
        anatomy = item.node_id if item.kind == "anatomy" else item.suffix if item.kind in ("generic", "side") else None
        for anatomy_ids, descriptors, finding, negating in tables:
            if anatomy not in anatomy_ids:
                continue
            where = _descriptor_near(item, tokens, triggers, descriptors, items)
            if where is None:
                continue
            composite = Phrase("finding", where, where + 1, node_id=finding, negated=negating)
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


def _merge_adjectives(findings, tokens, triggers, lex: Lexicon) -> list[Phrase]:
    """"calcified left lower lobe granuloma" → one calcified_granuloma (see ``V.MERGES``)."""
    stops = triggers.terminators | triggers.commas
    dropped: set[int] = set()
    for adjective in findings:
        if adjective.end - adjective.start != 1 or tokens[adjective.start].norm not in V.MERGE_ADJECTIVES:
            continue
        for head in (h for h in findings if adjective.end <= h.start <= adjective.end + 5):
            merged = V.MERGES.get((adjective.node_id, head.node_id))
            if merged and lex.has(merged) and not crosses(stops, adjective.end, head.start):
                head.node_id = merged
                dropped.add(id(adjective))
                break
    return [f for f in findings if id(f) not in dropped]


def _specialise(item: Phrase, lex: Lexicon) -> None:
    """``fracture`` of the clavicle → ``clavicle_fracture`` (when the graph has it)."""
    rules = V.SPECIALISE.get(item.node_id)
    if not rules:
        return
    named = [loc.node_id or loc.suffix or "" for loc in item.locations]
    for fragment, specific in rules:
        if lex.has(specific) and any(fragment in name for name in named):
            item.node_id = specific
            return


def _alternatives(findings, tokens, triggers, text: str) -> set[int]:
    """Findings offered as alternatives are hedged: "atelectasis or pneumonia",
    "atelectasis/airspace disease", a finding followed by "or …"/"versus …" ("effusion or
    thickening"), and one a few words after "versus" ("inflation versus mild scarring").
    "versus" hedges only what it joins: "cardiomegaly with atelectasis versus pneumonia"
    leaves the cardiomegaly asserted."""
    hedged: set[int] = set()
    for left, right in zip(findings, findings[1:], strict=False):
        between = [tokens[k].text.lower() for k in range(left.end, right.start)]
        raw = text[tokens[left.end - 1].end : tokens[right.start].start]
        joined = (_ALTERNATIVES & set(between)) or (not between and raw.strip() == "/")
        if len(between) <= 4 and joined and not crosses(triggers.terminators, left.end, right.start):
            hedged.update((id(left), id(right)))
    previous_end = 0
    for item in findings:
        following = [t.text.lower() for t in tokens[item.end : item.end + 2] if t.text != ","]
        if following[:1] and following[0] in _ALTERNATIVES and following[1:2] not in (["no"], ["not"], ["without"]):
            hedged.add(id(item))
        before = range(max(previous_end, item.start - 4), item.start)
        if any(tokens[k].text.lower() in _VERSUS for k in before):
            hedged.add(id(item))
        previous_end = max(previous_end, item.end)
    return hedged


def _lexicon_for(kg) -> Lexicon:
    from anatomy_vlm.report.kgsource import lexicon_of

    return lexicon_of(kg)


def _node_json(kg, node_id: str) -> dict:
    from anatomy_vlm.report.kgsource import node_json

    return node_json(kg, node_id)
