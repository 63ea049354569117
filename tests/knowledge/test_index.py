"""KnowledgeIndex: exact search, IVF recall, type filters, save/load, corrupt and mismatched files."""

from __future__ import annotations

import numpy as np
import pytest

from anatomy_vlm.knowledge import _io
from anatomy_vlm.knowledge.errors import KnowledgeFileError, KnowledgeMismatchError
from anatomy_vlm.knowledge.index import (
    KnowledgeIndex,
    exact_search,
    index_paths,
    node_index,
    tune_flat_search,
)
from tests.knowledge.fixtures import unit_rows

REGIONS = {"name": "cig29", "hash": "abc123"}
FINDINGS = {"name": "core", "hash": "def456"}


def _corpus(n: int = 300, dim: int = 16):
    vectors = unit_rows(n, dim, seed=1)
    ids = [f"node_{i}" for i in range(n)]
    types = ["anatomy" if i % 3 else "finding" for i in range(n)]
    return vectors, ids, types


def test_flat_search_equals_brute_force():
    vectors, ids, types = _corpus()
    queries = unit_rows(20, seed=2)
    index = KnowledgeIndex.build(vectors, ids, types=types)
    scores, found = index.search(queries, 10)
    exact_scores, exact_rows = exact_search(vectors, queries, 10)
    assert scores.shape == (20, 10)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-5)
    assert found == [[ids[r] for r in row] for row in exact_rows]
    one_scores, one_ids = index.search(queries[0], 3)  # a single [D] query
    assert one_scores.shape == (1, 3) and one_ids[0] == found[0][:3]


def test_flat_search_blas_threshold_is_tuned_only_from_the_faiss_default():
    class Cvar:
        distance_compute_blas_threshold = 128_000

    class FakeFaiss:
        cvar = Cvar()

        @staticmethod
        def omp_get_max_threads():
            return 2

    assert tune_flat_search(FakeFaiss) == 1600 and FakeFaiss.cvar.distance_compute_blas_threshold == 1600
    FakeFaiss.cvar.distance_compute_blas_threshold = 20  # a value the user chose stays
    assert tune_flat_search(FakeFaiss) == 20
    # and on the BLAS path (every batch size) the results are still exact
    vectors, ids, _ = _corpus(n=500, dim=32)
    queries = unit_rows(40, 32, seed=3)
    index = KnowledgeIndex.build(vectors, ids)
    import faiss

    faiss.cvar.distance_compute_blas_threshold, saved = 0, faiss.cvar.distance_compute_blas_threshold
    try:
        scores, found = index.search(queries, 5)
    finally:
        faiss.cvar.distance_compute_blas_threshold = saved
    exact_scores, exact_rows = exact_search(vectors, queries, 5)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-5)
    assert found == [[ids[r] for r in row] for row in exact_rows]


def test_type_filter_returns_only_that_type():
    vectors, ids, types = _corpus()
    index = KnowledgeIndex.build(vectors, ids, types=types)
    queries = unit_rows(5, seed=3)
    scores, found = index.search(queries, 7, types="finding")
    kinds = dict(zip(ids, types, strict=True))
    assert all(kinds[i] == "finding" for row in found for i in row)
    rows = [i for i, t in enumerate(types) if t == "finding"]
    exact_scores, _ = exact_search(vectors[rows], queries, 7)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-5)
    assert index.search(queries, 10_000, types=("finding",))[0].shape == (5, len(rows))  # k capped


def test_ivf_recall_on_clustered_vectors():
    rng = np.random.default_rng(0)
    centres = unit_rows(20, 32, seed=4)
    vectors = centres[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, 32)).astype(np.float32) / np.sqrt(32)
    queries = centres[rng.integers(0, 20, 50)] + 0.3 * rng.normal(size=(50, 32)).astype(np.float32) / np.sqrt(32)
    ids = [str(i) for i in range(len(vectors))]
    index = KnowledgeIndex.build(vectors, ids, kind="ivf", nlist=32, nprobe=8)
    _, found = index.search(queries, 10)
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    _, exact_rows = exact_search(normed, queries / np.linalg.norm(queries, axis=1, keepdims=True), 10)
    recall = np.mean([len(set(f) & {ids[r] for r in row}) / 10 for f, row in zip(found, exact_rows, strict=True)])
    assert recall >= 0.9
    index.set_nprobe(32)  # all cells: exact
    _, found = index.search(queries, 10)
    assert all(set(f) == {ids[r] for r in row} for f, row in zip(found, exact_rows, strict=True))


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_save_load_round_trip(tmp_path, kind):
    vectors, ids, types = _corpus()
    index = KnowledgeIndex.build(vectors, ids, types=types, kind=kind, kg_version="kg-1",
                                 region_set=REGIONS, finding_set=FINDINGS)
    index.save(tmp_path / "nodes")
    loaded = KnowledgeIndex.load(tmp_path / "nodes", kg_version="kg-1", region_set=REGIONS, finding_set=FINDINGS)
    assert loaded.ids == index.ids and loaded.types == index.types and loaded.kind.value == kind
    assert loaded.meta["region_set"] == REGIONS and loaded.meta["kg_version"] == "kg-1"
    queries = unit_rows(4, seed=5)
    np.testing.assert_allclose(loaded.search(queries, 5)[0], index.search(queries, 5)[0], atol=1e-6)


def test_ivfpq_compresses_and_round_trips(tmp_path):
    vectors = unit_rows(3000, 16, seed=9)
    ids = [str(i) for i in range(len(vectors))]
    index = KnowledgeIndex.build(vectors, ids, kind="ivfpq", nlist=16, nprobe=16, pq_m=4)
    scores, found = index.search(vectors[:5], 10)
    assert scores.shape == (5, 10) and sum(str(i) in row for i, row in enumerate(found)) >= 3
    index.save(tmp_path / "pq")
    assert KnowledgeIndex.load(tmp_path / "pq").search(vectors[:5], 10)[1] == found


def test_node_index_from_per_type_embeddings():
    mapping = {"kg_version": "kg-1", "node_types": {"anatomy": ["lung", "heart"], "finding": ["nodule"]}}
    embeddings = {"anatomy": unit_rows(2, seed=6), "finding": unit_rows(1, seed=7)}
    index = node_index(embeddings, mapping)
    assert index.ids == ("lung", "heart", "nodule") and index.types == ("anatomy", "anatomy", "finding")
    assert index.meta["kg_version"] == "kg-1"
    assert index.search(embeddings["finding"], 1)[1] == [["nodule"]]
    with pytest.raises(KnowledgeMismatchError):
        node_index({"anatomy": unit_rows(3)}, mapping)


def test_mismatched_index_raises_typed_error(tmp_path):
    vectors, ids, types = _corpus()
    KnowledgeIndex.build(vectors, ids, types=types, kg_version="kg-1", region_set=REGIONS).save(tmp_path / "nodes")
    with pytest.raises(KnowledgeMismatchError, match="KG"):
        KnowledgeIndex.load(tmp_path / "nodes", kg_version="kg-2")
    with pytest.raises(KnowledgeMismatchError, match="region_set"):
        KnowledgeIndex.load(tmp_path / "nodes", region_set={"name": "cig29", "hash": "changed"})
    with pytest.raises(KnowledgeMismatchError):
        KnowledgeIndex.build(vectors, ids[:-1])
    with pytest.raises(KnowledgeMismatchError):
        KnowledgeIndex.load(tmp_path / "nodes").search(unit_rows(2, 8), 3)  # wrong query width


def test_corrupt_files_raise_and_stay_untouched(tmp_path):
    vectors, ids, types = _corpus()
    KnowledgeIndex.build(vectors, ids, types=types).save(tmp_path / "nodes")
    index_file, mapping_file = index_paths(tmp_path / "nodes")
    index_file.write_bytes(index_file.read_bytes()[:-100])  # truncated
    before = index_file.read_bytes()
    with pytest.raises(KnowledgeFileError):
        KnowledgeIndex.load(tmp_path / "nodes")
    assert index_file.read_bytes() == before
    mapping_file.write_text("[1, 2")
    with pytest.raises(KnowledgeFileError):
        KnowledgeIndex.load(tmp_path / "nodes")
    with pytest.raises(KnowledgeFileError):
        KnowledgeIndex.load(tmp_path / "missing")


def test_failed_save_leaves_the_existing_index_intact(tmp_path, monkeypatch):
    vectors, ids, types = _corpus()
    KnowledgeIndex.build(vectors, ids, types=types, kg_version="kg-1").save(tmp_path / "nodes")
    saved = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_io.os, "replace", crash)
    with pytest.raises(OSError):
        KnowledgeIndex.build(vectors[::-1], ids[::-1], types=types[::-1], kg_version="kg-2").save(tmp_path / "nodes")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == saved  # no tmp files left behind
    monkeypatch.undo()
    assert KnowledgeIndex.load(tmp_path / "nodes", kg_version="kg-1").ids == tuple(ids)
