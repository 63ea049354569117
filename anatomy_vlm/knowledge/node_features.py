"""The KG as a PyG ``HeteroData`` whose node features are text embeddings of the nodes.

``kg.to_hetero_data()`` gives one node type per KG node type (anatomy, finding, disease,
device, qualifier) and one edge type per ``(src_type, relation, dst_type)``. Here each node
type gets ``x`` = float32 ``[N_type, D]`` text embeddings of ``kg.node_text(id)`` (row order
of ``mapping["node_types"][type]``), and every edge type gets a reverse ``rev_<relation>``
type so messages flow both ways (a finding hears from its sites and vice versa).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import HeteroData

from anatomy_vlm.knowledge.text_encoder import NodeTextEmbeddings, TextEncoder, node_text_embeddings

REVERSE_PREFIX = "rev_"


@dataclass
class KnowledgeGraphData:
    """A featured KG graph and its id mapping.

    Attributes:
        data: HeteroData with ``x`` ``[N_t, D]`` per node type and ``edge_index`` ``[2, E]`` per edge type.
        mapping: ``{"kg_version", "node_types": {type: [id, ...]}, "edge_types": [[src, rel, dst], ...]}``.
    """

    data: HeteroData
    mapping: dict

    def node_ids(self, node_type: str) -> list[str]:
        """Ontology ids of the rows of ``node_type``."""
        return self.mapping["node_types"][node_type]

    def locate(self, node_id: str) -> tuple[str, int]:
        """``(node_type, row)`` of an ontology id; KeyError when absent."""
        for node_type, ids in self.mapping["node_types"].items():
            if node_id in ids:
                return node_type, ids.index(node_id)
        raise KeyError(node_id)


def kg_hetero_data(kg, *, embeddings: NodeTextEmbeddings | None = None, encoder: TextEncoder | None = None,
                   cache_dir=None, reverse_edges: bool = True) -> KnowledgeGraphData:
    """``kg.to_hetero_data()`` filled with node text embeddings (cached on disk, see text_encoder).

    Args:
        kg: an :class:`kg.AnatomyKG`.
        embeddings: precomputed node text embeddings (default: :func:`node_text_embeddings`).
        encoder: text encoder used when embeddings are computed.
        cache_dir: embedding cache folder (default ``<kg cache>/knowledge``).
        reverse_edges: add a ``rev_<relation>`` edge type per edge type.
    """
    if embeddings is None:
        embeddings = node_text_embeddings(kg, encoder=encoder, cache_dir=cache_dir)
    data, mapping = kg.to_hetero_data()
    mapping = {**mapping, "kg_version": kg.version, "text_model": embeddings.model_name}
    for node_type, ids in mapping["node_types"].items():
        data[node_type].x = torch.from_numpy(np.ascontiguousarray(embeddings.rows(ids)))
    if reverse_edges:
        data = add_reverse_edges(data)
    return KnowledgeGraphData(data=data, mapping=mapping)


def add_reverse_edges(data: HeteroData) -> HeteroData:
    """Add ``(dst, "rev_<rel>", src)`` with flipped ``edge_index`` for every edge type lacking one."""
    for src, rel, dst in list(data.edge_types):
        if rel.startswith(REVERSE_PREFIX):
            continue
        reverse = (dst, REVERSE_PREFIX + rel, src)
        if reverse not in data.edge_types:
            data[reverse].edge_index = data[src, rel, dst].edge_index.flip(0)
    return data


@dataclass(frozen=True)
class NewEdge:
    """An edge of a node being added: ``new --relation--> neighbour`` (or the reverse when not outgoing)."""

    relation: str
    neighbour_type: str
    neighbour_index: int
    outgoing: bool = True


def add_node(data: HeteroData, *, node_type: str, features: torch.Tensor | np.ndarray,
             edges: list[NewEdge]) -> tuple[HeteroData, int]:
    """A copy of ``data`` with one more ``node_type`` node; returns ``(data, new_row)``.

    This is the inductive path: the new node needs only its text embedding (``features``
    ``[D]``) and its edges; a trained encoder then embeds it without retraining. Reverse
    ``rev_<relation>`` edges are added for every edge when ``data`` has reverse types.

    Args:
        data: featured graph (``x`` per node type).
        node_type: type of the new node (must exist in ``data``).
        features: ``[D]`` text embedding of the new node.
        edges: its edges to existing nodes.
    """
    if node_type not in data.node_types:
        raise KeyError(f"unknown node type {node_type!r}")
    out = data.clone()
    new_row = int(out[node_type].num_nodes)
    x = torch.as_tensor(np.asarray(features, dtype=np.float32)).reshape(1, -1)
    out[node_type].x = torch.cat([out[node_type].x, x], dim=0)
    has_reverse = any(rel.startswith(REVERSE_PREFIX) for _, rel, _ in data.edge_types)
    for edge in edges:
        src, dst = (node_type, edge.neighbour_type) if edge.outgoing else (edge.neighbour_type, node_type)
        pair = [new_row, edge.neighbour_index] if edge.outgoing else [edge.neighbour_index, new_row]
        _append_edge(out, (src, edge.relation, dst), pair)
        if has_reverse:
            _append_edge(out, (dst, REVERSE_PREFIX + edge.relation, src), pair[::-1])
    return out, new_row


def _append_edge(data: HeteroData, edge_type: tuple[str, str, str], pair: list[int]) -> None:
    column = torch.tensor(pair, dtype=torch.long).view(2, 1)
    if edge_type in data.edge_types:
        store = data[edge_type]
        store.edge_index = torch.cat([store.edge_index, column], dim=1)
        if "edge_attr" in store:
            fill = torch.ones(1, store.edge_attr.shape[1], dtype=store.edge_attr.dtype)
            store.edge_attr = torch.cat([store.edge_attr, fill], dim=0)
    else:
        data[edge_type].edge_index = column
