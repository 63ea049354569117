"""Anatomy queries: one per region of the region set, each seeded by its KG node embedding.

Each query is ``node_embedding(region) + offset(region)`` (offset initialised at zero), so it
starts from, and stays conditioned on, what the KG says the region is. The queries cross-attend
to the image (a small transformer decoder over a CNN feature map, or extra ViT tokens) and give a
region feature and a box per region. Queries are tied to their regions: no matching.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from anatomy_vlm.model.backbone import sine_positions

__all__ = ["AnatomyQueries", "AnatomyDecoder", "BoxHead", "RoiFeatures"]


class AnatomyQueries(nn.Module):
    """Region queries from region node embeddings.

    Args:
        num_regions: R.
        dim: query width.
    """

    def __init__(self, *, num_regions: int, dim: int) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(num_regions, dim))

    def forward(self, region_nodes: Tensor, batch: int) -> Tensor:
        """``region_nodes`` ``[R, dim]`` → queries ``[batch, R, dim]``."""
        return (region_nodes + self.offset)[None].expand(batch, -1, -1)


class BoxHead(nn.Module):
    """Region feature → box ``(cx, cy, w, h)`` normalised to [0, 1] of the input image."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 4))

    def forward(self, features: Tensor) -> Tensor:
        """``[B, R, dim]`` → ``[B, R, 4]``."""
        return self.mlp(features).sigmoid()


class AnatomyDecoder(nn.Module):
    """Transformer decoder: region queries attend to each other and to the image feature map.

    Args:
        dim: width D of queries and features.
        layers: decoder layers.
        heads: attention heads.
    """

    def __init__(self, *, dim: int, layers: int, heads: int) -> None:
        super().__init__()
        layer = nn.TransformerDecoderLayer(
            d_model=dim,
            nhead=heads,
            dim_feedforward=2 * dim,
            dropout=0.0,
            batch_first=True,
            norm_first=True,
        )
        self.decoder = nn.TransformerDecoder(layer, num_layers=layers)
        self.norm = nn.LayerNorm(dim)

    def forward(self, queries: Tensor, feature_map: Tensor) -> Tensor:
        """``queries`` ``[B, R, D]``, ``feature_map`` ``[B, D, h, w]`` → region features
        ``[B, R, D]``."""
        b, d, h, w = feature_map.shape
        memory = feature_map.flatten(2).transpose(1, 2) + sine_positions(
            h, w, d, device=feature_map.device
        )
        return self.norm(self.decoder(queries, memory))


class RoiFeatures(nn.Module):
    """ROI-Align of the feature map inside each region's predicted box, projected to ``dim``.

    The boxes are detached: the box head learns from the box losses, the pooled features from
    the concept and alignment losses.

    Args:
        dim: channels D of the feature map and of the output.
        size: side of the pooled grid.
    """

    def __init__(self, *, dim: int, size: int) -> None:
        super().__init__()
        self.size = size
        self.project = nn.Sequential(nn.Linear(dim * size * size, dim), nn.LayerNorm(dim))

    def forward(self, feature_map: Tensor, boxes: Tensor) -> Tensor:
        """``feature_map`` ``[B, D, h, w]``, ``boxes`` ``[B, R, 4]`` ``(cx, cy, w, h)`` in [0, 1]
        → ``[B, R, D]``."""
        from torchvision.ops import roi_align

        b, r, _ = boxes.shape
        h, w = feature_map.shape[-2:]
        cx, cy, bw, bh = boxes.detach().unbind(-1)
        xyxy = torch.stack(
            [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], -1
        )
        index = torch.arange(b, device=boxes.device, dtype=xyxy.dtype)[:, None, None].expand(
            b, r, 1
        )
        rois = torch.cat([index, xyxy], dim=-1).reshape(b * r, 5)
        pooled = roi_align(
            feature_map, rois, output_size=self.size, spatial_scale=1.0, aligned=True
        )
        return self.project(pooled.reshape(b, r, -1))
