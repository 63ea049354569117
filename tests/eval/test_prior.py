"""The image-blind ``prior`` kind: its counting rules, its run directory, its predictions."""

import json

import numpy as np
import pytest

from anatomy_vlm.errors import ConfigError, DataError
from anatomy_vlm.model.prior import prevalence_tables, train_prior
from anatomy_vlm.model.run import Predictor, load_run

nan = np.nan


def test_prevalence_rules():
    # 4 images, 2 regions, 1 finding
    labels = np.array([[[1], [0]], [[nan], [1]], [[0], [nan]], [[1], [nan]]], np.float32)
    uncertain = np.zeros_like(labels, dtype=bool)
    uncertain[2, 1, 0] = True  # hedged: left out of region 1
    uncertain[3, 0, 0] = True  # a hedged positive is left out too
    t = prevalence_tables(labels, uncertain)
    # region 0: positives {0}, known {0, 1, 2} (NaN unmentioned = negative)
    assert t["region_positive"][:, 0].tolist() == [1, 1]
    assert t["region_known"][:, 0].tolist() == [3, 3]
    assert t["region_prevalence"][0, 0] == pytest.approx(1.5 / 4)
    # image: 0 and 1 positive; 2 and 3 hold a hedged label and no firm positive -> left out
    assert t["image_positive"].tolist() == [2] and t["image_known"].tolist() == [2]
    assert t["image_prevalence"][0] == pytest.approx(2.5 / 3)
    assert t["region_prevalence"].dtype == np.float32


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    from anatomy_vlm.cli import main

    out = tmp_path_factory.mktemp("prior") / "phantom"
    assert (
        main(
            [
                "data",
                "phantom",
                "--out",
                str(out),
                "--n",
                "24",
                "--size",
                "128",
                "--seed",
                "9",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    return out


def test_train_and_load(phantom, tmp_path):
    import torch

    run = train_prior(data=phantom, out=tmp_path / "prior", image_size=96)
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "prior" and config["format"] == "anatomy-vlm-run/1"
    assert config["region_set"]["name"] == "cig29" and config["image_size"] == 96
    assert config["n_train_images"] == sum(
        json.loads(line)["split"] == "train" for line in (phantom / "phantom_truth.jsonl").open()
    )
    predictor = load_run(run)
    assert isinstance(predictor, Predictor) and predictor.kind == "prior"
    out = predictor.predict(torch.rand(3, 1, 96, 96))
    assert out["region_probs"].shape == (3, 29, 17) and out["image_probs"].shape == (3, 17)
    assert np.isnan(out["boxes"]).all() and out["boxes"].shape == (3, 29, 4)
    assert np.array_equal(out["region_probs"][0], out["region_probs"][2])
    assert ((out["region_probs"] > 0) & (out["region_probs"] < 1)).all()
    again = predictor.predict(torch.zeros(1, 1, 96, 96))
    assert np.array_equal(again["image_probs"][0], out["image_probs"][0])  # pixels ignored


def test_prior_never_reads_the_truth_file_or_masks(phantom, tmp_path):
    """Without phantom_truth.jsonl and masks/ the table is the same bytes: only the
    report-derived labels count."""
    import shutil

    from safetensors.numpy import load_file

    bare = tmp_path / "bare"
    shutil.copytree(phantom, bare)
    (bare / "phantom_truth.jsonl").unlink()
    shutil.rmtree(bare / "masks")
    with_truth = load_file(str(train_prior(data=phantom, out=tmp_path / "a") / "model.safetensors"))
    without = load_file(str(train_prior(data=bare, out=tmp_path / "b") / "model.safetensors"))
    assert set(with_truth) == set(without)
    for key, value in with_truth.items():
        assert np.array_equal(value, without[key]), key


def test_changed_set_or_corrupt_table_refused(phantom, tmp_path):
    run = train_prior(data=phantom, out=tmp_path / "prior")
    config = json.loads((run / "config.json").read_text())
    config["finding_set"]["hash"] = "0" * 16
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="changed since training"):
        load_run(run)
    run = train_prior(data=phantom, out=tmp_path / "prior2")
    (run / "model.safetensors").write_bytes(b"not a table")
    with pytest.raises(DataError, match="unreadable prior table"):
        load_run(run)
