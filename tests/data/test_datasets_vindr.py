"""VinDr-CXR loader (Kaggle variant): 3-reader fusion of labels and boxes, DICOM VOI LUT."""

from __future__ import annotations

import math

import numpy as np

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.data.datasets.vindr import fuse_boxes, fuse_votes
from tests.data.fixtures_datasets import build_vindr_kaggle
from tests.data.fixtures_loaders import SECRET_PATIENT, stub_crosswalk


def test_fusion_rules():
    assert fuse_votes(2, 3) == (1.0, False) and fuse_votes(0, 3) == (0.0, False)
    value, uncertain = fuse_votes(1, 3)
    assert math.isnan(value) and uncertain
    fused = fuse_boxes([("R1", 0, 0, 10, 10), ("R2", 1, 1, 11, 11), ("R3", 50, 50, 60, 60)])
    assert len(fused) == 2 and np.allclose(fused[0], [0.5, 0.5, 10.5, 10.5])
    assert len(fuse_boxes([("R1", 0, 0, 10, 10), ("R1", 1, 1, 11, 11)])) == 2  # same reader
    assert len(fuse_boxes([("R1", 0, 0, 10, 10), ("R3", 50, 50, 60, 60)], min_votes=2)) == 0


def test_vindr_kaggle(tmp_path):
    ds = open_dataset("vindr", build_vindr_kaggle(tmp_path), crosswalk=stub_crosswalk, hierarchy=None)
    assert ds.report.skipped == {"malformed row": 1}
    samples = {ds.records[i].image_id: ds[i] for i in range(len(ds))}
    img1, img2 = samples["img1"], samples["img2"]
    f = img1.finding_set.ids
    assert img1.image_labels[f.index("cardiomegaly")] == 1  # 2 of 3 readers
    assert math.isnan(img1.image_labels[f.index("nodule")]) and img1.image_uncertain[f.index("nodule")]
    assert img2.image_labels[f.index("cardiomegaly")] == 0
    labels = [f[i] for i in img1.finding_box_labels.tolist()]
    assert sorted(labels) == ["cardiomegaly", "mass", "nodule"]
    assert img1.finding_boxes[labels.index("cardiomegaly")].tolist() == [11, 21, 41, 51]
    assert img1.image[0, 0, 0] > img1.image[0, 0, -1]  # MONOCHROME1 inverted
    assert SECRET_PATIENT not in repr(img1)


def test_vindr_physionet_layout(tmp_path):
    from tests.data.fixtures_datasets import build_vindr_physionet

    ds = open_dataset("vindr", build_vindr_physionet(tmp_path), crosswalk=stub_crosswalk, hierarchy=None)
    samples = {ds.records[i].image_id: ds[i] for i in range(len(ds))}
    train, test = samples["tr1"], samples["te1"]
    f = train.finding_set.ids
    assert test.split == "test" and train.split in {"train", "valid"}
    eff = f.index("pleural_effusion")
    assert math.isnan(train.image_labels[eff]) and train.image_uncertain[eff]  # 1 of 3 readers
    assert train.image_labels[f.index("cardiomegaly")] == 0
    assert test.image_labels[f.index("cardiomegaly")] == 1  # consensus row
    assert test.finding_boxes.tolist() == [[10, 30, 50, 60]]
    assert len(open_dataset("vindr", tmp_path, crosswalk=stub_crosswalk, hierarchy=None, split="test")) == 1


def test_vindr_real_crosswalk(tmp_path):
    from tests.data.fixtures_loaders import assert_real_crosswalk

    assert_real_crosswalk("vindr", "Nodule/Mass")
    ds = open_dataset("vindr", build_vindr_kaggle(tmp_path))
    img1 = next(ds[i] for i in range(len(ds)) if ds.records[i].image_id == "img1")
    f = img1.finding_set.ids
    assert img1.image_labels[f.index("cardiomegaly")] == 1
    assert img1.image_uncertain[f.index("nodule")] and img1.image_uncertain[f.index("mass")]
    assert {"nodule", "mass", "cardiomegaly"} <= {f[i] for i in img1.finding_box_labels.tolist()}
