"""Hand-made tiny KG graphs for the knowledge-encoder tests (6 nodes, 2 node types)."""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch_geometric.data import HeteroData

from anatomy_vlm.knowledge.node_features import add_reverse_edges

ANATOMY = ["lung", "left_lung", "right_lung", "heart"]
FINDINGS = ["pleural_effusion", "cardiomegaly"]
DIM = 16


def unit_rows(n: int, dim: int = DIM, *, seed: int = 0) -> np.ndarray:
    """``[n, dim]`` float32 random unit vectors."""
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def tiny_graph(*, reverse: bool = True) -> HeteroData:
    """4 anatomy + 2 finding nodes with ``x`` [N_t, 16], part_of / located_in / has_finding_site edges."""
    features = torch.from_numpy(unit_rows(len(ANATOMY) + len(FINDINGS)))
    data = HeteroData()
    data["anatomy"].x = features[: len(ANATOMY)]
    data["finding"].x = features[len(ANATOMY):]
    data["anatomy", "part_of", "anatomy"].edge_index = torch.tensor([[1, 2], [0, 0]])
    data["finding", "located_in", "anatomy"].edge_index = torch.tensor([[0, 0, 0, 1], [1, 2, 0, 3]])
    data["finding", "has_finding_site", "anatomy"].edge_index = torch.tensor([[1], [3]])
    return add_reverse_edges(data) if reverse else data


def tiny_mapping() -> dict:
    return {"kg_version": "test-v1", "node_types": {"anatomy": list(ANATOMY), "finding": list(FINDINGS)}}


def ring_graph(n_anatomy: int = 24, n_findings: int = 12, *, seed: int = 0) -> HeteroData:
    """A slightly larger synthetic KG for training tests: findings located in 3 anatomy nodes each."""
    rng = np.random.default_rng(seed)
    data = HeteroData()
    data["anatomy"].x = torch.from_numpy(unit_rows(n_anatomy, seed=seed))
    data["finding"].x = torch.from_numpy(unit_rows(n_findings, seed=seed + 1))
    parents = [(i, i // 4) for i in range(4, n_anatomy)]
    data["anatomy", "part_of", "anatomy"].edge_index = torch.tensor(parents).T
    located = [(f, int(a)) for f in range(n_findings) for a in rng.choice(n_anatomy, 3, replace=False)]
    data["finding", "located_in", "anatomy"].edge_index = torch.tensor(located).T
    return add_reverse_edges(data)


class FakeKG:
    """The slice of the ``kg.AnatomyKG`` API that node_features/text_encoder read."""

    version = "test-v1"

    class _Node:
        def __init__(self, node_id: str, node_type: str) -> None:
            self.id, self.type = node_id, node_type

    def nodes(self, type=None):  # noqa: A002 - mirrors AnatomyKG.nodes
        nodes = [self._Node(i, "anatomy") for i in ANATOMY] + [self._Node(i, "finding") for i in FINDINGS]
        return [n for n in nodes if type is None or n.type == type]

    def node_text(self, node_id: str) -> str:
        return node_id.replace("_", " ")

    def to_hetero_data(self):
        data = tiny_graph(reverse=False)
        del data["anatomy"].x, data["finding"].x
        data["anatomy"].num_nodes, data["finding"].num_nodes = len(ANATOMY), len(FINDINGS)
        return data, {"node_types": {"anatomy": list(ANATOMY), "finding": list(FINDINGS)},
                      "edge_types": [list(et) for et in data.edge_types]}


class HashEncoder:
    """Deterministic stand-in for the sentence transformer: text → unit vector from its hash."""

    model_name = "hash-encoder"

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        rows = [np.random.default_rng(zlib.crc32(t.encode())).normal(size=DIM) for t in texts]
        rows = np.asarray(rows, dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)
