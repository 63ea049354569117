"""Property-based fuzz of scene-graph parsing through the real loader (issue 9).

Any JSON document in place of a scene graph — arbitrary JSON, or scene-graph-shaped JSON with
wrong types, hostile numbers and odd strings in every field — must give either a sample that
passes the :class:`CXRSample` contract, or ``None`` with exactly one more skip counted under a
DataError reason (strict: that typed DataError). Never another exception.
Bounded: 200 examples, no per-example deadline, well under 20 s on one core.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.errors import DataError
from tests.data.fixtures_loaders import stub_crosswalk
from tests.data.fixtures_mimic import build_mimic

NAMES = ["left lung", "right lung", "left costophrenic angle", "cardiac silhouette", "", "LEFT  LUNG", "nope"]
LABELS = ["anatomicalfinding|yes|pleural effusion", "anatomicalfinding|no|pneumothorax", "nlp|yes|normal",
          "a|b", "||", "x|maybe|lung opacity", "disease|yes|mass/nodule (not otherwise specified)"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["nan", "inf", "-1e999", "12.5", " 3 ", "1e308"]),
)
any_json = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)
coordinate = st.one_of(st.floats(min_value=-100, max_value=200), scalars, any_json)
objects = st.lists(st.one_of(
    st.fixed_dictionaries({"bbox_name": st.one_of(st.sampled_from(NAMES), any_json)},
                          optional={f"original_{k}": coordinate for k in ("x1", "y1", "x2", "y2")}),
    any_json), max_size=5)
attributes = st.lists(st.one_of(
    st.fixed_dictionaries({}, optional={
        "bbox_name": st.one_of(st.sampled_from(NAMES), any_json),
        "phrases": st.one_of(st.lists(st.one_of(st.text(max_size=30), any_json), max_size=3), any_json),
        "attributes": st.one_of(st.lists(st.one_of(st.lists(st.one_of(st.sampled_from(LABELS), any_json),
                                                            max_size=3), any_json), max_size=3), any_json)}),
    any_json), max_size=4)
scene_graphs = st.one_of(
    any_json,
    st.fixed_dictionaries({}, optional={"objects": st.one_of(objects, any_json),
                                        "attributes": st.one_of(attributes, any_json)}),
)


@pytest.fixture(scope="module")
def loader(tmp_path_factory):
    root = build_mimic(tmp_path_factory.mktemp("fuzz") / "ds", imagenome_splits=False)
    ds = open_dataset("mimic", root, crosswalk=stub_crosswalk, hierarchy=None, split="train")
    index = next(i for i, r in enumerate(ds.records) if r.image_id == "d1")
    return ds, index, ds.records[index].extra["scene_graph"]


def test_fuzz_scene_graph_is_a_sample_or_a_counted_skip(loader, tally):
    ds, index, path = loader
    outcomes = {"sample": 0, "skip": 0}

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(scene_graphs)
    def run(document):
        path.write_text(json.dumps(document, allow_nan=True))
        before = sum(ds.report.skipped.values())
        sample = ds[index]  # anything but a DataError skip or a valid sample fails the test here
        if sample is None:
            assert sum(ds.report.skipped.values()) == before + 1
            assert ds.report.skipped["corrupt annotation"] >= 1
            outcomes["skip"] += 1
        else:
            sample.validate()
            boxes = sample.boxes[~sample.boxes.isnan().any(dim=1)]
            assert all(math.isfinite(float(v)) for v in boxes.flatten())
            outcomes["sample"] += 1

    run()
    assert outcomes["sample"] > 0 and outcomes["skip"] > 0  # both ends of the property were reached
    tally("data", "fuzzed scene-graph JSON (Hypothesis)", sum(outcomes.values()),
          f"{outcomes['sample']} valid samples, {outcomes['skip']} counted 'corrupt annotation' skips, "
          "0 other exceptions")


def test_strict_policy_raises_only_data_errors(loader):
    ds, index, path = loader
    ds.report.policy = "strict"
    try:
        for document in ({"objects": {"a": 1}}, {"attributes": [{"phrases": "text"}]}, [1, 2], "x",
                         {"objects": [{"bbox_name": ["left lung"]}]}):
            path.write_text(json.dumps(document))
            with pytest.raises(DataError) as err:
                ds[index]
            assert err.value.reason == "corrupt annotation"
    finally:
        ds.report.policy = "skip"
