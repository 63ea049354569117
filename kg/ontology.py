"""Read the ontology source files: Turtle classes and axioms, crosswalk TSVs, projections.

Everything returned is plain JSON-ready data (dicts and lists), so a built graph can be cached
as JSON. rdflib is imported here only, and only when a build runs.
"""

from __future__ import annotations

import csv
from pathlib import Path

from kg.errors import OntologyError

NS = "https://w3id.org/anatomy-vlm/ontology#"
TOP_CLASSES = {
    "AnatomicalEntity": "anatomy",
    "Finding": "finding",
    "Disease": "disease",
    "SupportDevice": "device",
    "Qualifier": "qualifier",
}
# Object properties kept as axiom edges (ontology README, "Relations between classes").
RELATIONS = ("part_of", "has_finding_site", "may_indicate", "lateral_counterpart", "overlaps", "adjacent_to")
SYMMETRIC = {"lateral_counterpart", "overlaps", "adjacent_to"}
_SKOS = "http://www.w3.org/2004/02/skos/core#"
_SCALAR = {"radlex": NS + "radlex", "umls": NS + "umls", "laterality": NS + "laterality",
           "cig_name": NS + "cig_name", "cig_short": NS + "cig_short", "definition": _SKOS + "definition"}
_LISTS = {"synonyms": _SKOS + "altLabel", "abbreviations": NS + "abbreviation",
          "xrefs": NS + "xref", "unverified": NS + "unverified"}
CROSSWALK_HEADER = ["source_label", "ontology_id", "match", "note"]
MATCHES = {"exact", "broad", "narrow", "related", "unmapped"}


def turtle_files(folder: Path) -> list[Path]:
    """The ontology's Turtle files (``*.ttl`` directly in ``folder``), sorted by name."""
    return sorted(folder.glob("*.ttl"))


def parse_graph(files: list[Path]):
    """Parse Turtle files into one rdflib Graph; malformed Turtle raises OntologyError (one line)."""
    import rdflib

    graph = rdflib.Graph()
    for path in files:
        try:
            graph.parse(path, format="turtle")
        except Exception as err:  # rdflib raises many parser error types
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise OntologyError(f"malformed Turtle in {path.name}: {first[:300]}") from err
    return graph


def read_classes(graph) -> tuple[dict[str, dict], list[list[str]]]:
    """Nodes and axiom edges of the ontology graph.

    Returns ``(nodes, edges)``: ``nodes[id] = {label, type, radlex, umls, synonyms, ...}`` and
    ``edges = [[source_id, relation, target_id], ...]`` with relation ``is_a`` or one of
    :data:`RELATIONS` (symmetric relations stored once per direction found in the file).
    """
    from rdflib import OWL, RDF, RDFS, BNode, URIRef

    classes = {s for s in graph.subjects(RDF.type, OWL.Class) if isinstance(s, URIRef) and str(s).startswith(NS)}
    local = {c: str(c)[len(NS):] for c in classes}
    edges: list[list[str]] = []
    parents: dict[str, list[str]] = {}
    for cls, cid in local.items():
        for sup in graph.objects(cls, RDFS.subClassOf):
            if isinstance(sup, URIRef) and sup in local:
                edges.append([cid, "is_a", local[sup]])
                parents.setdefault(cid, []).append(local[sup])
            elif isinstance(sup, BNode):
                prop = graph.value(sup, OWL.onProperty)
                target = graph.value(sup, OWL.someValuesFrom)
                rel = str(prop)[len(NS):] if prop is not None and str(prop).startswith(NS) else None
                if rel in RELATIONS and target in local:
                    edges.append([cid, rel, local[target]])
        for rel in RELATIONS:  # tolerate direct class-to-class assertions too
            for target in graph.objects(cls, URIRef(NS + rel)):
                if target in local:
                    edges.append([cid, rel, local[target]])
    nodes = {}
    for cls, cid in local.items():
        if cid in TOP_CLASSES:
            continue
        node_type = _type_of(cid, parents)
        if node_type is None:
            raise OntologyError(f"class {cid} descends from none of {sorted(TOP_CLASSES)}")
        nodes[cid] = _annotations(graph, cls, cid, node_type)
    edges = [e for e in _dedup(edges) if e[0] in nodes and e[2] in nodes]
    return nodes, edges


def _type_of(cid: str, parents: dict[str, list[str]]) -> str | None:
    seen, stack = set(), [cid]
    while stack:
        cur = stack.pop()
        if cur in TOP_CLASSES:
            return TOP_CLASSES[cur]
        if cur not in seen:
            seen.add(cur)
            stack.extend(parents.get(cur, []))
    return None


def _annotations(graph, cls, cid: str, node_type: str) -> dict:
    from rdflib import RDFS, Literal, URIRef

    labels = [o for o in graph.objects(cls, RDFS.label) if isinstance(o, Literal)]
    label = next((str(o) for o in labels if o.language in (None, "en")), None)
    record: dict = {"label": label or cid.replace("_", " "), "type": node_type}
    for key, iri in _SCALAR.items():
        values = sorted(str(o) for o in graph.objects(cls, URIRef(iri)))
        record[key] = values[0] if values else None
    for key, iri in _LISTS.items():
        record[key] = sorted({str(o) for o in graph.objects(cls, URIRef(iri))})
    return record


def _dedup(edges: list[list[str]]) -> list[list[str]]:
    seen, out = set(), []
    for edge in edges:
        key = tuple(edge)
        if key not in seen:
            seen.add(key)
            out.append(edge)
    return out


def read_crosswalks(folder: Path) -> dict[str, list[list[str]]]:
    """All ``crosswalks/<vocabulary>.tsv`` files: ``{vocabulary: [[label, id, match, note], ...]}``."""
    out: dict[str, list[list[str]]] = {}
    for path in sorted((folder / "crosswalks").glob("*.tsv")):
        rows = _read_tsv(path)
        if not rows or [h.strip() for h in rows[0][:4]] != CROSSWALK_HEADER:
            raise OntologyError(f"crosswalk {path.name}: header must be {' '.join(CROSSWALK_HEADER)}")
        entries = []
        for line_no, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            row = (row + ["", "", "", ""])[:4]
            label, oid, match, note = (cell.strip() for cell in row)
            if match not in MATCHES:
                raise OntologyError(f"crosswalk {path.name} line {line_no}: bad match {match!r}")
            entries.append([label, oid, match, note])
        out[path.stem] = entries
    return out


def read_projections(folder: Path) -> list[list]:
    """Weighted ``projects_onto`` rows from ``projections.tsv``: ``[[source_id, region_id, weight, note]]``.

    Columns are found by header name: the first of source/anatomy/from, target/region/to, weight.
    A missing file gives an empty list.
    """
    path = folder / "projections.tsv"
    if not path.is_file():
        return []
    rows = [r for r in _read_tsv(path) if r and not r[0].startswith("#")]
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    src = _column(header, ("source_id", "source", "anatomy", "from", "anatomy_id"), path)
    dst = _column(header, ("region_id", "target", "region", "to", "target_id"), path)
    wgt = _column(header, ("weight", "w"), path)
    note = header.index("note") if "note" in header else None
    out = []
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) <= max(src, dst, wgt):
            continue
        try:
            weight = float(row[wgt])
        except ValueError as err:
            raise OntologyError(f"projections.tsv line {line_no}: weight {row[wgt]!r} is not a number") from err
        out.append([row[src].strip(), row[dst].strip(), weight, row[note].strip() if note is not None and note < len(row) else ""])
    return out


def _column(header: list[str], names: tuple[str, ...], path: Path) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    raise OntologyError(f"{path.name}: no column named any of {', '.join(names)}")


def _read_tsv(path: Path) -> list[list[str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    except (OSError, UnicodeDecodeError) as err:
        raise OntologyError(f"cannot read {path.name}: {err}") from err
