"""A tiny phantom (24 films at 128 px) shared by the engine tests, and a tiny training config."""

import json
import shutil

import pytest

TINY_CONFIG = {
    "model": {
        "backbone": "resnet18",
        "backbone_args": {"channels": [8, 16, 32, 64], "stem_width": 8},
        "embed_dim": 32,
        "decoder_layers": 1,
        "decoder_heads": 2,
        "fusion_top_k": 4,
    },
    "image_size": 64,
    "batch_size": 4,
    "steps": 3,
    "warmup_steps": 1,
    "val_every": 2,
    "val_limit": 8,
    "augment": True,
    "threads": 1,
}


@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory):
    from anatomy_vlm.cli import main

    root = tmp_path_factory.mktemp("phantom") / "data"
    assert (
        main(
            [
                "data",
                "phantom",
                "--out",
                str(root),
                "--n",
                "24",
                "--size",
                "128",
                "--seed",
                "3",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    return root


@pytest.fixture()
def blind_phantom(tiny_phantom, tmp_path):
    """A copy of the phantom without its evaluation-only files (truth file and masks)."""
    root = tmp_path / "blind"
    shutil.copytree(tiny_phantom, root)
    (root / "phantom_truth.jsonl").unlink()
    shutil.rmtree(root / "masks")
    return root


@pytest.fixture()
def tiny_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"config": TINY_CONFIG}))
    return path
