"""Knowledge fusion: exact FAISS retrieval, a soft prior, gradients through scores and values."""

import torch

from anatomy_vlm.model.fusion import KnowledgeFusion, faiss_top_k


def test_faiss_top_k_equals_torch_top_k():
    g = torch.Generator().manual_seed(0)
    keys, queries = torch.randn(300, 24, generator=g), torch.randn(50, 24, generator=g)
    rows = faiss_top_k(keys, queries, 7)
    expected = torch.topk(queries @ keys.T, 7, dim=1).indices
    assert torch.equal(rows, expected)


def test_fusion_gradients_reach_scores_and_values_and_prior_is_soft():
    torch.manual_seed(0)
    fusion = KnowledgeFusion(dim=16, top_k=5)
    torch.nn.init.normal_(fusion.out.weight)  # out starts at zero (identity); open it for the test
    regions = torch.randn(2, 3, 16, requires_grad=True)
    nodes = torch.randn(20, 16, requires_grad=True)
    log_prior = torch.full((3, 20), -30.0)  # nearly excluded everywhere, but never -inf
    fused, info = fusion(regions, nodes, log_prior)
    assert info["rows"].shape == (2, 3, 5) and torch.isfinite(info["weights"]).all()
    fused.square().sum().backward()
    assert nodes.grad is not None and nodes.grad.abs().sum() > 0
    assert fusion.key.weight.grad.abs().sum() > 0  # scores
    assert fusion.value.weight.grad.abs().sum() > 0  # values


def test_prior_shifts_attention_towards_plausible_nodes():
    torch.manual_seed(0)
    fusion = KnowledgeFusion(dim=8, top_k=4)
    regions, nodes = torch.randn(1, 1, 8), torch.randn(6, 8)
    flat = fusion(regions, nodes, torch.zeros(1, 6))[1]
    favoured_row = int(flat["rows"][0, 0, -1])  # the least attended of the retrieved
    prior = torch.zeros(1, 6)
    prior[0, favoured_row] = 5.0
    biased = fusion(regions, nodes, prior)[1]
    position = (biased["rows"][0, 0] == favoured_row).nonzero().item()
    assert biased["weights"][0, 0, position] > flat["weights"][0, 0, -1]
