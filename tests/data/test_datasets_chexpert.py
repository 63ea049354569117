"""CheXpert loader: Path resolution, Frontal/Lateral, 1/0/-1/blank and the No Finding rule."""

from __future__ import annotations

import math

import pytest
import torch

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.data.datasets.chexpert import chexpert_values
from anatomy_vlm.errors import DataError
from tests.data.fixtures_datasets import build_chexpert
from tests.data.fixtures_loaders import stub_crosswalk


def _open(root, **kw):
    return open_dataset("chexpert", root, crosswalk=stub_crosswalk, hierarchy=None, **kw)


def test_index_and_bad_input(tmp_path):
    ds = _open(build_chexpert(tmp_path))
    ids = sorted(r.subject_id for r in ds.records)
    assert ids == ["patient00001", "patient00002", "patient64541"]  # lateral, bad, missing dropped
    assert ds.report.skipped == {"malformed row": 1, "missing file": 1}
    with pytest.raises(DataError):
        _open(build_chexpert(tmp_path / "again"), policy="strict")


def test_labels_and_uncertainty(tmp_path):
    ds = _open(build_chexpert(tmp_path))
    sample = next(ds[i] for i in range(len(ds)) if ds.records[i].subject_id == "patient00001")
    f = sample.finding_set.ids
    assert sample.image.shape == (1, 20, 24) and sample.view == "AP"
    assert sample.image_labels[f.index("cardiomegaly")] == 1
    assert sample.image_labels[f.index("pneumothorax")] == 0
    assert torch.isnan(sample.image_labels[f.index("atelectasis")]) and sample.image_uncertain[f.index("atelectasis")]
    # Lung Lesion -> nodule / mass are narrow matches: a positive is uncertain, not 1
    assert torch.isnan(sample.image_labels[f.index("nodule")]) and sample.image_uncertain[f.index("nodule")]
    assert torch.isnan(sample.image_labels[f.index("pleural_effusion")])  # blank -> NaN
    assert torch.isnan(sample.region_labels).all() and torch.isnan(sample.boxes).all()


def test_no_finding_rule_is_opt_in():
    row = {"No Finding": "1.0", "Edema": "", "Support Devices": ""}
    assert math.isnan(chexpert_values(row)["Edema"])  # not mentioned stays NaN by default
    values = chexpert_values(row, no_finding_negative=True)
    assert values["Edema"] == 0.0 and math.isnan(values["Support Devices"])


def test_official_split(tmp_path):
    root = build_chexpert(tmp_path)
    valid = _open(root, split="valid", split_source="official")
    assert [r.subject_id for r in valid.records] == ["patient64541"]
    assert {r.split for r in _open(root).records} <= {"train", "valid", "test"}


def test_chexpert_real_crosswalk(tmp_path):
    from tests.data.fixtures_loaders import assert_real_crosswalk

    assert_real_crosswalk("chexpert", "Cardiomegaly")
    ds = open_dataset("chexpert", build_chexpert(tmp_path))
    sample = next(ds[i] for i in range(len(ds)) if ds.records[i].subject_id == "patient00001")
    f = sample.finding_set.ids
    assert sample.image_labels[f.index("cardiomegaly")] == 1
    assert sample.image_labels[f.index("pneumothorax")] == 0
    assert sample.image_uncertain[f.index("atelectasis")]
    assert sample.image_uncertain[f.index("nodule")]  # Lung Lesion positive: nodule or mass
