"""Corpus readers: list literal parsing, synthetic files, and the exact PadChest recount."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from kg.sources import openi, padchest

# The dossier's top 40 pairs (sentence level, physician subset), copied from
# reference/padchest_finding_localization_pairs.csv so the test needs nothing outside the repo.
TOP40 = Path(__file__).resolve().parent / "data" / "padchest_top40_pairs.csv"
# The full dossier table (all 6,574 pairs, both columns), used when present beside the repo.
FULL = Path(__file__).resolve().parent / "data" / "padchest_finding_localization_pairs.csv.gz"  # the dossier table


def test_parse_list_handles_nan_nesting_and_spaces():
    assert padchest.parse_list("[['a', 'loc b'], [' c', nan]]") == [["a", "loc b"], ["c"]]
    assert padchest.parse_list("nan") == [] and padchest.parse_list("") == []
    assert padchest.parse_list("['x']") == ["x"]
    with pytest.raises(ValueError):
        padchest.parse_list("[['a']")
    assert padchest.parse_cuis("['C0034069' 'C0742362']") == ("C0034069", "C0742362")


def test_segments_pair_runs():
    segs = padchest.segments(["a", "b", "loc x", "c", "loc y", "loc z"])
    assert segs == [(("a", "b"), ("loc x",)), (("c",), ("loc y", "loc z"))]


def test_synthetic_padchest_dedups_studies(mini_corpora):
    studies = list(padchest.iter_studies(mini_corpora / padchest.PADCHEST_CSV))
    assert [s.study_id for s in studies] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert studies[0].image_ids == ("s1_0.png", "s1_1.png") and studies[0].method == "physician"
    assert studies[2].flat and studies[2].method == "model"
    assert studies[4].labels == ("consolidation", "pneumonia")
    pairs = padchest.sentence_pairs(studies)
    assert pairs[("pleural effusion", "loc left")] == 1 and ("cardiomegaly", "loc right") not in pairs


def test_synthetic_openi(mini_corpora):
    reports = list(openi.iter_reports(mini_corpora / openi.OPENI_TGZ))
    assert [r.report_id for r in reports] == ["CXR1", "CXR2"]
    first = reports[0]
    assert first.findings == "Left basilar opacity. XXXX" and first.impression == "Effusions."
    assert first.mesh_terms[0] == openi.MeshTerm("Opacity", ("lung", "base", "left", "mild"))
    assert first.image_ids == ("CXR1_IM-0001-1001",) and first.mesh_automatic == ("opacity",)


def test_openi_xml_entity_attacks_fail_cleanly():
    """Report XML is user input: an entity-expansion bomb and an external entity are refused by
    the parser (expat's amplification limit; ElementTree never fetches external entities)."""
    from kg.errors import KGError

    entities = '<!ENTITY a0 "ha">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    body = "<eCitation><Abstract><AbstractText Label=\"FINDINGS\">{}</AbstractText></Abstract></eCitation>"
    bomb = f'<?xml version="1.0"?><!DOCTYPE eCitation [{entities}]>' + body.format("&a9;")
    xxe = '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + body.format("&x;")
    for xml in (bomb, xxe):
        with pytest.raises(KGError, match="malformed Open-I report XML"):
            openi.parse_report(xml.encode())


def test_recount_top40_padchest_pairs_exactly(padchest_studies):
    """Top 40 (finding, localization) pairs, sentence level, physician subset: exact study counts."""
    column = "studies_sentence_level_physician_subset"
    top = list(csv.DictReader(TOP40.open(encoding="utf-8")))
    assert len(top) == 40
    counts = padchest.sentence_pairs(padchest_studies)
    assert counts[("cardiomegaly", "loc cardiac")] == 2210
    assert {(r["finding"], r["localization"]): counts[(r["finding"], r["localization"])] for r in top} == {
        (r["finding"], r["localization"]): int(r[column]) for r in top
    }
    # the 40 are the most frequent pairs of the recount too
    assert {pair for pair, _n in counts.most_common(40)} == {(r["finding"], r["localization"]) for r in top}


def test_recount_all_pairs_both_levels(padchest_studies):
    """Every pair of the dossier table, sentence level (physician) and segment level (all studies)."""
    with gzip.open(FULL, "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    sentence = padchest.sentence_pairs(padchest_studies)
    segment = padchest.sentence_pairs(padchest_studies, method=None, scope="segment")
    assert len(rows) == len(segment) == 6574
    for r in rows:
        pair = (r["finding"], r["localization"])
        assert sentence[pair] == int(r["studies_sentence_level_physician_subset"]), pair
        assert segment[pair] == int(r["studies_segment_level_all"]), pair


def test_padchest_corpus_statistics(padchest_studies):
    assert len(padchest_studies) == 109_852
    assert sum(s.method == "physician" for s in padchest_studies) == 26_413
    assert len({t for s in padchest_studies for t in s.labels}) == 193


def test_openi_corpus_statistics(xrv_data):
    reports = list(openi.iter_reports())
    assert len(reports) == 3955
    assert sum(len(r.image_ids) for r in reports) == 7470
    assert sum(len(r.mesh_major) for r in reports) == 8298
