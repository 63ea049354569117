"""The model's configuration (saved in every run's ``config.json``) and its choices as enums."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import Enum

from anatomy_vlm.errors import ConfigError

__all__ = ["ModelKind", "QueryPlacement", "KnowledgeSource", "HolisticRegionScoring", "ModelConfig"]


class ModelKind(str, Enum):
    """``anatomy_vlm``: region queries, fusion, concept loss; ``holistic``: image ↔ report only."""

    ANATOMY_VLM = "anatomy_vlm"
    HOLISTIC = "holistic"


class QueryPlacement(str, Enum):
    """Where the anatomy queries meet the image.

    ``decoder``: a small transformer decoder over a CNN's stride-16 feature map;
    ``tokens``: extra tokens inside a ViT, as in the paper.
    """

    DECODER = "decoder"
    TOKENS = "tokens"


class KnowledgeSource(str, Enum):
    """KG node embeddings: MiniLM text of the node (``text``), or that through the R-GCN
    (``gnn``: reserved; refused until the R-GCN is wired into the image model)."""

    TEXT = "text"
    GNN = "gnn"


class HolisticRegionScoring(str, Enum):
    """How the holistic baseline scores a (region, finding) cell (chosen on validation).

    ``prompt``: its image embedding against the cell's positive / negated prompts;
    ``image_x_prior``: its image-level finding probability times the KG location prior.
    """

    PROMPT = "prompt"
    IMAGE_X_PRIOR = "image_x_prior"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (besides the KG-derived tensors saved with it).

    Args:
        kind: :class:`ModelKind` value.
        backbone: timm model name (``resnet18``, ``vit_tiny_patch16_224`` …), built with
            ``in_chans=1`` and ``pretrained=False``.
        backbone_args: extra timm keyword arguments (e.g. ``{"channels": [32, 64, 128, 256]}``).
        backbone_weights: optional local safetensors file of backbone weights (never downloaded).
        queries: :class:`QueryPlacement` value.
        embed_dim: width D of the joint image-text space.
        decoder_layers / decoder_heads: anatomy decoder depth and heads.
        knowledge: :class:`KnowledgeSource` value.
        fusion_top_k: KG nodes each region retrieves.
        roi_pool: side of the ROI-Align grid pooled from the feature map inside each predicted box
            and added to the region feature (0: decoder attention only; ``decoder`` queries only).
        text_model / text_dim: frozen sentence encoder and its width.
        init_temperature: initial τ of the concept score and contrastive losses.
        holistic_region_scoring: :class:`HolisticRegionScoring` value (holistic only).
        query_init: ``kg`` (region queries seeded from the regions' KG node embeddings) or
            ``random`` (learned queries from a random init: the no-KG-conditioning ablation).
        fusion: knowledge fusion on (default) or off (region features skip the retrieval).
        shuffle_knowledge: permute the KG node text rows once (seeded) so every node carries
            another node's knowledge (ablation; default off).
    """

    kind: str = ModelKind.ANATOMY_VLM.value
    backbone: str = "resnet18"
    backbone_args: dict = field(default_factory=dict)
    backbone_weights: str | None = None
    queries: str = QueryPlacement.DECODER.value
    embed_dim: int = 256
    decoder_layers: int = 2
    decoder_heads: int = 4
    knowledge: str = KnowledgeSource.TEXT.value
    fusion_top_k: int = 16
    roi_pool: int = 3
    text_model: str = "all-MiniLM-L6-v2"
    text_dim: int = 384
    init_temperature: float = 0.07
    holistic_region_scoring: str = HolisticRegionScoring.PROMPT.value
    query_init: str = "kg"
    fusion: bool = True
    shuffle_knowledge: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"int": int, "float": (int, float), "str": str, "dict": dict}.get(
                str(f.type)
            )
            if f.name == "backbone_weights" and value is None:
                continue
            if f.name == "backbone_weights":
                expected = str
            if expected is not None and (
                isinstance(value, bool) or not isinstance(value, expected)
            ):
                raise ConfigError(f"model.{f.name}={value!r}: expected {str(f.type).split(' ')[0]}")
        for name, enum in (
            ("kind", ModelKind),
            ("queries", QueryPlacement),
            ("knowledge", KnowledgeSource),
            ("holistic_region_scoring", HolisticRegionScoring),
        ):
            value = getattr(self, name)
            if value not in {e.value for e in enum}:
                raise ConfigError(
                    f"model.{name}={value!r}: expected one of {', '.join(e.value for e in enum)}"
                )
        if self.knowledge == KnowledgeSource.GNN.value:
            raise ConfigError("model.knowledge=gnn is not wired into the image model yet; use text")
        if self.query_init not in ("kg", "random"):
            raise ConfigError(f"model.query_init={self.query_init!r}: expected kg or random")
        for name in ("fusion", "shuffle_knowledge"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"model.{name}={getattr(self, name)!r}: expected true or false")
        if self.roi_pool < 0:
            raise ConfigError(f"model.roi_pool must be >= 0, got {self.roi_pool}")
        for name in ("embed_dim", "decoder_layers", "decoder_heads", "fusion_top_k", "text_dim"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.embed_dim % self.decoder_heads:
            raise ConfigError(
                f"model.embed_dim={self.embed_dim} is not divisible by "
                f"decoder_heads={self.decoder_heads}"
            )
        if not 0 < self.init_temperature < 10:
            raise ConfigError(
                f"model.init_temperature must be in (0, 10), got {self.init_temperature}"
            )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(payload) - known
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(sorted(unknown))}")
        return cls(**payload)
