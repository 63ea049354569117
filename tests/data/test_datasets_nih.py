"""NIH ChestX-ray14 loader: split headers, |-joined labels, BBox_List quirks, split lists."""

from __future__ import annotations

from anatomy_vlm.data.datasets import open_dataset
from tests.data.fixtures_datasets import build_nih
from tests.data.fixtures_loaders import stub_crosswalk


def test_nih_labels_boxes_and_splits(tmp_path):
    ds = open_dataset("nih", build_nih(tmp_path), crosswalk=stub_crosswalk, hierarchy=None)
    assert ds.report.skipped == {"malformed row": 1}  # unknown label "Made Up"
    by_id = {ds.records[i].image_id: ds[i] for i in range(len(ds))}
    assert by_id["00000002_000.png"].split == "test"
    assert by_id["00000001_000.png"].split in {"train", "valid"}
    sample = by_id["00000001_000.png"]
    f = sample.finding_set.ids
    assert sample.image_labels[f.index("cardiomegaly")] == 1
    assert sample.image_labels[f.index("lung_opacity")] == 1  # Infiltration (broad)
    assert sample.image_labels[f.index("pneumothorax")] == 0  # not listed -> 0
    labels = [f[i] for i in sample.finding_box_labels.tolist()]
    assert sorted(labels) == ["cardiomegaly", "lung_opacity"]  # "Infiltrate" box kept
    box = sample.finding_boxes[labels.index("lung_opacity")].tolist()
    assert box == [32.0, 16.0, 40.0, 32.0]  # (512, 256, 128, 256) in 1024 -> 64 px frame
    normal = by_id["00000002_000.png"]
    known = normal.image_labels[~normal.image_labels.isnan()]
    assert len(known) > 0 and (known == 0).all()


def test_nih_real_crosswalk(tmp_path):
    from tests.data.fixtures_loaders import assert_real_crosswalk

    assert_real_crosswalk("chestxray14", "Effusion")
    ds = open_dataset("nih", build_nih(tmp_path))
    sample = next(ds[i] for i in range(len(ds)) if ds.records[i].image_id == "00000001_000.png")
    f = sample.finding_set.ids
    assert sample.image_labels[f.index("cardiomegaly")] == 1
    assert sample.image_labels[f.index("lung_opacity")] == 1  # Infiltration, through is_a
    assert sample.image_labels[f.index("pleural_effusion")] == 0
    assert "cardiomegaly" in [f[i] for i in sample.finding_box_labels.tolist()]
