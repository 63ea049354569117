"""RSNA Pneumonia loader: one row per box, NaN rows for negatives, DICOM, 1024 frame."""

from __future__ import annotations

import logging

from anatomy_vlm.data.datasets import open_dataset
from tests.data.fixtures_datasets import build_rsna
from tests.data.fixtures_loaders import SECRET_NAME, SECRET_PATIENT, stub_crosswalk


def test_rsna_boxes_labels_and_no_identifiers(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ds = open_dataset("rsna", build_rsna(tmp_path), crosswalk=stub_crosswalk, hierarchy=None)
    assert ds.report.skipped == {"malformed row": 1}
    samples = {ds.records[i].image_id: ds[i] for i in range(len(ds))}
    pos, neg = samples["pos"], samples["neg"]
    f = pos.finding_set.ids
    assert pos.view == "AP" and neg.view == "PA"
    assert pos.image_labels[f.index("lung_opacity")] == 1 and neg.image_labels[f.index("lung_opacity")] == 0
    assert pos.finding_boxes.tolist() == [[100 / 16, 200 / 16, 400 / 16, 600 / 16],
                                          [600 / 16, 200 / 16, 800 / 16, 500 / 16]]
    assert len(neg.finding_boxes) == 0
    assert neg.image[0, 0, 0] > neg.image[0, 0, -1]  # MONOCHROME1 inverted: low values white
    everything = repr(pos) + repr(neg) + caplog.text + ds.report.summary()
    assert SECRET_PATIENT not in everything and SECRET_NAME not in everything


def test_rsna_real_crosswalk(tmp_path):
    from tests.data.fixtures_loaders import assert_real_crosswalk

    assert_real_crosswalk("rsna", "Lung Opacity")
    ds = open_dataset("rsna", build_rsna(tmp_path))
    samples = {ds.records[i].image_id: ds[i] for i in range(len(ds))}
    f = samples["pos"].finding_set.ids
    assert samples["pos"].image_labels[f.index("lung_opacity")] == 1
    assert samples["neg"].image_labels[f.index("lung_opacity")] == 0
    assert len(samples["pos"].finding_boxes) == 2
