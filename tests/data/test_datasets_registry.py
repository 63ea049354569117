"""Registry, shared CSV reading and label mapping rules."""

from __future__ import annotations

import gzip
import math
import zipfile

import pytest

from anatomy_vlm.data.datasets import dataset_names, open_dataset
from anatomy_vlm.data.datasets.base import LoadReport, hash_split, is_frontal, read_csv_rows
from anatomy_vlm.data.datasets.labels import LabelMapper
from anatomy_vlm.data.datasets.regions import located_regions
from anatomy_vlm.errors import ConfigError, DataError
from tests.data.fixtures_loaders import stub_crosswalk


def test_registry_errors(tmp_path):
    assert {"mimic", "vindr", "chexpert", "nih", "rsna", "siim", "padchest", "openi"} <= set(dataset_names())
    with pytest.raises(ConfigError, match="unknown dataset"):
        open_dataset("nope", tmp_path)
    with pytest.raises(ConfigError, match="uncertainty"):
        open_dataset("nih", tmp_path, uncertainty="maybe")
    with pytest.raises(ConfigError, match="split"):
        open_dataset("nih", tmp_path, split="holdout")
    with pytest.raises(DataError, match="not a folder"):
        open_dataset("nih", tmp_path / "absent")
    with pytest.raises(DataError, match="Data_Entry"):
        open_dataset("nih", tmp_path)


def test_csv_by_magic_bytes_and_malformed_rows(tmp_path):
    text = "a, b\n1,2\n3\n4,5,6\n7,8,,\n"
    (tmp_path / "plain.csv").write_text(text)
    (tmp_path / "named.csv").write_bytes(gzip.compress(text.encode()))  # gzip without .gz
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as archive:
        archive.writestr("inner.csv", text)
    for name in ("plain.csv", "named.csv", "z.zip"):
        report = LoadReport(name="t")
        rows = list(read_csv_rows(tmp_path / name, report, required=("a", "b")))
        assert [r["b"] for r in rows] == ["2", "8"]  # header " b" stripped; empty extras ok
        assert report.skipped == {"malformed row": 2}


def test_label_mapper_match_semantics():
    ids = ("lung_opacity", "nodule", "mass", "pleural_effusion")
    mapper = LabelMapper(vocabulary="chestxray14", finding_ids=ids, crosswalk=stub_crosswalk, hierarchy=None)
    labels, unc = mapper.map({"Infiltration": 0.0, "Effusion": -1.0})
    assert math.isnan(labels[0]) and not unc[0]  # broad: a negative says nothing
    assert math.isnan(labels[3]) and unc[3]
    labels, _ = mapper.map({"Infiltration": 1.0, "Nodule": 1.0, "Mass": 0.0})
    assert labels.tolist()[:3] == [1.0, 1.0, 0.0]
    vindr = LabelMapper(vocabulary="vindr", finding_ids=ids, crosswalk=stub_crosswalk, hierarchy=None)
    labels, unc = vindr.map({"Nodule/Mass": 1.0})
    assert math.isnan(labels[1]) and unc[1] and unc[2]  # narrow positive -> uncertain
    labels, unc = vindr.map({"Nodule/Mass": 0.0})
    assert labels[1] == 0 and labels[2] == 0
    ones = LabelMapper(vocabulary="chestxray14", finding_ids=ids, crosswalk=stub_crosswalk,
                       hierarchy=None, policy="ones")
    labels, unc = ones.map({"Effusion": -1.0})
    assert labels[3] == 1 and unc[3]


def test_helpers():
    assert is_frontal("PA") and is_frontal("ap") and is_frontal("AP_horizontal") and not is_frontal("LL")
    assert hash_split("p1") == hash_split("p1") and hash_split("p1") in {"train", "valid", "test"}
    counts = {s: 0 for s in ("train", "valid", "test")}
    for i in range(2000):
        counts[hash_split(str(i))] += 1
    assert 1500 < counts["train"] < 1700 and counts["valid"] > 150 and counts["test"] > 150
    regions = ("left_costophrenic_angle", "right_costophrenic_angle", "cardiac_silhouette")
    assert located_regions(["left", "costophrenic_angle"], regions) == ["left_costophrenic_angle"]
    assert set(located_regions(["bilateral", "costophrenic_angle"], regions)) == set(regions[:2])
    assert located_regions(["left"], regions) == []


def test_dataset_pickles_for_spawned_workers(tmp_path):
    import pickle

    from tests.data.fixtures_mimic import build_mimic

    ds = open_dataset("mimic", build_mimic(tmp_path), crosswalk=stub_crosswalk, hierarchy=None)
    before = ds[0]
    clone = pickle.loads(pickle.dumps(ds))  # test-made object: pickle is fine here
    after = clone[0]
    assert after.image_id == before.image_id
    assert after.region_labels.nan_to_num(7).equal(before.region_labels.nan_to_num(7))


def test_a_broken_kg_raises_instead_of_changing_labels(tmp_path, monkeypatch):
    """No fallback to a hand-copied table: the crosswalk, the is_a hierarchy, the region
    locator, label propagation and the flip's lateral pairs all raise the KG's error."""
    import anatomy_vlm.kgload as kgload
    from anatomy_vlm.data.datasets.labels import kg_crosswalk, kg_hierarchy
    from anatomy_vlm.data.datasets.regions import RegionLocator
    from anatomy_vlm.data.types import lateral_pairs
    from kg.errors import OntologyError
    from tests.data.fixtures_datasets import build_nih

    def broken():
        raise OntologyError("ontology file corrupt (test)")

    import anatomy_vlm.data.types as types

    monkeypatch.setattr(kgload, "load_kg", broken)
    types._default_counterpart.cache_clear()  # a graph loaded by an earlier test is memoised
    for call in (kg_crosswalk, kg_hierarchy, lambda: RegionLocator(region_ids=("left_lung",),
                                                                    crosswalk=stub_crosswalk, graph="kg"),
                 lambda: lateral_pairs(("left_lung", "right_lung"))):
        with pytest.raises(OntologyError):
            call()
    root = build_nih(tmp_path)
    with pytest.raises(OntologyError):  # a loader on the KG (the default) fails, never degrades
        open_dataset("nih", root)[0]
    ds = open_dataset("nih", root, crosswalk=stub_crosswalk, hierarchy=None)  # KG-free by choice
    assert ds[0] is not None
    with pytest.raises(OntologyError):  # KG crosswalk with a stub hierarchy: still the KG's error
        open_dataset("nih", root, hierarchy=None)[0]
