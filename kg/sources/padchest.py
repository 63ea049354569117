"""PadChest labels CSV reader (``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz``).

Pitfalls handled (docs/data_formats.md#padchest):

- list columns are Python-literal strings; bare ``nan`` elements (13 rows) are dropped, and
  every term is stripped (labels inside differential-diagnosis runs carry a leading space);
- CUI columns are numpy-style strings without commas: read with the regex ``C\\d{7}``;
- several images share one report: records are deduplicated on ``StudyID`` (first row wins for
  the labels; every ImageID of the study is kept);
- ``LabelsLocalizationsBySentence`` is a list of sentences (lists) only for the
  physician-labelled studies; for RNN-labelled studies it is one flat list, so sentence
  boundaries are lost and :func:`segments` approximates them.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kg.errors import KGError
from kg.sources import PADCHEST_CSV, source_file

PHYSICIAN = "physician"
MODEL = "model"
_METHODS = {"Physician": PHYSICIAN, "RNN_model": MODEL}
_INNER = re.compile(r"\[([^\[\]]*)\]")
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_CUI = re.compile(r"C\d{7}")


@dataclass(frozen=True)
class PadChestStudy:
    """One PadChest study (report). ``method`` is ``physician`` or ``model`` (RNN-labelled).

    ``sentences``: per report sentence the finding labels followed by the ``loc …`` terms that
    qualify them; for model-labelled studies one pseudo-sentence holding the flat list
    (``flat`` is True). ``patient_id`` is PadChest's pseudonymous patient key (for
    patient-level splits), not a DICOM identifier.
    """

    study_id: str
    report_id: str
    patient_id: str
    method: str
    labels: tuple[str, ...]
    localizations: tuple[str, ...]
    sentences: tuple[tuple[str, ...], ...]
    flat: bool
    label_cuis: tuple[str, ...]
    localization_cuis: tuple[str, ...]
    image_ids: tuple[str, ...]
    image_dir: str
    projection: str


def parse_list(text: str | None) -> list:
    """Parse a PadChest list literal (flat, or one level nested) into lists of stripped strings.

    ``"[['a', 'loc b'], [' c', nan]]"`` → ``[['a', 'loc b'], ['c']]``; ``nan`` elements and empty
    or ``nan`` cells give ``[]``; empty strings are dropped. Unbalanced brackets raise ValueError.
    """
    text = (text or "").strip()
    if not text or text == "nan":
        return []
    if not (text.startswith("[") and text.endswith("]")) or text.count("[") != text.count("]"):
        raise ValueError(f"not a list literal: {text[:60]!r}")
    body = text[1:-1]
    if "[" in body:
        return [_strings(inner) for inner in _INNER.findall(body)]
    return _strings(body)


def _strings(body: str) -> list[str]:
    out = []
    for single, double in _STRING.findall(body):
        value = (single or double).strip()
        if value and value != "nan":
            out.append(value)
    return out


def parse_cuis(text: str | None) -> tuple[str, ...]:
    """CUIs in a numpy-style list string (``"['C0034069' 'C0742362']"``), in order."""
    return tuple(_CUI.findall(text or ""))


def is_localization(term: str) -> bool:
    """PadChest localization terms all start with ``loc ``."""
    return term.startswith("loc ")


def iter_studies(path: Path | str | None = None, *, labelled_only: bool = True) -> Iterator[PadChestStudy]:
    """Yield one :class:`PadChestStudy` per distinct StudyID, in file order.

    ``path`` defaults to the CSV in torchxrayvision's data folder; KGError when absent.
    ``labelled_only`` skips the 79 studies whose Labels cell is empty (109,852 remain).
    """
    path = Path(path) if path is not None else source_file(PADCHEST_CSV)
    if path is None or not path.is_file():
        raise KGError(f"PadChest CSV not found ({PADCHEST_CSV})")
    order: dict[str, dict] = {}
    images: dict[str, list[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        if "StudyID" not in header or "ImageID" not in header:
            raise KGError(f"{path.name}: not a PadChest labels CSV (no StudyID/ImageID columns)")
        study_col, image_col = header.index("StudyID"), header.index("ImageID")
        for values in reader:
            sid = values[study_col]
            images.setdefault(sid, []).append(values[image_col])
            if sid not in order:
                order[sid] = dict(zip(header, values, strict=False))
    for sid, row in order.items():
        if labelled_only and (row.get("Labels") or "").strip() in ("", "nan"):
            continue
        yield _study(sid, row, tuple(images[sid]))


def _study(sid: str, row: dict, image_ids: tuple[str, ...]) -> PadChestStudy:
    sents, flat = sentence_terms(row.get("LabelsLocalizationsBySentence") or "")
    return PadChestStudy(
        study_id=sid,
        report_id=row.get("ReportID", ""),
        patient_id=row.get("PatientID", ""),
        method=_METHODS.get(row.get("MethodLabel", ""), MODEL),
        labels=list_terms(row.get("Labels") or ""),
        localizations=list_terms(row.get("Localizations") or ""),
        sentences=sents,
        flat=flat,
        label_cuis=parse_cuis(row.get("labelCUIS")),
        localization_cuis=parse_cuis(row.get("LocalizationsCUIS")),
        image_ids=image_ids,
        image_dir=row.get("ImageDir", ""),
        projection=row.get("Projection", ""),
    )


# Cells repeat a lot across 110k studies ("['normal']"): parse each distinct cell once.
@lru_cache(maxsize=1 << 16)
def list_terms(cell: str) -> tuple[str, ...]:
    """Distinct strings of a flat list cell (``Labels``, ``Localizations``), in order; ValueError if malformed."""
    return tuple(dict.fromkeys(t for t in parse_list(cell) if isinstance(t, str)))


@lru_cache(maxsize=1 << 16)
def sentence_terms(cell: str) -> tuple[tuple[tuple[str, ...], ...], bool]:
    """``(sentences, flat)`` of a ``LabelsLocalizationsBySentence`` cell; ValueError if malformed.

    Physician studies give one term tuple per report sentence (``flat`` False); model-labelled
    studies give one flat list, returned as a single pseudo-sentence (``flat`` True).
    """
    sentences = parse_list(cell)
    if any(isinstance(s, list) for s in sentences):
        return tuple(tuple(t for t in s if isinstance(t, str)) for s in sentences if isinstance(s, list)), False
    return ((tuple(t for t in sentences if isinstance(t, str)),) if sentences else ()), True


def segments(terms: Iterable[str]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Split a term list into (findings run, following localizations run) segments.

    ``['a', 'b', 'loc x', 'c', 'loc y', 'loc z']`` → ``[(('a','b'), ('loc x',)), (('c',), ('loc y','loc z'))]``.
    """
    out: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    findings: list[str] = []
    locs: list[str] = []
    for term in terms:
        if is_localization(term):
            locs.append(term)
            continue
        if locs:
            out.append((tuple(findings), tuple(locs)))
            findings, locs = [], []
        findings.append(term)
    if findings or locs:
        out.append((tuple(findings), tuple(locs)))
    return out


def study_scopes(study: PadChestStudy, *, scope: str = "sentence") -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Finding/localization scopes of a study.

    ``scope="sentence"``: whole sentences (physician studies) and segments for flat lists;
    ``scope="segment"``: segments (a findings run and the localizations run after it) everywhere.
    """
    if study.flat or scope == "segment":
        return [seg for sent in study.sentences for seg in segments(sent)]
    return [
        (tuple(t for t in sent if not is_localization(t)), tuple(t for t in sent if is_localization(t)))
        for sent in study.sentences
    ]


def sentence_pairs(
    studies: Iterable[PadChestStudy], *, method: str | None = PHYSICIAN, scope: str = "sentence"
) -> Counter:
    """Number of studies in which each (finding, localization) term pair occurs in one scope.

    With ``method="physician"`` this is the dossier's sentence-level physician count
    (cardiomegaly + ``loc cardiac`` = 2,210); ``method=None, scope="segment"`` is its
    segment-level count over all labelled studies. Terms are PadChest's own strings.
    """
    counts: Counter = Counter()
    for study in studies:
        if method is not None and study.method != method:
            continue
        pairs = {(f, loc) for fs, locs in study_scopes(study, scope=scope) for f in fs for loc in locs}
        counts.update(pairs)
    return counts
