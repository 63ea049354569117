"""VinDr-CXR loader: PhysioNet v1.0.0 layout and the Kaggle VinBigData CSV variant.

PhysioNet: ``annotations/annotations_{train,test}.csv`` (``image_id, rad_id, class_name,
x_min, y_min, x_max, y_max``), ``annotations/image_labels_{train,test}.csv`` (``image_id,
rad_id`` + one 0/1 column per label), DICOMs ``{train,test}/<image_id>.dicom``.
Kaggle: ``train.csv`` (also ``vinbigdata-train.csv[.gz]``: ``image_id, class_name, class_id,
rad_id, x_min …``; ``No finding`` rows with empty boxes), DICOMs ``train/<image_id>.dicom``;
image labels then come from which classes each reader boxed (the 14 Kaggle classes only).

Reader fusion (declared):

- labels, per label over the readers of an image: a majority positive (votes > readers / 2)
  -> 1; no reader positive -> 0; a minority positive -> uncertain (the mask is set and the
  declared uncertainty policy gives its value: NaN under the default ``ignore``);
- boxes, per class: greedy IoU clustering (IoU >= ``iou_threshold``, default 0.4; one box per
  reader per cluster), each cluster fused to the mean of its boxes (equal-weight WBF); clusters
  with fewer than ``min_box_votes`` readers (default 1) are dropped.

Images are PA DICOMs (VOI LUT and MONOCHROME1 handled by :mod:`anatomy_vlm.data.io`). VinDr
publishes no patient id, so the hash split is by image id; PhysioNet's own test set is kept as
``test`` and its training set is hashed into train / valid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.data.datasets import options as opt
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

__all__ = ["VinDrCXR", "fuse_boxes", "fuse_votes"]

KAGGLE_CLASSES = (
    "Aortic enlargement", "Atelectasis", "Calcification", "Cardiomegaly", "Consolidation", "ILD",
    "Infiltration", "Lung Opacity", "Nodule/Mass", "Other lesion", "Pleural effusion",
    "Pleural thickening", "Pneumothorax", "Pulmonary fibrosis",
)
NO_FINDING = "No finding"
Box = tuple[str, float, float, float, float]  # (reader, x1, y1, x2, y2)


def fuse_votes(votes: int, readers: int) -> tuple[float, bool]:
    """(label, uncertain): majority positive -> 1; none -> 0; minority -> NaN, uncertain."""
    if votes * 2 > readers:
        return 1.0, False
    return (0.0, False) if votes == 0 else (float("nan"), True)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def fuse_boxes(boxes: list[Box], *, iou_threshold: float = 0.4, min_votes: int = 1) -> list[np.ndarray]:
    """Greedy IoU clustering of one class's boxes across readers; mean box per cluster."""
    clusters: list[tuple[list[np.ndarray], set[str]]] = []
    ordered = sorted(boxes, key=lambda b: -(b[3] - b[1]) * (b[4] - b[2]))
    for reader, *coords in ordered:
        box = np.array(coords, dtype=np.float64)
        best, best_iou = None, iou_threshold
        for members, readers in clusters:
            iou = _iou(np.mean(members, axis=0), box)
            if reader not in readers and iou >= best_iou:
                best, best_iou = (members, readers), iou
        if best is None:
            clusters.append(([box], {reader}))
        else:
            best[0].append(box)
            best[1].add(reader)
    return [np.mean(m, axis=0) for m, readers in clusters if len(readers) >= min_votes]


class VinDrCXR(CXRDataset):
    """VinDr-CXR. Keyword arguments as :class:`CXRDataset`, plus ``iou_threshold`` and
    ``min_box_votes`` (reader fusion, module docstring)."""

    source = "vindr"
    OPTIONS = {**CXRDataset.OPTIONS, "iou_threshold": opt.number(0.0, 1.0, low_open=True),
               "min_box_votes": opt.integer(minimum=1)}

    def __init__(self, root: str | Path, *, iou_threshold: float = 0.4, min_box_votes: int = 1,
                 **kwargs) -> None:
        self.iou_threshold = self.option("iou_threshold", iou_threshold)
        self.min_box_votes = self.option("min_box_votes", min_box_votes)
        super().__init__(root, **kwargs)

    def _read_boxes(self, path: Path) -> tuple[dict, dict, dict]:
        """-> (image -> readers, image -> class -> [Box], image -> its first row)."""
        origins: dict[str, str] = {}
        readers: dict[str, set[str]] = defaultdict(set)
        boxes: dict[str, dict[str, list[Box]]] = defaultdict(lambda: defaultdict(list))
        for row in read_csv_rows(path, self.report, required=("image_id", "rad_id", "class_name"),
                                 columns=("x_min", "y_min", "x_max", "y_max")):
            image, reader, label = (row[c].strip() for c in ("image_id", "rad_id", "class_name"))
            readers[image].add(reader)
            origins.setdefault(image, row.where)
            if label == NO_FINDING:
                continue
            try:
                x1, y1, x2, y2 = (float(row[c]) for c in ("x_min", "y_min", "x_max", "y_max"))
            except ValueError:
                self.report.skip(BadRow(f"{row.where}: a box coordinate is not a number"))
                continue
            if x2 > x1 and y2 > y1:
                boxes[image][label].append((reader, x1, y1, x2, y2))
        return readers, boxes, origins

    def _read_labels(self, path: Path) -> dict[str, dict[str, tuple[float, bool]]]:
        votes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        readers: dict[str, int] = defaultdict(int)
        for row in read_csv_rows(path, self.report, required=("image_id",)):
            image = row["image_id"].strip()
            columns = [c for c in row if c not in {"image_id", "rad_id"}]
            try:
                values = {c: int(float(row[c])) for c in columns}
            except (ValueError, OverflowError):
                self.report.skip(BadRow(f"{row.where}: a label value is not a number"))
                continue
            readers[image] += 1
            for column, value in values.items():
                votes[image][column] += int(value == 1)
        return {img: {c: fuse_votes(v, readers[img]) for c, v in labels.items()}
                for img, labels in votes.items()}

    def _tables(self) -> list[tuple[str, Path, Path | None, Path]]:
        """[(official split, boxes csv, labels csv or None, image folder)]."""
        ann = self.root / "annotations"
        if (ann / "annotations_train.csv").is_file():
            return [(name, ann / f"annotations_{name}.csv",
                     ann / f"image_labels_{name}.csv" if (ann / f"image_labels_{name}.csv").is_file() else None,
                     self.root / name)
                    for name in ("train", "test") if (ann / f"annotations_{name}.csv").is_file()]
        kaggle = find_table(self.root, "train") or find_table(self.root, "vinbigdata-train")
        if kaggle is None:
            raise MissingFile("vindr: neither annotations/annotations_train.csv nor train.csv found")
        return [("kaggle", kaggle, None, self.root / "train")]

    def _index(self) -> Iterator[ImageRecord]:
        for official, box_csv, label_csv, folder in self._tables():
            readers, boxes, origins = self._read_boxes(box_csv)
            labels = self._read_labels(label_csv) if label_csv else {}
            for image in sorted(readers):
                if official == "test":
                    split = "test"
                elif official == "train":
                    split = hash_split(image, fractions=(0.9, 0.1, 0.0))
                else:
                    split = hash_split(image)
                fused = labels.get(image) or {
                    c: fuse_votes(len({b[0] for b in boxes[image].get(c, [])}), len(readers[image]))
                    for c in KAGGLE_CLASSES
                }
                try:
                    image_path = self.within(folder, f"{image}.dicom", where=origins[image])
                except OutsideRoot as err:
                    self.report.skip(err)
                    continue
                yield ImageRecord(
                    image_path=image_path,
                    image_id=image, study_id=image, subject_id=image, view="PA", split=split,
                    extra={"labels": fused, "boxes": dict(boxes.get(image, {}))},
                    origin=origins[image],
                )

    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        mapper = self.mapper("vindr")
        fused = record.extra["labels"]
        values = {c: (-1.0 if unc else v) for c, (v, unc) in fused.items()}
        labels, uncertain = mapper.map(values)
        fused_boxes = [
            (label, *box)
            for label, boxes in sorted(record.extra["boxes"].items())
            for box in fuse_boxes(boxes, iou_threshold=self.iou_threshold, min_votes=self.min_box_votes)
        ]
        return self.make_sample(
            record, image,
            image_labels=torch.from_numpy(labels),
            image_uncertain=torch.from_numpy(uncertain),
            **box_targets(mapper, fused_boxes, *image.shape),
        )
