"""AnatomyKG API on the project's ontology (+ corpora): nodes, resolve, structure, labels, text."""

from __future__ import annotations

import numpy as np
import pytest

from kg import finding_set, region_set
from kg.errors import QueryError, UnknownTermError


def test_nodes_and_types(real_kg):
    info = real_kg.info()
    assert info["nodes"]["anatomy"] >= 45 and info["nodes"]["finding"] >= 17
    for rid in region_set("cig38_text").ids + finding_set("core").ids:
        assert rid in real_kg
    node = real_kg.node("left_costophrenic_angle")
    assert node.type == "anatomy" and node.laterality == "left"
    assert set(node.to_json()) == {"id", "label", "type", "radlex", "umls", "synonyms"}
    assert all(n.type == "device" for n in real_kg.nodes("device"))
    with pytest.raises(QueryError):
        real_kg.nodes("organ")


@pytest.mark.parametrize(
    ("text", "expected", "score"),
    [  # score: 1.0 label/id, 0.95 synonym or abbreviation, 0.9 - 0.05 per corrected letter (x 0.95 for a synonym)
        ("L CPA", "left_costophrenic_angle", 0.95),
        ("RLL", "right_lower_lobe", 0.95),
        ("plueral efusion", "pleural_effusion", 0.8),
        ("Pleural Effusions!", "pleural_effusion", 1.0),
        ("cardiac silhouette", "cardiac_silhouette", 1.0),
        ("right lower lung zone", "right_lower_lung_zone", 1.0),
        ("Right Costophrenic Angle", "right_costophrenic_angle", 1.0),
        ("left base", "left_lung_base", 0.95),
        ("cardiomegally", "cardiomegaly", 0.85),
        ("ETT", "endotracheal_tube", 0.95),
    ],
)
def test_resolve(real_kg, text, expected, score):
    matches = real_kg.resolve(text)
    assert matches[0].node.id == expected
    assert matches[0].score == pytest.approx(score)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_resolve_types_and_unknown(real_kg):
    assert all(m.node.type == "anatomy" for m in real_kg.resolve("left lung", types="anatomy", limit=5))
    assert real_kg.resolve("pleural effusion", types=("finding",))[0].node.id == "pleural_effusion"
    with pytest.raises(UnknownTermError) as err:
        real_kg.resolve("pleural efffffusion zzz qqq")
    assert err.value.suggestions[0] == "pleural_effusion" and all(s in real_kg for s in err.value.suggestions)
    with pytest.raises(UnknownTermError) as err:
        real_kg.node("pleural_efusion")
    assert "pleural_effusion" in err.value.suggestions
    assert "did you mean" in str(err.value)


def test_structure(real_kg):
    assert "left_lung" in real_kg.ancestors("left_lower_lung_zone", "part_of")
    assert "left_lower_lung_zone" in real_kg.descendants("left_lung", "part_of")
    assert real_kg.lateral_counterpart("left_costophrenic_angle") == "right_costophrenic_angle"
    assert "lung_opacity" in real_kg.ancestors("consolidation", "is_a")


def test_crosswalk(real_kg):
    with pytest.raises(UnknownTermError):
        real_kg.crosswalk("no_such_vocabulary", "x")
    tables = real_kg.raw["crosswalks"]
    assert {"chexpert", "padchest_labels", "padchest_localizations", "openi_mesh", "vindr"} <= set(tables)
    rows = real_kg.crosswalk("chexpert", "pleural effusion")
    assert rows[0].ontology_id == "pleural_effusion"


def test_propagate_labels_regions_and_findings(real_kg):
    regions = ["left_lung", "left_lower_lung_zone", "right_lung"]
    findings = ["lung_opacity", "consolidation", "pleural_effusion"]
    labels = np.full((2, 3, 3), np.nan, dtype=np.float32)
    labels[0, 1, 1] = 1.0  # consolidation at left lower lung zone
    labels[0, 0, 0] = 0.0  # explicit negative, overridden by the propagated positive
    labels[0, 2, 2] = 0.0
    out = real_kg.propagate_labels(labels, regions, findings)
    assert out.shape == labels.shape
    assert out[0, 0, 1] == 1 and out[0, 0, 0] == 1 and out[0, 1, 0] == 1
    assert out[0, 2, 2] == 0 and np.isnan(out[0, 2, 0]) and np.isnan(out[1]).all()
    image = real_kg.propagate_labels(np.array([np.nan, 1, 0]), None, findings)
    assert image.tolist()[:2] == [1, 1] and image[2] == 0


def test_location_prior_is_soft(real_kg):
    regions = region_set("cig29").ids
    findings = finding_set("core").ids
    prior = real_kg.location_prior(findings, regions)
    assert prior.shape == (len(regions), len(findings))
    assert (prior > 0).all() and (prior <= 1).all()
    cardio = findings.index("cardiomegaly")
    assert prior[regions.index("cardiac_silhouette"), cardio] > prior[regions.index("left_apical_zone"), cardio]


def test_text_outputs(real_kg):
    text = real_kg.node_text("pleural_effusion")
    assert text.startswith("pleural effusion: ") and "Synonyms:" in text
    prompt = real_kg.prompt("pleural effusion", "left costophrenic angle")
    assert prompt.startswith("left costophrenic angle: pleural effusion — ")
    assert real_kg.prompt("pleural_effusion", "left_costophrenic_angle", negated=True) == \
        "left costophrenic angle: no pleural effusion"
    assert real_kg.prompt("cardiomegaly").startswith("cardiomegaly — ")


def test_paths_on_the_tiny_graph(mini_kg):
    (path,) = mini_kg.path("consolidation", "lung")
    assert [(s.source, s.relation, s.target, s.inverse) for s in path] == [
        ("consolidation", "is_a", "lung_opacity", False),
        ("lung_opacity", "has_finding_site", "lung", False),
    ]
    assert mini_kg.path("left", "heart") == []  # an isolated qualifier: no path, answered at once
    assert mini_kg.path("lung", "lung") == [[]]
    two = mini_kg.path("pneumonia", "right lower lung zone", k=2)
    assert len(two) == 2 and len(two[0]) <= len(two[1])
    assert all(p[-1].target == "right_lower_lung_zone" for p in two)


def test_resolve_composes_sides_on_the_tiny_graph(mini_kg):
    # the tiny ontology has "CPA" only on the generic node: sides are composed, not looked up
    assert mini_kg.resolve("L CPA")[0].node.id == "left_costophrenic_angle"
    assert mini_kg.resolve("costophrenic angle, rt")[0].node.id == "right_costophrenic_angle"
    both = {m.node.id for m in mini_kg.resolve("bilateral CPA", limit=2)}
    assert both == {"left_costophrenic_angle", "right_costophrenic_angle"}
    assert mini_kg.resolve("left effusions")[0].node.id == "pleural_effusion"
    assert mini_kg.resolve("RLL")[0].node.id == "right_lower_lobe"


def test_project_onto_region_sets(real_kg, mini_kg):
    weights = mini_kg.project("left lung base", region_set=["left_lower_lung_zone", "left_costophrenic_angle"])
    assert weights == {"left_lower_lung_zone": 0.6, "left_costophrenic_angle": 0.4}
    assert mini_kg.project("heart", region_set=["cardiac_silhouette"]) == {"cardiac_silhouette": 1.0}
    lobe = real_kg.project("right_lower_lobe", region_set="cig29")
    assert lobe and all(r in region_set("cig29").ids for r in lobe)
    assert abs(sum(lobe.values()) - 1.0) < 1e-6
    assert real_kg.project("left_costophrenic_angle") == {"left_costophrenic_angle": 1.0}
