"""PadChest loader: literal lists with bare nan, StudyID dedup, 16-bit PNG, localizations."""

from __future__ import annotations

from anatomy_vlm.data.datasets import open_dataset
from tests.data.fixtures_datasets import build_padchest
from tests.data.fixtures_loaders import stub_crosswalk


def test_padchest(tmp_path):
    ds = open_dataset("padchest", build_padchest(tmp_path), crosswalk=stub_crosswalk, hierarchy=None,
                      region_set="cig36")
    assert sorted(r.image_id for r in ds.records) == ["a_pa.png", "b_pa.png"]  # lateral dropped
    assert ds.report.skipped == {"malformed row": 1}
    samples = {ds.records[i].image_id: ds[i] for i in range(len(ds))}
    a, b = samples["a_pa.png"], samples["b_pa.png"]
    f, r = a.finding_set.ids, a.region_set.ids
    assert a.image_labels[f.index("pleural_effusion")] == 1
    assert a.image_labels[f.index("cardiomegaly")] == 1  # " cardiomegaly" stripped
    assert a.image_labels[f.index("pneumothorax")] == 0
    assert (b.image_labels == 0).all()  # normal
    assert a.region_labels[r.index("left_costophrenic_angle"), f.index("pleural_effusion")] == 1
    assert a.region_labels[r.index("cardiac_silhouette"), f.index("cardiomegaly")] == 1
    assert a.region_labels[r.index("right_costophrenic_angle")].isnan().all()
    assert 0.9 < float(a.image.max()) <= 1.0  # 16-bit PNG scaled by 65535, not 255
    assert a.sentences[0].region_ids == ("left_costophrenic_angle",)
    assert a.subject_id == "P1" and a.study_id == "S1"


def test_padchest_regions_through_the_kg(tmp_path):
    from anatomy_vlm.data.datasets.labels import kg_crosswalk

    assert kg_crosswalk()("padchest_localizations", "loc cardiac")  # a hard dependency: fail, never skip
    ds = open_dataset("padchest", build_padchest(tmp_path))
    a = next(ds[i] for i in range(len(ds)) if ds.records[i].image_id == "a_pa.png")
    f, r = a.finding_set.ids, a.region_set.ids
    assert a.region_labels[r.index("left_costophrenic_angle"), f.index("pleural_effusion")] == 1
    assert a.region_labels[r.index("cardiac_silhouette"), f.index("cardiomegaly")] == 1  # heart
    assert a.region_labels[r.index("right_costophrenic_angle")].isnan().all()
