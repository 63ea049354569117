"""The two image-text models that share the engine: :class:`AnatomyVLM` and :class:`HolisticCLIP`.

Both return a dict of named outputs whose keys are what :mod:`anatomy_vlm.model.losses` reads
(B images, R regions, F findings, D joint width, S sentences):

- ``"image_embedding"`` ``[B, D]`` unit; ``"report_embedding"`` ``[B, D]`` unit (when reports
  are given); ``"sentence_embedding"`` ``[S, D]`` unit (when sentences are given);
- ``"concept_logits"`` ``[B, R, F]``: ``(s⁺ − s⁻)/τ`` against the cell prompts;
- ``"region_embedding"`` ``[B, R, D]`` unit and ``"boxes"`` ``[B, R, 4]`` ``(cx, cy, w, h)``
  in [0, 1] (Anatomy-VLM only);
- ``"contrast"``: ``{"image": (scale, bias), "region": (scale, bias)}`` of the sigmoid losses.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from anatomy_vlm.model.anatomy_decoder import AnatomyDecoder, AnatomyQueries, BoxHead, RoiFeatures
from anatomy_vlm.model.backbone import CNNBackbone, ViTBackbone
from anatomy_vlm.model.config import HolisticRegionScoring, ModelConfig, ModelKind, QueryPlacement
from anatomy_vlm.model.context import KnowledgeContext
from anatomy_vlm.model.fusion import KnowledgeFusion, NodeEncoder
from anatomy_vlm.model.heads import ConceptScorer, TextProjection, image_probabilities

__all__ = ["AnatomyVLM", "HolisticCLIP", "build_model", "boxes_to_pixels"]


class _ImageTextModel(nn.Module):
    """What both kinds share: the KG tensors as buffers, text projection, τ, contrast scales."""

    def __init__(self, config: ModelConfig, context: KnowledgeContext) -> None:
        super().__init__()
        self.config = config
        self.context_meta = context.meta()
        self.region_set, self.finding_set = context.region_set, context.finding_set
        node_text = context.node_text.float().clone()
        if config.shuffle_knowledge:  # ablation: every node gets another node's text
            order = torch.randperm(len(node_text), generator=torch.Generator().manual_seed(0))
            node_text = node_text[order]
        self.register_buffer("node_text", node_text)
        self.register_buffer("region_rows", context.region_rows.clone())
        self.register_buffer("node_log_prior", context.node_prior.float().clamp(min=1e-6).log())
        self.register_buffer("finding_prior", context.finding_prior.float().clone())
        self.register_buffer("prompts", context.prompts.float().clone())
        dim = config.embed_dim
        self.text = TextProjection(text_dim=config.text_dim, dim=dim)
        self.scorer = ConceptScorer(init_temperature=config.init_temperature)
        self.image_head = nn.Linear(dim, dim)
        # sigmoid (SigLIP-style) contrast: logit = scale * cos + bias, several positives allowed
        self.contrast_log_scale = nn.Parameter(torch.full((2,), math.log(10.0)))
        self.contrast_bias = nn.Parameter(torch.full((2,), -10.0))

    def _contrast(self) -> dict:
        scale = self.contrast_log_scale.clamp(max=math.log(100.0)).exp()
        return {
            "image": (scale[0], self.contrast_bias[0]),
            "region": (scale[1], self.contrast_bias[1]),
        }

    def _texts(
        self, outputs: dict, report_text: Tensor | None, sentence_text: Tensor | None
    ) -> dict:
        if report_text is not None:
            outputs["report_embedding"] = self.text(report_text)
        if sentence_text is not None:
            outputs["sentence_embedding"] = self.text(sentence_text)
        outputs["contrast"] = self._contrast()
        return outputs

    def save_pretrained(self, run_dir, run_config: dict | None = None):
        """Write ``config.json`` + ``model.safetensors`` into ``run_dir`` (see ``checkpoint``)."""
        from anatomy_vlm.model.checkpoint import save_pretrained
        from anatomy_vlm.model.run import RUN_FORMAT

        base = {
            "format": RUN_FORMAT,
            "kind": self.config.kind,
            "name": self.config.kind,
            "steps": 0,
            "train_s": 0.0,
            "image_size": None,
        }
        return save_pretrained(self, run_dir, {**base, **(run_config or {})})

    @classmethod
    def from_pretrained(cls, run_dir, *, device: str = "cpu"):
        """The model saved in ``run_dir`` (KG version and set hashes checked), in eval mode."""
        from anatomy_vlm.model.checkpoint import from_pretrained

        return from_pretrained(run_dir, device=device)

    def prompt_embeddings(self) -> Tensor:
        """``[R, F, 2, D]`` unit embeddings of the cell prompts."""
        return self.text(self.prompts)


class AnatomyVLM(_ImageTextModel):
    """Backbone → anatomy queries (KG-seeded) → knowledge fusion → boxes and concept scores."""

    def __init__(
        self, config: ModelConfig, context: KnowledgeContext, *, node_encoder=None
    ) -> None:
        super().__init__(config, context)
        dim, regions = config.embed_dim, len(context.region_set.ids)
        args = dict(config.backbone_args)
        self.tokens = config.queries == QueryPlacement.TOKENS.value
        backbone_cls = ViTBackbone if self.tokens else CNNBackbone
        self.backbone = backbone_cls(
            name=config.backbone, args=args, dim=dim, weights=config.backbone_weights
        )
        self.nodes = node_encoder or NodeEncoder(text_dim=config.text_dim, dim=dim)
        query_dim = self.backbone.width if self.tokens else dim
        self.to_query = nn.Linear(dim, query_dim)
        self.queries = AnatomyQueries(num_regions=regions, dim=query_dim)
        if config.query_init == "random":  # ablation: queries not conditioned on the KG
            self.random_queries = nn.Parameter(torch.randn(regions, query_dim) * 0.02)
        self.decoder = (
            None
            if self.tokens
            else AnatomyDecoder(dim=dim, layers=config.decoder_layers, heads=config.decoder_heads)
        )
        self.fusion = KnowledgeFusion(dim=dim, top_k=config.fusion_top_k)
        self.box_head = BoxHead(dim=dim)
        use_roi = config.roi_pool > 0 and not self.tokens
        self.roi = RoiFeatures(dim=dim, size=config.roi_pool) if use_roi else None
        self.region_head = nn.Linear(dim, dim)

    def forward(
        self,
        images: Tensor,
        *,
        report_text: Tensor | None = None,
        sentence_text: Tensor | None = None,
    ) -> dict:
        """``images`` ``[B, 1, H, W]`` in [0, 1]; ``report_text`` ``[B, text_dim]`` and
        ``sentence_text`` ``[S, text_dim]`` frozen text embeddings (optional) → outputs (module
        docstring)."""
        nodes = self.nodes(self.node_text)  # [N, D], live
        if self.config.query_init == "random":
            queries = self.queries(self.random_queries, images.shape[0])
        else:
            queries = self.queries(self.to_query(nodes[self.region_rows]), images.shape[0])
        if self.tokens:
            _, global_feature, regions = self.backbone(images, queries)
        else:
            feature_map, global_feature = self.backbone(images)
            regions = self.decoder(queries, feature_map)
        boxes = self.box_head(regions)
        if self.roi is not None:
            regions = regions + self.roi(feature_map, boxes)
        if self.config.fusion:
            fused, attention = self.fusion(regions, nodes, self.node_log_prior)
        else:  # ablation: no retrieval
            fused, attention = regions, {}
        region_embedding = nn.functional.normalize(self.region_head(fused), dim=-1)
        outputs = {
            "image_embedding": nn.functional.normalize(self.image_head(global_feature), dim=-1),
            "region_embedding": region_embedding,
            "boxes": boxes,
            "concept_logits": self.scorer(region_embedding, self.prompt_embeddings()),
            "retrieval": attention,
        }
        return self._texts(outputs, report_text, sentence_text)

    @torch.no_grad()
    def predict_tensors(self, images: Tensor) -> dict[str, Tensor]:
        """``[B, 1, S, S]`` → region_probs ``[B, R, F]``, image_probs ``[B, F]``, boxes
        ``[B, R, 4]`` (x1, y1, x2, y2 in input pixels)."""
        outputs = self(images)
        region_probs = outputs["concept_logits"].sigmoid()
        return {
            "region_probs": region_probs,
            "image_probs": image_probabilities(region_probs, self.finding_prior),
            "boxes": boxes_to_pixels(outputs["boxes"], images.shape[-1], images.shape[-2]),
        }


class HolisticCLIP(_ImageTextModel):
    """The holistic baseline: same backbone and text side, image ↔ report only, no regions.

    Region scores: its image embedding against each cell's prompts (``prompt``), or its
    image-level finding probability times the location prior (``image_x_prior``).
    """

    def __init__(self, config: ModelConfig, context: KnowledgeContext) -> None:
        super().__init__(config, context)
        self.register_buffer(
            "image_prompts", context.image_prompts.float().clone()
        )  # [F, 2, text_dim]
        backbone_cls = ViTBackbone if config.queries == QueryPlacement.TOKENS.value else CNNBackbone
        self.backbone = backbone_cls(
            name=config.backbone,
            args=dict(config.backbone_args),
            dim=config.embed_dim,
            weights=config.backbone_weights,
        )

    def forward(
        self,
        images: Tensor,
        *,
        report_text: Tensor | None = None,
        sentence_text: Tensor | None = None,
    ) -> dict:
        """As :meth:`AnatomyVLM.forward`, without region outputs; ``concept_logits`` are its
        image embedding against each cell's prompts."""
        _, global_feature = self.backbone(images)[:2]
        image_embedding = nn.functional.normalize(self.image_head(global_feature), dim=-1)
        regions = image_embedding[:, None, :].expand(-1, self.prompts.shape[0], -1)
        outputs = {
            "image_embedding": image_embedding,
            "concept_logits": self.scorer(regions, self.prompt_embeddings()),
        }
        return self._texts(outputs, report_text, sentence_text)

    def image_logits(self, image_embedding: Tensor) -> Tensor:
        """``[B, D]`` → ``[B, F]`` against the region-free finding prompts."""
        prompts = self.text(self.image_prompts)  # [F, 2, D]
        similarity = torch.einsum("bd,fkd->bfk", image_embedding, prompts)
        return (similarity[..., 0] - similarity[..., 1]) * self.scorer.scale

    @torch.no_grad()
    def predict_tensors(self, images: Tensor, scoring: str | None = None) -> dict[str, Tensor]:
        """As :meth:`AnatomyVLM.predict_tensors`; boxes are NaN."""
        outputs = self(images)
        scoring = scoring or self.config.holistic_region_scoring
        if scoring == HolisticRegionScoring.IMAGE_X_PRIOR.value:
            image = self.image_logits(outputs["image_embedding"]).sigmoid()
            weight = self.finding_prior / self.finding_prior.amax(dim=0, keepdim=True)
            region_probs = image[:, None, :] * weight[None]
        else:
            region_probs = outputs["concept_logits"].sigmoid()
        b, r = region_probs.shape[:2]
        return {
            "region_probs": region_probs,
            "image_probs": image_probabilities(region_probs, self.finding_prior),
            "boxes": torch.full((b, r, 4), float("nan")),
        }


def boxes_to_pixels(boxes: Tensor, width: int, height: int) -> Tensor:
    """``(cx, cy, w, h)`` in [0, 1] ``[..., 4]`` → ``(x1, y1, x2, y2)`` pixels."""
    cx, cy, w, h = boxes.unbind(-1)
    scale = boxes.new_tensor([width, height, width, height])
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1).clamp(0, 1) * scale


def build_model(
    config: ModelConfig, context: KnowledgeContext, *, node_encoder=None, seed: int | None = 0
) -> nn.Module:
    """The model of ``config.kind``, initialised from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        if config.kind == ModelKind.HOLISTIC.value:
            return HolisticCLIP(config, context)
        return AnatomyVLM(config, context, node_encoder=node_encoder)
