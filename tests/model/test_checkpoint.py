"""save_pretrained / from_pretrained: same predictions; another KG version or set is refused."""

import json

import pytest
import torch

from anatomy_vlm.model.checkpoint import CheckpointMismatchError, from_pretrained, save_pretrained
from anatomy_vlm.model.run import RUN_FORMAT, load_run
from tests.model.tiny import tiny_model


def _save(tmp_path, kind="anatomy_vlm"):
    model = tiny_model(kind)
    run = save_pretrained(
        model,
        tmp_path / kind,
        {
            "format": RUN_FORMAT,
            "kind": kind,
            "name": kind,
            "steps": 0,
            "train_s": 0.0,
            "image_size": 64,
        },
    )
    return model, run


@pytest.mark.parametrize("kind", ["anatomy_vlm", "holistic"])
def test_round_trip_gives_the_same_predictions(tmp_path, kind):
    model, run = _save(tmp_path, kind)
    images = torch.rand(3, 1, 64, 64)
    loaded = from_pretrained(run, kg_version="test-kg")
    expected, got = model.predict_tensors(images), loaded.predict_tensors(images)
    for key in ("region_probs", "image_probs", "boxes"):
        torch.testing.assert_close(got[key], expected[key], equal_nan=True)
    assert not any(p.suffix in {".pt", ".pkl", ".pth"} for p in run.iterdir())


def test_load_run_opens_it_as_a_predictor(tmp_path, monkeypatch):
    model, run = _save(tmp_path)
    monkeypatch.setattr("anatomy_vlm.model.checkpoint.check_provenance", lambda *a, **k: None)
    predictor = load_run(run)
    out = predictor.predict(torch.rand(2, 1, 64, 64).numpy())
    assert out["region_probs"].shape == (2, 29, 17) and out["region_probs"].dtype.name == "float32"
    assert out["image_probs"].shape == (2, 17) and out["boxes"].shape == (2, 29, 4)


def test_other_kg_version_is_refused(tmp_path):
    _, run = _save(tmp_path)
    with pytest.raises(CheckpointMismatchError, match="KG version"):
        from_pretrained(run, kg_version="another-kg")


def test_other_set_hash_is_refused(tmp_path):
    _, run = _save(tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["region_set"]["hash"] = "0" * 16
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match="region_set"):
        from_pretrained(run, kg_version="test-kg")


def test_corrupt_weights_are_refused(tmp_path):
    from anatomy_vlm.knowledge.errors import KnowledgeFileError

    _, run = _save(tmp_path)
    (run / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(KnowledgeFileError):
        from_pretrained(run, kg_version="test-kg")


def test_model_methods_save_and_load(tmp_path):
    from anatomy_vlm.model import AnatomyVLM

    model = tiny_model()
    run = model.save_pretrained(tmp_path / "run", {"image_size": 64})
    images = torch.rand(1, 1, 64, 64)
    with pytest.raises(CheckpointMismatchError):  # built on a synthetic KG version
        AnatomyVLM.from_pretrained(run)
    loaded = from_pretrained(run, kg_version="test-kg")
    torch.testing.assert_close(
        loaded.predict_tensors(images)["region_probs"],
        model.predict_tensors(images)["region_probs"],
    )


def test_text_cache_encodes_each_text_once_and_keys_by_hash(tmp_path):
    import numpy as np

    from anatomy_vlm.model.text import TextEmbeddingCache

    class CountingEncoder:
        calls: list = []

        def encode(self, texts):
            self.calls.append(list(texts))
            rng = np.random.default_rng(len(texts))
            vectors = rng.standard_normal((len(texts), 4)).astype(np.float32)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    encoder = CountingEncoder()
    cache = TextEmbeddingCache(model_name="fake", cache_dir=tmp_path, encoder=encoder)
    first = cache.encode(["a", "b", "a"])
    assert encoder.calls == [["a", "b"]] and np.allclose(first[0], first[2])
    again = TextEmbeddingCache(model_name="fake", cache_dir=tmp_path, encoder=encoder)
    np.testing.assert_allclose(again.encode(["b"]), first[1:2])
    assert encoder.calls == [["a", "b"]]  # read back from disk, not re-encoded
