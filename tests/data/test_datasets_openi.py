"""Open-I loader: XML reports (folder or tgz), images by parentImage id, MeSH crosswalk."""

from __future__ import annotations

import pytest
from fixtures_datasets import build_openi
from fixtures_loaders import SECRET_PATIENT, stub_crosswalk

from anatomy_vlm.data.datasets import open_dataset


@pytest.mark.parametrize("as_tgz", [False, True])
def test_openi(tmp_path, as_tgz):
    ds = open_dataset("openi", build_openi(tmp_path, as_tgz=as_tgz), crosswalk=stub_crosswalk)
    assert [r.image_id for r in ds.records] == ["CXR1_IM-0001-1001"]  # lateral + corrupt dropped
    assert ds.report.skipped == {"corrupt image": 1}
    sample = ds[0]
    f = sample.finding_set.ids
    assert sample.image_labels[f.index("pleural_effusion")] == 1
    assert sample.image_labels[f.index("pneumothorax")] == 0
    assert [s.text for s in sample.sentences][:2] == ["Small left pleural effusion.", "Heart size normal."]
    assert sample.study_id == "CXR1" and SECRET_PATIENT not in repr(sample)
