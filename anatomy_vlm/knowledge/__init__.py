"""Knowledge encoder: KG node text embeddings → relational GNN → FAISS index (steps 3 and 5).

Imports are lazy (``torch``/``faiss`` load on first use of a name), and nothing in ``kg`` or
the light CLI paths imports this package.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TextEncoder": "text_encoder",
    "node_text_embeddings": "text_encoder",
    "kg_hetero_data": "node_features",
    "add_node": "node_features",
    "NewEdge": "node_features",
    "KnowledgeEncoder": "gnn",
    "build_encoder": "gnn",
    "embed_new_node": "gnn",
    "save_encoder": "gnn",
    "load_encoder": "gnn",
    "split_links": "train",
    "train_link_prediction": "train",
    "evaluate_links": "train",
    "KnowledgeIndex": "index",
    "node_index": "index",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
