"""The real ``anatomy-vlm train`` on a tiny phantom, for each model kind; run-dir hygiene."""

import json
import sys

import numpy as np
import pytest

from anatomy_vlm.cli import main
from anatomy_vlm.model.run import RUN_FORMAT, load_run


def _train(data, out, config, kind, *extra):
    return main(
        [
            "train",
            "--config",
            str(config),
            "--data",
            str(data),
            "--out",
            str(out),
            "--model",
            kind,
            "--quiet",
            *extra,
        ]
    )


@pytest.mark.parametrize("kind", ["anatomy_vlm", "holistic"])
def test_train_cli_writes_a_run_that_predicts(tiny_phantom, tiny_config, tmp_path, kind, capsys):
    out = tmp_path / "run"
    assert _train(tiny_phantom, out, tiny_config, kind, "--set", "seed=1") == 0
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == RUN_FORMAT and config["kind"] == kind and config["steps"] == 3
    assert config["region_set"]["name"] == "cig29" and len(config["region_set"]["hash"]) == 16
    assert config["overrides"] == ["seed=1"] and config["seed"] == 1
    assert config["checkpoint"]["chosen_on"] == "validate"
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"step", "loss", "lr", "images_per_s", "val_region_auroc"} <= set(header)
    predictor = load_run(out)
    result = predictor.predict(np.random.default_rng(0).random((2, 1, 64, 64), dtype=np.float32))
    assert result["region_probs"].shape == (2, 29, 17) and result["image_probs"].shape == (2, 17)
    assert np.isfinite(result["region_probs"]).all()
    assert np.isnan(result["boxes"]).all() == (kind == "holistic")
    if kind == "holistic":
        assert config["model"]["holistic_region_scoring"] in {"prompt", "image_x_prior"}


def test_train_prior_dispatches_to_the_prior_kind(tiny_phantom, tiny_config, tmp_path):
    pytest.importorskip("anatomy_vlm.model.prior")
    out = tmp_path / "prior"
    assert _train(tiny_phantom, out, tiny_config, "prior") == 0
    assert json.loads((out / "config.json").read_text())["kind"] == "prior"


def test_training_never_opens_evaluation_only_files(blind_phantom, tiny_config, tmp_path):
    opened = []

    def audit(event, args):
        if event == "open" and args and isinstance(args[0], str | bytes):
            path = args[0].decode() if isinstance(args[0], bytes) else args[0]
            if "phantom_truth" in path or "/masks/" in path or path.endswith("/masks"):
                opened.append(path)

    sys.addaudithook(audit)  # hooks cannot be removed; this one only records
    out = tmp_path / "run"
    assert _train(blind_phantom, out, tiny_config, "anatomy_vlm", "--steps", "2") == 0
    assert opened == []
    assert (out / "model.safetensors").is_file()


def test_a_foreign_non_empty_out_is_refused(tiny_phantom, tiny_config, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert _train(tiny_phantom, out, tiny_config, "anatomy_vlm") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a run directory" in err[0]
    assert (out / "notes.txt").read_text() == "keep me"


def test_rerun_into_its_own_run_dir_keeps_other_files(tiny_phantom, tiny_config, tmp_path):
    out = tmp_path / "run"
    assert _train(tiny_phantom, out, tiny_config, "anatomy_vlm", "--steps", "1") == 0
    (out / "notes.txt").write_text("mine")
    assert _train(tiny_phantom, out, tiny_config, "anatomy_vlm", "--steps", "2") == 0
    assert json.loads((out / "config.json").read_text())["steps"] == 2
    assert (out / "notes.txt").read_text() == "mine"
