"""Coverage of reference identifiers and of the dataset label lists the ontology must hold.

The reference CSVs are copies of the team dossier's anatomy_crosswalk.csv / finding_crosswalk.csv
and padchest_label_counts.csv (tests/ontology/fixtures/reference/).
"""

from __future__ import annotations

import csv
import re

from tests.ontology.onto_support import FIXTURES

REFERENCE = FIXTURES / "reference"
ID_RE = re.compile(r"\b(RID\d+|C\d{7})\b")


def reference_ids() -> set[str]:
    ids: set[str] = set()
    for name in ("anatomy_crosswalk.csv", "finding_crosswalk.csv"):
        ids.update(ID_RE.findall((REFERENCE / name).read_text(encoding="utf-8")))
    return ids


def ontology_ids(nodes) -> set[str]:
    held: set[str] = set()
    for node in nodes.values():
        ann = node.annotations
        for value in ann["radlex"] + ann["umls"] + ann["xref"] + ann["unverified"]:
            held.add(value.split(":", 1)[-1])
    return held


def test_reference_ids_present(nodes):
    expected = reference_ids()
    assert len(expected) > 200
    present = expected & ontology_ids(nodes)
    share = len(present) / len(expected)
    assert share >= 0.90, f"{share:.1%} present; missing {sorted(expected - present)}"


def test_ids_are_used_by_one_node_each_as_preferred(nodes):
    owners: dict[str, str] = {}
    for node in nodes.values():
        for value in node.annotations["radlex"] + node.annotations["umls"]:
            assert value not in owners, (value, node.id, owners.get(value))
            owners[value] = node.id


def padchest_frequent_labels(min_studies: int = 100) -> list[str]:
    with (REFERENCE / "padchest_label_counts.csv").open(encoding="utf-8") as handle:
        return [
            row["term"] for row in csv.DictReader(handle)
            if row["kind"] == "label" and int(row["n_studies"]) >= min_studies
        ]


def test_padchest_labels_seen_in_100_studies_are_mapped(crosswalks, nodes):
    labels = padchest_frequent_labels()
    assert len(labels) == 134
    rows: dict[str, list[dict]] = {}
    for row in crosswalks["padchest_labels"]:
        rows.setdefault(row["source_label"], []).append(row)
    non_findings = {"normal", "unchanged", "exclude", "suboptimal study"}
    for label in labels:
        assert label in rows, label
        if label in non_findings:
            continue
        targets = [r["ontology_id"] for r in rows[label] if r["match"] != "unmapped"]
        assert targets, label
        assert any(nodes[t].type in {"finding", "disease", "device"} for t in targets), label
    assert {r["match"] for r in rows["exclude"]} == {"unmapped"}
    assert nodes[rows["normal"][0]["ontology_id"]].type == "qualifier"


def test_benchmark_label_sets_have_nodes(crosswalks):
    for vocabulary, minimum in (("chexpert", 14), ("chestxray14", 15), ("vindr", 27), ("rsna", 2), ("siim", 1)):
        mapped = {r["source_label"] for r in crosswalks[vocabulary] if r["match"] != "unmapped"}
        assert len(mapped) >= minimum, vocabulary
