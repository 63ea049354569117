"""Knowledge fusion: each region feature retrieves its nearest KG nodes and attends over them.

Retrieval runs through a FAISS flat inner-product index built from the *current* (detached) node
keys on every call: exact, and cheap at KG scale (hundreds of nodes). The attention over the
retrieved nodes uses their *live* keys and values, with the KG's log location prior of each node
at the region added to the logits: a soft prior, never a hard zero, so a node with no evidence
at a region can still be attended to. Gradients flow through the scores and the values.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["NodeEncoder", "KnowledgeFusion", "faiss_top_k"]


class NodeEncoder(nn.Module):
    """KG node embeddings in the model's space: text features → (optional R-GCN) → linear.

    Args:
        text_dim: width of the node text features.
        dim: output width D.
        gnn: an optional :class:`~anatomy_vlm.knowledge.gnn.KnowledgeEncoder` plus its graph
            ``(encoder, x_dict, edge_index_dict, order)``; ``order`` maps its per-type outputs
            back to the row order of the context's ``node_ids``.
    """

    def __init__(self, *, text_dim: int, dim: int, gnn=None) -> None:
        super().__init__()
        self.gnn = gnn
        in_dim = text_dim if gnn is None else gnn.encoder.config.out_dim
        self.project = nn.Linear(in_dim, dim)

    def forward(self, node_text: Tensor) -> Tensor:
        """``node_text`` ``[N, text_dim]`` → ``[N, D]``."""
        features = node_text if self.gnn is None else self.gnn(node_text)
        return self.project(features)


def faiss_top_k(keys: Tensor, queries: Tensor, k: int) -> Tensor:
    """Rows of the ``k`` largest inner products ``queries @ keys.T`` (exact flat FAISS search).

    ``keys`` ``[N, D]``, ``queries`` ``[Q, D]`` (both detached here) → ``[Q, min(k, N)]`` int64.
    """
    from anatomy_vlm.knowledge.index import _faiss

    faiss = _faiss()
    keys_np = np.ascontiguousarray(keys.detach().float().cpu().numpy())
    queries_np = np.ascontiguousarray(queries.detach().float().cpu().numpy())
    index = faiss.IndexFlatIP(keys_np.shape[1])
    index.add(keys_np)
    _, rows = index.search(queries_np, min(k, keys_np.shape[0]))
    return torch.from_numpy(rows).to(queries.device)


class KnowledgeFusion(nn.Module):
    """Prior-biased attention of region features over their top-k retrieved KG nodes.

    Args:
        dim: width D of region features and node embeddings.
        top_k: nodes retrieved per region.
    """

    def __init__(self, *, dim: int, top_k: int) -> None:
        super().__init__()
        self.top_k = top_k
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)  # starts as the identity on region features
        nn.init.zeros_(self.out.bias)
        self.norm = nn.LayerNorm(dim)

    def forward(
        self, region_features: Tensor, nodes: Tensor, log_prior: Tensor
    ) -> tuple[Tensor, dict]:
        """Fuse KG knowledge into region features.

        Args:
            region_features: ``[B, R, D]``.
            nodes: ``[N, D]`` live node embeddings.
            log_prior: ``[R, N]`` log location prior of each node at each region.

        Returns:
            fused features ``[B, R, D]`` and ``{"rows": [B, R, k] retrieved node rows,
            "weights": [B, R, k] attention}``.
        """
        b, r, d = region_features.shape
        queries = self.query(region_features)  # [B, R, D]
        keys, values = self.key(nodes), self.value(nodes)  # [N, D]
        rows = faiss_top_k(keys, queries.reshape(b * r, d), self.top_k).view(b, r, -1)
        logits = (queries[:, :, None, :] * keys[rows]).sum(-1) / math.sqrt(d)
        region_index = torch.arange(r, device=rows.device)[None, :, None].expand_as(rows)
        logits = logits + log_prior[region_index, rows]
        weights = logits.softmax(dim=-1)  # [B, R, k]
        knowledge = (weights[..., None] * values[rows]).sum(dim=2)
        fused = self.norm(region_features + self.out(knowledge))
        return fused, {"rows": rows, "weights": weights}
