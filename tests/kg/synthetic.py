"""Tiny synthetic PadChest CSV and Open-I archive in the real formats (for the mini ontology)."""

from __future__ import annotations

import csv
import gzip
import io
import tarfile
from pathlib import Path

from kg.sources import OPENI_TGZ, PADCHEST_CSV

# (study, method, sentences (physician: list of lists; model: flat list), images)
PADCHEST_ROWS = [
    ("s1", "Physician", [["pleural effusion", "loc left", "loc basal"], ["cardiomegaly", "loc cardiac"]], 2),
    ("s2", "Physician", [["pleural effusion", "loc bilateral", "loc pleural"]], 1),
    ("s3", "RNN_model", ["pleural effusion", "loc right", "cardiomegaly", "loc cardiac"], 1),
    ("s4", "Physician", [["normal", "loc cardiac"], ["unchanged"]], 1),
    ("s5", "Physician", [["consolidation", " pneumonia", "loc costophrenic angle", "loc left costophrenic angle"]], 1),
    ("s6", "Physician", [["pneumonia", "loc right"], ["cardiomegaly", "nan"]], 1),
]

OPENI_REPORTS = [
    ("1", "CXR1", ["Opacity/lung/base/left/mild", "Pleural Effusion/bilateral"], ["CXR1_IM-0001-1001"]),
    ("2", "CXR2", ["normal"], ["CXR2_IM-0002-1001", "CXR2_IM-0002-2001"]),
]


def _labels(sentences) -> list[str]:
    flat = [t for s in sentences for t in s] if sentences and isinstance(sentences[0], list) else list(sentences)
    return [t.strip() for t in flat if t != "nan"]


def write_padchest(folder: Path) -> Path:
    columns = ["", "ImageID", "ImageDir", "StudyID", "PatientID", "ReportID", "Projection", "MethodLabel",
               "Labels", "Localizations", "LabelsLocalizationsBySentence", "labelCUIS", "LocalizationsCUIS"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for i, (study, method, sentences, images) in enumerate(PADCHEST_ROWS):
        terms = _labels(sentences)
        labels = repr([t for t in terms if not t.startswith("loc ")])
        locs = repr(sorted({t for t in terms if t.startswith("loc ")}))
        by_sentence = repr(sentences).replace("'nan'", "nan")
        for j in range(images):
            writer.writerow([i, f"{study}_{j}.png", "0", study, f"p{i}", f"r{i}", "PA", method,
                             labels, locs, by_sentence, "['C0018800' 'C2073625']", "[]"])
    path = folder / PADCHEST_CSV
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
    return path


def report_xml(uid: str, majors: list[str], images: list[str]) -> bytes:
    mesh = "".join(f"<major>{m}</major>" for m in majors) + "<automatic>opacity</automatic>"
    imgs = "".join(f'<parentImage id="{i}"><caption>x</caption></parentImage>' for i in images)
    return (f'<?xml version="1.0" encoding="utf-8"?><eCitation><uId id="{uid}"/><MedlineCitation><Article><Abstract>'
            f'<AbstractText Label="FINDINGS">Left  basilar opacity. XXXX</AbstractText>'
            f'<AbstractText Label="IMPRESSION">Effusions.</AbstractText></Abstract></Article></MedlineCitation>'
            f"<MeSH>{mesh}</MeSH>{imgs}</eCitation>").encode()


def write_openi(folder: Path) -> Path:
    path = folder / OPENI_TGZ
    with tarfile.open(path, "w:gz") as archive:
        for name, uid, majors, images in OPENI_REPORTS:
            data = report_xml(uid, majors, images)
            info = tarfile.TarInfo(f"ecgen-radiology/{name}.xml")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def write_corpora(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_padchest(folder)
    write_openi(folder)
    return folder
