"""Region boxes over many films of every domain and both sizes (issue 6 §1), and missing regions.

Geometry only (``film_geometry``: the boxes ``render`` would give, no pixels drawn), with the
same findings and patients the generator draws for film ``i`` of a seed. Every written box has
a minimum area and lies inside the image; patient left is image right; apical and upper zones
lie above lower zones; the heart is not left of the spine; a region the film does not show is
omitted, never a placeholder. The loader reads an omitted region as missing (box and labels NaN).
"""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest
import torch

from anatomy_vlm.data.phantom.findings import CIG36
from anatomy_vlm.data.phantom.image_job import plan_film
from anatomy_vlm.data.phantom.regions import MIN_BOX_CM2, MIN_SIDE_CM
from anatomy_vlm.data.phantom.render import film_geometry
from anatomy_vlm.data.phantom.sampler import DOMAINS, build_priors

SIZES = (256, 512)
# the only regions a film may not show: the apical zones, above clavicles that project over the
# apices on lordotic AP films
MAY_VANISH = {"right_apical_zone", "left_apical_zone"}


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _check_film(boxes: dict, omitted: tuple[str, ...], size: int, where: str) -> None:
    cm = size / 40.0
    assert set(boxes).isdisjoint(omitted) and set(boxes) | set(omitted) == set(CIG36), where
    assert set(omitted) <= MAY_VANISH, (where, omitted)
    for rid, (x1, y1, x2, y2) in boxes.items():
        assert 0 <= x1 < x2 <= size and 0 <= y1 < y2 <= size, (where, rid)
        assert (x2 - x1) * (y2 - y1) >= MIN_BOX_CM2 * cm * cm, (where, rid, (x1, y1, x2, y2))
        assert min(x2 - x1, y2 - y1) >= MIN_SIDE_CM * cm, (where, rid)
        assert (x1, y1, x2, y2) != (size // 2 - 1, size // 2 - 1, size // 2 + 1, size // 2 + 1), where
    for rid in boxes:  # patient left = image right
        if rid.startswith("left_") and "right_" + rid[5:] in boxes:
            assert _centre(boxes[rid])[0] > _centre(boxes["right_" + rid[5:]])[0], (where, rid)
    for side in ("right", "left"):
        ys = {z: _centre(boxes[f"{side}_{z}"])[1] for z in ("apical_zone", "upper_lung_zone", "mid_lung_zone",
                                                            "lower_lung_zone") if f"{side}_{z}" in boxes}
        assert ys["upper_lung_zone"] < ys["mid_lung_zone"] < ys["lower_lung_zone"], (where, side, ys)
        if "apical_zone" in ys:
            assert ys["apical_zone"] < ys["mid_lung_zone"] and ys["apical_zone"] < ys["lower_lung_zone"], where
    assert _centre(boxes["cardiac_silhouette"])[0] >= _centre(boxes["spine"])[0], where


def _sweep(n: int, seed: int) -> dict[tuple[int, str], collections.Counter]:
    priors = build_priors()
    omitted: dict[tuple[int, str], collections.Counter] = {}
    for size in SIZES:
        for domain in DOMAINS:
            counts = omitted.setdefault((size, domain), collections.Counter())
            for i in range(n):
                plan = plan_film(seed, i, domain=domain, priors=priors, normal_fraction=0.3)
                _, geo = film_geometry(plan.patient, plan.specs, size=size)
                _check_film(geo.boxes, geo.omitted, size, f"{domain} {size}px film {i}")
                counts.update(geo.omitted)
    return omitted


def test_region_boxes_hold_their_properties_on_60_films_per_domain_and_size():
    omitted = _sweep(60, seed=11)
    for size in SIZES:
        assert sum(omitted[(size, "portable_ap")].values()) > 0  # the AP apices do vanish
        for domain in ("id", "prior_shift", "low_dose", "other_scanner"):
            # PA films show every region here; a PA film rarely loses a thin apex (1 in 500 at
            # 256 px for seed 31337), which the slow run allows
            assert not omitted[(size, domain)], (size, domain)


@pytest.mark.slow
def test_region_boxes_hold_their_properties_on_500_films_per_domain_and_size():
    omitted = _sweep(500, seed=31337)
    assert all(sum(omitted[(size, "portable_ap")].values()) > 0 for size in SIZES)


@pytest.fixture(scope="module")
def ap_dataset(tmp_path_factory):
    from anatomy_vlm.data.phantom.generate import PhantomConfig, generate

    root = tmp_path_factory.mktemp("ap") / "ds"
    generate(PhantomConfig(out=root, n=48, size=256, domain="portable_ap", seed=31337, workers=1))
    return root


def _truth(root):
    return [json.loads(line) for line in (root / "phantom_truth.jsonl").read_text().splitlines()]


def test_issue_case_writes_no_placeholder_and_agrees_everywhere(ap_dataset):
    """``--domain portable_ap --n 48 --size 256 --seed 31337`` wrote 2×2 px apical boxes at
    the image centre on 8 films; now those regions are omitted from scene graph, truth and report."""
    rows = _truth(ap_dataset)
    assert sum(bool(r["regions_omitted"]) for r in rows) >= 8
    for row in rows:
        graph = json.loads((ap_dataset / "scene_graph" / f"{row['dicom_id']}_SceneGraph.json").read_text())
        objects = {o["bbox_name"].replace(" ", "_"): o for o in graph["objects"]}
        assert set(objects) == set(row["region_boxes"]) and not set(objects) & set(row["regions_omitted"])
        for box in row["region_boxes"].values():
            assert box != [127.0, 127.0, 129.0, 129.0]
            assert (box[2] - box[0]) * (box[3] - box[1]) >= MIN_BOX_CM2 * (256 / 40) ** 2
        for attr in graph["attributes"]:  # no sentence grounded to a region without a box
            assert attr["bbox_name"].replace(" ", "_") not in row["regions_omitted"]
        for finding in row["findings"]:
            assert not set(finding["regions"]) & set(row["regions_omitted"])
            assert finding["target_region"] not in row["regions_omitted"]
        report = (ap_dataset / row["report"]).read_text().lower()
        if {"right_apical_zone", "left_apical_zone"} <= set(row["regions_omitted"]):
            assert "apical" not in report and "apex" not in report
    card = (ap_dataset / "DATA_CARD.md").read_text()
    omitted = collections.Counter(r for row in rows for r in row["regions_omitted"])
    for region, count in omitted.items():
        assert f"| {region} | {count} |" in card


def test_loader_reads_an_omitted_region_as_missing(ap_dataset):
    from anatomy_vlm.data.datasets import open_dataset

    rows = {r["dicom_id"]: r for r in _truth(ap_dataset)}
    victim = next(r for r in rows.values() if "left_apical_zone" in r["regions_omitted"])
    # a stray attribute at the omitted region must not come back as a label
    path = ap_dataset / "scene_graph" / f"{victim['dicom_id']}_SceneGraph.json"
    graph = json.loads(path.read_text())
    graph["attributes"].append({"name": "left apical zone", "bbox_name": "left apical zone",
                                "phrases": ["Left apical pneumothorax."],
                                "attributes": [["anatomicalfinding|yes|pneumothorax"]]})
    path.write_text(json.dumps(graph))
    ds = open_dataset("phantom", ap_dataset)
    seen = 0
    for i in range(len(ds)):
        sample = ds[i]
        row = rows[sample.image_id]
        regions = sample.region_set.ids
        for rid in row["regions_omitted"]:
            if rid in regions:
                k = regions.index(rid)
                assert torch.isnan(sample.boxes[k]).all(), (sample.image_id, rid)
                assert torch.isnan(sample.region_labels[k]).all(), (sample.image_id, rid)
                seen += 1
        for rid in row["region_boxes"]:
            if rid in regions:
                assert not torch.isnan(sample.boxes[regions.index(rid)]).any()
    assert seen >= 8
    assert np.isfinite(ds[0].boxes.numpy()).any()
