"""Heterogeneous GNN knowledge encoder over the KG and its link-prediction decoder.

The encoder is inductive: its input is each node's text embedding (not a learned per-node
vector), so a node added later is embedded from its text and its neighbours by the same
weights. One ``SAGEConv`` per edge type (reverse types included) sums into each node type,
with residual connections and LayerNorm; the output is L2-normalised so that inner product
is cosine similarity (what the FAISS index searches).

Checkpoints are ``<stem>.safetensors`` (weights) + ``<stem>.json`` (config, edge types, KG
version, text model, weight hash), written atomically; loading never unpickles.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, SAGEConv

from anatomy_vlm.knowledge._io import atomic_write_bytes, atomic_write_json, read_json, sha256_bytes
from anatomy_vlm.knowledge.errors import KnowledgeFileError, KnowledgeMismatchError

EdgeType = tuple[str, str, str]
CHECKPOINT_FORMAT = "anatomy-vlm-knowledge-encoder/1"


@dataclass(frozen=True)
class EncoderConfig:
    """Everything needed to rebuild a :class:`KnowledgeEncoder` (saved as JSON beside the weights)."""

    node_types: tuple[str, ...]
    edge_types: tuple[EdgeType, ...]
    in_dim: int = 384
    hidden_dim: int = 128
    out_dim: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    aggr: str = "mean"
    target_edge_types: tuple[EdgeType, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, payload: dict) -> EncoderConfig:
        fields = {**payload}
        fields["node_types"] = tuple(fields["node_types"])
        for key in ("edge_types", "target_edge_types"):
            fields[key] = tuple(tuple(et) for et in fields.get(key, ()))
        return cls(**fields)


class KnowledgeEncoder(nn.Module):
    """Text-initialised heterogeneous GraphSAGE over the KG.

    Args:
        node_types: node types of the graph (e.g. anatomy, finding, disease, device, qualifier).
        edge_types: ``(src, relation, dst)`` types it passes messages along (others are ignored).
        in_dim: width D of the text features (384 for all-MiniLM-L6-v2).
        hidden_dim: width of the hidden layers.
        out_dim: width of the output embeddings.
        num_layers: message-passing rounds (receptive field in hops).
        dropout: dropout on hidden states during training.
        aggr: neighbour aggregation of each ``SAGEConv`` ("mean", "sum", "max").
        target_edge_types: edge types its link-prediction decoder scores (recorded in the config).
    """

    def __init__(self, *, node_types, edge_types, in_dim: int = 384, hidden_dim: int = 128,
                 out_dim: int = 128, num_layers: int = 2, dropout: float = 0.1, aggr: str = "mean",
                 target_edge_types=()) -> None:
        super().__init__()
        self.config = EncoderConfig(
            node_types=tuple(node_types), edge_types=tuple(tuple(et) for et in edge_types), in_dim=in_dim,
            hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers, dropout=dropout, aggr=aggr,
            target_edge_types=tuple(tuple(et) for et in target_edge_types))
        self.input = nn.Linear(in_dim, hidden_dim)
        # a learned offset per node type: same text, different role (anatomy vs finding)
        self.type_embedding = nn.ParameterDict(
            {t: nn.Parameter(torch.zeros(hidden_dim)) for t in self.config.node_types})
        self.convs = nn.ModuleList(
            HeteroConv({et: SAGEConv(hidden_dim, hidden_dim, aggr=aggr, root_weight=False)
                        for et in self.config.edge_types}, aggr="sum")
            for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_dim, out_dim)
        self._edge_type_set = frozenset(self.config.edge_types)

    @classmethod
    def from_config(cls, config: EncoderConfig) -> KnowledgeEncoder:
        return cls(**asdict(config))

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor]) -> dict[str, Tensor]:
        """Embed every node.

        Args:
            x_dict: ``{node_type: [N_t, in_dim]}`` text features.
            edge_index_dict: ``{(src, rel, dst): [2, E]}`` rows into the src / dst node types;
                edge types unknown to the encoder are ignored.

        Returns:
            ``{node_type: [N_t, out_dim]}`` unit-norm embeddings.
        """
        unknown = set(x_dict) - set(self.config.node_types)
        if unknown:
            raise KnowledgeMismatchError(f"node types {sorted(unknown)} unknown to this encoder")
        known = {et: ei for et, ei in edge_index_dict.items() if tuple(et) in self._edge_type_set}
        hidden = {t: self.input(x) + self.type_embedding[t] for t, x in x_dict.items()}
        for conv, norm in zip(self.convs, self.norms):
            messages = conv(hidden, known)
            hidden = {t: h + self.dropout(torch.relu(norm(messages[t]))) if t in messages else h
                      for t, h in hidden.items()}
        return {t: nn.functional.normalize(self.output(h), dim=-1) for t, h in hidden.items()}

    def embed(self, data) -> dict[str, Tensor]:
        """Eval-mode, no-grad embeddings of a featured ``HeteroData``: ``{node_type: [N_t, out_dim]}``."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            out = self(data.x_dict, data.edge_index_dict)
        self.train(was_training)
        return out


class DistMultDecoder(nn.Module):
    """Link scorer ``s(h, r, t) = <z_h, w_r ⊙ z_t> + b_r`` with one diagonal ``w_r`` per edge type.

    Args:
        edge_types: the ``(src, relation, dst)`` types it scores.
        dim: embedding width.
        init_scale: initial value of every ``w_r`` entry (unit-norm inputs need a scale > 1).
    """

    def __init__(self, *, edge_types, dim: int, init_scale: float = 5.0) -> None:
        super().__init__()
        self.edge_types = tuple(tuple(et) for et in edge_types)
        self.weight = nn.ParameterDict(
            {_key(et): nn.Parameter(torch.full((dim,), init_scale)) for et in self.edge_types})
        self.bias = nn.ParameterDict({_key(et): nn.Parameter(torch.zeros(())) for et in self.edge_types})

    def forward(self, z_src: Tensor, z_dst: Tensor, edge_type: EdgeType) -> Tensor:
        """Logits of edges ``z_src[i] -> z_dst[i]``: ``[E, dim] × [E, dim] → [E]``."""
        key = _key(edge_type)
        return (z_src * self.weight[key] * z_dst).sum(-1) + self.bias[key]

    def score_all(self, z_src: Tensor, z_candidates: Tensor, edge_type: EdgeType) -> Tensor:
        """Logits of every ``(src, candidate)`` pair: ``[Q, dim] × [C, dim] → [Q, C]``."""
        key = _key(edge_type)
        return (z_src * self.weight[key]) @ z_candidates.T + self.bias[key]


def _key(edge_type: EdgeType) -> str:
    return "|".join(edge_type)


def save_encoder(path: Path | str, encoder: KnowledgeEncoder, *, decoder: DistMultDecoder | None = None,
                 meta: dict | None = None) -> tuple[Path, Path]:
    """Write ``<path>.safetensors`` + ``<path>.json`` atomically; returns both paths.

    ``meta`` (e.g. ``{"kg_version": …, "text_model": …}``) is stored in the JSON and checked by
    :func:`load_encoder`.
    """
    from safetensors.torch import save

    weights_path, config_path = _checkpoint_paths(path)
    tensors = {f"encoder.{k}": v.detach().contiguous() for k, v in encoder.state_dict().items()}
    if decoder is not None:
        tensors.update({f"decoder.{k}": v.detach().contiguous() for k, v in decoder.state_dict().items()})
    blob = save(tensors, metadata={"format": CHECKPOINT_FORMAT})
    atomic_write_bytes(weights_path, blob)
    atomic_write_json(config_path, {"format": CHECKPOINT_FORMAT, "config": asdict(encoder.config),
                                    "has_decoder": decoder is not None, "meta": meta or {},
                                    "weights_sha256": sha256_bytes(blob)})
    return weights_path, config_path


def load_encoder(path: Path | str, *, expect: dict | None = None) -> tuple[KnowledgeEncoder, DistMultDecoder | None, dict]:
    """Load what :func:`save_encoder` wrote: ``(encoder, decoder | None, meta)``, in eval mode.

    ``expect`` (e.g. ``{"kg_version": kg.version}``) must match the saved meta, else
    :class:`KnowledgeMismatchError`; missing/corrupt files raise :class:`KnowledgeFileError`.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    weights_path, config_path = _checkpoint_paths(path)
    payload = read_json(config_path, expect_format=CHECKPOINT_FORMAT)
    _check_meta(payload.get("meta", {}), expect or {}, config_path.name)
    try:
        blob = weights_path.read_bytes()
    except OSError:
        raise KnowledgeFileError(f"{weights_path.name} not found in {weights_path.parent}") from None
    if sha256_bytes(blob) != payload.get("weights_sha256"):
        raise KnowledgeFileError(f"{weights_path.name}: weights do not match {config_path.name} (corrupt or replaced)")
    try:
        tensors = load(blob)
        config = EncoderConfig.from_json(payload["config"])
        encoder = KnowledgeEncoder.from_config(config)
        encoder.load_state_dict(_strip(tensors, "encoder."))
        decoder = None
        if payload.get("has_decoder"):
            decoder = DistMultDecoder(edge_types=config.target_edge_types, dim=config.out_dim)
            decoder.load_state_dict(_strip(tensors, "decoder."))
    except (SafetensorError, KeyError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
        raise KnowledgeFileError(f"{weights_path.name}: cannot rebuild the encoder ({exc})") from None
    encoder.eval()
    return encoder, decoder, payload.get("meta", {})


def _checkpoint_paths(path: Path | str) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.name[: -len(".safetensors")] if path.name.endswith(".safetensors") else path.name
    return path.with_name(stem + ".safetensors"), path.with_name(stem + ".json")


def _check_meta(saved: dict, expect: dict, name: str) -> None:
    for key, value in expect.items():
        if saved.get(key) != value:
            raise KnowledgeMismatchError(f"{name}: built with {key}={saved.get(key)!r}, expected {value!r}")


def _strip(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
