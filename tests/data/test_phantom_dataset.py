"""The phantom dataset through the real CLI: layout, CSVs, scene graphs, labels vs truth, determinism."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anatomy_vlm.cli import main
from anatomy_vlm.data.phantom.vocab import build_label_maps
from anatomy_vlm.data.phantom.writer import CHEXPERT_COLUMNS, METADATA_COLUMNS
from anatomy_vlm.data.region_truth import region_truth

N, SIZE, SEED = 12, 128, 7


def _generate(out: Path, *extra: str, n: int = N, seed: int = SEED) -> int:
    return main(["data", "phantom", "--out", str(out), "--n", str(n), "--size", str(SIZE),
                 "--seed", str(seed), *extra])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phantom") / "ds"
    assert _generate(out, "--normal-fraction", "0.2", "--workers", "1") == 0
    return out


def _csv_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _truth(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "phantom_truth.jsonl").read_text().splitlines()]


def test_layout_follows_mimic_and_imagenome(dataset):
    split = _csv_gz(dataset / "mimic-cxr-2.0.0-split.csv.gz")
    assert len(split) == N
    for row in split:
        subject, study, dicom = row["subject_id"], row["study_id"], row["dicom_id"]
        assert int(subject) >= 10_000_000 and len(dicom.split("-")) == 5
        study_dir = dataset / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        with Image.open(study_dir / f"{dicom}.jpg") as image:
            assert image.mode == "L" and image.size == (SIZE, SIZE) and image.format == "JPEG"
        report = (study_dir.parent / f"s{study}.txt").read_text()
        assert "FINDINGS:" in report and "IMPRESSION:" in report
        assert (dataset / "scene_graph" / f"{dicom}_SceneGraph.json").is_file()
        masks = {p.name for p in (dataset / "masks" / dicom).iterdir()}
        assert masks, "lung/heart masks missing"
    for name in ("train", "valid", "test"):
        rows = list(csv.DictReader(open(dataset / "silver_dataset" / "splits" / f"{name}.csv")))
        assert all(r["path"].endswith(".dcm") for r in rows)
    assert "not for clinical use" in (dataset / "DATA_CARD.md").read_text().lower()


def test_csv_columns_and_patient_level_splits(dataset):
    split = _csv_gz(dataset / "mimic-cxr-2.0.0-split.csv.gz")
    assert list(split[0]) == ["dicom_id", "study_id", "subject_id", "split"]
    assert {r["split"] for r in split} <= {"train", "validate", "test"}
    subject_splits: dict[str, set] = {}
    for r in split:
        subject_splits.setdefault(r["subject_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in subject_splits.values())
    chexpert = _csv_gz(dataset / "mimic-cxr-2.0.0-chexpert.csv.gz")
    assert list(chexpert[0]) == ["subject_id", "study_id", *CHEXPERT_COLUMNS]
    assert {v for r in chexpert for k, v in r.items() if k in CHEXPERT_COLUMNS} <= {"1.0", "0.0", "-1.0", ""}
    meta = _csv_gz(dataset / "mimic-cxr-2.0.0-metadata.csv.gz")
    assert list(meta[0]) == list(METADATA_COLUMNS)
    assert all(r["Rows"] == str(SIZE) and r["ViewPosition"] in ("PA", "AP") for r in meta)


def test_scene_graph_boxes_inside_image(dataset):
    for row in _truth(dataset):
        graph = json.loads((dataset / "scene_graph" / f"{row['dicom_id']}_SceneGraph.json").read_text())
        assert graph["image_id"] == row["dicom_id"] and len(graph["objects"]) == 36 - len(row["regions_omitted"])
        assert {o["bbox_name"].replace(" ", "_") for o in graph["objects"]} == set(row["region_boxes"])
        for obj in graph["objects"]:
            assert obj["object_id"] == f"{row['dicom_id']}_{obj['bbox_name']}"
            assert 0 <= obj["original_x1"] < obj["original_x2"] <= SIZE
            assert 0 <= obj["original_y1"] < obj["original_y2"] <= SIZE
            assert 0 <= obj["x1"] <= obj["x2"] <= 224 and 0 <= obj["y1"] <= obj["y2"] <= 224
            assert abs(obj["original_x2"] - obj["original_x1"] - obj["original_width"]) <= 2
        for attr in graph["attributes"]:
            assert len(attr["phrases"]) == len(attr["attributes"])
            for strings in attr["attributes"]:
                assert all(len(s.split("|")) == 3 and s.split("|")[1] in ("yes", "no") for s in strings)


def test_report_labels_agree_with_truth(dataset):
    column_of = build_label_maps().chexpert
    labels = {(r["subject_id"], r["study_id"]): r for r in _csv_gz(dataset / "mimic-cxr-2.0.0-chexpert.csv.gz")}
    checked = 0
    for row in _truth(dataset):
        label = labels[(str(row["subject_id"]), str(row["study_id"]))]
        present_columns = {c for f in row["findings"] for c in column_of.get(f["finding"], ())}
        for column in present_columns:  # a rendered finding is reported positive or hedged, never denied
            assert label[column] in ("1.0", "-1.0"), (row["report"], column, label[column])
            checked += 1
        for column in set(CHEXPERT_COLUMNS) - present_columns - {"No Finding"}:
            assert label[column] != "1.0", (row["report"], column)  # nothing asserted that is not there
        if not row["findings"]:
            assert label["No Finding"] == "1.0"
    assert checked > 0


def test_scene_graph_attributes_agree_with_truth(dataset):
    imagenome = build_label_maps().imagenome
    checked = 0
    for row in _truth(dataset):
        graph = json.loads((dataset / "scene_graph" / f"{row['dicom_id']}_SceneGraph.json").read_text())
        strings = {s for attr in graph["attributes"] for phrase in attr["attributes"] for s in phrase}
        for finding in row["findings"]:
            for category, label in imagenome.get(finding["finding"], ()):
                assert f"{category}|no|{label}" not in strings, (row["report"], label)
                checked += f"{category}|yes|{label}" in strings
    assert checked > 0


def test_truth_regions_come_from_region_truth(dataset):
    row = next(r for r in _truth(dataset) if r["findings"])
    for finding in row["findings"]:
        assert finding["regions"], finding
        assert set(finding["regions"]) <= set(row["region_boxes"])
        assert finding["severity_bin"] in ("subtle", "moderate", "obvious")


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_with_any_workers(dataset, tmp_path):
    assert _generate(tmp_path / "w2", "--normal-fraction", "0.2", "--workers", "2") == 0
    assert _digest(tmp_path / "w2") == _digest(dataset)


def test_different_seed_differs(tmp_path):
    assert _generate(tmp_path / "a", n=3, seed=1) == 0
    assert _generate(tmp_path / "b", n=3, seed=2) == 0
    assert _digest(tmp_path / "a") != _digest(tmp_path / "b")


@pytest.mark.parametrize("extra", [["--size", "100"], ["--size", "2048"], ["--domain", "mars"],
                                   ["--workers", "-1"], ["--normal-fraction", "1.5"]])
def test_bad_values_exit_2(tmp_path, extra, capsys):
    argv = ["data", "phantom", "--out", str(tmp_path / "x"), "--n", "2", *extra]
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_out_below_a_file_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    assert _generate(blocker / "ds", n=2) == 2
    assert "not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "keep me"


def test_refuses_foreign_folder_and_replaces_own(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert _generate(foreign, n=2) == 2
    assert (foreign / "notes.txt").read_text() == "keep me"
    own = tmp_path / "own"
    assert _generate(own, n=2) == 0
    assert _generate(own, n=3) == 0
    assert len(_csv_gz(own / "mimic-cxr-2.0.0-split.csv.gz")) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_fresh_process_same_bytes_and_no_torch(dataset, tmp_path):
    """Another interpreter (other hash seed) writes the same bytes, and never imports torch."""
    out = tmp_path / "fresh"
    code = ("import sys; from anatomy_vlm.cli import main; "
            f"rc = main(['data', 'phantom', '--out', {str(out)!r}, '--n', '{N}', '--size', '{SIZE}', "
            f"'--seed', '{SEED}', '--normal-fraction', '0.2', '--workers', '2']); "
            "assert rc == 0; assert 'torch' not in sys.modules, 'torch imported'")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600, env=env)
    assert _digest(out) == _digest(dataset)


def _square(size: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_region_truth_rules():
    regions = {"right_lung": _square(100, 0, 0, 50, 100), "right_lower_lung_zone": _square(100, 0, 60, 50, 100),
               "right_mid_lung_zone": _square(100, 0, 30, 50, 60), "cardiac_silhouette": _square(100, 40, 50, 80, 90),
               "mediastinum": _square(100, 40, 20, 80, 90), "svc": _square(100, 45, 20, 55, 50)}
    hierarchy = {"right_lower_lung_zone": ("right_lung",), "right_mid_lung_zone": ("right_lung",),
                 "cardiac_silhouette": ("mediastinum",), "svc": ("mediastinum",)}
    effusion = _square(100, 0, 80, 50, 100)  # 50% of the lower zone
    assert region_truth("pleural_effusion", region_masks=regions, lesion_mask=effusion,
                        hierarchy=hierarchy) == ("right_lung", "right_lower_lung_zone")
    nodule = _square(100, 10, 40, 14, 44)  # 16 px: far under 10% of the zone, all inside it
    assert region_truth("nodule", region_masks=regions, lesion_mask=nodule,
                        hierarchy=hierarchy) == ("right_lung", "right_mid_lung_zone")
    assert region_truth("cardiomegaly", region_masks=regions,
                        hierarchy=hierarchy) == ("cardiac_silhouette", "mediastinum")
    assert region_truth("central_venous_catheter", region_masks=regions, tip=(50, 30),
                        hierarchy=hierarchy) == ("mediastinum", "svc")


@pytest.mark.parametrize("domain", ["prior_shift", "portable_ap", "low_dose", "other_scanner"])
def test_every_domain_writes_and_reports_json(tmp_path, domain, capsys):
    assert _generate(tmp_path / domain, "--domain", domain, "--json", "--workers", "1", n=2) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 2 and summary["domain"] == domain
    truth = _truth(tmp_path / domain)
    assert {r["domain"] for r in truth} == {domain}
    assert {r["view"] for r in truth} == {"AP" if domain == "portable_ap" else "PA"}


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["id", "prior_shift"])
def test_labels_agree_with_truth_at_scale(tmp_path, domain):
    """200 films: every rendered finding is reported positive or hedged; nothing else is positive."""
    out = tmp_path / domain
    assert _generate(out, "--domain", domain, "--normal-fraction", "0.1", n=200, seed=11) == 0
    column_of = build_label_maps().chexpert
    labels = {(r["subject_id"], r["study_id"]): r for r in _csv_gz(out / "mimic-cxr-2.0.0-chexpert.csv.gz")}
    for row in _truth(out):
        label = labels[(str(row["subject_id"]), str(row["study_id"]))]
        present = {c for f in row["findings"] for c in column_of.get(f["finding"], ())}
        assert all(label[c] in ("1.0", "-1.0") for c in present), row["report"]
        assert not [c for c in set(CHEXPERT_COLUMNS) - present - {"No Finding"} if label[c] == "1.0"], row["report"]
