"""Knowledge encoder: shapes, training, inductive embedding, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anatomy_vlm.knowledge.errors import KnowledgeFileError, KnowledgeMismatchError
from anatomy_vlm.knowledge.gnn import build_encoder, embed_new_node, load_encoder, save_encoder
from anatomy_vlm.knowledge.node_features import NewEdge, add_node
from anatomy_vlm.knowledge.train import (
    TrainConfig,
    auroc,
    evaluate_links,
    gnn_scorer,
    split_links,
    text_baseline_scorer,
    train_link_prediction,
)
from tests.knowledge.fixtures import ANATOMY, ring_graph, tiny_graph

LOCATED = ("finding", "located_in", "anatomy")


def test_forward_shapes_and_unit_norm():
    data = tiny_graph()
    encoder, decoder = build_encoder(data, target_edge_types=[LOCATED], preset="tiny")
    z = encoder(data.x_dict, data.edge_index_dict)
    assert z["anatomy"].shape == (4, 16) and z["finding"].shape == (2, 16)
    torch.testing.assert_close(z["anatomy"].norm(dim=-1), torch.ones(4))
    logits = decoder(z["finding"][[0, 1]], z["anatomy"][[1, 3]], LOCATED)
    assert logits.shape == (2,)
    assert decoder.score_all(z["finding"], z["anatomy"], LOCATED).shape == (2, 4)


def test_unknown_edge_types_are_ignored_and_unknown_node_types_rejected():
    data = tiny_graph()
    encoder, _ = build_encoder(data, preset="tiny")
    base = encoder.embed(data)
    extra = dict(data.edge_index_dict)
    extra["anatomy", "adjacent_to", "anatomy"] = torch.tensor([[0], [3]])
    with torch.no_grad():
        out = encoder(data.x_dict, extra)
    torch.testing.assert_close(out["anatomy"], base["anatomy"])
    with pytest.raises(KnowledgeMismatchError):
        encoder({**data.x_dict, "device": torch.zeros(1, 16)}, data.edge_index_dict)


def test_training_reduces_the_loss_and_beats_chance():
    data = ring_graph()
    split = split_links(data, relations=("located_in", "part_of"), val_ratio=0.1, test_ratio=0.2)
    assert LOCATED in split.target_edge_types
    train_edges = {tuple(e) for e in split.train[LOCATED].T.tolist()}
    assert train_edges.isdisjoint(tuple(e) for e in split.test[LOCATED].T.tolist())
    held_out = split.message_graph[LOCATED].edge_index.shape[1]
    assert held_out == split.train[LOCATED].shape[1]  # test/val edges are not in the message graph
    encoder, decoder = build_encoder(data, target_edge_types=split.target_edge_types, preset="tiny")
    result = train_link_prediction(encoder, decoder, split, config=TrainConfig.preset("tiny", epochs=200))
    assert np.mean(result.losses[-5:]) < 0.8 * np.mean(result.losses[:5])
    metrics = evaluate_links(gnn_scorer(encoder, decoder, split.message_graph), split, which="train")
    assert metrics.per_edge_type["|".join(LOCATED)]["auroc"] > 0.7  # fits its training edges
    assert 0.0 <= metrics.hits_at_10 <= 1.0 and metrics.n_edges == sum(e.shape[1] for e in split.train.values())
    baseline = evaluate_links(text_baseline_scorer(split.message_graph), split)
    assert set(baseline.per_edge_type) == {"|".join(et) for et in split.target_edge_types}


def test_new_node_is_embedded_without_retraining():
    data = tiny_graph()
    encoder, decoder = build_encoder(data, target_edge_types=[LOCATED], preset="tiny")
    split = split_links(data, relations=("located_in",), val_ratio=0.0, test_ratio=0.0, min_edges=1)
    train_link_prediction(encoder, decoder, split, config=TrainConfig.preset("tiny", epochs=20))
    before = encoder.embed(data)
    # an isolated new node: nobody else's embedding moves
    isolated, row = add_node(data, node_type="finding", features=data["finding"].x[0], edges=[])
    after = encoder.embed(isolated)
    torch.testing.assert_close(after["anatomy"], before["anatomy"])
    assert after["finding"].shape == (3, 16) and row == 2
    # a twin of left_lung (same text, same neighbours) lands on left_lung
    left = ANATOMY.index("left_lung")
    twin_graph, twin = add_node(data, node_type="anatomy", features=data["anatomy"].x[left],
                                edges=[NewEdge("part_of", "anatomy", 0), NewEdge("located_in", "finding", 0, outgoing=False)])
    z = encoder.embed(twin_graph)["anatomy"]
    similarity = z[:twin] @ z[twin]
    assert int(similarity.argmax()) == left and float(similarity[left]) > 0.95
    direct = embed_new_node(encoder, data, node_type="anatomy", features=data["anatomy"].x[left],
                            edges=[NewEdge("part_of", "anatomy", 0), NewEdge("located_in", "finding", 0, outgoing=False)])
    torch.testing.assert_close(direct, z[twin])


def test_checkpoint_round_trip_and_typed_errors(tmp_path):
    data = tiny_graph()
    encoder, decoder = build_encoder(data, target_edge_types=[LOCATED], preset="tiny")
    weights, config = save_encoder(tmp_path / "encoder", encoder, decoder=decoder, meta={"kg_version": "v1"})
    loaded, loaded_decoder, meta = load_encoder(tmp_path / "encoder", expect={"kg_version": "v1"})
    assert meta == {"kg_version": "v1"} and loaded_decoder is not None
    for t, z in encoder.embed(data).items():
        torch.testing.assert_close(loaded.embed(data)[t], z)
    with pytest.raises(KnowledgeMismatchError):
        load_encoder(tmp_path / "encoder", expect={"kg_version": "v2"})
    good = weights.read_bytes()
    weights.write_bytes(good[:-8] + bytes(b ^ 0xFF for b in good[-8:]))  # flipped bits
    with pytest.raises(KnowledgeFileError):
        load_encoder(tmp_path / "encoder")
    weights.write_bytes(good)
    config.write_text("{not json")
    with pytest.raises(KnowledgeFileError):
        load_encoder(tmp_path / "encoder")


def test_auroc_matches_the_mann_whitney_definition():
    assert auroc(np.array([2.0, 3.0]), np.array([1.0])) == 1.0
    assert auroc(np.array([1.0]), np.array([1.0])) == 0.5  # ties count half
    assert auroc(np.array([0.1, 0.9]), np.array([0.5, 0.2])) == 0.5
    assert np.isnan(auroc(np.array([]), np.array([1.0])))
