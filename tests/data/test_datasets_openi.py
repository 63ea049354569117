"""Open-I loader: XML reports (folder or tgz), images by parentImage id, MeSH crosswalk."""

from __future__ import annotations

import pytest

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.data.datasets.labels import kg_crosswalk
from tests.data.fixtures_datasets import build_openi
from tests.data.fixtures_loaders import SECRET_PATIENT, stub_crosswalk


@pytest.mark.parametrize("as_tgz", [False, True])
def test_openi(tmp_path, as_tgz):
    ds = open_dataset("openi", build_openi(tmp_path, as_tgz=as_tgz), crosswalk=stub_crosswalk, hierarchy=None)
    assert [r.image_id for r in ds.records] == ["CXR1_IM-0001-1001"]  # lateral + corrupt dropped
    assert ds.report.skipped == {"corrupt image": 1}
    sample = ds[0]
    f, r = sample.finding_set.ids, sample.region_set.ids
    assert sample.image_labels[f.index("pleural_effusion")] == 1
    assert sample.image_labels[f.index("lung_opacity")] == 1
    assert sample.image_labels[f.index("pneumothorax")] == 0
    assert sample.region_labels[r.index("left_lung"), f.index("lung_opacity")] == 1
    assert sample.region_labels[r.index("right_lung")].isnan().all()
    assert [s.text for s in sample.sentences][:2] == ["Small left pleural effusion.", "Heart size normal."]
    effusion = sample.sentences[0]  # grounded by the report parser
    assert "pleural_effusion" in effusion.finding_ids and "left_lung" in effusion.region_ids
    assert sample.study_id == "CXR1" and SECRET_PATIENT not in repr(sample)


def test_openi_regions_through_the_kg(tmp_path):
    assert kg_crosswalk()("openi_mesh", "Opacity")  # a hard dependency: fail, never skip
    sample = open_dataset("openi", build_openi(tmp_path))[0]
    f, r = sample.finding_set.ids, sample.region_set.ids
    opacity = f.index("lung_opacity")
    positive = {r[i] for i in range(len(r)) if sample.region_labels[i, opacity] == 1}
    assert {"left_lung", "left_lower_lung_zone"} <= positive  # lung/base/left via projects_onto
    assert not any(x.startswith("right_") for x in positive)
