"""projections.tsv: weighted projection of non-region anatomy onto Chest ImaGenome regions."""

from __future__ import annotations

from collections import defaultdict

ANATOMY_VOCABULARIES = ("padchest_localizations", "openi_mesh", "chest_imagenome")


def test_header_and_weights(projections, nodes, sets):
    assert list(projections[0]) == ["source_id", "region_id", "weight", "note"]
    regions = set(sets["region_sets"]["cig36"]) | set(sets["region_sets"]["cig38_text"])
    totals: dict[str, float] = defaultdict(float)
    seen = set()
    for row in projections:
        weight = float(row["weight"])
        assert 0 < weight <= 1, row
        assert row["region_id"] in regions, row
        assert nodes[row["source_id"]].type == "anatomy", row
        assert row["source_id"] not in regions, row
        assert (row["source_id"], row["region_id"]) not in seen, row
        seen.add((row["source_id"], row["region_id"]))
        totals[row["source_id"]] += weight
    assert all(abs(total - 1) < 1e-6 for total in totals.values()), totals


def test_every_named_anatomy_reaches_a_region(projections, crosswalks, nodes, sets):
    regions = set(sets["region_sets"]["cig36"]) | set(sets["region_sets"]["cig38_text"])
    projected = {row["source_id"] for row in projections}
    for vocabulary in ANATOMY_VOCABULARIES:
        for row in crosswalks[vocabulary]:
            nid = row["ontology_id"]
            if nid and nodes[nid].type == "anatomy":
                assert nid in regions or nid in projected, (vocabulary, row["source_label"], nid)


def test_lateral_variants_project_to_their_own_side(projections, nodes):
    for row in projections:
        side = nodes[row["source_id"]].annotations["laterality"]
        region_side = nodes[row["region_id"]].annotations["laterality"]
        if side in (["left"], ["right"]) and region_side in (["left"], ["right"]):
            assert side == region_side, row


def test_lobes_spread_over_zones(projections):
    rll = {r["region_id"]: float(r["weight"]) for r in projections if r["source_id"] == "right_lower_lobe"}
    assert max(rll, key=rll.get) == "right_lower_lung_zone"
    assert "right_mid_lung_zone" in rll and len(rll) >= 3
    pleura = {r["region_id"] for r in projections if r["source_id"] == "pleura"}
    assert {"right_costophrenic_angle", "left_costophrenic_angle"} <= pleura


def test_every_anatomy_node_is_a_region_or_projects(projections, nodes, sets):
    regions = set(sets["region_sets"]["cig36"]) | set(sets["region_sets"]["cig38_text"])
    projected = {row["source_id"] for row in projections}
    loose = [n.id for n in nodes.values() if n.type == "anatomy" and n.id not in regions | projected]
    assert not loose, loose
