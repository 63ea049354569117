"""kg: the Anatomy-VLM knowledge graph (ontology + mined evidence). Never imports torch or anatomy_vlm.

Public API::

    from kg import AnatomyKG, region_set, finding_set, NamedSet
    kg = AnatomyKG.load()           # cached build
    region_set("cig29").ids         # ordered region ids, .hash

Importing ``kg`` is cheap: the graph class and everything heavy load on first use.
"""

from __future__ import annotations

from kg.errors import KGError, OntologyError, QueryError, QueryLimitError, UnknownTermError
from kg.sets import NamedSet, finding_set, region_set

__all__ = [
    "AnatomyKG",
    "NamedSet",
    "region_set",
    "finding_set",
    "Node",
    "Match",
    "Ranked",
    "Step",
    "CrosswalkEntry",
    "KGError",
    "OntologyError",
    "QueryError",
    "QueryLimitError",
    "UnknownTermError",
]


def __getattr__(name: str):
    if name == "AnatomyKG":
        from kg.graph import AnatomyKG

        return AnatomyKG
    if name in ("Node", "Match", "Ranked", "Step", "CrosswalkEntry"):
        from kg import types

        return getattr(types, name)
    raise AttributeError(f"module 'kg' has no attribute {name!r}")
