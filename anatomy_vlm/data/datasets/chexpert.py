"""CheXpert loader (Stanford; ``CheXpert-v1.0[-small]/{train,valid}.csv`` + JPEGs).

CSV columns: ``Path, Sex, Age, Frontal/Lateral, AP/PA`` + 14 labels with values 1.0 / 0.0 /
-1.0 / blank (positive / negative / uncertain / not mentioned). ``Path`` starts with the
dataset folder (``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``); it is
resolved against ``root`` without the first path part (``root`` is the dataset folder) or
``root`` itself (``root`` holds it). A ``Path`` that is absolute or climbs with ``..`` is an
``outside root`` skip: no file outside ``root`` is ever read.

Labels: the declared uncertainty policy (``uncertainty=ignore|ones|zeros``) decides what -1
becomes; blank is NaN ("not mentioned", even when ``No Finding`` is 1; pass
``no_finding_negative=True`` for torchxrayvision's rule that reads those blanks as 0). The
``chexpert`` crosswalk maps them onto the finding set.

Splits (``split_source``): ``hash`` (default; train.csv and valid.csv pooled, each patient
assigned by :func:`hash_split`, so train/valid/test are patient-disjoint) or ``official``
(train.csv -> train, valid.csv -> valid, no test).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.data.datasets import options as opt
from anatomy_vlm.data.datasets.base import CXRDataset, ImageRecord, hash_split, read_csv_rows
from anatomy_vlm.data.types import CXRSample
from anatomy_vlm.errors import BadRow, MissingFile, OutsideRoot

__all__ = ["CheXpert", "CHEXPERT_LABELS", "chexpert_values", "parse_value"]

CHEXPERT_LABELS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)


def parse_value(text: str | None) -> float:
    """CheXpert cell -> 1.0 / 0.0 / -1.0 / NaN (blank). Anything else raises ValueError."""
    text = (text or "").strip()
    if not text:
        return math.nan
    value = float(text)
    if value not in (1.0, 0.0, -1.0):
        raise ValueError(text)
    return value


def chexpert_values(row: Mapping[str, str], *, no_finding_negative: bool = False) -> dict[str, float]:
    """The 14 CheXpert label values of a CSV row (columns read by name; absent ones skipped).

    With ``no_finding_negative`` (torchxrayvision's rule, off by default because "not
    mentioned" is NaN by convention), ``No Finding`` = 1 turns blank pathology columns (not
    Support Devices) into 0.
    """
    values = {c: parse_value(row.get(c)) for c in CHEXPERT_LABELS if c in row}
    if no_finding_negative and values.get("No Finding") == 1.0:
        for column, value in values.items():
            if math.isnan(value) and column not in {"No Finding", "Support Devices"}:
                values[column] = 0.0
    return values


class CheXpert(CXRDataset):
    """CheXpert. Keyword arguments as :class:`CXRDataset`, plus ``split_source``."""

    source = "chexpert"
    OPTIONS = {**CXRDataset.OPTIONS, "split_source": opt.choice("hash", "official"),
               "no_finding_negative": opt.boolean}

    def __init__(self, root: str | Path, *, split_source: str = "hash",
                 no_finding_negative: bool = False, **kwargs) -> None:
        self.split_source = self.option("split_source", split_source)
        self.no_finding_negative = self.option("no_finding_negative", no_finding_negative)
        super().__init__(root, **kwargs)

    def _resolve(self, rel: str, where: str) -> Path:
        rel = rel.strip()
        self.within(self.root, rel, where=where)  # OutsideRoot for absolute / ``..`` paths
        parts = Path(rel).parts
        tail = parts[1:] if len(parts) > 1 else parts
        return self.locate([self.within(self.root, *tail), self.within(self.root, *parts)])

    def _index(self) -> Iterator[ImageRecord]:
        tables = [(name, self.root / f"{name}.csv") for name in ("train", "valid")]
        if not any(path.is_file() for _, path in tables):
            raise MissingFile("chexpert: neither train.csv nor valid.csv under the root")
        for official, path in tables:
            if not path.is_file():
                continue
            for row in read_csv_rows(path, self.report, required=("Path", "Frontal/Lateral")):
                parts = Path(row["Path"].strip()).parts
                patient = next((p for p in parts if p.startswith("patient")), None)
                study = next((p for p in parts if p.startswith("study")), "")
                try:
                    values = chexpert_values(row, no_finding_negative=self.no_finding_negative)
                except ValueError:
                    patient = None
                if patient is None:
                    self.report.skip(BadRow(f"{row.where}: no patient folder in Path or a bad label value"))
                    continue
                try:
                    image_path = self._resolve(row["Path"], row.where)
                except OutsideRoot as err:
                    self.report.skip(err)
                    continue
                frontal = row["Frontal/Lateral"].strip().lower() == "frontal"
                view = (row.get("AP/PA", "").strip() or "FRONTAL") if frontal else "LATERAL"
                split = official if self.split_source == "official" else hash_split(patient)
                yield ImageRecord(
                    image_path=image_path,
                    image_id="/".join(parts[-3:]),
                    study_id=f"{patient}/{study}",
                    subject_id=patient,
                    view=view,
                    split=split,
                    extra={"labels": values},
                    origin=row.where,
                )

    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        labels, uncertain = self.mapper("chexpert").map(record.extra["labels"])
        return self.make_sample(
            record,
            image,
            image_labels=torch.from_numpy(labels),
            image_uncertain=torch.from_numpy(uncertain),
        )
