"""NIH ChestX-ray14 loader (``Data_Entry_2017[_v2020].csv[.gz]``, ``BBox_List_2017.csv[.gz]``,
1024 x 1024 PNGs under ``images/`` or ``images_0NN/images/``).

Quirks handled:

- Data_Entry's bracketed headers split into extra columns (``OriginalImage[Width``,
  ``Height]`` …); columns are read by name, so the split is harmless.
- ``Finding Labels`` is ``|``-joined; ``No Finding`` = every ChestX-ray14 label negative. The
  labels were mined from reports as present/absent, so a label not listed is read as 0.
- BBox_List: ``Bbox [x`` ``y`` ``w`` ``h]`` in the 1024 frame, 3 trailing empty columns, and
  the box label ``Infiltrate`` (not ``Infiltration``). Boxes are scaled to the returned image.
- Splits: ``test_list.txt`` -> test; ``train_val_list.txt`` split by patient hash into
  train / valid (images in neither list are left out); without the lists every patient is
  hashed (:func:`hash_split`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.data.datasets.base import (
    CXRDataset,
    ImageRecord,
    box_targets,
    find_table,
    hash_split,
    read_csv_rows,
)
from anatomy_vlm.data.types import CXRSample
from anatomy_vlm.errors import BadRow, MissingFile, OutsideRoot

__all__ = ["ChestXray14", "NIH_LABELS"]

NIH_LABELS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
    "Hernia",
)
FRAME = 1024.0
_BOX_ALIASES = {"Infiltrate": "Infiltration"}


class ChestXray14(CXRDataset):
    """NIH ChestX-ray14. Keyword arguments as :class:`CXRDataset`."""

    source = "nih"

    def _image_paths(self) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        for pattern in ("images/*.png", "images_*/images/*.png", "images_*/*.png", "*.png"):
            for path in self.root.glob(pattern):
                paths.setdefault(path.name, path)
        return paths

    def _list_splits(self) -> dict[str, str] | None:
        test, trainval = self.root / "test_list.txt", self.root / "train_val_list.txt"
        if not test.is_file():
            return None
        splits = {name.strip(): "test" for name in test.read_text().split() if name.strip()}
        if trainval.is_file():
            for name in trainval.read_text().split():
                splits.setdefault(name.strip(), "trainval")
        return splits

    def _boxes(self) -> dict[str, list[tuple[str, float, float, float, float]]]:
        path = find_table(self.root, "BBox_List_2017")
        boxes: dict[str, list[tuple[str, float, float, float, float]]] = {}
        if path is None:
            return boxes
        for row in read_csv_rows(path, self.report, required=("Image Index", "Finding Label"),
                                 columns=("Bbox [x", "y", "w", "h]")):
            try:
                coords = [float(row[c]) for c in ("Bbox [x", "y", "w", "h]")]
            except ValueError:
                self.report.skip(BadRow(f"{row.where}: a box coordinate is not a number"))
                continue
            label = row["Finding Label"].strip()
            boxes.setdefault(row["Image Index"].strip(), []).append(
                (_BOX_ALIASES.get(label, label), *coords)
            )
        return boxes

    def _index(self) -> Iterator[ImageRecord]:
        entry = find_table(self.root, "Data_Entry_2017_v2020") or find_table(self.root, "Data_Entry_2017")
        if entry is None:
            raise MissingFile("nih: Data_Entry_2017[_v2020].csv(.gz) not found")
        paths = self._image_paths()
        listed = self._list_splits()
        boxes = self._boxes()
        required = ("Image Index", "Finding Labels", "Patient ID")
        for row in read_csv_rows(entry, self.report, required=required):
            name, patient = row["Image Index"].strip(), row["Patient ID"].strip()
            found = set(row["Finding Labels"].strip().split("|")) - {"No Finding", ""}
            unknown = found - set(NIH_LABELS)
            if unknown:
                self.report.skip(BadRow(f"{row.where}: a label outside ChestX-ray14's 14"))
                continue
            split = hash_split(patient)
            if listed is not None:
                split = listed.get(name, "")
                if not split:  # in neither official list: outside the official splits
                    continue
                if split == "trainval":
                    split = hash_split(patient, fractions=(0.875, 0.125, 0.0))
            try:
                image_path = paths.get(name) or self.within(self.root, "images", name, where=row.where)
            except OutsideRoot as err:
                self.report.skip(err)
                continue
            yield ImageRecord(
                image_path=image_path,
                image_id=name,
                study_id=f"{patient}_{row.get('Follow-up #', '').strip()}",
                subject_id=patient,
                view=row.get("View Position", "").strip(),
                split=split,
                extra={"labels": {label: float(label in found) for label in NIH_LABELS},
                       "boxes": boxes.get(name, [])},
                origin=row.where,
            )

    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        mapper = self.mapper("chestxray14")
        labels, uncertain = mapper.map(record.extra["labels"])
        height, width = image.shape
        sx, sy = width / FRAME, height / FRAME
        boxes = [(label, x * sx, y * sy, (x + w) * sx, (y + h) * sy) for label, x, y, w, h in record.extra["boxes"]]
        return self.make_sample(
            record,
            image,
            image_labels=torch.from_numpy(labels),
            image_uncertain=torch.from_numpy(uncertain),
            **box_targets(mapper, boxes, height, width),
        )
