"""The ontology loads in owlready2 and is consistent under its HermiT reasoner (needs Java)."""

from __future__ import annotations

import shutil

import owlready2
import pytest
import rdflib

from tests.ontology.onto_support import ONTOLOGY_DIR

# Java is genuinely optional: it is no Python dependency of the project (owlready2 ships HermiT as a
# jar and needs a system JVM to run it), so without java on PATH these two tests skip; owlready2
# itself is a hard dependency and is imported plainly.
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="HermiT needs a Java runtime (java not on PATH)")


def test_consistent_under_hermit(tmp_path):
    graph = rdflib.Graph()
    for path in sorted(ONTOLOGY_DIR.glob("*.ttl")):
        graph.parse(path, format="turtle")
    ntriples = tmp_path / "anatomy_vlm.nt"  # owlready2 reads N-Triples, not Turtle
    graph.serialize(ntriples, format="nt", encoding="utf-8")
    world = owlready2.World()
    onto = world.get_ontology(ntriples.as_uri()).load()
    classes = {c.name for c in onto.classes()}
    assert {"AnatomicalEntity", "Finding", "right_costophrenic_angle", "pleural_effusion"} <= classes
    with onto:
        owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
    assert list(world.inconsistent_classes()) == []
    # the reasoner used the axioms: part_of's transitivity and is_a chains are visible
    ancestors = {c.name for c in onto.right_costophrenic_angle.ancestors()}
    assert {"costophrenic_angle", "AnatomicalEntity"} <= ancestors


def test_disjoint_top_classes_catch_a_bad_node(tmp_path):
    """Negative control: a node typed both finding and anatomy is unsatisfiable for HermiT."""
    graph = rdflib.Graph().parse(ONTOLOGY_DIR / "anatomy_vlm.ttl", format="turtle")
    graph.parse(
        data=(
            "@prefix avlm: <https://w3id.org/anatomy-vlm/ontology#> .\n"
            "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
            "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
            "avlm:bad_node a owl:Class ; rdfs:subClassOf avlm:Finding, avlm:AnatomicalEntity .\n"
        ),
        format="turtle",
    )
    ntriples = tmp_path / "bad.nt"
    graph.serialize(ntriples, format="nt", encoding="utf-8")
    world = owlready2.World()
    onto = world.get_ontology(ntriples.as_uri()).load()
    with onto:
        owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
    assert "bad_node" in {c.name for c in world.inconsistent_classes()}
