"""Both image encoders take one channel at any size: a slim CNN, and a ViT with query tokens."""

import pytest
import torch

from anatomy_vlm.errors import ConfigError
from tests.model.tiny import tiny_model


@pytest.mark.parametrize("size", [64, 96])
def test_cnn_decoder_variant_any_size(size):
    out = tiny_model().predict_tensors(torch.rand(2, 1, size, size))
    assert out["region_probs"].shape == (2, 29, 17) and out["boxes"].shape == (2, 29, 4)
    assert float(out["boxes"].max()) <= size


@pytest.mark.parametrize("kind", ["anatomy_vlm", "holistic"])
def test_vit_with_region_tokens(kind):
    model = tiny_model(
        kind, backbone="vit_tiny_patch16_224", backbone_args={"img_size": 64}, queries="tokens"
    )
    out = model.predict_tensors(torch.rand(2, 1, 64, 64))
    assert out["region_probs"].shape == (2, 29, 17) and torch.isfinite(out["region_probs"]).all()
    if kind == "anatomy_vlm":  # the 29 region tokens ride inside the ViT: no separate decoder
        assert model.decoder is None and model.roi is None


def test_unknown_backbone_is_a_config_error():
    with pytest.raises(ConfigError, match="backbone"):
        tiny_model(backbone="no_such_net")


def test_local_weights_file_is_loaded_never_downloaded(tmp_path):
    from safetensors.torch import save_file

    model = tiny_model()
    state = {
        k: v.clone() + 1.0
        for k, v in model.backbone.body.state_dict().items()
        if v.dtype.is_floating_point
    }
    path = tmp_path / "backbone.safetensors"
    save_file(state, str(path))
    loaded = tiny_model(backbone_weights=str(path))
    name = next(iter(state))
    torch.testing.assert_close(loaded.backbone.body.state_dict()[name], state[name])
