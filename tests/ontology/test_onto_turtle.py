"""The Turtle files parse, and every node follows the schema in ontology/README.md."""

from __future__ import annotations

import re

import pytest
import rdflib
from rdflib.namespace import OWL, RDF

from tests.ontology.onto_support import NS, ONTOLOGY_DIR, RELATIONS, TOP_TYPES

ID_PATTERN = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
RID = re.compile(r"RID\d+")
CUI = re.compile(r"C\d{7}")
PREFIXED = re.compile(r"(RADLEX:RID\d+|UMLS:C\d{7}|SNOMEDCT:\d+)")
LOBES = ("right_upper_lobe", "right_middle_lobe", "right_lower_lobe", "left_upper_lobe", "lingula", "left_lower_lobe")


@pytest.mark.parametrize("path", sorted(ONTOLOGY_DIR.glob("*.ttl")), ids=lambda p: p.name)
def test_each_file_parses_alone(path):
    g = rdflib.Graph().parse(path, format="turtle")
    assert len(g) > 20


def test_header_declares_ontology_and_properties(graph):
    assert (rdflib.URIRef("https://w3id.org/anatomy-vlm/ontology"), RDF.type, OWL.Ontology) in graph
    for prop in RELATIONS:
        assert (rdflib.URIRef(NS + prop), RDF.type, OWL.ObjectProperty) in graph, prop
    assert (rdflib.URIRef(NS + "part_of"), RDF.type, OWL.TransitiveProperty) in graph
    for prop in ("lateral_counterpart", "overlaps", "adjacent_to"):
        assert (rdflib.URIRef(NS + prop), RDF.type, OWL.SymmetricProperty) in graph


def test_every_node_has_id_label_definition_and_one_type(nodes):
    assert len(nodes) > 350
    for node in nodes.values():
        assert ID_PATTERN.fullmatch(node.id), node.id
        assert len(node.labels) == 1, (node.id, node.labels)
        assert len(node.definitions) == 1, node.id
        definition = node.definitions[0]
        assert definition.endswith(".") and ". " not in definition, (node.id, definition)
        assert node.type in TOP_TYPES.values(), node.id


def test_preferred_labels_are_unique(nodes):
    seen: dict[str, str] = {}
    for node in nodes.values():
        key = node.labels[0].lower()
        assert key not in seen, (node.id, seen.get(key))
        seen[key] = node.id


def test_identifier_patterns(nodes):
    for node in nodes.values():
        ann = node.annotations
        assert all(RID.fullmatch(v) for v in ann["radlex"]), node.id
        assert all(CUI.fullmatch(v) for v in ann["umls"]), node.id
        assert len(ann["radlex"]) <= 1 and len(ann["umls"]) <= 1, node.id
        assert all(PREFIXED.fullmatch(v) for v in ann["xref"] + ann["unverified"]), node.id
        assert set(ann["laterality"]) <= {"left", "right", "bilateral", "midline"}, node.id


def test_relations_point_at_nodes_of_the_right_type(nodes):
    expected = {
        "part_of": "anatomy", "lateral_counterpart": "anatomy", "overlaps": "anatomy",
        "adjacent_to": "anatomy", "has_finding_site": "anatomy", "may_indicate": "disease",
    }
    for node in nodes.values():
        for prop, targets in node.relations.items():
            for target in targets:
                assert target in nodes, (node.id, prop, target)
                assert nodes[target].type == expected[prop], (node.id, prop, target)
        if node.relations.get("part_of"):
            assert node.type == "anatomy", node.id


def test_symmetric_relations_are_stated_on_both_sides(nodes):
    for prop in ("lateral_counterpart", "overlaps", "adjacent_to"):
        for node in nodes.values():
            for target in node.relations.get(prop, []):
                assert node.id in nodes[target].relations.get(prop, []), (prop, node.id, target)


def test_lateral_counterparts_pair_right_with_left(nodes):
    pairs = 0
    for node in nodes.values():
        for target in node.relations.get("lateral_counterpart", []):
            sides = {node.annotations["laterality"][0], nodes[target].annotations["laterality"][0]}
            assert sides == {"left", "right"}, (node.id, target)
            pairs += 1
    assert pairs // 2 >= 20


def test_part_of_has_no_cycles(nodes):
    def ancestors(nid):
        seen, stack = set(), list(nodes[nid].relations.get("part_of", []))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(nodes[current].relations.get("part_of", []))
        return seen

    for nid in nodes:
        assert nid not in ancestors(nid), nid


def test_lobes_overlap_zones_and_are_not_part_of_them(nodes):
    zones = {n.id for n in nodes.values() if "lung_zone" in n.id or "apical_zone" in n.id}
    for lobe in LOBES:
        node = nodes[lobe]
        assert not set(node.relations.get("part_of", [])) & zones, lobe
        assert set(node.relations.get("overlaps", [])) & zones, lobe


def test_chest_imagenome_regions_carry_their_names(nodes, sets):
    cig_ids = set(sets["region_sets"]["cig36"]) | set(sets["region_sets"]["cig38_text"])
    assert len(cig_ids) == 45
    named = {n.id: n.annotations["cig_name"] for n in nodes.values() if n.annotations["cig_name"]}
    assert set(named) == cig_ids
    for nid, names in named.items():
        assert len(names) == 1
        assert names[0].replace(" ", "_") == nid or (nid == "svc" and names[0] == "svc")
        assert nodes[nid].annotations["cig_short"], nid


def test_regions_sit_under_higher_structures(nodes, sets):
    def ancestors(nid):
        seen, stack = set(), [nid]
        while stack:
            current = stack.pop()
            for parent in nodes[current].relations.get("part_of", []) + [
                p for p in nodes[current].parents if p in nodes
            ]:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    roots = {"thorax", "abdomen", "neck", "shoulder", "arm", "spine"}
    for nid in sets["region_sets"]["cig36"] + sets["region_sets"]["cig38_text"]:
        assert nid in roots or ancestors(nid) & roots, nid
    assert "right_lung" in ancestors("right_lower_lung_zone")
    assert "trachea" in ancestors("carina")
    assert "mediastinum" in ancestors("aortic_arch")


def test_every_set_id_is_a_node_of_the_right_type(nodes, sets):
    for name, ids in sets["region_sets"].items():
        assert len(set(ids)) == len(ids), name
        assert all(nodes[i].type == "anatomy" for i in ids), name
    for name, ids in sets["finding_sets"].items():
        assert len(set(ids)) == len(ids), name
        for nid in ids:
            assert nodes[nid].type in {"finding", "disease", "device", "qualifier"}, (name, nid)
    assert len(sets["finding_sets"]["core"]) == 17
    assert len(sets["finding_sets"]["chexpert14"]) == 14
    assert len(sets["finding_sets"]["chestxray14"]) == 14
    assert len(sets["finding_sets"]["vindr22"]) == 22


def test_curated_is_a_and_relations(nodes):
    assert "lung_opacity" in nodes["consolidation"].parents
    assert "rib_fracture" in nodes["callus_rib_fracture"].parents
    assert "fracture" in nodes["rib_fracture"].parents
    assert "support_devices" in nodes["tube"].parents
    assert "costophrenic_angle" in nodes["pleural_effusion"].relations["has_finding_site"]
    assert "pneumonia" in nodes["consolidation"].relations["may_indicate"]
    assert "cardiac_silhouette" in nodes["cardiomegaly"].relations["has_finding_site"]
    findings = [n for n in nodes.values() if n.type == "finding"]
    with_site = [n for n in findings if n.relations.get("has_finding_site")]
    assert len(with_site) / len(findings) > 0.85


def test_synonyms_and_abbreviations_name_one_node(nodes):
    owners: dict[str, set[str]] = {}
    for node in nodes.values():
        for text in node.labels + node.annotations["altLabel"] + node.annotations["abbreviation"]:
            owners.setdefault(text.lower(), set()).add(node.id)
    shared = {text: ids for text, ids in owners.items() if len(ids) > 1}
    assert not shared, shared


def test_id_is_snake_case_of_preferred_label_or_cig_name(nodes):
    def snake(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")

    for node in nodes.values():
        names = node.labels + node.annotations["cig_name"]
        assert node.id in {snake(name) for name in names}, (node.id, names)
