"""RSNA Pneumonia Detection Challenge loader (Kaggle 2018).

Files: ``stage_2_train_labels.csv`` (also ``.csv.zip`` / ``kaggle_stage_2_train_labels.csv.zip``):
``patientId, x, y, width, height, Target``, one row per box and one row with empty box fields
for a negative image; DICOMs ``stage_2_train_images/<patientId>.dcm``; optional
``stage_2_detailed_class_info.csv`` and the DICOM-header extract (``ViewPosition`` per
``patientId``, used for the view without opening every DICOM).

``patientId`` is the challenge's per-image de-identified key (the file stem), used as both image
and subject id. The challenge re-keyed every image (26,684 keys for 26,684 images), so the hash
split is by that key: patient level as far as the data allows, image level in effect. Boxes are
(x, y, w, h) in the 1024 frame, scaled to the returned image. ``Target`` is read as the
``Lung Opacity`` label of the ``rsna`` crosswalk (1 / 0). A row whose Target disagrees with
another row of the same image is malformed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.data.datasets import options as opt
from anatomy_vlm.data.datasets.base import (
    CXRDataset,
    ImageRecord,
    box_targets,
    first_file,
    hash_split,
    read_csv_rows,
)
from anatomy_vlm.data.types import CXRSample
from anatomy_vlm.errors import BadRow, MissingFile, OutsideRoot

__all__ = ["RSNAPneumonia"]

FRAME = 1024.0
LABEL = "Lung Opacity"
_LABEL_FILES = ("stage_2_train_labels.csv", "stage_2_train_labels.csv.zip",
                "kaggle_stage_2_train_labels.csv.zip", "stage_1_train_labels.csv")
_HEADER_FILES = ("kaggle_stage_2_train_images_dicom_headers.csv.gz",
                 "stage_2_train_images_dicom_headers.csv")


class RSNAPneumonia(CXRDataset):
    """RSNA Pneumonia. Keyword arguments as :class:`CXRDataset`, plus ``images_dir``."""

    source = "rsna"
    OPTIONS = {**CXRDataset.OPTIONS, "images_dir": opt.relative_path}

    def __init__(self, root: str | Path, *, images_dir: str = "stage_2_train_images", **kwargs) -> None:
        self.images_dir = self.option("images_dir", images_dir)
        super().__init__(root, **kwargs)

    def _views(self) -> dict[str, str]:
        path = first_file(self.root, _HEADER_FILES)
        if path is None:
            return {}
        views = {}
        for row in read_csv_rows(path, self.report, required=("Filename",), columns=("ViewPosition",)):
            views[Path(row["Filename"].strip()).stem] = row.get("ViewPosition", "").strip()
        return views

    def _index(self) -> Iterator[ImageRecord]:
        path = first_file(self.root, _LABEL_FILES)
        if path is None:
            raise MissingFile("rsna: stage_2_train_labels.csv not found")
        targets: dict[str, float] = {}
        boxes: dict[str, list[list[float]]] = {}
        first_row: dict[str, str] = {}
        bad: dict[str, str] = {}  # image key -> where its first bad row is
        for row in read_csv_rows(path, self.report, required=("patientId", "Target"),
                                 columns=("x", "y", "width", "height")):
            pid = row["patientId"].strip()
            first_row.setdefault(pid, row.where)
            try:
                target = float(row["Target"])
                box = [float(row[c]) for c in ("x", "y", "width", "height")] if target == 1 else None
            except ValueError:
                bad.setdefault(pid, row.where)
                continue
            if target not in (0.0, 1.0) or targets.setdefault(pid, target) != target:
                bad.setdefault(pid, row.where)
            if box is not None:
                boxes.setdefault(pid, []).append(box)
        for where in sorted(bad.values(), key=lambda w: int(w.rsplit(" ", 1)[1])):
            self.report.skip(BadRow(f"{where}: a non-numeric value, a Target other than 0 or 1, "
                                    "or one that disagrees with another row of the same image"))
        views = self._views()
        for pid, target in targets.items():
            if pid in bad:
                continue
            try:
                image_path = self.within(self.root, self.images_dir, f"{pid}.dcm", where=first_row[pid])
            except OutsideRoot as err:
                self.report.skip(err)
                continue
            yield ImageRecord(
                image_path=image_path,
                image_id=pid,
                study_id=pid,
                subject_id=pid,
                view=views.get(pid) or "FRONTAL",
                split=hash_split(pid),
                extra={"target": target, "boxes": boxes.get(pid, [])},
                origin=first_row[pid],
            )

    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        mapper = self.mapper("rsna")
        labels, uncertain = mapper.map({LABEL: record.extra["target"]})
        height, width = image.shape
        sx, sy = width / FRAME, height / FRAME
        boxes = [(LABEL, x * sx, y * sy, (x + w) * sx, (y + h) * sy) for x, y, w, h in record.extra["boxes"]]
        return self.make_sample(
            record,
            image,
            image_labels=torch.from_numpy(labels),
            image_uncertain=torch.from_numpy(uncertain),
            **box_targets(mapper, boxes, height, width),
        )
