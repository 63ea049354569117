"""Where the parser's vocabulary comes from: the knowledge graph (``kg.AnatomyKG``).

One lexicon per graph is kept in memory (never pickled). When the ``kg`` package has no
graph module (an incomplete install), a minimal vocabulary is made from the named sets
in ``ontology/sets.json`` (region and core finding ids, labels from the ids) plus the parser's
supplement, with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

from anatomy_vlm.report.lexicon import Lexicon

__all__ = ["default_lexicon", "lexicon_of", "node_json", "default_kg"]

_BY_GRAPH: dict[int, tuple[object, Lexicon]] = {}


@dataclass(frozen=True)
class _SetNode:
    """Stand-in node for the sets-only vocabulary."""

    id: str
    label: str
    type: str
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    laterality: str | None = None


@lru_cache(maxsize=1)
def default_kg():
    """``AnatomyKG.load()``, or None when the installed ``kg`` package has no graph module.

    Any error inside a present graph module propagates (it is a real failure, not absence).
    """
    import importlib.util

    if importlib.util.find_spec("kg.graph") is None:
        return None
    from kg import AnatomyKG

    return AnatomyKG.load()


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """Lexicon of the default graph (built once per process)."""
    kg = default_kg()
    if kg is not None:
        return Lexicon.from_kg(kg)
    warnings.warn("kg.AnatomyKG unavailable: report parser uses the sets-only vocabulary", stacklevel=2)
    return Lexicon.from_nodes(sets_nodes())


def lexicon_of(kg) -> Lexicon:
    """Lexicon of a given graph object (kept while that object lives)."""
    key = id(kg)
    cached = _BY_GRAPH.get(key)
    if cached is None or cached[0] is not kg:
        cached = (kg, Lexicon.from_kg(kg))
        _BY_GRAPH[key] = cached
    return cached[1]


def sets_nodes() -> list[_SetNode]:
    """Region (cig38_text + cig36) and core finding ids from ``sets.json`` as minimal nodes."""
    from kg.sets import finding_set, region_set, set_names

    regions: dict[str, None] = {}
    for name in set_names()["region_sets"]:
        regions.update(dict.fromkeys(region_set(name).ids))
    findings = finding_set("core").ids
    nodes = [_SetNode(r, r.replace("_", " "), "anatomy") for r in regions]
    for extra in ("lung", "hilar_structures"):
        nodes.append(_SetNode(extra, extra.replace("_", " "), "anatomy"))
    devices = {"endotracheal_tube", "enteric_tube", "central_venous_catheter", "pacemaker"}
    nodes += [_SetNode(f, f.replace("_", " "), "device" if f in devices else "finding") for f in findings]
    return nodes


def node_json(kg, node_id: str) -> dict:
    """The public JSON node of ``node_id`` (``{"id","label","type","radlex","umls","synonyms"}``)."""
    graph = kg if kg is not None else default_kg()
    if graph is not None:
        try:
            return graph.node(node_id).to_json()
        except Exception:  # an id from the supplement the graph lacks: fall through
            pass
    return {"id": node_id, "label": node_id.replace("_", " "), "type": None, "radlex": None,
            "umls": None, "synonyms": []}
