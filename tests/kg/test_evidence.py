"""Evidence on the real corpora: co-occurrence counts recomputed, sources kept apart, Open-I MeSH."""

from __future__ import annotations

import math


def located(kg) -> dict[tuple[str, str, str], int]:
    return {(f, a, s): n for f, a, s, n in kg.raw["evidence"]["located_in"]}


def test_sources_and_totals(real_kg):
    studies = real_kg.info()["evidence_studies"]
    assert studies == {"padchest_physician": 26_413, "padchest_model": 83_439, "openi_mesh": 3_955}
    sources = {s for _f, _a, s in located(real_kg)}
    assert sources == {"padchest_physician", "padchest_model", "openi_mesh"}
    # negative findings ("heart size normal") are not located_in evidence
    assert not any(real_kg.node(f).type == "qualifier" for f, _a, _s in located(real_kg))


def test_laterality_combined_and_child_localization_kept(real_kg):
    ev = located(real_kg)
    left = ev.get(("pleural_effusion", "left_pleura", "padchest_physician"), 0)
    right = ev.get(("pleural_effusion", "right_pleura", "padchest_physician"), 0)
    assert left > 300 and right > 300  # "loc left"/"loc right" (+ bilateral split) at the pleura
    blunting = [f for f in real_kg.crosswalk("padchest_labels", "costophrenic angle blunting") if f.ontology_id]
    fid = blunting[0].ontology_id
    # "loc left costophrenic angle" comes with its parent "loc costophrenic angle": the child wins
    assert ev.get((fid, "left_costophrenic_angle", "padchest_physician"), 0) >= 390
    assert ev.get((fid, "costophrenic_angle", "padchest_physician"), 0) < ev[(fid, "left_costophrenic_angle", "padchest_physician")]


def test_openi_mesh_evidence(real_kg):
    ev = located(real_kg)
    # Pleural Effusion/bilateral (60 reports) reaches both pleurae
    assert ev.get(("pleural_effusion", "left_pleura", "openi_mesh"), 0) >= 60
    assert ev.get(("pleural_effusion", "right_pleura", "openi_mesh"), 0) >= 60


def test_cooccurrence_recount(real_kg, padchest_studies):
    """co_occurs_with counts are studies labelled with both findings (labels mapped by the crosswalk)."""
    labels_of = {"cardiomegaly": set(), "pleural_effusion": set()}
    for entry in real_kg.crosswalk("padchest_labels"):
        if entry.ontology_id in labels_of and entry.match != "unmapped":
            labels_of[entry.ontology_id].add(entry.label.lower())
    both = sum(1 for s in padchest_studies
               if {t.lower() for t in s.labels} & labels_of["cardiomegaly"]
               and {t.lower() for t in s.labels} & labels_of["pleural_effusion"])
    row = {other: (n, pmi) for other, n, pmi in real_kg.cooccurrence("cardiomegaly")}
    assert row["pleural_effusion"][0] == both
    minimum = real_kg.info()["min_cooccurrence"]
    pmis = [pmi for _o, n, pmi in real_kg.cooccurrence("cardiomegaly")]
    assert all(n >= minimum for _o, n, _p in real_kg.cooccurrence("cardiomegaly"))
    assert pmis == sorted(pmis, reverse=True) and all(math.isfinite(p) for p in pmis)


def test_raw_counts_honest_in_region_terms(real_kg):
    raw = real_kg.locations_of("pleural effusion")
    projected = real_kg.locations_of("pleural effusion", region_set="cig36")
    top = projected[0]
    # each projected answer's raw counts are the unscaled sum of the evidence it came through
    for source, n in top.sources.items():
        assert n == sum(c for _a, s, c, _w in top.via if s == source)
    raw_by_id = {r.node.id: r for r in raw}
    for anatomy, source, count, weight in top.via:
        assert raw_by_id[anatomy].sources[source] == count and 0 < weight <= 1


def test_resolve_laterality_aware(real_kg):
    assert real_kg.resolve("left pleural effusion")[0].node.id == "pleural_effusion"
    assert real_kg.resolve("costophrenic angle, right")[0].node.id == "right_costophrenic_angle"
    assert real_kg.resolve("R lower lung zone")[0].node.id == "right_lower_lung_zone"
