"""Evaluation truth: what the protocol scores predictions against.

Two sources, one shape (N images, R regions, F findings, rows/columns in set order):

- **phantom** (a folder with ``phantom_truth.jsonl``, read here and nowhere in training): a
  (region, finding) cell is positive when a finding of moderate or higher severity (the
  phantom's :func:`~anatomy_vlm.data.phantom.sampler.severity_bin`) is named at that region;
  a cell touched only by subtle findings is left out (NaN), never a negative; a region the film
  does not show (``regions_omitted``) is left out. Image truth: positive when the finding is
  present anywhere at moderate or higher severity, left out when only subtle, else negative.
  The domain of each image is the truth file's ``domain``.
- **labels** (real data): the dataset's own region labels (NaN = unknown and hedged labels
  left out) and image labels likewise; every positive counts as moderate or higher; domain
  ``id``.

Region boxes (``[N, R, 4]``, original-image pixels, NaN = no box) are the scene-graph boxes as
the loader reads them at the stored image size, in both cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anatomy_vlm.errors import DataError

__all__ = ["TRUTH_FILE", "EvalTruth", "read_phantom_truth", "phantom_targets", "label_targets"]

TRUTH_FILE = "phantom_truth.jsonl"


@dataclass(frozen=True)
class EvalTruth:
    """Truth of N evaluation images.

    - ``image_ids`` / ``patients`` / ``domains``: ``[N]`` str (``patients`` are unique across
      data folders: a folder index joins the dataset's subject id);
    - ``region_truth``: ``[N, R, F]`` float in {1, 0, NaN}; ``image_truth``: ``[N, F]``;
    - ``boxes``: ``[N, R, 4]`` float, original-image pixels, NaN where the region has no box.
    """

    image_ids: np.ndarray
    patients: np.ndarray
    domains: np.ndarray
    region_ids: tuple[str, ...]
    finding_ids: tuple[str, ...]
    region_truth: np.ndarray
    image_truth: np.ndarray
    boxes: np.ndarray

    def __post_init__(self) -> None:
        n, r, f = len(self.image_ids), len(self.region_ids), len(self.finding_ids)
        shapes = {
            "patients": (self.patients.shape, (n,)),
            "domains": (self.domains.shape, (n,)),
            "region_truth": (self.region_truth.shape, (n, r, f)),
            "image_truth": (self.image_truth.shape, (n, f)),
            "boxes": (self.boxes.shape, (n, r, 4)),
        }
        bad = [
            f"{k} {tuple(got)} != {want}" for k, (got, want) in shapes.items() if tuple(got) != want
        ]
        if bad:
            raise ValueError("EvalTruth: " + "; ".join(bad))


def read_phantom_truth(root: Path) -> dict[str, dict]:
    """``dicom_id -> record`` of ``root/phantom_truth.jsonl``; DataError when unreadable."""
    path = Path(root) / TRUTH_FILE
    records: dict[str, dict] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if (
                    not isinstance(record, dict)
                    or "dicom_id" not in record
                    or "findings" not in record
                ):
                    raise DataError(f"{path.name} line {number}: not a phantom truth record")
                records[str(record["dicom_id"])] = record
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path.name} in {Path(root).name}: unreadable ({err})") from None
    return records


def phantom_targets(
    record: dict, region_ids: tuple[str, ...], finding_ids: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """``(region_truth [R, F], image_truth [F])`` of one phantom truth record (module docstring)."""
    from anatomy_vlm.data.phantom.sampler import severity_bin

    rows = {r: i for i, r in enumerate(region_ids)}
    cols = {f: j for j, f in enumerate(finding_ids)}
    strong = np.zeros((len(region_ids), len(finding_ids)), dtype=bool)
    subtle = np.zeros_like(strong)
    image_strong = np.zeros(len(finding_ids), dtype=bool)
    image_subtle = np.zeros_like(image_strong)
    for finding in record["findings"]:
        j = cols.get(finding["finding"])
        if j is None:
            continue
        is_subtle = severity_bin(float(finding["severity"])) == "subtle"
        (image_subtle if is_subtle else image_strong)[j] = True
        for region in finding.get("regions") or ():
            if region in rows:
                (subtle if is_subtle else strong)[rows[region], j] = True
    region_truth = strong.astype(np.float32)
    region_truth[subtle & ~strong] = np.nan
    for region in record.get("regions_omitted") or ():
        if region in rows:
            region_truth[rows[region]] = np.nan
    image_truth = image_strong.astype(np.float32)
    image_truth[image_subtle & ~image_strong] = np.nan
    return region_truth, image_truth


def label_targets(sample) -> tuple[np.ndarray, np.ndarray]:
    """``(region_truth [R, F], image_truth [F])`` from a loader sample's own labels: hedged
    labels (the uncertain masks) are left out, NaN stays unknown."""
    region = sample.region_labels.numpy().astype(np.float32)
    region[sample.region_uncertain.numpy()] = np.nan
    image = sample.image_labels.numpy().astype(np.float32)
    image[sample.image_uncertain.numpy()] = np.nan
    return region, image
