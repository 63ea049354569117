"""Index of the external identifiers the ontology holds: RadLex RID / UMLS CUI -> node ids."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from kg.ontology import parse_graph, read_classes, turtle_files
from kg.paths import ontology_dir


@dataclass(frozen=True)
class OntologyIdIndex:
    """Where each external id sits in the ontology.

    ``radlex[rid]`` / ``umls[cui]`` list ``(node_id, how)`` with ``how`` one of
    ``preferred`` (avlm:radlex / avlm:umls), ``xref`` or ``unverified``.
    """

    radlex: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    umls: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def nodes_for(self, scheme: str, code: str) -> list[str]:
        """Node ids carrying ``code`` of ``scheme`` (``"radlex"`` or ``"umls"``), preferred first."""
        table = self.radlex if scheme == "radlex" else self.umls
        order = {"preferred": 0, "xref": 1, "unverified": 2}
        return [nid for nid, _ in sorted(table.get(code, []), key=lambda pair: order[pair[1]])]


def ontology_id_index(folder: Path | None = None) -> OntologyIdIndex:
    """Read the ontology's Turtle files (default: :func:`kg.paths.ontology_dir`) into an index."""
    nodes, _ = read_classes(parse_graph(turtle_files(folder or ontology_dir())))
    radlex: dict[str, list[tuple[str, str]]] = defaultdict(list)
    umls: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for nid, record in nodes.items():
        if record.get("radlex"):
            radlex[record["radlex"]].append((nid, "preferred"))
        if record.get("umls"):
            umls[record["umls"]].append((nid, "preferred"))
        for how in ("xrefs", "unverified"):
            for value in record.get(how, []):
                scheme, _, code = value.partition(":")
                target = {"RADLEX": radlex, "UMLS": umls}.get(scheme)
                if target is not None and code:
                    target[code].append((nid, "xref" if how == "xrefs" else "unverified"))
    return OntologyIdIndex(radlex=dict(radlex), umls=dict(umls))
