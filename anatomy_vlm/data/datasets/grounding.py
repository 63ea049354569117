"""Report text -> grounded sentences through the project's report parser
(``anatomy_vlm.report.parse_report``), for datasets without scene graphs (Open-I, MIMIC
reports without Chest ImaGenome).

Each sentence keeps its text; its mentions give ``finding_ids`` (asserted or hedged),
``negated_ids`` (ruled out) and ``region_ids``. Ids are brought onto the chosen sets: findings
through :meth:`LabelMapper.set_ids` (a positive reaches ``is_a`` ancestors in the set, a negation
its descendants), anatomy through :meth:`RegionLocator.named_by`. Sentences without mentions
stay, ungrounded. The parser is part of the package: when it (or the KG it reads) fails, the
error propagates rather than silently returning ungrounded sentences.
"""

from __future__ import annotations

import re

from anatomy_vlm.data.datasets.labels import LabelMapper
from anatomy_vlm.data.datasets.regions import RegionLocator
from anatomy_vlm.data.types import GroundedSentence

__all__ = ["split_sentences", "ground_report"]


def split_sentences(text: str) -> list[str]:
    """Whitespace-normalised sentences (split after . ! ?)."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def ground_report(text: str, *, mapper: LabelMapper, locator: RegionLocator) -> list[GroundedSentence]:
    """Grounded sentences of a report text (module docstring)."""
    from anatomy_vlm.report import parse_report

    sentences = split_sentences(text)
    mentions = parse_report(text)
    grouped: dict[str, dict[str, list[str]]] = {}
    for m in mentions:
        entry = grouped.setdefault(" ".join(m.sentence.split()), {"pos": [], "neg": [], "reg": []})
        entry["neg" if m.negated else "pos"] += mapper.set_ids(m.finding, positive=not m.negated)
        if not m.negated:
            entry["reg"] += [r for region in m.regions for r in locator.named_by(region)]
    out = []
    for sentence in sentences + [s for s in grouped if s not in sentences]:
        entry = grouped.get(sentence)
        if entry is None:
            out.append(GroundedSentence(text=sentence))
            continue
        positive = _unique(entry["pos"])
        out.append(GroundedSentence(
            text=sentence,
            region_ids=_unique(entry["reg"]),
            finding_ids=positive,
            negated_ids=tuple(i for i in _unique(entry["neg"]) if i not in positive),
        ))
    return out
