"""Exports: Turtle parses back, GraphML loads in networkx, PyG tensors round-trip with their id mapping."""

from __future__ import annotations

import json

import pytest

from kg.errors import QueryError
from kg.export import hetero_arrays, load_hetero_data


def test_turtle_roundtrip(mini_kg, tmp_path):
    import rdflib

    out = mini_kg.export("ttl", tmp_path / "kg.ttl")[0]
    graph = rdflib.Graph().parse(out, format="turtle")
    avlm = rdflib.Namespace("https://w3id.org/anatomy-vlm/ontology#")
    assert (avlm.consolidation, rdflib.RDFS.subClassOf, avlm.lung_opacity) in graph
    assert len(list(graph.subjects(rdflib.RDF.type, avlm.LocatedInEvidence))) == len(mini_kg.raw["evidence"]["located_in"])


def test_graphml(mini_kg, tmp_path):
    import networkx as nx

    graph = nx.read_graphml(mini_kg.export("graphml", tmp_path / "kg.graphml")[0])
    assert graph.nodes["left_lung"]["type"] == "anatomy"
    relations = {d["relation"] for _u, _v, d in graph.edges(data=True)}
    assert {"is_a", "part_of", "located_in", "projects_onto"} <= relations


def test_pyg_export_and_hetero_data(mini_kg, tmp_path):
    files = mini_kg.export("pyg", tmp_path / "graph.safetensors")
    assert [f.name for f in files] == ["graph.safetensors", "graph.mapping.json"]
    mapping = json.loads(files[1].read_text())
    assert mapping["kg_version"] == mini_kg.version
    data, loaded = load_hetero_data(files[0])
    assert loaded == mapping
    ids = mapping["node_types"]["anatomy"]
    edge_index = data["anatomy", "part_of", "anatomy"].edge_index
    pairs = {(ids[int(a)], ids[int(b)]) for a, b in edge_index.t().tolist()}
    assert ("left_lower_lung_zone", "left_lung") in pairs
    assert data["finding", "located_in", "anatomy"].edge_attr.shape[1] == 3  # studies per source
    direct, direct_map = mini_kg.to_hetero_data()
    assert direct_map == mapping and direct["anatomy"].num_nodes == len(ids)


def test_no_pickle_and_bad_format(mini_kg, tmp_path):
    arrays, _ = hetero_arrays(mini_kg)
    assert all(a.dtype.kind in "if" for a in arrays.values())
    with pytest.raises(QueryError):
        mini_kg.export("pickle", tmp_path / "x.pkl")
