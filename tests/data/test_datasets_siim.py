"""SIIM-ACR loader: leading-space header, relative column-major RLE, OR of rows, -1."""

from __future__ import annotations

import numpy as np
import pytest

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.data.datasets.siim import rle_decode, rle_encode
from tests.data.fixtures_datasets import build_siim
from tests.data.fixtures_loaders import stub_crosswalk


def test_rle_is_relative_and_column_major():
    mask = rle_decode("3 2 4 1", height=4, width=4)  # flat col-major: 3,4 then 9
    expected = np.zeros((4, 4), dtype=bool)
    expected[3, 0] = expected[0, 1] = expected[1, 2] = True
    assert (mask == expected).all()
    rng = np.random.default_rng(0)
    blob = rng.random((16, 16)) > 0.7
    assert (rle_decode(rle_encode(blob), 16, 16) == blob).all()
    with pytest.raises(ValueError):
        rle_decode("10 5 3", 4, 4)


def test_siim_masks_and_labels(tmp_path):
    a = np.zeros((1024, 1024), dtype=bool)
    a[100:300, 600:800] = True
    b = np.zeros((1024, 1024), dtype=bool)
    b[500:700, 100:200] = True
    ds = open_dataset("siim", build_siim(tmp_path, rle_encode(a), rle_encode(b)), crosswalk=stub_crosswalk, hierarchy=None)
    assert ds.report.skipped == {"malformed row": 1}
    samples = {ds.records[i].image_id: ds[i] for i in range(len(ds))}
    pos, neg = samples["1.2.3.pos"], samples["1.2.3.neg"]
    f = pos.finding_set.ids.index("pneumothorax")
    assert pos.image_labels[f] == 1 and neg.image_labels[f] == 0
    mask = pos.masks["pneumothorax"].numpy()
    assert mask.shape == (32, 32) and not neg.masks["pneumothorax"].any()
    assert mask[5, 21] and mask[18, 4] and not mask[5, 4]  # both rows OR-ed, right place


def test_siim_real_crosswalk(tmp_path):
    from tests.data.fixtures_loaders import assert_real_crosswalk

    assert_real_crosswalk("siim", "Pneumothorax")
    a = np.zeros((1024, 1024), dtype=bool)
    a[100:300, 600:800] = True
    ds = open_dataset("siim", build_siim(tmp_path, rle_encode(a), "-1"))
    samples = {ds.records[i].image_id: ds[i] for i in range(len(ds))}
    f = samples["1.2.3.pos"].finding_set.ids.index("pneumothorax")
    assert samples["1.2.3.pos"].image_labels[f] == 1 and samples["1.2.3.neg"].image_labels[f] == 0
