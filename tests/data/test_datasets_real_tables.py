"""Index parsers on the real label tables shipped in torchxrayvision's data folder (no images
there, so only the index is checked): counts must match docs/data_formats.md#how-to-read-this-page."""

from __future__ import annotations

import os

import pytest

from anatomy_vlm.data.datasets import open_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def xrv():
    from kg.paths import xrv_data_dir

    folder = xrv_data_dir()
    assert folder is not None, "torchxrayvision's data folder is missing (a hard dependency)"
    return folder


def _linked(tmp_path, xrv, names):
    for name in names:
        os.symlink(xrv / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "files", "images", "boxes"),
    [
        ("nih", ["Data_Entry_2017_v2020.csv.gz", "BBox_List_2017.csv.gz"], 112_120, 984),
        ("rsna", ["kaggle_stage_2_train_labels.csv.zip",
                  "kaggle_stage_2_train_images_dicom_headers.csv.gz"], 26_684, 9_555),
        ("siim", ["siim-pneumothorax-train-rle.csv.gz"], 12_047, None),
        ("vindr", ["vinbigdata-train.csv.gz"], 15_000, None),
    ],
)
def test_real_table_counts(tmp_path, xrv, name, files, images, boxes):
    ds = open_dataset(name, _linked(tmp_path, xrv, files), verify=False, frontal_only=False)
    assert len(ds) == images and sum(ds.report.skipped.values()) == 0
    if boxes is not None:
        assert sum(len(r.extra["boxes"]) for r in ds.records) == boxes
    if name == "siim":
        assert sum(bool(r.extra["rles"]) for r in ds.records) == 2_669
