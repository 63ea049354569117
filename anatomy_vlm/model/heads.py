"""Scoring heads: findings are read off by similarity to prompt embeddings, never by index.

``p(region r, finding f) = σ((s⁺ − s⁻) / τ)`` with ``s±`` the cosine similarity of the region
feature to the positive / negated prompt of ``(f, r)``. No parameter is indexed by finding: the
finding lives only in the prompt text, so swapping two findings' prompts swaps their scores,
and a new finding needs only a prompt.

Image level, one fixed rule (chosen before any test data was seen): the **prior-weighted max**
``p(f) = max_r w(r, f) · p(r, f)`` with ``w`` the KG location prior scaled so its best region is
1, so a finding is as likely as its most convincing plausible region.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["TextProjection", "ConceptScorer", "image_probabilities"]


class TextProjection(nn.Module):
    """Frozen MiniLM embeddings ``[..., text_dim]`` → unit vectors ``[..., D]`` (shared by prompts,
    sentences and reports)."""

    def __init__(self, *, text_dim: int, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(text_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.skip = nn.Linear(text_dim, dim, bias=False)

    def forward(self, text: Tensor) -> Tensor:
        return nn.functional.normalize(self.mlp(text) + self.skip(text), dim=-1)


class ConceptScorer(nn.Module):
    """Concept logits ``(s⁺ − s⁻) / τ`` of region features against cell prompts.

    Args:
        init_temperature: initial τ (learned, as ``log(1/τ)``, clamped to τ ≥ 0.01).
    """

    def __init__(self, *, init_temperature: float) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    @property
    def scale(self) -> Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()

    def forward(self, region_embeddings: Tensor, prompt_embeddings: Tensor) -> Tensor:
        """``region_embeddings`` ``[B, R, D]`` unit, ``prompt_embeddings`` ``[R, F, 2, D]`` unit
        (positive, negated) → logits ``[B, R, F]``."""
        similarity = torch.einsum("brd,rfkd->brfk", region_embeddings, prompt_embeddings)
        return (similarity[..., 0] - similarity[..., 1]) * self.scale


def image_probabilities(region_probs: Tensor, finding_prior: Tensor) -> Tensor:
    """Prior-weighted max over regions: ``[B, R, F]``, prior ``[R, F]`` → ``[B, F]``."""
    weight = finding_prior / finding_prior.amax(dim=0, keepdim=True).clamp(min=1e-6)
    return (region_probs * weight[None]).amax(dim=1)
