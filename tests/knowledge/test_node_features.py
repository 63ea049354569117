"""KG → featured HeteroData, reverse edges, and adding a node (the inductive input path)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anatomy_vlm.knowledge.node_features import NewEdge, add_node, kg_hetero_data
from tests.knowledge.fixtures import ANATOMY, FINDINGS, FakeKG, HashEncoder, tiny_graph


def test_kg_hetero_data_rows_follow_the_mapping(tmp_path):
    encoder = HashEncoder()
    graph = kg_hetero_data(FakeKG(), encoder=encoder, cache_dir=tmp_path)
    assert graph.data["anatomy"].x.shape == (4, 16) and graph.data["finding"].x.shape == (2, 16)
    heart = encoder.encode(["heart"])[0]
    np.testing.assert_allclose(graph.data["anatomy"].x[ANATOMY.index("heart")].numpy(), heart, atol=1e-6)
    assert graph.locate("cardiomegaly") == ("finding", FINDINGS.index("cardiomegaly"))
    assert graph.mapping["kg_version"] == "test-v1" and graph.mapping["text_model"] == "hash-encoder"
    forward = graph.data["finding", "located_in", "anatomy"].edge_index
    backward = graph.data["anatomy", "rev_located_in", "finding"].edge_index
    assert torch.equal(forward.flip(0), backward)


def test_add_node_appends_features_and_both_edge_directions():
    data = tiny_graph()
    new, row = add_node(data, node_type="finding", features=np.ones(16, dtype=np.float32),
                        edges=[NewEdge("located_in", "anatomy", 1), NewEdge("part_of", "anatomy", 0, outgoing=False)])
    assert row == 2 and new["finding"].x.shape == (3, 16)
    assert [2, 1] in new["finding", "located_in", "anatomy"].edge_index.T.tolist()
    assert [1, 2] in new["anatomy", "rev_located_in", "finding"].edge_index.T.tolist()
    assert new["anatomy", "part_of", "finding"].edge_index.T.tolist() == [[0, 2]]
    assert data["finding"].x.shape == (2, 16)  # the original graph is untouched
    with pytest.raises(KeyError):
        add_node(data, node_type="device", features=np.ones(16), edges=[])
