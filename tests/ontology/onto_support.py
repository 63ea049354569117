"""Helpers shared by the ontology tests: load the Turtle graph, its nodes, crosswalks and sets.

Everything is read from the source tree's ``ontology/`` folder (the files this package ships),
so these tests check exactly what ``kg`` loads.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import rdflib
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from kg.ontology import NS, RELATIONS, TOP_CLASSES

ONTOLOGY_DIR = Path(__file__).resolve().parents[2] / "ontology"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
AVLM = rdflib.Namespace(NS)
TOP_TYPES = TOP_CLASSES
__all__ = ["AVLM", "FIXTURES", "NS", "ONTOLOGY_DIR", "RELATIONS", "TOP_TYPES", "VOCABULARIES",
           "OntNode", "load_nodes", "read_crosswalk", "read_tsv"]
VOCABULARIES = (
    "chexpert", "chestxray14", "vindr", "rsna", "siim", "padchest_labels",
    "padchest_localizations", "openi_mesh", "chest_imagenome",
)


@dataclass
class OntNode:
    """One owl:Class of the ontology, flattened for assertions."""

    id: str
    labels: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    relations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    annotations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    type: str | None = None


def _local(term) -> str | None:
    text = str(term)
    return text[len(NS):] if text.startswith(NS) else None


def _restriction(graph: rdflib.Graph, blank) -> tuple[str, str] | None:
    prop = graph.value(blank, OWL.onProperty)
    target = graph.value(blank, OWL.someValuesFrom)
    if prop is None or target is None:
        return None
    return _local(prop), _local(target)


def load_nodes(graph: rdflib.Graph) -> dict[str, OntNode]:
    """All avlm classes except the five top classes, with parents, relations and annotations."""
    nodes: dict[str, OntNode] = {}
    for subject in graph.subjects(RDF.type, OWL.Class):
        nid = _local(subject)
        if nid is None or nid in TOP_TYPES:
            continue
        node = nodes.setdefault(nid, OntNode(nid))
        for sup in graph.objects(subject, RDFS.subClassOf):
            if isinstance(sup, rdflib.BNode):
                pair = _restriction(graph, sup)
                if pair:
                    node.relations[pair[0]].append(pair[1])
            elif _local(sup):
                node.parents.append(_local(sup))
        node.labels = [str(o) for o in graph.objects(subject, RDFS.label)]
        node.definitions = [str(o) for o in graph.objects(subject, SKOS.definition)]
        node.annotations["altLabel"] = [str(o) for o in graph.objects(subject, SKOS.altLabel)]
        for prop in ("abbreviation", "radlex", "umls", "xref", "unverified", "laterality", "cig_name", "cig_short", "source"):
            node.annotations[prop] = [str(o) for o in graph.objects(subject, AVLM[prop])]
    for node in nodes.values():
        node.type = _top_type(node.id, nodes)
    return nodes


def _top_type(nid: str, nodes: dict[str, OntNode]) -> str | None:
    """The single top-class type reached through is_a, or None when zero or several."""
    found, stack, seen = set(), [nid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        for parent in nodes[current].parents if current in nodes else []:
            if parent in TOP_TYPES:
                found.add(TOP_TYPES[parent])
            else:
                stack.append(parent)
    return found.pop() if len(found) == 1 else None


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a tab-separated file with a header, as dicts."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def read_crosswalk(vocabulary: str) -> list[dict[str, str]]:
    return read_tsv(ONTOLOGY_DIR / "crosswalks" / f"{vocabulary}.tsv")
