"""SIIM-ACR Pneumothorax Segmentation loader (Kaggle 2019).

Files: ``train-rle.csv`` (also ``siim-pneumothorax-train-rle.csv[.gz]``) with header
``ImageId, EncodedPixels`` — the second name has a **leading space** as shipped, so header
names are stripped; DICOMs ``<ImageId>.dcm`` anywhere under ``root`` (the archive nests them as
``dicom-images-train/<study>/<series>/<ImageId>.dcm``).

RLE (docs/data_formats.md#siim-acr-pneumothorax-rle): space-separated (offset, length) pairs; the first offset is
absolute, each later one relative to the end of the previous run; positions index a 1024 x 1024
grid column-major, so the decoded row-major array is transposed. ``-1`` = no pneumothorax.
Several rows for one image are OR-ed into one mask. The mask (``masks["pneumothorax"]``) is
resized (nearest) to the returned image when that is not 1024 x 1024; the image label is the
``Pneumothorax`` entry of the ``siim`` crosswalk.

The RLE file gives no patient id (only the DICOM header does, and patient identifiers from
DICOM headers are never read), so the hash split is by ImageId: image level, declared.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.data.datasets.base import (
    CXRDataset,
    ImageRecord,
    first_file,
    hash_split,
    read_csv_rows,
)
from anatomy_vlm.data.types import CXRSample
from anatomy_vlm.errors import BadRow, MissingFile, OutsideRoot

__all__ = ["SIIMPneumothorax", "rle_decode", "rle_encode"]

FRAME = 1024
LABEL = "Pneumothorax"
_RLE_FILES = ("train-rle.csv", "siim-pneumothorax-train-rle.csv.gz", "siim-pneumothorax-train-rle.csv",
              "stage_2_train.csv")


def rle_decode(rle: str, height: int = FRAME, width: int = FRAME) -> np.ndarray:
    """Relative-offset, column-major RLE -> ``[height, width]`` bool mask (ValueError if bad)."""
    text = rle.strip()
    mask = np.zeros(height * width, dtype=bool)
    if text in ("-1", ""):
        return mask.reshape(height, width)
    numbers = [int(v) for v in text.split()]
    if len(numbers) % 2 or any(v < 0 for v in numbers):
        raise ValueError("RLE needs non-negative (offset, length) pairs")
    position = 0
    for offset, length in zip(numbers[0::2], numbers[1::2], strict=True):
        start = position + offset
        if start + length > mask.size:
            raise ValueError("RLE run past the end of the image")
        mask[start : start + length] = True
        position = start + length
    return mask.reshape(width, height).T


def rle_encode(mask: np.ndarray) -> str:
    """Inverse of :func:`rle_decode` (for fixtures and tests); ``-1`` for an empty mask."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    if not len(edges):
        return "-1"
    starts, ends = edges[0::2], edges[1::2]
    out, position = [], 0
    for start, end in zip(starts, ends, strict=True):
        out += [int(start - position), int(end - start)]
        position = int(end)
    return " ".join(map(str, out))


class SIIMPneumothorax(CXRDataset):
    """SIIM-ACR. Keyword arguments as :class:`CXRDataset`."""

    source = "siim"

    def _dicoms(self) -> dict[str, Path]:
        return {p.stem: p for p in self.root.rglob("*.dcm")}

    def _index(self) -> Iterator[ImageRecord]:
        path = first_file(self.root, _RLE_FILES)
        if path is None:
            raise MissingFile("siim: train-rle.csv not found")
        runs: dict[str, list[str]] = {}
        first_row: dict[str, str] = {}
        for row in read_csv_rows(path, self.report, required=("ImageId", "EncodedPixels")):
            rle = row["EncodedPixels"].strip()
            try:
                rle_decode(rle)  # validate once at load: a malformed row is a bad-input row
            except ValueError:
                self.report.skip(BadRow(f"{row.where}: EncodedPixels is not a valid run-length code"))
                continue
            runs.setdefault(row["ImageId"].strip(), []).append(rle)
            first_row.setdefault(row["ImageId"].strip(), row.where)
        dicoms = self._dicoms()
        for image_id, rles in runs.items():
            try:
                image_path = dicoms.get(image_id) or self.within(
                    self.root, f"{image_id}.dcm", where=first_row[image_id])
            except OutsideRoot as err:
                self.report.skip(err)
                continue
            yield ImageRecord(
                image_path=image_path,
                image_id=image_id,
                study_id=image_id,
                subject_id=image_id,
                view="FRONTAL",
                split=hash_split(image_id),
                extra={"rles": [r for r in rles if r != "-1"]},
                origin=first_row[image_id],
            )

    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        mask = np.zeros((FRAME, FRAME), dtype=bool)
        for rle in record.extra["rles"]:
            mask |= rle_decode(rle)
        height, width = image.shape
        tensor = torch.from_numpy(mask)
        if (height, width) != (FRAME, FRAME):
            import torch.nn.functional as nnf

            tensor = nnf.interpolate(tensor[None, None].float(), size=(height, width), mode="nearest")[0, 0] > 0.5
        labels, uncertain = self.mapper("siim").map({LABEL: float(bool(record.extra["rles"]))})
        return self.make_sample(
            record,
            image,
            image_labels=torch.from_numpy(labels),
            image_uncertain=torch.from_numpy(uncertain),
            masks={"pneumothorax": tensor},
        )
