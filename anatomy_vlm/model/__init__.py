"""The image model: backbone, anatomy decoder, knowledge fusion, heads, losses, checkpoints.

One concept per module: ``backbone`` (timm CNN / ViT), ``anatomy_decoder`` (KG-seeded region
queries, boxes, ROI features), ``fusion`` (FAISS retrieval + prior-biased attention over KG
nodes), ``heads`` (prompt-similarity scores, image aggregation), ``losses`` (named terms and a
``weight_dict``), ``text`` (cached frozen MiniLM embeddings), ``context`` (what the model takes
from the KG), ``vlm`` (:class:`AnatomyVLM`, :class:`HolisticCLIP`, ``build_model``) and
``checkpoint`` (run directories). Every model kind (``anatomy_vlm``, ``holistic``, ``prior``) is
saved as a run directory and opened with :func:`anatomy_vlm.model.run.load_run` as a
:class:`~anatomy_vlm.model.run.Predictor`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "AnatomyVLM": "vlm",
    "HolisticCLIP": "vlm",
    "build_model": "vlm",
    "ModelConfig": "config",
    "save_pretrained": "checkpoint",
    "from_pretrained": "checkpoint",
    "load_predictor": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
