"""Read a UMLS Metathesaurus subset (MRCONSO.RRF + MRREL.RRF) for the CUIs the ontology holds.

Both files are pipe-delimited with a trailing ``|`` and no header (UMLS Reference Manual,
section 3.3). Columns used:

- ``MRCONSO``: CUI(0) LAT(1) TS(2) STT(4) ISPREF(6) SAB(11) TTY(12) CODE(13) STR(14) SUPPRESS(16)
- ``MRREL``: CUI1(0) REL(3) CUI2(4) RELA(7) SAB(10) SUPPRESS(14)

The English preferred name of a concept is its ``LAT=ENG, TS=P, STT=PF, ISPREF=Y`` row.
Suppressed rows (SUPPRESS in O, E, Y) are skipped. Files are streamed line by line, so a full
release can be read with a CUI filter in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kg.errors import OntologyError
from kg.importers.ids import OntologyIdIndex, ontology_id_index

MRCONSO_COLUMNS = 18
MRREL_COLUMNS = 16
_SUPPRESSED = {"O", "E", "Y"}


@dataclass
class UmlsConcept:
    """A CUI with its English preferred name, other English strings and source codes."""

    cui: str
    preferred_name: str | None = None
    synonyms: list[str] = field(default_factory=list)
    codes: dict[str, list[str]] = field(default_factory=dict)  # SAB -> codes, e.g. {"RADLEX": ["RID1243"]}


@dataclass(frozen=True)
class UmlsRelation:
    """One MRREL row between two CUIs: ``cui1 --rel/rela--> cui2`` asserted by source ``sab``."""

    cui1: str
    rel: str
    rela: str
    cui2: str
    sab: str


@dataclass(frozen=True)
class UmlsImport:
    """Concepts and relations of the ontology's CUIs; ``missing`` = CUIs absent from MRCONSO."""

    concepts: dict[str, UmlsConcept]
    relations: list[UmlsRelation]
    missing: list[str]
    node_concepts: dict[str, list[str]]  # node id -> its CUIs present in the release

    def summary(self) -> dict[str, int]:
        return {"concepts": len(self.concepts), "relations": len(self.relations),
                "missing_cuis": len(self.missing), "matched_nodes": len(self.node_concepts)}


def _rows(path: Path, width: int) -> Iterator[list[str]]:
    if not path.is_file():
        raise OntologyError(f"UMLS file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.rstrip("\n\r")
            if not line:
                continue
            cells = line.split("|")
            if cells and cells[-1] == "":
                cells = cells[:-1]
            if len(cells) != width:
                raise OntologyError(f"{path.name} line {line_no}: expected {width} fields, got {len(cells)}")
            yield cells


def read_mrconso(path: str | Path, cuis: Iterable[str] | None = None) -> dict[str, UmlsConcept]:
    """English concepts of MRCONSO.RRF, limited to ``cuis`` when given."""
    wanted = set(cuis) if cuis is not None else None
    concepts: dict[str, UmlsConcept] = {}
    for cells in _rows(Path(path), MRCONSO_COLUMNS):
        cui, lat, ts, stt, ispref, sab, code, text, suppress = (
            cells[0], cells[1], cells[2], cells[4], cells[6], cells[11], cells[13], cells[14], cells[16])
        if (wanted is not None and cui not in wanted) or suppress in _SUPPRESSED:
            continue
        concept = concepts.setdefault(cui, UmlsConcept(cui))
        if code:
            codes = concept.codes.setdefault(sab, [])
            if code not in codes:
                codes.append(code)
        if lat != "ENG":
            continue
        if ts == "P" and stt == "PF" and ispref == "Y" and concept.preferred_name is None:
            concept.preferred_name = text
        elif text not in concept.synonyms:
            concept.synonyms.append(text)
    for concept in concepts.values():
        concept.synonyms = [s for s in concept.synonyms if s != concept.preferred_name]
    return concepts


def read_mrrel(path: str | Path, cuis: Iterable[str]) -> list[UmlsRelation]:
    """MRREL.RRF rows whose two CUIs are both in ``cuis`` (self-relations dropped, deduplicated)."""
    wanted = set(cuis)
    seen: set[UmlsRelation] = set()
    out: list[UmlsRelation] = []
    for cells in _rows(Path(path), MRREL_COLUMNS):
        cui1, rel, cui2, rela, sab, suppress = cells[0], cells[3], cells[4], cells[7], cells[10], cells[14]
        if cui1 == cui2 or cui1 not in wanted or cui2 not in wanted or suppress in _SUPPRESSED:
            continue
        relation = UmlsRelation(cui1, rel, rela, cui2, sab)
        if relation not in seen:
            seen.add(relation)
            out.append(relation)
    return out


def import_umls(meta_dir: str | Path, *, index: OntologyIdIndex | None = None) -> UmlsImport:
    """Read ``MRCONSO.RRF`` and ``MRREL.RRF`` from ``meta_dir`` for the ontology's CUIs."""
    meta_dir = Path(meta_dir)
    index = index or ontology_id_index()
    cuis = set(index.umls)
    concepts = read_mrconso(meta_dir / "MRCONSO.RRF", cuis)
    relations = read_mrrel(meta_dir / "MRREL.RRF", cuis)
    node_concepts: dict[str, list[str]] = {}
    for cui in sorted(concepts):
        for node_id in index.nodes_for("umls", cui):
            node_concepts.setdefault(node_id, []).append(cui)
    return UmlsImport(concepts=concepts, relations=relations,
                      missing=sorted(cuis - set(concepts)), node_concepts=node_concepts)
