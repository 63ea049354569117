"""Evidence mining on the tiny ontology + synthetic corpora: sides, sites, sources, projection."""

from __future__ import annotations

import pytest


def located(kg) -> dict[tuple[str, str, str], int]:
    return {(f, a, s): n for f, a, s, n in kg.raw["evidence"]["located_in"]}


def test_side_and_site_combine_within_a_sentence(mini_kg):
    ev = located(mini_kg)
    # "pleural effusion, loc left, loc basal" -> left lung base (physician)
    assert ev[("pleural_effusion", "left_lung_base", "padchest_physician")] == 1


def test_bilateral_splits_into_both_sides(mini_kg):
    ev = located(mini_kg)
    assert ev[("pleural_effusion", "left_pleura", "padchest_physician")] == 1
    assert ev[("pleural_effusion", "right_pleura", "padchest_physician")] == 1
    assert ("pleural_effusion", "pleura", "padchest_physician") not in ev


def test_model_labelled_studies_are_a_separate_source(mini_kg):
    ev = located(mini_kg)
    # flat list: side only -> the finding's typical site (pleura) on that side
    assert ev[("pleural_effusion", "right_pleura", "padchest_model")] == 1
    assert ev[("cardiomegaly", "heart", "padchest_model")] == 1
    # counts are studies: study s1 has two images but counts once
    assert ev[("cardiomegaly", "heart", "padchest_physician")] == 1


def test_most_specific_site_and_normal_dropped(mini_kg):
    ev = located(mini_kg)
    assert ev[("consolidation", "left_costophrenic_angle", "padchest_physician")] == 1
    assert not any(a == "costophrenic_angle" for _f, a, _s in ev)
    assert not any(f == "normal" for f, _a, _s in ev)
    # leading-space differential label is stripped; a side with no typical site -> that side's lung
    assert ev[("pneumonia", "left_costophrenic_angle", "padchest_physician")] == 1
    assert ev[("pneumonia", "right_lung", "padchest_physician")] == 1


def test_openi_mesh_is_a_third_source(mini_kg):
    ev = located(mini_kg)
    assert ev[("lung_opacity", "left_lung_base", "openi_mesh")] == 1
    assert ev[("pleural_effusion", "left_pleura", "openi_mesh")] == 1
    assert mini_kg.info()["evidence_studies"] == {"padchest_physician": 5, "padchest_model": 1, "openi_mesh": 2}


def test_locations_in_region_terms_keep_raw_counts(mini_kg):
    raw = {r.node.id: r for r in mini_kg.locations_of("pleural effusion")}
    assert raw["left_pleura"].sources == {"openi_mesh": 1, "padchest_physician": 1}
    projected = mini_kg.locations_of("pleural effusion", region_set=["left_costophrenic_angle", "left_lower_lung_zone",
                                                                     "right_costophrenic_angle", "right_lower_lung_zone",
                                                                     "cardiac_silhouette"])
    assert {r.node.id for r in projected[:2]} == {"left_costophrenic_angle", "right_costophrenic_angle"}
    top = next(r for r in projected if r.node.id == "left_costophrenic_angle")
    # raw studies are summed unscaled; the projected score carries the weights
    assert top.sources == {"openi_mesh": 1, "padchest_physician": 2}
    assert {v[0] for v in top.via} == {"left_pleura", "left_lung_base"}
    # weighted studies over the finding's weighted localized studies (2 physician + 0.5 x 1 model
    # + 1 Open-I = 3.5): base 0.4 + pleura 0.7 + 0.7, plus the curated pleura site 0.05 x 0.35
    assert top.score == pytest.approx((0.4 + 0.7 + 0.7) / 3.5 + 0.05 * 0.35)
    assert [r.score for r in projected] == sorted((r.score for r in projected), reverse=True)


def test_findings_at_reaches_through_projection(mini_kg):
    found = {r.node.id: r for r in mini_kg.findings_at("cardiac silhouette")}
    assert found["cardiomegaly"].relation == "located_in"
    assert found["cardiomegaly"].sources == {"padchest_model": 1, "padchest_physician": 1}


def test_cooccurrence_needs_minimum_support(mini_kg):
    assert mini_kg.raw["evidence"]["min_cooccurrence"] == 30
    assert mini_kg.cooccurrence("cardiomegaly") == []  # far below the support threshold
