"""Dataset label vocabularies -> ontology finding ids, through the ontology crosswalks.

Crosswalk ``match`` is read SKOS-style, from the dataset label to the ontology id:

- ``exact``: the value is copied (1, 0, uncertain).
- ``broad`` (the ontology concept is broader than the label): only positives carry over
  (a positive "Infiltration" is a positive lung opacity; a negative says nothing).
- ``narrow`` (the ontology concept is narrower, e.g. VinDr "Nodule/Mass" -> nodule): negatives
  carry over; a positive or hedged value becomes *uncertain* (NaN + uncertain mask, whatever
  the uncertainty policy), since it may be either.
- ``related`` / ``unmapped``: ignored.

A crosswalk target outside the chosen finding set still reaches the set through the KG's
``is_a`` hierarchy: an ``exact``/``broad`` target reaches its ancestors as ``broad``
(``ij line`` -> jugular CVC => central_venous_catheter); an ``exact``/``narrow`` target reaches
its descendants as ``narrow`` (CheXpert ``Fracture`` -> fracture -> rib_fracture: negatives
carry, positives are uncertain).

Several labels reaching one finding merge as: positive > uncertain > negative > unknown.

The crosswalk and the ``is_a`` hierarchy come from the KG (:func:`anatomy_vlm.kgload.load_kg`,
or a graph passed in), which raises when it cannot be built: a broken KG never silently
changes labels through a hand-copied fallback.

CheXpert-style values (1 / 0 / -1 / blank) follow a declared :class:`UncertaintyPolicy`:
``ignore`` (default, U-ignore: -1 -> NaN with the uncertain mask set), ``ones`` (U-ones:
-1 -> 1, mask set), ``zeros`` (U-zeros: -1 -> 0, mask set). Blank is always NaN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["UncertaintyPolicy", "Crosswalk", "kg_crosswalk", "LabelMapper", "POS", "NEG", "UNC"]

POS, NEG, UNC = 1.0, 0.0, -1.0  # source values: positive, negative, uncertain (NaN = blank)

Crosswalk = Callable[[str, str], list[tuple[str, str]]]
"""``(vocabulary, label) -> [(ontology_id, match), ...]``; empty when unmapped/unknown."""


class UncertaintyPolicy(str, Enum):
    """What a hedged (-1) label becomes. The uncertain mask is set in every policy."""

    IGNORE = "ignore"
    ONES = "ones"
    ZEROS = "zeros"

    def value_of(self) -> float:
        return {"ignore": math.nan, "ones": 1.0, "zeros": 0.0}[self.value]


def kg_crosswalk(graph=None) -> Crosswalk:
    """The KG's ``crosswalk`` as a lookup (``graph`` default: :func:`anatomy_vlm.kgload.load_kg`,
    which raises when the KG cannot be built). An unknown vocabulary raises ``UnknownTermError``;
    a label the vocabulary does not list maps to nothing."""
    if graph is None:
        from anatomy_vlm.kgload import load_kg

        graph = load_kg()

    from kg.errors import UnknownTermError

    @lru_cache(maxsize=64)
    def known(vocabulary: str) -> bool:
        graph.crosswalk(vocabulary)  # UnknownTermError for a vocabulary the KG does not have
        return True

    @lru_cache(maxsize=4096)
    def lookup(vocabulary: str, label: str) -> list[tuple[str, str]]:
        known(vocabulary)
        try:
            entries = graph.crosswalk(vocabulary, label)
        except UnknownTermError:  # the vocabulary is known (checked above): an unlisted label
            return []
        return [(e.ontology_id, e.match) for e in entries if e.ontology_id and e.match != "unmapped"]

    return lookup


Hierarchy = Callable[[str, str], list[str]]
"""``(node_id, "ancestors" | "descendants") -> is_a ids``."""


def kg_hierarchy(graph=None) -> Hierarchy:
    """``is_a`` ancestors/descendants from the KG (``graph`` default:
    :func:`anatomy_vlm.kgload.load_kg`, which raises when the KG cannot be built). An id the KG
    does not have (a crosswalk target outside the graph) has none."""
    if graph is None:
        from anatomy_vlm.kgload import load_kg

        graph = load_kg()

    @lru_cache(maxsize=4096)
    def lookup(node_id: str, direction: str) -> list[str]:
        if node_id not in graph:
            return []
        method = graph.ancestors if direction == "ancestors" else graph.descendants
        return list(method(node_id, relation="is_a"))

    return lookup


_UP = {"exact": "broad", "broad": "broad"}
_DOWN = {"exact": "narrow", "narrow": "narrow"}
_STRENGTH = {"exact": 2, "broad": 1, "narrow": 1}


def _merge(a: float, a_unc: bool, b: float, b_unc: bool) -> tuple[float, bool]:
    """positive > uncertain > negative > unknown."""
    def rank(v: float, u: bool) -> int:
        if v == 1.0 and not u:
            return 3
        if u:
            return 2
        return 1 if v == 0.0 else 0

    return (a, a_unc) if rank(a, a_unc) >= rank(b, b_unc) else (b, b_unc)


class LabelMapper:
    """Maps one dataset vocabulary onto an ordered list of finding ids.

    Args:
        vocabulary: crosswalk name (``chexpert``, ``chestxray14``, ``vindr`` …).
        finding_ids: the columns of the output, in order.
        crosswalk: lookup function; default :func:`kg_crosswalk`.
        policy: what a -1 becomes (:class:`UncertaintyPolicy`).
        hierarchy: ``is_a`` lookup for targets outside the set: ``"kg"`` (default,
            :func:`kg_hierarchy`), a callable, or None (targets outside the set are dropped).
    """

    def __init__(
        self,
        *,
        vocabulary: str,
        finding_ids: Iterable[str],
        crosswalk: Crosswalk | None = None,
        policy: UncertaintyPolicy | str = UncertaintyPolicy.IGNORE,
        hierarchy: Hierarchy | str | None = "kg",
    ) -> None:
        self.vocabulary = vocabulary
        self.finding_ids = tuple(finding_ids)
        self._column = {fid: j for j, fid in enumerate(self.finding_ids)}
        self._crosswalk = crosswalk or kg_crosswalk()
        self.policy = UncertaintyPolicy(policy)
        self._hierarchy = kg_hierarchy() if hierarchy == "kg" else hierarchy
        self.unmapped: set[str] = set()
        self._targets: dict[str, list[tuple[int, str]]] = {}

    def _expand(self, target: str, match: str) -> list[tuple[str, str]]:
        if target in self._column or self._hierarchy is None:
            return [(target, match)]
        up = [(a, _UP[match]) for a in self._hierarchy(target, "ancestors") if match in _UP]
        down = [(d, _DOWN[match]) for d in self._hierarchy(target, "descendants") if match in _DOWN]
        return up + down

    def targets(self, label: str) -> list[tuple[int, str]]:
        """``[(column, match), ...]`` for a source label; empty when it reaches no column."""
        if label in self._targets:
            return self._targets[label]
        best: dict[int, str] = {}
        for target, match in self._crosswalk(self.vocabulary, label):
            if match not in _STRENGTH:
                continue
            for node, how in self._expand(target, match):
                column = self._column.get(node)
                if column is not None and _STRENGTH[how] > _STRENGTH.get(best.get(column, ""), 0):
                    best[column] = how
        hits = sorted(best.items())
        self._targets[label] = hits
        if not hits and label not in self.unmapped:
            self.unmapped.add(label)
            log.debug("%s label %r reaches no finding of the chosen set", self.vocabulary, label)
        return hits

    def _one(self, value: float, match: str) -> tuple[float, bool] | None:
        """(label, uncertain) for one source value through one match type; None = no info."""
        if math.isnan(value):
            return None
        if value == UNC:  # hedged: the policy's value, except through a narrow match
            if match in {"exact", "broad"}:
                return self.policy.value_of(), True
            return (math.nan, True) if match == "narrow" else None
        if match == "exact":
            return value, False
        if match == "broad":
            return (1.0, False) if value == POS else None
        if match == "narrow":
            return (0.0, False) if value == NEG else (math.nan, True)
        return None

    def map(self, values: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Source label -> value (1, 0, -1, NaN) into ``([F] float32, [F] bool)``."""
        labels = np.full(len(self.finding_ids), np.nan, dtype=np.float32)
        uncertain = np.zeros(len(self.finding_ids), dtype=bool)
        for label, value in values.items():
            for column, match in self.targets(label):
                got = self._one(float(value), match)
                if got is None:
                    continue
                labels[column], uncertain[column] = _merge(
                    float(labels[column]), bool(uncertain[column]), *got
                )
        return labels, uncertain

    def positives(self, label: str) -> list[int]:
        """Columns a *positive* occurrence of ``label`` sets to 1 (exact / broad matches)."""
        return [c for c, m in self.targets(label) if m in {"exact", "broad"}]

    def box_columns(self, label: str) -> list[int]:
        """Columns a lesion box of ``label`` is annotated with: every exact / broad / narrow
        target (a VinDr "Nodule/Mass" box is kept once as nodule and once as mass)."""
        return [c for c, _ in self.targets(label)]


    def set_ids(self, finding_id: str, *, positive: bool) -> list[str]:
        """Finding-set ids an ontology finding id stands for: itself when in the set; else, for a
        positive statement, its ``is_a`` ancestors in the set; for a negated one, its
        descendants in the set (no hierarchy: nothing)."""
        if finding_id in self._column:
            return [finding_id]
        if self._hierarchy is None:
            return []
        direction = "ancestors" if positive else "descendants"
        return [i for i in self._hierarchy(finding_id, direction) if i in self._column]
