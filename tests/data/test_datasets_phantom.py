"""The MIMIC + ImaGenome loader reads a real phantom dataset back (W's generator, in tmp_path):
every box inside the image and equal to the truth's, labels never contradicting the truth,
patient-level splits. ``phantom_truth.jsonl`` is read here only, never by the loader."""

from __future__ import annotations

import json

import pytest
import torch

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.data.datasets.labels import kg_crosswalk
from tests.data.fixtures_loaders import stub_crosswalk

SIZE = 256


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    from anatomy_vlm.data.phantom.generate import PhantomConfig, generate

    root = tmp_path_factory.mktemp("phantom") / "ph"
    generate(PhantomConfig(out=root, n=24, size=SIZE, seed=3, normal_fraction=0.2))
    truth = {}
    for line in (root / "phantom_truth.jsonl").read_text().splitlines():
        record = json.loads(line)
        truth[record["dicom_id"]] = record
    return root, truth


def _implied(findings: set[str]) -> set[str]:
    """Truth findings plus their is_a ancestors (consolidation => lung opacity), from the KG."""
    from anatomy_vlm.kgload import load_kg

    graph = load_kg()
    return findings | {a for f in findings for a in graph.ancestors(f, relation="is_a")}


def _real_crosswalk():
    lookup = kg_crosswalk()  # a hard dependency: a crosswalk that does not map these fails the test
    assert lookup("chest_imagenome", "pleural effusion") and lookup("chexpert", "Pleural Effusion")
    return lookup


@pytest.mark.parametrize("which", ["stub", "kg"])
def test_phantom_reads_back_consistent_with_truth(phantom, which):
    root, truth = phantom
    if which == "stub":
        ds = open_dataset("phantom", root, crosswalk=stub_crosswalk, hierarchy=None)
    else:
        ds = open_dataset("phantom", root, crosswalk=_real_crosswalk())
    assert len(ds) == len(truth) and sum(ds.report.skipped.values()) == 0
    recovered = total = 0
    for i in range(len(ds)):
        sample = ds[i]
        sample.validate()
        record = truth[sample.image_id]
        regions, findings = sample.region_set.ids, sample.finding_set.ids
        known = sample.boxes[~torch.isnan(sample.boxes).any(dim=1)]
        assert len(known) == len(regions)
        assert (known[:, 0] >= 0).all() and (known[:, 1] >= 0).all()
        assert (known[:, 2] <= sample.width).all() and (known[:, 3] <= sample.height).all()
        assert (known[:, 2] > known[:, 0]).all() and (known[:, 3] > known[:, 1]).all()
        for rid, box in record["region_boxes"].items():
            if rid in regions:
                assert torch.allclose(sample.boxes[regions.index(rid)], torch.tensor(box), atol=1.0)
        present = _implied({f["finding"] for f in record["findings"]})
        for f in record["findings"]:
            if f["finding"] not in findings:
                continue
            col = findings.index(f["finding"])
            assert sample.image_labels[col] != 0, (sample.image_id, f["finding"])
            total += 1
            recovered += int(sample.image_labels[col] == 1 or bool(sample.image_uncertain[col]))
            for rid in f["regions"]:
                if rid in regions:
                    assert sample.region_labels[regions.index(rid), col] != 0
        for col, fid in enumerate(findings):
            if fid not in present:
                assert sample.image_labels[col] != 1, (sample.image_id, fid)
                assert not (sample.region_labels[:, col] == 1).any(), (sample.image_id, fid)
    assert total and recovered / total >= 0.5
    if which == "kg":  # the KG's lateral_counterpart drives the default flip
        from anatomy_vlm.data.types import hflip

        flipped = hflip(sample)
        left, right = regions.index("left_costophrenic_angle"), regions.index("right_costophrenic_angle")
        assert torch.allclose(flipped.boxes[left, [0, 2]], sample.width - sample.boxes[right, [2, 0]])


def test_phantom_splits_are_patient_level(phantom):
    root, _ = phantom
    ds = open_dataset("phantom", root, crosswalk=stub_crosswalk, hierarchy=None)
    splits: dict[str, set[str]] = {}
    for record in ds.records:
        splits.setdefault(record.subject_id, set()).add(record.split)
    assert all(len(s) == 1 for s in splits.values())
    assert {r.split for r in ds.records} <= {"train", "valid", "test"}
    assert len(open_dataset("phantom", root, crosswalk=stub_crosswalk, hierarchy=None, split="train")) < len(ds)


def test_phantom_hflip_and_dataloader(phantom):
    from anatomy_vlm.data.types import collate, hflip, name_counterpart

    root, truth = phantom
    ds = open_dataset("phantom", root, crosswalk=stub_crosswalk, hierarchy=None, image_size=128)
    sample = ds[0]
    flipped = hflip(sample, name_counterpart)
    regions = sample.region_set.ids
    left, right = regions.index("left_lung"), regions.index("right_lung")
    assert torch.allclose(flipped.boxes[right, [0, 2]], 128 - sample.boxes[left, [2, 0]])
    assert torch.equal(flipped.masks["left_lung"], torch.flip(sample.masks["right_lung"], dims=[-1]))
    assert set(flipped.masks) == set(sample.masks)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, collate_fn=collate)
    batch = next(iter(loader))
    assert batch.images.shape == (5, 1, 128, 128) and batch.boxes.shape == (5, len(regions), 4)
    assert batch.region_set.hash == sample.region_set.hash


def test_loader_applies_the_one_propagation_rule(phantom):
    """Positive at a region ⇒ positive at its part_of ancestors in the set; positive finding ⇒
    its is_a ancestors in the set (kg.propagate_labels), for every sample the loader returns."""
    from kg import AnatomyKG

    kg = AnatomyKG.load()
    root, _ = phantom
    dataset = open_dataset("phantom", root, region_set="cig29", finding_set="core")
    regions, findings = list(dataset.region_set.ids), list(dataset.finding_set.ids)
    checked = 0
    for sample in (dataset[i] for i in range(len(dataset))):
        labels = sample.region_labels.numpy()
        for r, f in zip(*(labels == 1).nonzero(), strict=True):
            for ancestor in kg.ancestors(regions[r], "part_of"):
                if ancestor in regions:
                    assert labels[regions.index(ancestor), f] == 1, (regions[r], ancestor)
                    checked += 1
            for parent in kg.ancestors(findings[f], "is_a"):
                if parent in findings:
                    assert labels[r, findings.index(parent)] == 1, (findings[f], parent)
    assert checked > 0  # the phantom has zone-level positives whose lung must be positive


def test_lesion_masks_are_evaluation_only_by_default(phantom):
    """The phantom writes lesion masks beside the anatomy masks; a loader opened with its
    defaults (what a training loop gets) hands over the anatomy only."""
    root, truth = phantom
    with_lesions = [d for d, r in truth.items() if r.get("findings")]
    assert with_lesions and any((root / "masks" / d).glob("lesion_*.png") for d in with_lesions)
    default = open_dataset("mimic", root)
    opted_in = open_dataset("mimic", root, lesion_masks=True)
    seen_lesion = False
    for i in range(len(default)):
        names = set(default[i].masks)
        assert names and not any(n.startswith("lesion_") for n in names)
        assert {"left_lung", "right_lung"} <= names
        seen_lesion |= any(n.startswith("lesion_") for n in opted_in[i].masks)
    assert seen_lesion
