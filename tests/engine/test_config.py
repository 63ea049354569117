"""Presets as data, overrides, and one clear line (exit 2) on a bad key or value."""

import pytest

from anatomy_vlm.cli import main
from anatomy_vlm.engine import apply_overrides, list_presets, load_preset
from anatomy_vlm.errors import ConfigError


def test_shipped_presets_load():
    assert {"quickstart", "base"} <= set(list_presets())
    quick = load_preset("quickstart")
    assert quick.device == "cpu" and quick.image_size <= 192 and quick.model.kind == "anatomy_vlm"
    assert load_preset("base").device == "auto"


def test_overrides_parse_types_and_dotted_keys():
    config = apply_overrides(
        load_preset("quickstart"),
        [
            "steps=12",
            "lr=0.01",
            "augment=false",
            "model.embed_dim=64",
            "loss_weights.box_l1=0",
            "name=mine",
        ],
    )
    assert (config.steps, config.lr, config.augment, config.name) == (12, 0.01, False, "mine")
    assert config.model.embed_dim == 64 and config.loss_weights["box_l1"] == 0


@pytest.mark.parametrize(
    "override",
    [
        "stepz=3",
        "steps=many",
        "steps=0",
        "model.width=3",
        "model.queries=inside", "model.knowledge=gnn",
        "loss_weights.focal=1",
        "lr=-1",
        "label_completion=guess", "cache_images=false",
        "augment=maybe",
        "accumulate=0", "accumulate=5",
        "noequals",
    ],
)
def test_bad_overrides_raise_config_error(override):
    with pytest.raises(ConfigError):
        apply_overrides(load_preset("quickstart"), [override])


@pytest.mark.parametrize(
    "argv",
    [
        ["--preset", "nope"],
        ["--preset", "quickstart", "--set", "stepz=1"],
        ["--preset", "quickstart", "--model", "resnet"],
        ["--preset", "quickstart", "--steps", "0"],
    ],
)
def test_cli_bad_config_is_one_line_exit_2(tmp_path, capsys, argv):
    code = main(["train", *argv, "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("anatomy-vlm: error:")
    assert not (tmp_path / "run").exists()


def test_missing_data_folder_is_one_line_exit_2(tmp_path, capsys):
    code = main(
        [
            "train",
            "--preset",
            "quickstart",
            "--data",
            str(tmp_path / "absent"),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2 and "not a folder" in capsys.readouterr().err
