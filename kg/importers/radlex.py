"""Read a RadLex OWL release (RDF/XML) and match its terms onto ontology nodes.

RadLex (RSNA) is distributed as ``RadLex.owl``: one ``owl:Class`` per term, its IRI ending in the
RID (``http://radlex.org/RID/RID1243`` or ``http://www.radlex.org/RID/#RID1243``), with a
``Preferred_name`` (or ``rdfs:label``), ``Synonym`` annotations and ``rdfs:subClassOf`` parents;
part-of links appear as ``Part_Of`` annotations or restrictions. The file is large, so it is
streamed with :func:`xml.etree.ElementTree.iterparse` (memory stays per-class).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from kg.errors import OntologyError
from kg.importers.ids import OntologyIdIndex, ontology_id_index

RID_RE = re.compile(r"RID\d+")
_OWL = "{http://www.w3.org/2002/07/owl#}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RDFS = "{http://www.w3.org/2000/01/rdf-schema#}"
_NAME_TAGS = {"preferred_name", "preferred_name_english", "preflabel"}
_SYNONYM_TAGS = {"synonym", "synonym_english", "altlabel"}
_PART_OF_TAGS = {"part_of", "partof", "is_part_of", "constitutional_part_of", "regional_part_of"}


@dataclass(frozen=True)
class RadLexTerm:
    """One RadLex term. ``parents`` are is-a parent RIDs, ``part_of`` whole-structure RIDs."""

    rid: str
    name: str
    synonyms: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    part_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class RadLexImport:
    """Result of matching a RadLex release onto the ontology.

    ``matched[node_id]`` are the RadLex terms whose RID the node carries (preferred first);
    ``missing`` lists RIDs the ontology names that the release does not contain (retired or
    mistyped ids); ``terms`` is the whole release keyed by RID.
    """

    terms: dict[str, RadLexTerm]
    matched: dict[str, list[RadLexTerm]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {"terms": len(self.terms), "matched_nodes": len(self.matched), "missing_rids": len(self.missing)}


def _local(name: str) -> str:
    """Lower-cased local name of an ElementTree tag (``{ns}name``) or an IRI (``…/name``, ``…#name``)."""
    for sep in ("}", "#", "/"):
        name = name.rsplit(sep, 1)[-1]
    return name.lower()


def _rid_of(iri: str | None) -> str | None:
    found = RID_RE.findall(iri or "")
    return found[-1] if found else None


def _term_from_element(element: ET.Element) -> RadLexTerm | None:
    rid = _rid_of(element.get(f"{_RDF}about") or element.get(f"{_RDF}ID"))
    if rid is None:
        return None
    name, label, synonyms, parents, part_of = None, None, [], [], []
    for child in element:
        tag = _local(child.tag)
        text = (child.text or "").strip()
        target = _rid_of(child.get(f"{_RDF}resource"))
        if tag in _NAME_TAGS and text and name is None:
            name = text
        elif tag == "label" and text and label is None:
            label = text
        elif tag in _SYNONYM_TAGS and text:
            synonyms.append(text)
        elif tag == "subclassof":
            part_of.extend(_restriction_part_of(child))
            if target:
                parents.append(target)
        elif tag in _PART_OF_TAGS and (target or _rid_of(text)):
            part_of.append(target or _rid_of(text))
    preferred = name or label
    if preferred is None:
        return None
    synonyms = [s for s in dict.fromkeys(synonyms) if s != preferred]
    return RadLexTerm(rid, preferred, tuple(synonyms), tuple(dict.fromkeys(parents)), tuple(dict.fromkeys(part_of)))


def _restriction_part_of(subclass_of: ET.Element) -> list[str]:
    """RIDs reached through ``[owl:onProperty part_of; owl:someValuesFrom RID…]`` restrictions."""
    out = []
    for restriction in subclass_of.iter(f"{_OWL}Restriction"):
        prop = restriction.find(f"{_OWL}onProperty")
        value = restriction.find(f"{_OWL}someValuesFrom")
        if prop is None or value is None:
            continue
        if _local(prop.get(f"{_RDF}resource", "")) in _PART_OF_TAGS:
            rid = _rid_of(value.get(f"{_RDF}resource"))
            if rid:
                out.append(rid)
    return out


def read_radlex_owl(path: str | Path) -> dict[str, RadLexTerm]:
    """All RadLex terms of an RDF/XML OWL file, keyed by RID.

    Raises:
        OntologyError: the file is missing or is not well-formed RDF/XML.
    """
    path = Path(path)
    if not path.is_file():
        raise OntologyError(f"RadLex OWL file not found: {path}")
    terms: dict[str, RadLexTerm] = {}
    depth = 0
    try:
        for event, element in ET.iterparse(path, events=("start", "end")):
            if element.tag != f"{_OWL}Class":
                continue
            depth += 1 if event == "start" else -1
            if event == "end" and depth == 0:  # a top-level class, not one nested in a restriction
                term = _term_from_element(element)
                if term is not None:
                    terms[term.rid] = term
                element.clear()
    except ET.ParseError as err:
        raise OntologyError(f"malformed RadLex OWL {path.name}: {err}") from err
    return terms


def import_radlex(path: str | Path, *, index: OntologyIdIndex | None = None) -> RadLexImport:
    """Read a RadLex OWL file and attach its terms to the ontology nodes that carry their RIDs."""
    terms = read_radlex_owl(path)
    index = index or ontology_id_index()
    matched: dict[str, list[RadLexTerm]] = {}
    missing = []
    for rid in sorted(index.radlex):
        if rid not in terms:
            missing.append(rid)
            continue
        for node_id in index.nodes_for("radlex", rid):
            matched.setdefault(node_id, []).append(terms[rid])
    return RadLexImport(terms=terms, matched=matched, missing=missing)
