"""MIMIC-CXR-JPG + Chest ImaGenome loader on a tiny synthetic tree in the real format."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.data.types import collate, hflip, name_counterpart
from anatomy_vlm.errors import DataError
from tests.data.fixtures_loaders import stub_crosswalk
from tests.data.fixtures_mimic import H, W, build_mimic


def _open(root, **kw):
    return open_dataset("mimic", root, crosswalk=stub_crosswalk, hierarchy=None, **kw)


def test_index_filters_views_and_counts_bad_input(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="anatomy_vlm.data")
    ds = _open(build_mimic(tmp_path))
    assert sorted(r.image_id for r in ds.records) == ["d1", "d3", "d4"]  # lateral d2 filtered
    assert ds.report.skipped == {"malformed row": 1, "missing file": 1, "corrupt image": 1}
    summary = "mimic: kept 3 images, skipped 3 (1 corrupt image, 1 malformed row, 1 missing file)"
    assert ds.report.summary() == summary
    assert summary in caplog.text


def test_strict_policy_raises(tmp_path):
    with pytest.raises(DataError, match="malformed row"):
        _open(build_mimic(tmp_path), policy="strict")


def test_splits_imagenome_and_mimic(tmp_path):
    root = build_mimic(tmp_path)
    assert [r.image_id for r in _open(root, split="valid").records] == ["d3"]
    assert [r.image_id for r in _open(root, split="test").records] == ["d4"]
    mimic = _open(root, split="validate", split_source="mimic")
    assert [r.split for r in mimic.records] == ["valid"]
    (root / "silver_dataset" / "splits" / "images_to_avoid.csv").write_text("subject_id,study_id,dicom_id\n1,2,d1\n")
    assert [r.image_id for r in _open(root, split="train").records] == []


def test_sample_boxes_labels_and_sentences(tmp_path):
    ds = _open(build_mimic(tmp_path), split="train")
    sample = ds[0]
    sample.validate()
    regions, findings = sample.region_set.ids, sample.finding_set.ids
    assert sample.image.shape == (1, H, W) and 0 <= sample.image.min() and sample.image.max() <= 1
    box = dict(zip(regions, sample.boxes.tolist(), strict=True))
    assert box["left_lung"] == [34, 4, 60, 40]
    assert box["left_costophrenic_angle"] == [50, 32, W, H]  # clipped to the image
    assert all(math.isnan(v) for v in box["right_costophrenic_angle"])  # faulty -> NaN
    known = sample.boxes[~torch.isnan(sample.boxes[:, 0])]
    assert (known[:, 0] >= 0).all() and (known[:, 2] <= W).all() and (known[:, 3] <= H).all()
    eff, ptx = findings.index("pleural_effusion"), findings.index("pneumothorax")
    lcpa, rlung = regions.index("left_costophrenic_angle"), regions.index("right_lung")
    assert sample.region_labels[lcpa, eff] == 1
    assert sample.region_labels[regions.index("left_lung"), ptx] == 0
    assert sample.region_labels[rlung, ptx] == 0
    assert torch.isnan(sample.region_labels[rlung, eff])  # not mentioned -> NaN
    assert torch.isnan(sample.region_labels[regions.index("trachea")]).all()
    # image level from the CheXpert CSV, -1 under the default U-ignore policy
    atel = findings.index("atelectasis")
    assert sample.image_labels[eff] == 1 and sample.image_labels[ptx] == 0
    assert torch.isnan(sample.image_labels[atel]) and sample.image_uncertain[atel]
    texts = {s.text: s for s in sample.sentences}
    assert set(texts["Small left pleural effusion."].region_ids) == {"left_costophrenic_angle", "left_lung"}
    assert texts["Small left pleural effusion."].finding_ids == ("pleural_effusion",)
    assert texts["No pneumothorax."].negated_ids == ("pneumothorax",)
    assert sample.subject_id == "10000001" and sample.source == "mimic" and sample.split == "train"


@pytest.mark.parametrize(("policy", "value"), [("ones", 1.0), ("zeros", 0.0)])
def test_uncertainty_policy(tmp_path, policy, value):
    sample = _open(build_mimic(tmp_path), split="train", uncertainty=policy)[0]
    atel = sample.finding_set.ids.index("atelectasis")
    assert sample.image_labels[atel] == value and sample.image_uncertain[atel]


def test_hflip_swaps_sides_and_collate(tmp_path):
    ds = _open(build_mimic(tmp_path), image_size=32)
    sample = ds[0]
    flipped = hflip(sample, name_counterpart)
    regions = sample.region_set.ids
    left, right = regions.index("left_lung"), regions.index("right_lung")
    assert torch.allclose(flipped.boxes[right, [0, 2]], 32 - sample.boxes[left, [2, 0]])
    assert torch.equal(flipped.region_labels[right].nan_to_num(7), sample.region_labels[left].nan_to_num(7))
    assert torch.equal(hflip(flipped, name_counterpart).image, sample.image)
    text = [s for s in flipped.sentences if "effusion" in s.text][0]
    assert text.text == "Small right pleural effusion." and "right_lung" in text.region_ids
    batch = collate([ds[i] for i in range(len(ds))] + [None])
    assert batch.images.shape == (3, 1, 32, 32)
    assert batch.region_labels.shape == (3, len(regions), len(sample.finding_set.ids))


def test_three_roots_and_doubled_scene_graph_folder(tmp_path):
    import shutil

    images = build_mimic(tmp_path / "jpg")
    imagenome, reports = tmp_path / "chest-imagenome" / "silver_dataset", tmp_path / "reports"
    imagenome.mkdir(parents=True)
    shutil.move(images / "scene_graph", imagenome / "scene_graph" / "scene_graph")  # doubled
    shutil.move(images / "silver_dataset" / "splits", imagenome / "splits")
    for txt in images.glob("files/*/*/*.txt"):
        target = reports / txt.relative_to(images)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(txt, target)
    with pytest.raises(DataError):  # ImaGenome splits asked for but not under the image root
        _open(images, split_source="imagenome")
    ds = _open(images, imagenome_root=imagenome.parent, reports_root=reports, split="train")
    assert [r.image_id for r in ds.records] == ["d1"]
    sample = ds[0]
    assert sample.region_labels[sample.region_set.ids.index("left_costophrenic_angle")].nansum() == 1
    assert ds.records[0].extra["report"].is_file()


def test_report_sentences_grounded_without_scene_graph(tmp_path):
    import shutil

    root = build_mimic(tmp_path)
    shutil.rmtree(root / "scene_graph")
    sample = _open(root, split="train")[0]
    texts = [s.text for s in sample.sentences]
    assert texts == ["Small left pleural effusion.", "No pneumothorax.", "Effusion."]
    first, second = sample.sentences[0], sample.sentences[1]
    assert first.finding_ids == ("pleural_effusion",) and "left_lung" in first.region_ids
    assert second.negated_ids == ("pneumothorax",) and second.finding_ids == ()
    assert torch.isnan(sample.boxes).all() and torch.isnan(sample.region_labels).all()


def test_sample_json_and_validate(tmp_path):
    from dataclasses import replace

    from anatomy_vlm.data.types import sample_to_json

    sample = _open(build_mimic(tmp_path), split="train")[0]
    summary = sample_to_json(sample)
    assert summary["image_positive"] == ["pleural_effusion"]
    assert summary["boxes"]["left_lung"] == [34, 4, 60, 40] and "right_costophrenic_angle" not in summary["boxes"]
    bad_box = sample.boxes.clone()
    bad_box[0] = torch.tensor([0.0, 0.0, W + 5.0, 10.0])
    with pytest.raises(ValueError, match="outside"):
        replace(sample, boxes=bad_box).validate()
    with pytest.raises(ValueError, match="shape"):
        replace(sample, image_labels=sample.image_labels[:3]).validate()


def test_corrupt_scene_graph_is_skipped_and_counted(tmp_path):
    root = build_mimic(tmp_path)
    (root / "scene_graph" / "d1_SceneGraph.json").write_text("{ not json")
    ds = _open(root, split="train")
    assert ds[0] is None and ds.report.skipped["corrupt annotation"] == 1
    ds.report.policy = "strict"
    with pytest.raises(DataError, match="corrupt annotation"):
        ds[0]


def test_scene_graph_settles_broad_labels_but_not_hedges(tmp_path):
    """CheXpert "Support Devices" reaches every device (each uncertain); the scene graph naming the
    endotracheal tube makes that one positive. A hedged "Cardiomegaly" (-1) stays uncertain even
    though the scene graph, as Chest ImaGenome does, records the hedged mention as "yes"."""
    import gzip
    import json

    from tests.data.fixtures_loaders import assert_real_crosswalk

    assert_real_crosswalk("chexpert", "Support Devices")
    root = build_mimic(tmp_path)
    table = root / "mimic-cxr-2.0.0-chexpert.csv.gz"
    lines = gzip.decompress(table.read_bytes()).decode().splitlines()
    header = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        cells[header.index("Support Devices")] = "1.0"
        cells[header.index("Cardiomegaly")] = "-1.0"
        rows.append(",".join(cells))
    table.write_bytes(gzip.compress(("\n".join([lines[0], *rows]) + "\n").encode()))
    graph_path = root / "scene_graph" / "d1_SceneGraph.json"
    graph = json.loads(graph_path.read_text())
    graph["objects"].append({**graph["objects"][0], "bbox_name": "trachea", "name": "Trachea",
                             "original_x1": 28, "original_y1": 0, "original_x2": 36, "original_y2": 20})
    graph["attributes"] += [
        {"bbox_name": "trachea", "phrases": ["Endotracheal tube in place."],
         "attributes": [["tubesandlines|yes|endotracheal tube"]]},
        {"bbox_name": "cardiac silhouette", "phrases": ["Possible mild cardiomegaly."],
         "attributes": [["anatomicalfinding|yes|enlarged cardiac silhouette"]]},
    ]
    graph_path.write_text(json.dumps(graph))
    sample = open_dataset("mimic", root, split="train")[0]
    findings = sample.finding_set.ids
    ett, ng, heart = (findings.index(f) for f in ("endotracheal_tube", "enteric_tube", "cardiomegaly"))
    assert sample.image_labels[ett] == 1 and not sample.image_uncertain[ett]
    assert torch.isnan(sample.image_labels[ng]) and sample.image_uncertain[ng]  # not named: still either
    assert torch.isnan(sample.image_labels[heart]) and sample.image_uncertain[heart]  # the hedge stays
    assert (sample.region_labels[:, heart] == 1).any()  # while the region keeps the scene graph's "yes"
