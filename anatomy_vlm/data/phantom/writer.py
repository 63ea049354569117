"""Files on disk in the MIMIC-CXR-JPG + Chest ImaGenome layout (docs/architecture.md#phantom-dataset-on-disk).

Per image (written by a worker): ``files/p1X/p1XXXXXXX/sNNNNNNNN/<dicom_id>.jpg``, the study
report ``files/p1X/p1XXXXXXX/sNNNNNNNN.txt``, ``scene_graph/<dicom_id>_SceneGraph.json`` and
``masks/<dicom_id>/<name>.png``. Per dataset (written by the parent, in index order):
gzipped ``mimic-cxr-2.0.0-{split,chexpert,metadata}.csv.gz``, ``silver_dataset/splits/*.csv``,
``phantom_truth.jsonl`` and ``DATA_CARD.md``.

Labels in the CheXpert CSV and the scene-graph attributes are derived from the written report's
parsed mentions (:class:`Mention`), never from the truth. Every byte is a function of the seed:
gzip headers carry no time stamp and no file name, JSON keys keep a fixed order, JPEG quality
is fixed.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "JPEG_QUALITY",
    "CHEXPERT_COLUMNS",
    "METADATA_COLUMNS",
    "Mention",
    "ImageIds",
    "image_ids",
    "write_jpeg",
    "write_mask",
    "scene_graph",
    "chexpert_row",
    "write_csv_gz",
    "bbox_name",
]

JPEG_QUALITY = 95
PNG_COMPRESS_LEVEL = 1
SUBJECT_BASE = 10_000_000
STUDY_BASE = 50_000_000
CHEXPERT_COLUMNS = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
    "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other",
    "Pneumonia", "Pneumothorax", "Support Devices",
)
METADATA_COLUMNS = (
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
    "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning",
)


@dataclass(frozen=True)
class Mention:
    """One parsed finding mention (the report parser's output, reduced to ids)."""

    sentence: str
    finding: str
    regions: tuple[str, ...]
    negated: bool
    uncertain: bool


@dataclass(frozen=True)
class ImageIds:
    """MIMIC identifiers of one image and the paths they imply (relative to the dataset root)."""

    subject_id: int
    study_id: int
    dicom_id: str

    @property
    def study_dir(self) -> str:
        s = str(self.subject_id)
        return f"files/p{s[:2]}/p{s}/s{self.study_id}"

    @property
    def image_path(self) -> str:
        return f"{self.study_dir}/{self.dicom_id}.jpg"

    @property
    def report_path(self) -> str:
        return f"{self.study_dir}.txt"


def image_ids(seed: int, index: int, subject_index: int) -> ImageIds:
    """Identifiers of image ``index``: subject ``10000000 + subject_index``, study ``5XXXXXXX``,
    and a MIMIC-style dicom_id (five dash-separated 8-hex groups) hashed from (seed, index)."""
    digest = hashlib.sha256(f"anatomy-vlm-phantom:{seed}:{index}".encode()).hexdigest()[:40]
    dicom = "-".join(digest[i:i + 8] for i in range(0, 40, 8))
    return ImageIds(subject_id=SUBJECT_BASE + subject_index, study_id=STUDY_BASE + index, dicom_id=dicom)


def bbox_name(region_id: str) -> str:
    """Chest ImaGenome ``bbox_name`` of an ontology region id (underscores → spaces)."""
    return region_id.replace("_", " ")


def write_bytes(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` (one open/write/close: PIL's own file handling costs more)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    """UTF-8 text file (reports, scene graphs)."""
    write_bytes(path, text.encode("utf-8"))


def write_jpeg(path: Path, image: np.ndarray) -> None:
    """8-bit grayscale JPEG ``[H, W]`` uint8 at the fixed quality."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L").save(
        buffer, format="JPEG", quality=JPEG_QUALITY)
    write_bytes(path, buffer.getvalue())


def write_mask(path: Path, mask: np.ndarray) -> None:
    """Boolean ``[H, W]`` mask as an 8-bit 0/255 PNG (fast, lossless)."""
    pixels = np.ascontiguousarray(mask, dtype=bool).view(np.uint8) * np.uint8(255)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    write_bytes(path, buffer.getvalue())


def scene_graph(
    ids: ImageIds,
    *,
    view: str,
    boxes: Mapping[str, Sequence[float]],
    width: int,
    height: int,
    mentions: Sequence[Mention],
    imagenome_labels: Mapping[str, Sequence[tuple[str, str]]],
    default_regions: Mapping[str, Sequence[str]],
    region_cuis: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """A Chest ImaGenome-style scene graph.

    Args:
        boxes: region id → ``[x1, y1, x2, y2]`` in pixels of the stored image.
        mentions: parsed report mentions; a mention without regions is grounded to
            ``default_regions[finding]`` (e.g. "No pneumothorax." → both lungs).
        imagenome_labels: finding id → ``(category, label)`` pairs of the ImaGenome vocabulary.
        region_cuis: region id → UMLS CUIs (the objects' ``synsets``).
    """
    cuis = region_cuis or {}
    sx, sy = 224.0 / width, 224.0 / height
    objects = []
    for region, (x1, y1, x2, y2) in boxes.items():
        name = bbox_name(region)
        objects.append({
            "object_id": f"{ids.dicom_id}_{name}", "bbox_name": name, "name": name,
            "synsets": list(cuis.get(region, ())), "x1": round(x1 * sx), "y1": round(y1 * sy), "x2": round(x2 * sx),
            "y2": round(y2 * sy), "width": round((x2 - x1) * sx), "height": round((y2 - y1) * sy),
            "original_x1": int(round(x1)), "original_y1": int(round(y1)), "original_x2": int(round(x2)),
            "original_y2": int(round(y2)), "original_width": int(round(x2 - x1)),
            "original_height": int(round(y2 - y1)),
        })
    return {
        "image_id": ids.dicom_id, "patient_id": ids.subject_id, "study_id": ids.study_id,
        "viewpoint": view, "objects": objects,
        "attributes": _attributes(ids, mentions, imagenome_labels, default_regions, cuis),
        "relationships": [],
    }


def _attributes(ids, mentions, imagenome_labels, default_regions, cuis) -> list[dict]:
    per_region: dict[str, dict[str, list[str]]] = {}  # region → sentence → attribute strings
    for m in mentions:
        labels = imagenome_labels.get(m.finding)
        if not labels:
            continue
        relation = "no" if m.negated else "yes"
        for region in m.regions or default_regions.get(m.finding, ()):
            strings = per_region.setdefault(region, {}).setdefault(m.sentence, [])
            for category, label in labels:
                text = f"{category}|{relation}|{label}"
                if text not in strings:
                    strings.append(text)
    out = []
    for region, sentences in per_region.items():
        name = bbox_name(region)
        phrases = list(sentences)
        attrs = []
        for phrase in phrases:
            strings = sentences[phrase]
            abnormal = any(s.split("|")[1] == "yes" for s in strings)
            attrs.append([*strings, "nlp|yes|abnormal" if abnormal else "nlp|yes|normal"])
        out.append({
            "name": name, "bbox_name": name, "synsets": list(cuis.get(region, ())), "object_id": f"{ids.dicom_id}_{name}",
            name: True, "phrases": phrases, "attributes": attrs,
            "attributes_ids": [[] for _ in phrases], "comparison_cues": [[] for _ in phrases],
            "temporal_cues": [[] for _ in phrases], "severity_cues": [[] for _ in phrases],
            "texture_cues": [[] for _ in phrases],
        })
    return out


def chexpert_row(mentions: Iterable[Mention], column_of: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The 14 CheXpert labels of one report: "1.0", "0.0", "-1.0" or "" (not mentioned).

    Per column, as the CheXpert labeler aggregates: a positive mention wins, then an uncertain
    one, then a negation. ``No Finding`` is "1.0" when no column other than Support Devices
    is positive or uncertain, else blank.
    """
    state: dict[str, float] = {}
    for m in mentions:
        value = -1.0 if (m.uncertain and not m.negated) else (0.0 if m.negated else 1.0)
        for column in column_of.get(m.finding, ()):
            old = state.get(column)
            if old is None or _rank(value) > _rank(old):
                state[column] = value
    row = {c: ("" if c not in state else f"{state[c]:.1f}") for c in CHEXPERT_COLUMNS}
    sick = any(state.get(c) in (1.0, -1.0) for c in CHEXPERT_COLUMNS if c not in ("Support Devices", "No Finding"))
    row["No Finding"] = "" if sick else "1.0"
    return row


def _rank(value: float) -> int:
    return {1.0: 3, -1.0: 2, 0.0: 1}[value]


def write_csv_gz(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A gzipped CSV with no time stamp or file name in its header (byte-reproducible)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A plain CSV (Chest ImaGenome split files)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def dumps(obj: object) -> str:
    """Compact JSON (no indent; keys in insertion order)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
