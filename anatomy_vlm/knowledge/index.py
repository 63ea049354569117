"""FAISS index of KG node embeddings with its id mapping (step 5 retrieval).

Kinds: ``flat`` (exact inner product; the default at KG scale, rebuilt cheaply from the
current node embeddings), ``ivf`` (inverted lists, ``nprobe`` of ``nlist`` cells searched),
``hnsw`` (graph search) and ``ivfpq`` (IVF with product-quantised codes, for millions of
vectors). Vectors are L2-normalised by default so inner product is cosine similarity.

On disk: ``<stem>.faiss`` (FAISS's own binary format, never pickle) and ``<stem>.ids.json``
(format, ids, node types, kind, dim, the KG version and the region/finding set names and
hashes it was built with, and the SHA-256 of the ``.faiss`` bytes). Both are written
atomically; :meth:`KnowledgeIndex.load` verifies hash, sizes and the expected KG version and
sets, raising :class:`KnowledgeFileError` / :class:`KnowledgeMismatchError`.

With ``faiss.get_num_gpus() > 0`` (faiss-gpu) flat and IVF indexes are searched on GPU 0;
type-filtered searches use the CPU copy with an ID selector.
"""

from __future__ import annotations

import functools
import math
from enum import Enum
from pathlib import Path

import numpy as np

from anatomy_vlm.knowledge._io import (
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    read_verified,
    sha256_bytes,
)
from anatomy_vlm.knowledge.errors import KnowledgeFileError, KnowledgeMismatchError

INDEX_FORMAT = "anatomy-vlm-knowledge-index/1"


class IndexKind(str, Enum):
    """Which FAISS structure holds the vectors."""

    FLAT = "flat"
    IVF = "ivf"
    HNSW = "hnsw"
    IVFPQ = "ivfpq"


# faiss 1.15 switched flat search to BLAS only when ``nq * d >= 128000``; with few OpenMP threads
# its sequential path is then 4-6x slower than BLAS for a batch of 32 queries at d = 384 (measured in
# benchmarks/bench_limits.py; upstream faiss PR #5109 proposes ``800 * threads``, the crossover
# measured here on 1 and 2 threads as well).
_FAISS_115_BLAS_THRESHOLD = 128_000
BLAS_THRESHOLD_PER_THREAD = 800


@functools.cache
def _faiss():
    import faiss

    tune_flat_search(faiss)
    return faiss


def tune_flat_search(faiss) -> int:
    """Let flat search use BLAS from a few queries on when faiss still has its 1.15 default.

    Sets ``faiss.cvar.distance_compute_blas_threshold`` to ``800 × OpenMP threads`` (the crossover
    of faiss's sequential and BLAS paths on this project's benchmark machine, 1 and 2 threads) only
    while it holds faiss 1.15's default of 128000, so a value the user set is left alone. Exact
    results either way. Returns the threshold in force.
    """
    cvar = getattr(faiss, "cvar", None)
    current = getattr(cvar, "distance_compute_blas_threshold", None)
    if current == _FAISS_115_BLAS_THRESHOLD:
        cvar.distance_compute_blas_threshold = BLAS_THRESHOLD_PER_THREAD * max(1, faiss.omp_get_max_threads())
        current = cvar.distance_compute_blas_threshold
    return current


def _set_json(named) -> dict | None:
    """``NamedSet`` (or ``{"name", "hash"}``) → ``{"name", "hash"}``."""
    if named is None:
        return None
    if isinstance(named, dict):
        return {"name": named["name"], "hash": named["hash"]}
    return {"name": named.name, "hash": named.hash}


class KnowledgeIndex:
    """Nearest KG nodes of query vectors; build with :meth:`build`, or :meth:`load` a saved one.

    Attributes:
        ids: ontology id of each row.
        types: node type of each row (or None when built without types).
        kind: the :class:`IndexKind`.
        meta: ``{"kg_version", "region_set", "finding_set", "normalized", "params", ...}``.
    """

    def __init__(self, *, index, ids, types, kind: IndexKind, meta: dict, use_gpu: bool | None = None) -> None:
        if index.ntotal != len(ids) or (types is not None and len(types) != len(ids)):
            raise KnowledgeMismatchError(f"index holds {index.ntotal} vectors but the mapping {len(ids)} ids")
        self.index = index
        self.ids = tuple(ids)
        self.types = tuple(types) if types is not None else None
        self.kind = IndexKind(kind)
        self.meta = meta
        self._selectors: dict[tuple[str, ...], tuple[object, int]] = {}
        self._gpu_resources = None  # must outlive the GPU index
        self._search_index = self._maybe_gpu(index, use_gpu)

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, vectors: np.ndarray, ids, *, types=None, kind: IndexKind | str = IndexKind.FLAT,
              nlist: int | None = None, nprobe: int = 8, hnsw_m: int = 32, ef_search: int = 64,
              pq_m: int = 16, train_size: int | None = None, normalize: bool = True,
              kg_version: str | None = None, region_set=None, finding_set=None,
              use_gpu: bool | None = None, seed: int = 0) -> KnowledgeIndex:
        """Index ``vectors`` ``[N, D]`` (row i ↔ ``ids[i]``, of node type ``types[i]``).

        Args:
            kind: flat | ivf | hnsw | ivfpq.
            nlist: IVF cells (default ``clip(4·√N, 1, N/39)``, enough training points per cell).
            nprobe: IVF cells visited per query.
            hnsw_m / ef_search: HNSW neighbours per node / search breadth.
            pq_m: PQ sub-quantisers (``D`` must be divisible by it) for ivfpq.
            train_size: vectors sampled to train IVF centroids (default ``min(N, 64·nlist)``).
            normalize: L2-normalise vectors here and queries at search time (cosine similarity).
            kg_version / region_set / finding_set: provenance stored in the id mapping.
            use_gpu: search on GPU 0 (default: when faiss sees a GPU).
        """
        faiss = _faiss()
        kind = IndexKind(kind)
        matrix = _as_matrix(vectors, normalize)
        n, dim = matrix.shape
        if len(ids) != n or len(set(ids)) != n:
            raise KnowledgeMismatchError(f"need {n} distinct ids for {n} vectors, got {len(ids)} ({len(set(ids))} distinct)")
        params: dict = {}
        if kind is IndexKind.FLAT:
            index = faiss.IndexFlatIP(dim)
        elif kind is IndexKind.HNSW:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = ef_search
            params = {"hnsw_m": hnsw_m, "ef_search": ef_search}
        else:
            nlist = nlist or int(np.clip(4 * math.sqrt(n), 1, max(1, n // 39)))
            quantizer = faiss.IndexFlatIP(dim)
            if kind is IndexKind.IVF:
                index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
            index.cp.niter = 10  # k-means iterations: 10 is within noise of 25 for recall, 2.5× faster
            index.cp.seed = seed
            sample = np.random.default_rng(seed).permutation(n)[: train_size or min(n, 64 * nlist)]
            index.train(matrix[np.sort(sample)])
            index.nprobe = nprobe
            params = {"nlist": nlist, "nprobe": nprobe} | ({"pq_m": pq_m} if kind is IndexKind.IVFPQ else {})
        index.add(matrix)
        meta = {"kg_version": kg_version, "region_set": _set_json(region_set),
                "finding_set": _set_json(finding_set), "normalized": normalize, "params": params}
        return cls(index=index, ids=list(ids), types=types, kind=kind, meta=meta, use_gpu=use_gpu)

    def _maybe_gpu(self, index, use_gpu: bool | None):
        faiss = _faiss()
        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        if use_gpu is None:
            use_gpu = gpus > 0
        if not use_gpu or gpus == 0 or isinstance(index, faiss.IndexHNSW):
            return index
        self._gpu_resources = faiss.StandardGpuResources()
        return faiss.index_cpu_to_gpu(self._gpu_resources, 0, index)

    # ------------------------------------------------------------------ searching

    @property
    def faiss_index(self):
        """The FAISS index searches run on (the GPU copy when on GPU); rows, not ids."""
        return self._search_index

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return len(self.ids)

    def set_nprobe(self, nprobe: int) -> None:
        """IVF: cells visited per query (recall ↔ speed)."""
        _faiss().extract_index_ivf(self.index).nprobe = nprobe
        if self._search_index is not self.index:
            self._search_index.nprobe = nprobe
        self.meta["params"]["nprobe"] = nprobe

    def search(self, queries: np.ndarray, k: int, *, types=None) -> tuple[np.ndarray, list[list[str]]]:
        """The ``k`` most similar nodes per query.

        Args:
            queries: ``[Q, D]`` (or ``[D]``) float vectors; normalised when the index is.
            k: neighbours per query, capped at the number of eligible nodes.
            types: restrict to these node types (a string or a collection), e.g. ``("finding",)``.

        Returns:
            ``(scores [Q, k] float32, ids)``: inner products best first; ``ids[q]`` lists the
            node ids, shorter than ``k`` only when an approximate index found fewer (those
            score slots are NaN).
        """
        matrix = _as_matrix(queries, self.meta.get("normalized", True), dim=self.dim)
        if types is None:
            k = min(k, len(self.ids))
            scores, rows = self._search_index.search(matrix, k) if k else _empty(len(matrix))
        else:
            selector, eligible = self._selector(types)
            k = min(k, eligible)
            scores, rows = self.index.search(matrix, k, params=self._params(selector)) if k else _empty(len(matrix))
        scores = np.where(rows >= 0, scores, np.nan).astype(np.float32)
        return scores, [[self.ids[r] for r in row if r >= 0] for row in rows]

    def _selector(self, types) -> tuple[object, int]:
        key = (types,) if isinstance(types, str) else tuple(sorted(types))
        if key not in self._selectors:
            if self.types is None:
                raise KnowledgeMismatchError("this index was built without node types; cannot filter by type")
            rows = np.asarray([i for i, t in enumerate(self.types) if t in key], dtype=np.int64)
            self._selectors[key] = (_faiss().IDSelectorBatch(rows), len(rows))
        return self._selectors[key]

    def _params(self, selector):
        faiss = _faiss()
        if self.kind in (IndexKind.IVF, IndexKind.IVFPQ):
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.meta["params"]["nprobe"])
        if self.kind is IndexKind.HNSW:
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.meta["params"]["ef_search"])
        return faiss.SearchParameters(sel=selector)

    # ------------------------------------------------------------------ persistence

    def save(self, path: Path | str) -> tuple[Path, Path]:
        """Write ``<stem>.faiss`` and ``<stem>.ids.json`` atomically; returns both paths."""
        index_path, mapping_path = index_paths(path)
        blob = _faiss().serialize_index(self.index).tobytes()
        mapping = {"format": INDEX_FORMAT, "kind": self.kind.value, "dim": self.dim, "ntotal": len(self.ids),
                   "faiss_sha256": sha256_bytes(blob), **self.meta, "ids": list(self.ids),
                   "types": list(self.types) if self.types is not None else None}
        atomic_write_bytes(index_path, blob)
        atomic_write_json(mapping_path, mapping)
        return index_path, mapping_path

    @classmethod
    def load(cls, path: Path | str, *, kg_version: str | None = None, region_set=None, finding_set=None,
             use_gpu: bool | None = None) -> KnowledgeIndex:
        """Read a saved index; the given ``kg_version`` / sets must match what it was built with.

        Raises :class:`KnowledgeFileError` for missing, truncated or tampered files and
        :class:`KnowledgeMismatchError` for another KG version, set or id mapping.
        """
        index_path, mapping_path = index_paths(path)
        mapping = read_json(mapping_path, expect_format=INDEX_FORMAT)
        _check_provenance(mapping, kg_version, region_set, finding_set, mapping_path.name)
        blob = read_verified(index_path, mapping.get("faiss_sha256"), described_by=mapping_path.name)
        try:
            index = _faiss().deserialize_index(np.frombuffer(blob, dtype=np.uint8))
        except RuntimeError as exc:
            raise KnowledgeFileError(f"{index_path.name}: not a FAISS index ({exc})") from None
        if index.d != mapping.get("dim") or index.ntotal != len(mapping.get("ids", ())):
            raise KnowledgeMismatchError(f"{index_path.name}: {index.ntotal}×{index.d} vectors vs a mapping of "
                                         f"{len(mapping.get('ids', ()))}×{mapping.get('dim')}")
        meta = {key: mapping.get(key) for key in ("kg_version", "region_set", "finding_set", "normalized", "params")}
        return cls(index=index, ids=mapping["ids"], types=mapping.get("types"), kind=mapping["kind"],
                   meta=meta, use_gpu=use_gpu)


def index_paths(path: Path | str) -> tuple[Path, Path]:
    """``(<stem>.faiss, <stem>.ids.json)`` for ``path`` given with or without the ``.faiss`` suffix."""
    path = Path(path)
    stem = path.name[: -len(".faiss")] if path.name.endswith(".faiss") else path.name
    return path.with_name(stem + ".faiss"), path.with_name(stem + ".ids.json")


def _check_provenance(mapping: dict, kg_version, region_set, finding_set, name: str) -> None:
    if kg_version is not None and mapping.get("kg_version") != kg_version:
        raise KnowledgeMismatchError(f"{name}: built with KG {mapping.get('kg_version')}, expected {kg_version}")
    for key, expected in (("region_set", region_set), ("finding_set", finding_set)):
        if expected is not None and mapping.get(key) != _set_json(expected):
            raise KnowledgeMismatchError(f"{name}: built with {key} {mapping.get(key)}, expected {_set_json(expected)}")


def _as_matrix(vectors, normalize: bool, dim: int | None = None) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or (dim is not None and matrix.shape[1] != dim):
        raise KnowledgeMismatchError(f"expected vectors [N, {dim or 'D'}], got shape {matrix.shape}")
    if normalize:
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(matrix)


def _empty(q: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((q, 0), dtype=np.float32), np.zeros((q, 0), dtype=np.int64)


def exact_search(corpus: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Numpy brute force reference: ``(scores [Q, k], rows [Q, k])`` by inner product, best first."""
    sims = np.asarray(queries, dtype=np.float32) @ np.asarray(corpus, dtype=np.float32).T
    k = min(k, sims.shape[1])
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(part, order, axis=1)


def node_index(embeddings: dict, mapping: dict, *, kind: IndexKind | str = IndexKind.FLAT,
               **kwargs) -> KnowledgeIndex:
    """Index per-type node embeddings ``{node_type: [N_t, D]}`` (torch or numpy) of a KG graph.

    ``mapping["node_types"][type]`` names the rows (as returned by ``kg.to_hetero_data()``);
    ``mapping["kg_version"]`` is recorded unless ``kg_version`` is passed; other keyword
    arguments go to :meth:`KnowledgeIndex.build` (e.g. ``region_set``, ``finding_set``).
    """
    ids, types, blocks = [], [], []
    for node_type, rows in embeddings.items():
        array = rows.detach().cpu().numpy() if hasattr(rows, "detach") else np.asarray(rows)
        names = mapping["node_types"][node_type]
        if len(names) != len(array):
            raise KnowledgeMismatchError(f"{node_type}: {len(array)} embeddings for {len(names)} ids")
        ids.extend(names)
        types.extend([node_type] * len(names))
        blocks.append(array)
    kwargs.setdefault("kg_version", mapping.get("kg_version"))
    return KnowledgeIndex.build(np.concatenate(blocks), ids, types=types, kind=kind, **kwargs)
