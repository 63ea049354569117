"""Crosswalks: format, targets, and coverage of every label in the real dataset files.

The real vocabularies are read from torchxrayvision's data folder (``kg.paths.xrv_data_dir()``);
torchxrayvision is a hard dependency, so those tests fail when it is absent. Chest ImaGenome is credentialed, so its
attribute vocabulary is checked against the published list (docs/data_formats.md#attribute-vocabulary).
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import re
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from functools import cache, lru_cache
from pathlib import Path

import pytest

from kg.paths import xrv_data_dir
from tests.ontology.onto_support import VOCABULARIES

MATCHES = {"exact", "broad", "narrow", "related", "unmapped"}
XRV = xrv_data_dir()
needs_xrv = pytest.mark.usefixtures("require_xrv")  # fails, never skips: torchxrayvision is a hard dependency


@pytest.fixture
def require_xrv() -> Path:
    assert XRV is not None, "torchxrayvision's data folder not found; install torchxrayvision"
    return XRV
PADCHEST_CSV = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"


def mapped_labels(rows: list[dict[str, str]]) -> set[str]:
    return {r["source_label"] for r in rows}


def assert_covered(labels: set[str], rows: list[dict[str, str]], vocabulary: str) -> None:
    missing = sorted(labels - mapped_labels(rows))
    assert not missing, f"{vocabulary}: labels without a crosswalk row: {missing[:20]}"


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
def test_crosswalk_format_and_targets(vocabulary, crosswalks, nodes):
    rows = crosswalks[vocabulary]
    assert rows, vocabulary
    assert list(rows[0]) == ["source_label", "ontology_id", "match", "note"]
    seen = set()
    for row in rows:
        key = (row["source_label"], row["ontology_id"])
        assert key not in seen, key
        seen.add(key)
        assert row["source_label"] == row["source_label"].strip() or "  " in row["source_label"]
        assert row["match"] in MATCHES, row
        if row["match"] == "unmapped":
            assert row["ontology_id"] == "" and row["note"], row
        else:
            assert row["ontology_id"] in nodes, row


def test_unmapped_labels_have_no_mapped_row_too(crosswalks):
    for vocabulary, rows in crosswalks.items():
        unmapped = {r["source_label"] for r in rows if r["match"] == "unmapped"}
        mapped = {r["source_label"] for r in rows if r["match"] != "unmapped"}
        assert not unmapped & mapped, vocabulary


def test_laterality_and_site_localizations(crosswalks, nodes):
    rows = {r["source_label"]: r for r in crosswalks["padchest_localizations"]}
    for side in ("left", "right", "bilateral"):
        assert rows[f"loc {side}"]["ontology_id"] == side
        assert nodes[side].annotations["laterality"] == [side]
    for loc, nid in (("loc basal", "lung_base"), ("loc pleural", "pleura"), ("loc cardiac", "heart")):
        assert rows[loc]["ontology_id"] == nid
        assert nodes[nid].type == "anatomy"


# --- real dataset vocabularies -----------------------------------------------------------


@lru_cache(maxsize=65536)
def _parse_padchest_list(text: str) -> tuple[str, ...]:
    """A PadChest list cell as stripped terms (bare ``nan`` -> ``[]``, nested lists flattened)."""
    if not text or text == "nan":
        return ()
    value = ast.literal_eval(re.sub(r"(?<=[\[,\s])nan(?=[\],\s])", "[]", text))
    flat, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and item.strip():
            flat.append(item.strip())
    return tuple(flat)


@cache
def _padchest_terms() -> tuple[dict[str, int], frozenset]:
    """``(studies per label, localizations)`` from the real PadChest CSV (images deduplicated by StudyID)."""
    label_cells: dict[str, set[str]] = {}
    loc_cells: set[str] = set()
    with gzip.open(XRV / PADCHEST_CSV, "rt", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        i_study, i_labels, i_locs = header.index("StudyID"), header.index("Labels"), header.index("Localizations")
        for row in reader:
            label_cells.setdefault(row[i_study], set()).add(row[i_labels])
            loc_cells.add(row[i_locs])
    studies: dict[str, int] = {}
    for cells in label_cells.values():
        for label in {term for cell in cells for term in _parse_padchest_list(cell)}:
            studies[label] = studies.get(label, 0) + 1
    locs = {term for cell in loc_cells for term in _parse_padchest_list(cell)}
    return studies, frozenset(locs)


@cache
def _openi_terms() -> tuple[frozenset, frozenset, frozenset]:
    headings, qualifiers, automatic = set(), set(), set()
    with tarfile.open(XRV / "NLMCXR_reports.tgz") as archive:
        for member in archive:
            if not (member.isfile() and member.name.endswith(".xml")):
                continue
            root = ET.parse(archive.extractfile(member)).getroot()
            for major in root.iter("major"):
                parts = [p.strip() for p in (major.text or "").split("/")]
                headings.add(parts[0])
                qualifiers.update(parts[1:])
            automatic.update((a.text or "").strip() for a in root.iter("automatic"))
    return frozenset(headings), frozenset(qualifiers), frozenset(automatic - {""})


def _csv_header(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def _csv_column(path: Path, column: str) -> set[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return {row[column] for row in csv.DictReader(handle)}


@needs_xrv
def test_chexpert_columns(crosswalks):
    labels = set(_csv_header(XRV / "chexpert_train.csv.gz")[5:])
    assert len(labels) == 14
    assert_covered(labels, crosswalks["chexpert"], "chexpert")


@needs_xrv
def test_chestxray14_data_entry_and_bbox_labels(crosswalks):
    entry = set()
    for value in _csv_column(XRV / "Data_Entry_2017_v2020.csv.gz", "Finding Labels"):
        entry.update(value.split("|"))
    boxes = _csv_column(XRV / "BBox_List_2017.csv.gz", "Finding Label")
    assert len(entry) == 15 and "Infiltrate" in boxes
    assert_covered(entry | boxes, crosswalks["chestxray14"], "chestxray14")


@needs_xrv
def test_vindr_kaggle_class_names(crosswalks):
    names = _csv_column(XRV / "vinbigdata-train.csv.gz", "class_name")
    assert len(names) == 15
    assert_covered(names, crosswalks["vindr"], "vindr")
    physionet_local = {r["source_label"] for r in crosswalks["vindr"] if r["note"].startswith("local")}
    assert len(physionet_local) == 22


@needs_xrv
def test_rsna_target(crosswalks):
    with zipfile.ZipFile(XRV / "kaggle_stage_2_train_labels.csv.zip") as archive:
        with archive.open(archive.namelist()[0]) as raw:
            header = next(csv.reader(io.TextIOWrapper(raw, encoding="utf-8")))
    assert header[-1] == "Target"
    assert_covered({"Target"}, crosswalks["rsna"], "rsna")


@needs_xrv
def test_siim_mask_column(crosswalks):
    header = [h.strip() for h in _csv_header(XRV / "siim-pneumothorax-train-rle.csv.gz")]
    assert header == ["ImageId", "EncodedPixels"]
    assert_covered({"EncodedPixels", "Pneumothorax"}, crosswalks["siim"], "siim")


@needs_xrv
def test_padchest_labels_and_localizations(crosswalks):
    studies, locs = _padchest_terms()
    labels = set(studies)
    assert len(labels) == 193 and len(locs) == 104
    assert sum(1 for n in studies.values() if n >= 100) == 134  # the ">= 100 studies" set
    assert studies["cardiomegaly"] == 9798
    assert_covered(set(labels), crosswalks["padchest_labels"], "padchest_labels")
    assert_covered(set(locs), crosswalks["padchest_localizations"], "padchest_localizations")


@needs_xrv
def test_openi_mesh_headings_qualifiers_and_automatic_terms(crosswalks):
    headings, qualifiers, automatic = _openi_terms()
    assert len(headings) == 122 and len(qualifiers) == 88
    rows = crosswalks["openi_mesh"]
    assert_covered(set(headings) | set(qualifiers) | set(automatic), rows, "openi_mesh")
    mapped = {r["source_label"] for r in rows if r["match"] != "unmapped"}
    assert len(set(headings) & mapped) / len(headings) > 0.9
    assert len(set(qualifiers) & mapped) / len(qualifiers) > 0.95


CIG_ATTRIBUTE_COUNTS = {
    "anatomicalfinding": 43, "disease": 10, "technicalassessment": 5,
    "tubesandlines": 12, "device": 5, "texture": 5, "nlp": 2,
}


def test_chest_imagenome_attributes_and_regions(crosswalks, sets):
    rows = crosswalks["chest_imagenome"]
    by_category: dict[str, set[str]] = {}
    for row in rows:
        category = row["note"].split(";")[0].split(" ")[0]
        by_category.setdefault(category, set()).add(row["source_label"])
    for category, count in CIG_ATTRIBUTE_COUNTS.items():
        assert len(by_category.get(category, ())) == count, category
    regions = {r["source_label"]: r["ontology_id"] for r in rows if r["note"].startswith("region")}
    assert len(regions) == 45
    expected = set(sets["region_sets"]["cig36"]) | set(sets["region_sets"]["cig38_text"])
    assert set(regions.values()) == expected
    assert regions["right costophrenic angle"] == "right_costophrenic_angle"
