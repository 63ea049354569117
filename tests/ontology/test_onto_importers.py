"""RadLex OWL and UMLS RRF importers on tiny synthetic fixtures."""

from __future__ import annotations

import pytest

from kg.errors import OntologyError
from kg.importers import (
    OntologyIdIndex,
    import_radlex,
    import_umls,
    ontology_id_index,
    read_mrconso,
    read_mrrel,
    read_radlex_owl,
)
from tests.ontology.onto_support import FIXTURES

RADLEX_OWL = FIXTURES / "radlex_tiny.owl"
UMLS_DIR = FIXTURES / "umls"
TINY_INDEX = OntologyIdIndex(
    radlex={"RID1243": [("thorax", "preferred")], "RID1302": [("right_lung", "preferred")],
            "RID34539": [("pleural_effusion", "preferred")], "RID4242": [("made_up", "xref")]},
    umls={"C0032227": [("pleural_effusion", "preferred")], "C0032285": [("pneumonia", "preferred")],
          "C0018800": [("cardiomegaly", "preferred")], "C0000001": [("absent_node", "unverified")]},
)


def test_radlex_terms_names_synonyms_parents():
    terms = read_radlex_owl(RADLEX_OWL)
    assert set(terms) == {"RID1243", "RID1301", "RID1302", "RID34539", "RID13296"}
    thorax = terms["RID1243"]
    assert thorax.name == "thorax" and thorax.synonyms == ("chest",) and thorax.parents == ("RID13296",)
    right = terms["RID1302"]
    assert right.synonyms == ("RL",)  # the preferred name is not repeated as a synonym
    assert right.parents == ("RID1301",) and right.part_of == ("RID1243",)
    assert terms["RID1301"].part_of == ("RID1243",)
    assert terms["RID34539"].name == "pleural effusion"  # rdfs:label fallback, www.radlex.org/#RID IRI


def test_radlex_import_matches_ontology_ids():
    result = import_radlex(RADLEX_OWL, index=TINY_INDEX)
    assert result.matched["right_lung"][0].name == "right lung"
    assert result.matched["pleural_effusion"][0].rid == "RID34539"
    assert result.missing == ["RID4242"]
    assert result.summary() == {"terms": 5, "matched_nodes": 3, "missing_rids": 1}


def test_radlex_bad_input(tmp_path):
    with pytest.raises(OntologyError, match="not found"):
        read_radlex_owl(tmp_path / "absent.owl")
    broken = tmp_path / "broken.owl"
    broken.write_text("<rdf:RDF><owl:Class></rdf:RDF>")
    with pytest.raises(OntologyError, match="malformed"):
        read_radlex_owl(broken)


def test_mrconso_english_preferred_names_and_codes():
    concepts = read_mrconso(UMLS_DIR / "MRCONSO.RRF", {"C0032227", "C0032285"})
    assert set(concepts) == {"C0032227", "C0032285"}
    effusion = concepts["C0032227"]
    assert effusion.preferred_name == "Effusion of pleura (fixture)"
    assert effusion.synonyms == ["Pleural fluid (fixture)", "effusion of pleura (fixture)"]  # no Spanish, no suppressed
    assert effusion.codes["RADLEX"] == ["RID34539"]
    assert "FIXTURE_SPA" in effusion.codes
    assert len(read_mrconso(UMLS_DIR / "MRCONSO.RRF")) == 4


def test_mrrel_keeps_relations_between_held_cuis():
    relations = read_mrrel(UMLS_DIR / "MRREL.RRF", {"C0032227", "C0032285", "C0018800"})
    assert [(r.cui1, r.rela, r.cui2) for r in relations] == [
        ("C0032227", "associated_with", "C0032285"),  # duplicate row dropped
        ("C0018800", "may_cause", "C0032227"),
    ]


def test_umls_import_summary():
    result = import_umls(UMLS_DIR, index=TINY_INDEX)
    assert result.missing == ["C0000001"]
    assert result.node_concepts == {"cardiomegaly": ["C0018800"], "pleural_effusion": ["C0032227"],
                                    "pneumonia": ["C0032285"]}
    assert result.summary()["relations"] == 2


def test_umls_bad_input(tmp_path):
    with pytest.raises(OntologyError, match="expected 18 fields"):
        read_mrconso(UMLS_DIR / "BAD.RRF")
    with pytest.raises(OntologyError, match="not found"):
        import_umls(tmp_path, index=TINY_INDEX)


def test_index_of_the_shipped_ontology():
    index = ontology_id_index()
    assert index.nodes_for("radlex", "RID1536") == ["right_costophrenic_angle"]
    assert index.nodes_for("umls", "C0032227") == ["pleural_effusion"]
    assert "pleural_effusion" in index.nodes_for("umls", "C2073625")  # PadChest's CUI as xref
    assert index.nodes_for("umls", "C0225706") == ["right_lung"]  # unverified candidate
    result = import_umls(UMLS_DIR, index=index)
    assert result.node_concepts["pneumonia"] == ["C0032285"]
