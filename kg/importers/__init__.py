"""Importers for full external terminologies a user holds a licence for.

- :mod:`kg.importers.radlex`: a RadLex OWL release -> terms (RID, preferred name, synonyms,
  parents) and their match onto ontology nodes through ``avlm:radlex`` / ``RADLEX:`` xrefs.
- :mod:`kg.importers.umls`: a UMLS Metathesaurus subset (``MRCONSO.RRF`` + ``MRREL.RRF``) ->
  English preferred names, synonyms, source codes and the relations between CUIs the
  ontology holds.

Nothing here writes into ``ontology/``: licensed strings stay on the user's machine; the shipped
ontology carries identifiers only.
"""

from kg.importers.ids import OntologyIdIndex, ontology_id_index
from kg.importers.radlex import RadLexImport, RadLexTerm, import_radlex, read_radlex_owl
from kg.importers.umls import (
    UmlsConcept,
    UmlsImport,
    UmlsRelation,
    import_umls,
    read_mrconso,
    read_mrrel,
)

__all__ = [
    "OntologyIdIndex", "ontology_id_index",
    "RadLexTerm", "RadLexImport", "read_radlex_owl", "import_radlex",
    "UmlsConcept", "UmlsRelation", "UmlsImport", "read_mrconso", "read_mrrel", "import_umls",
]
