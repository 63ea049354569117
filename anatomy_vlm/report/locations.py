"""Where a finding is: attach location phrases to findings and turn them into region ids.

A location after a preposition belongs to the finding before it ("opacity *in the* left base"),
otherwise to the finding after it ("left pleural effusion"). Coordinated findings share places
("atelectasis or pneumonia in the left base"); a finding explained by an earlier one ("opacity
in the right base, likely atelectasis") inherits its places. Sides expand generic sites
(``bibasilar`` → both lower lung zones; ``lung`` + left → ``left_lung``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anatomy_vlm.report import vocabulary as V
from anatomy_vlm.report.lexicon import Lexicon

__all__ = ["Phrase", "attach_locations", "share_locations", "inherit_locations", "regions_of", "sides_of",
           "crosses"]


@dataclass
class Phrase:
    """A phrase found in a sentence: a finding, an anatomy node, a side word or a generic site."""

    kind: str  # finding | anatomy | side | generic
    start: int  # token indices [start, end)
    end: int
    node_id: str | None = None
    sides: tuple[str, ...] = ()
    suffix: str | None = None  # generic site suffix, e.g. lower_lung_zone
    locations: list[Phrase] = field(default_factory=list)
    negated: bool = False  # set by a negating composite ("heart size is normal")
    plural: bool = False  # a paired site named in the plural ("bases", "hila", "apices")


def attach_locations(items, findings, tokens, triggers) -> None:
    """Give each location phrase to one finding of its clause (see module docstring)."""
    stops = triggers.terminators
    for loc in items:
        if loc.kind not in ("anatomy", "side", "generic"):
            continue
        before = [f for f in findings if f.end <= loc.start and not crosses(stops, f.end, loc.start)]
        after = [f for f in findings if f.start >= loc.end and not crosses(stops, loc.end, f.start)]
        previous = before[-1] if before else None
        following = after[0] if after else None
        if previous is not None and _after_preposition(tokens, loc, previous, items):
            previous.locations.append(loc)
        elif following is not None:
            following.locations.append(loc)
        elif previous is not None:
            previous.locations.append(loc)


_COORDINATORS = frozenset({"and", "or", "versus", "vs", ",", "with", "&"})


def share_locations(findings, tokens) -> None:
    """Coordinated findings without a place of their own share their neighbour's places."""
    for left, right in zip(findings, findings[1:], strict=False):
        between = {tokens[k].text.lower() for k in range(left.end, right.start)}
        if not between or not between <= _COORDINATORS:
            continue
        if not left.locations and right.locations:
            left.locations.extend(right.locations)
        elif not right.locations and left.locations:
            right.locations.extend(left.locations)


def crosses(stops: frozenset[int], left: int, right: int) -> bool:
    """Whether a stop lies in ``[left, right)`` (scans the shorter of the gap and the stops)."""
    if right - left < len(stops):
        return any(i in stops for i in range(left, right))
    return any(left <= i < right for i in stops)


def _after_preposition(tokens, loc: Phrase, previous: Phrase, items) -> bool:
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


def inherit_locations(findings: list[Phrase], assertable) -> None:
    """A placeless, non-negated finding takes the places of the previous placed finding it
    explains ("opacity in the left base, likely atelectasis"); ``assertable(item)`` says whether
    a finding is not negated."""
    previous: Phrase | None = None
    for item in findings:
        if not assertable(item):
            continue
        if item.locations:
            previous = item
        elif previous is not None:
            item.locations.extend(previous.locations)


def regions_of(item: Phrase, lex: Lexicon) -> tuple[str, ...]:
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
    if sides and not sided and item.node_id in V.SIDED_SITE:
        regions.extend(_sided(V.SIDED_SITE[item.node_id], sides, lex))
    elif sides and not regions and lex.node_types.get(item.node_id) != "device":
        regions.extend(_sided("lung", sides, lex))
    if not regions:
        regions.extend(r for r in V.UNSIDED_SITE.get(item.node_id, ()) if lex.has(r))
    return tuple(dict.fromkeys(regions))


def _side_words(item: Phrase) -> tuple[str, ...]:
    sides = [s for loc in item.locations if loc.kind == "side" for s in loc.sides]
    if not sides and any(loc.plural for loc in item.locations):
        sides = ["left", "right"]  # "the lung bases", "both costophrenic angles"
    return tuple(dict.fromkeys(sides))


def sides_of(item: Phrase, regions: tuple[str, ...], lex: Lexicon) -> tuple[str, ...]:
    """Patient sides of a mention: its side words plus the sides of its sided regions."""
    found = set(_side_words(item))
    for region in regions:
        side = lex.side_of(region)
        found.update(("left", "right") if side == "bilateral" else (side,) if side in ("left", "right") else ())
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
