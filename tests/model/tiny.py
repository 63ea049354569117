"""A tiny model on a synthetic knowledge context (no KG build, no text encoder): seconds on CPU."""

from __future__ import annotations

import torch

from anatomy_vlm.model.config import ModelConfig
from anatomy_vlm.model.context import KnowledgeContext
from anatomy_vlm.model.vlm import build_model
from kg.sets import finding_set, region_set

TEXT_DIM = 16
TINY = {
    "backbone": "resnet18",
    "backbone_args": {"channels": [8, 16, 32, 64], "stem_width": 8},
    "embed_dim": 32,
    "decoder_layers": 1,
    "decoder_heads": 2,
    "fusion_top_k": 4,
    "text_dim": TEXT_DIM,
}


def tiny_context(*, seed: int = 0, kg_version: str = "test-kg") -> KnowledgeContext:
    """Random unit text features for 40 nodes; the real cig29 / core sets (their order and hash)."""
    g = torch.Generator().manual_seed(seed)
    regions, findings = region_set("cig29"), finding_set("core")
    r, f, n = len(regions.ids), len(findings.ids), 40

    def unit(*shape):
        return torch.nn.functional.normalize(torch.randn(*shape, TEXT_DIM, generator=g), dim=-1)

    return KnowledgeContext(
        kg_version=kg_version,
        region_set=regions,
        finding_set=findings,
        node_ids=tuple(f"node{i}" for i in range(n)),
        node_text=unit(n),
        region_rows=torch.arange(r),
        node_prior=torch.rand(r, n, generator=g).clamp(min=0.05),
        finding_prior=torch.rand(r, f, generator=g).clamp(min=0.05),
        prompts=unit(r, f, 2),
        image_prompts=unit(f, 2),
        prompt_hash="test",
        text_model="test-text",
    )


def tiny_model(kind: str = "anatomy_vlm", *, context: KnowledgeContext | None = None, **overrides):
    config = ModelConfig(kind=kind, **{**TINY, **overrides})
    return build_model(config, context or tiny_context(), seed=0).eval()
