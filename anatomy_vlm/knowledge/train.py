"""Self-supervised training of the knowledge encoder on the KG alone: typed link prediction.

Target relations (``located_in``, ``has_finding_site``, ``part_of``, ``is_a``) are split into
train / validation / test edges; held-out edges (and their reverses) are removed from the
message-passing graph. Each step supervises a random share of the training edges that is
itself hidden from message passing (so the model cannot read an answer off its input),
against typed negatives (corrupted head or tail of the same node type).

Evaluation ranks every candidate of the right type for each held-out edge, filtered against
all known edges: AUROC (held-out edges vs all filtered non-edges of the same heads), Hits@10
and MRR. :func:`text_baseline_scorer` scores the same edges by cosine of the text features.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from anatomy_vlm.knowledge.gnn import DistMultDecoder, EdgeType, KnowledgeEncoder
from anatomy_vlm.knowledge.node_features import REVERSE_PREFIX

TARGET_RELATIONS = ("located_in", "has_finding_site", "part_of", "is_a")

# presets as data: name -> TrainConfig fields
TRAIN_PRESETS: dict[str, dict] = {
    "kg": {"epochs": 150, "lr": 3e-3, "weight_decay": 1e-4, "supervision_ratio": 0.6},
    "tiny": {"epochs": 60, "lr": 1e-2, "weight_decay": 0.0, "supervision_ratio": 0.5},
}


@dataclass(frozen=True)
class TrainConfig:
    """Link-prediction training knobs (see :data:`TRAIN_PRESETS`)."""

    epochs: int = 150
    lr: float = 3e-3
    weight_decay: float = 1e-4
    supervision_ratio: float = 0.6
    seed: int = 0

    @classmethod
    def preset(cls, name: str, **overrides) -> TrainConfig:
        """The named preset with ``overrides`` applied; KeyError for an unknown name."""
        return replace(cls(**TRAIN_PRESETS[name]), **overrides)


@dataclass
class LinkSplit:
    """Held-out link split of a featured graph.

    Attributes:
        message_graph: the graph without validation/test edges (nor their reverses).
        train / val / test: ``{edge_type: [2, E]}`` target edges of each split.
        known: ``{edge_type: bool [N_src, N_dst]}`` every known edge of the type, for filtering.
    """

    message_graph: HeteroData
    train: dict[EdgeType, Tensor]
    val: dict[EdgeType, Tensor]
    test: dict[EdgeType, Tensor]
    known: dict[EdgeType, Tensor]

    @property
    def target_edge_types(self) -> list[EdgeType]:
        return list(self.train)


def split_links(data: HeteroData, *, relations=TARGET_RELATIONS, val_ratio: float = 0.05,
                test_ratio: float = 0.15, seed: int = 0, min_edges: int = 5) -> LinkSplit:
    """Split the ``relations`` edges of ``data`` (types with ≥ ``min_edges`` edges) per edge type."""
    generator = torch.Generator().manual_seed(seed)
    message_graph = data.clone()
    splits: dict[str, dict[EdgeType, Tensor]] = {"train": {}, "val": {}, "test": {}}
    known: dict[EdgeType, Tensor] = {}
    for et in sorted(data.edge_types):
        src, rel, dst = et
        edge_index = data[et].edge_index
        if rel not in relations or edge_index.shape[1] < min_edges:
            continue
        order = torch.randperm(edge_index.shape[1], generator=generator)
        n_val = max(1, round(val_ratio * len(order)))
        n_test = max(1, round(test_ratio * len(order)))
        parts = {"val": order[:n_val], "test": order[n_val:n_val + n_test], "train": order[n_val + n_test:]}
        for name, rows in parts.items():
            splits[name][et] = edge_index[:, rows]
        known[et] = _dense(edge_index, data[src].num_nodes, data[dst].num_nodes)
        _keep_edges(message_graph, et, edge_index[:, parts["train"]])
    return LinkSplit(message_graph=message_graph, known=known, **splits)


def _dense(edge_index: Tensor, n_src: int, n_dst: int) -> Tensor:
    matrix = torch.zeros(n_src, n_dst, dtype=torch.bool)
    matrix[edge_index[0], edge_index[1]] = True
    return matrix


def _keep_edges(graph: HeteroData, et: EdgeType, edge_index: Tensor) -> None:
    src, rel, dst = et
    graph[et].edge_index = edge_index
    if "edge_attr" in graph[et]:
        del graph[et].edge_attr  # rows no longer align; the encoder does not read edge attributes
    reverse = (dst, REVERSE_PREFIX + rel, src)
    if reverse in graph.edge_types:
        graph[reverse].edge_index = edge_index.flip(0)


@dataclass
class TrainResult:
    """Losses per epoch and wall seconds per optimiser step (forward + backward + update)."""

    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)


def train_link_prediction(encoder: KnowledgeEncoder, decoder: DistMultDecoder, split: LinkSplit, *,
                          config: TrainConfig = TrainConfig()) -> TrainResult:
    """Full-batch training of ``encoder`` + ``decoder`` on ``split.train``; returns the loss curve."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    graph = split.message_graph
    result = TrainResult()
    encoder.train()
    for _ in range(config.epochs):
        start = time.perf_counter()
        edge_index_dict, supervision = _step_edges(graph, split.train, config.supervision_ratio, generator)
        z = encoder(graph.x_dict, edge_index_dict)
        loss = _link_loss(z, decoder, supervision, graph, generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        result.step_seconds.append(time.perf_counter() - start)
        result.losses.append(float(loss.detach()))
    encoder.eval()
    return result


def _step_edges(graph: HeteroData, train: dict[EdgeType, Tensor], ratio: float, generator):
    """Message edges with a random ``ratio`` of each target type hidden, and those hidden edges."""
    edge_index_dict = dict(graph.edge_index_dict)
    supervision: dict[EdgeType, Tensor] = {}
    for et, edge_index in train.items():
        order = torch.randperm(edge_index.shape[1], generator=generator)
        n_sup = max(1, int(ratio * len(order)))
        supervision[et] = edge_index[:, order[:n_sup]]
        message = edge_index[:, order[n_sup:]]
        edge_index_dict[et] = message
        reverse = (et[2], REVERSE_PREFIX + et[1], et[0])
        if reverse in edge_index_dict:
            edge_index_dict[reverse] = message.flip(0)
    return edge_index_dict, supervision


def _link_loss(z: dict[str, Tensor], decoder: DistMultDecoder, supervision: dict[EdgeType, Tensor],
               graph: HeteroData, generator) -> Tensor:
    """Mean over edge types of BCE(positives, tail- and head-corrupted negatives)."""
    losses = []
    for et, pos in supervision.items():
        src, _, dst = et
        n = pos.shape[1]
        neg_tail = torch.randint(graph[dst].num_nodes, (n,), generator=generator)
        neg_head = torch.randint(graph[src].num_nodes, (n,), generator=generator)
        logits = torch.cat([
            decoder(z[src][pos[0]], z[dst][pos[1]], et),
            decoder(z[src][pos[0]], z[dst][neg_tail], et),
            decoder(z[src][neg_head], z[dst][pos[1]], et),
        ])
        labels = torch.cat([torch.ones(n), torch.zeros(2 * n)])
        weights = torch.cat([torch.full((n,), 2.0), torch.ones(2 * n)])  # balance pos : neg
        losses.append(torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=weights))
    return torch.stack(losses).mean()


# ---------------------------------------------------------------------------- evaluation

Scorer = Callable[[EdgeType, Tensor], Tensor]  # (edge type, head rows [Q]) -> scores [Q, N_dst]


@dataclass
class LinkMetrics:
    """Filtered link-prediction quality on held-out edges.

    Attributes:
        auroc: per edge type, held-out edges vs every filtered non-edge of the same heads;
            averaged over edge types weighted by their held-out edges (logit scales differ
            between types, so one pooled ROC would mix incomparable scores).
        hits_at_10: share of held-out edges ranked in the top 10 of their head's candidates.
        mrr: mean reciprocal rank.
        n_edges: held-out edges scored.
        per_edge_type: ``{"src|rel|dst": {"auroc", "hits_at_10", "mrr", "n_edges"}}``.
    """

    auroc: float
    hits_at_10: float
    mrr: float
    n_edges: int
    per_edge_type: dict[str, dict[str, float]]


def evaluate_links(scorer: Scorer, split: LinkSplit, *, which: str = "test") -> LinkMetrics:
    """Score ``split.<which>`` edges with ``scorer`` against all typed candidates (filtered)."""
    held_out: dict[EdgeType, Tensor] = getattr(split, which)
    ranks_all, per_type = [], {}
    for et, edges in held_out.items():
        heads, inverse = torch.unique(edges[0], return_inverse=True)
        with torch.no_grad():
            scores = scorer(et, heads).float()  # [H, N_dst]
        positive = scores[inverse, edges[1]]
        negatives_mask = ~split.known[et][heads]  # filtered: other true edges are not negatives
        row_scores = scores[inverse]
        beaten = ((row_scores > positive[:, None]) & negatives_mask[inverse]).sum(1)
        ranks = (beaten + 1).float()
        negative = scores[negatives_mask]
        ranks_all.append(ranks)
        per_type["|".join(et)] = _metrics(positive, negative, ranks)
    ranks = torch.cat(ranks_all)
    weights = np.array([m["n_edges"] for m in per_type.values()], dtype=float)
    aurocs = np.array([m["auroc"] for m in per_type.values()])
    valid = ~np.isnan(aurocs)
    mean_auroc = float(np.average(aurocs[valid], weights=weights[valid])) if valid.any() else float("nan")
    return LinkMetrics(auroc=mean_auroc, hits_at_10=float((ranks <= 10).float().mean()),
                       mrr=float((1.0 / ranks).mean()), n_edges=int(len(ranks)), per_edge_type=per_type)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U, ties counted half); NaN when a side is empty."""
    from scipy.stats import rankdata

    n_pos, n_neg = len(positive), len(negative)
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(np.concatenate([positive, negative]))
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _metrics(positive: Tensor, negative: Tensor, ranks: Tensor) -> dict[str, float]:
    return {"auroc": auroc(positive.numpy(), negative.numpy()), "hits_at_10": float((ranks <= 10).float().mean()),
            "mrr": float((1.0 / ranks).mean()), "n_edges": int(len(positive))}


def gnn_scorer(encoder: KnowledgeEncoder, decoder: DistMultDecoder, graph: HeteroData) -> Scorer:
    """Scorer from the encoder's embeddings of ``graph`` (the message graph) and the decoder."""
    z = encoder.embed(graph)
    return lambda et, heads: decoder.score_all(z[et[0]][heads], z[et[2]], et)


def text_baseline_scorer(graph: HeteroData) -> Scorer:
    """Baseline: cosine similarity of the initial text features (relation-agnostic)."""
    x = {t: torch.nn.functional.normalize(graph[t].x.float(), dim=-1) for t in graph.node_types}
    return lambda et, heads: x[et[0]][heads] @ x[et[2]].T
