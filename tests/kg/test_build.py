"""Build and cache: version key, cached reload, problems reported, ontology parsing."""

from __future__ import annotations

import json

import pytest

from kg import AnatomyKG
from kg.build import load_or_build, version_key
from kg.errors import OntologyError
from kg.ontology import read_crosswalks

from .conftest import MINI


def test_cached_reload_is_identical(mini_kg, mini_corpora, kg_cache):
    again = AnatomyKG.load(ontology=MINI, data=mini_corpora)
    assert again.version == mini_kg.version
    assert again.raw["evidence"] == mini_kg.raw["evidence"]
    cached = list((kg_cache / "kg").glob(f"graph-{mini_kg.version}.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["format"] == 1


def test_version_changes_with_ontology_and_corpora(tmp_path, mini_corpora):
    onto = tmp_path / "onto"
    (onto / "crosswalks").mkdir(parents=True)
    for item in MINI.rglob("*"):
        if item.is_file():
            (onto / item.relative_to(MINI)).write_bytes(item.read_bytes())
    first = version_key(onto, mini_corpora)
    assert version_key(onto, None) != first
    with (onto / "mini.ttl").open("a") as handle:
        handle.write('\navlm:spine a owl:Class ; rdfs:subClassOf avlm:AnatomicalEntity ; rdfs:label "spine"@en .\n')
    assert version_key(onto, mini_corpora) != first
    graph = load_or_build(onto=onto, data=mini_corpora)
    assert "spine" in graph["nodes"]


def test_ontology_parse_types_and_edges(mini_kg):
    assert mini_kg.node("pneumonia").type == "disease"
    assert mini_kg.node("left").type == "qualifier"
    assert ("consolidation", "is_a", "lung_opacity") in mini_kg.edges("is_a")
    assert ("right_lower_lobe", "overlaps", "right_lower_lung_zone") in mini_kg.edges()
    # symmetric relations are usable from both ends
    assert mini_kg.lateral_counterpart("right_lung") == "left_lung"
    assert mini_kg.node("left_costophrenic_angle").cig_short == "LCOA"


def test_bad_crosswalk_and_projection_reported(tmp_path):
    onto = tmp_path / "o"
    (onto / "crosswalks").mkdir(parents=True)
    (onto / "crosswalks" / "x.tsv").write_text("label\tid\n")
    with pytest.raises(OntologyError, match="header"):
        read_crosswalks(onto)
    for item in MINI.rglob("*"):
        if item.is_file():
            (onto / item.relative_to(MINI)).write_bytes(item.read_bytes())
    (onto / "crosswalks" / "x.tsv").unlink()
    with (onto / "projections.tsv").open("a") as handle:
        handle.write("no_such_node\tleft_lung\t1.0\t\n")
    graph = load_or_build(onto=onto, data=None)
    assert any("no_such_node" in p for p in graph["problems"])
    assert graph["missing"] and graph["evidence"]["located_in"] == []


def test_missing_turtle_is_an_ontology_error(tmp_path):
    (tmp_path / "sets.json").write_text("{}")
    with pytest.raises(OntologyError, match="no Turtle"):
        load_or_build(onto=tmp_path, data=None)
