"""The typed sample every dataset loader returns, its batch collation and geometric transforms.

Conventions (docs/architecture.md#conventions):

- ``image``: ``[1, H, W]`` float32 in [0, 1], 0 = black (air), 1 = white (bone, metal), whatever
  the source's photometric interpretation.
- Region rows follow ``region_set.ids``, finding columns follow ``finding_set.ids``.
- Labels are floats in {1, 0, NaN}; NaN = not mentioned / unknown. The ``*_uncertain`` masks
  mark labels the source hedged (CheXpert ``-1``, "possible …"), whatever value the declared
  uncertainty policy gave them.
- Boxes are ``[x1, y1, x2, y2]`` in pixels of the returned image (x right, y down); a region
  without a box is a row of NaN.
- "left"/"right" are the patient's: patient left is on image right (PA and AP alike). A
  horizontal flip therefore maps x -> W - x **and** swaps every left/right region pair (boxes,
  label rows, masks, grounded sentences, and the words "left"/"right" in sentence text).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from kg.sets import NamedSet

__all__ = [
    "SampleContractError",
    "GroundedSentence",
    "CXRSample",
    "CXRBatch",
    "collate",
    "hflip",
    "resize",
    "lateral_pairs",
    "name_counterpart",
]


class SampleContractError(ValueError):
    """A sample breaks the :class:`CXRSample` contract (a loader bug, not bad input). Its message
    names fields, never an identifier."""


@dataclass(frozen=True)
class GroundedSentence:
    """One report sentence and the region / finding ids it is grounded to.

    ``finding_ids`` lists findings asserted positive (or hedged) in the sentence;
    ``negated_ids`` those the sentence rules out. Empty ``region_ids`` = not grounded.
    """

    text: str
    region_ids: tuple[str, ...] = ()
    finding_ids: tuple[str, ...] = ()
    negated_ids: tuple[str, ...] = ()


@dataclass
class CXRSample:
    """One chest radiograph with everything a loader knows about it.

    Shapes (R = len(region_set), F = len(finding_set), N = number of finding boxes):

    - ``image``: ``[1, H, W]`` float32 in [0, 1].
    - ``boxes``: ``[R, 4]`` float32 region boxes (x1, y1, x2, y2) in image pixels; NaN rows
      where the region has no box.
    - ``region_labels``: ``[R, F]`` float32 in {1, 0, NaN}; ``region_uncertain``: ``[R, F]`` bool.
    - ``image_labels``: ``[F]`` float32 in {1, 0, NaN}; ``image_uncertain``: ``[F]`` bool.
    - ``finding_boxes``: ``[N, 4]`` float32 lesion boxes (VinDr, NIH, RSNA …) in image pixels;
      ``finding_box_labels``: ``[N]`` int64 column index into ``finding_set``.
    - ``masks``: name -> ``[H, W]`` bool (e.g. ``"pneumothorax"``, ``"left_lung"``).

    ``subject_id`` is the dataset's own de-identified patient id, never a DICOM PatientID.
    ``split`` is one of ``train``, ``valid``, ``test``.
    """

    image: torch.Tensor
    image_id: str
    study_id: str
    subject_id: str
    view: str
    region_set: NamedSet
    finding_set: NamedSet
    boxes: torch.Tensor
    region_labels: torch.Tensor
    region_uncertain: torch.Tensor
    image_labels: torch.Tensor
    image_uncertain: torch.Tensor
    sentences: list[GroundedSentence] = field(default_factory=list)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    finding_boxes: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 4))
    finding_box_labels: torch.Tensor = field(
        default_factory=lambda: torch.zeros(0, dtype=torch.long)
    )
    source: str = ""
    split: str = ""

    @property
    def height(self) -> int:
        return int(self.image.shape[-2])

    @property
    def width(self) -> int:
        return int(self.image.shape[-1])

    def validate(self) -> None:
        """Raise SampleContractError (a ValueError) when a field breaks the shape / range contract (shapes, boxes inside
        the image with x2 >= x1 and y2 >= y1, labels in {0, 1, NaN})."""
        r, f = len(self.region_set.ids), len(self.finding_set.ids)
        checks = {
            "image": (self.image.ndim == 3 and self.image.shape[0] == 1),
            "boxes": tuple(self.boxes.shape) == (r, 4),
            "region_labels": tuple(self.region_labels.shape) == (r, f),
            "region_uncertain": tuple(self.region_uncertain.shape) == (r, f),
            "image_labels": tuple(self.image_labels.shape) == (f,),
            "image_uncertain": tuple(self.image_uncertain.shape) == (f,),
            "finding_boxes": self.finding_boxes.ndim == 2 and self.finding_boxes.shape[1] == 4,
            "finding_box_labels": len(self.finding_box_labels) == len(self.finding_boxes),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise SampleContractError(f"bad shape for {', '.join(bad)}")
        for name, boxes in (("boxes", self.boxes), ("finding_boxes", self.finding_boxes)):
            known = boxes[~torch.isnan(boxes).any(dim=1)]
            inside = (known[:, 0] >= 0) & (known[:, 1] >= 0) & (known[:, 2] <= self.width + 1e-3) & (
                known[:, 3] <= self.height + 1e-3) & (known[:, 2] >= known[:, 0]) & (known[:, 3] >= known[:, 1])
            if not bool(inside.all()):
                raise SampleContractError(f"{name} outside the {self.width}x{self.height} image")
        for name, labels in (("region_labels", self.region_labels), ("image_labels", self.image_labels)):
            known = labels[~torch.isnan(labels)]
            if known.numel() and not bool(((known == 0) | (known == 1)).all()):
                raise SampleContractError(f"{name} outside {{0, 1, NaN}}")


@dataclass
class CXRBatch:
    """A collated batch. Tensors gain a leading ``B``; ragged fields stay lists of length B.

    - ``images``: ``[B, 1, H, W]``; ``boxes``: ``[B, R, 4]``; ``region_labels`` /
      ``region_uncertain``: ``[B, R, F]``; ``image_labels`` / ``image_uncertain``: ``[B, F]``.
    - ``finding_boxes``: list of ``[N_i, 4]``; ``finding_box_labels``: list of ``[N_i]``.
    """

    images: torch.Tensor
    boxes: torch.Tensor
    region_labels: torch.Tensor
    region_uncertain: torch.Tensor
    image_labels: torch.Tensor
    image_uncertain: torch.Tensor
    image_ids: list[str]
    study_ids: list[str]
    subject_ids: list[str]
    views: list[str]
    sentences: list[list[GroundedSentence]]
    masks: list[dict[str, torch.Tensor]]
    finding_boxes: list[torch.Tensor]
    finding_box_labels: list[torch.Tensor]
    sources: list[str]
    splits: list[str]
    region_set: NamedSet
    finding_set: NamedSet

    def __len__(self) -> int:
        return len(self.image_ids)


def collate(samples: Sequence[CXRSample | None]) -> CXRBatch:
    """Stack samples into a :class:`CXRBatch` (DataLoader ``collate_fn``).

    ``None`` entries (images skipped under the "skip" bad-input policy) are dropped. All
    samples must share image size and region/finding sets (resize first, e.g. ``image_size=``).
    """
    kept = [s for s in samples if s is not None]
    if not kept:
        raise ValueError("collate: every sample in the batch was skipped")
    first = kept[0]
    for s in kept[1:]:
        if s.region_set.hash != first.region_set.hash or s.finding_set.hash != first.finding_set.hash:
            raise ValueError("collate: samples use different region or finding sets")
        if s.image.shape != first.image.shape:
            raise ValueError(
                f"collate: image sizes differ ({tuple(first.image.shape)} vs "
                f"{tuple(s.image.shape)}); pass image_size= to the loader"
            )
    return CXRBatch(
        images=torch.stack([s.image for s in kept]),
        boxes=torch.stack([s.boxes for s in kept]),
        region_labels=torch.stack([s.region_labels for s in kept]),
        region_uncertain=torch.stack([s.region_uncertain for s in kept]),
        image_labels=torch.stack([s.image_labels for s in kept]),
        image_uncertain=torch.stack([s.image_uncertain for s in kept]),
        image_ids=[s.image_id for s in kept],
        study_ids=[s.study_id for s in kept],
        subject_ids=[s.subject_id for s in kept],
        views=[s.view for s in kept],
        sentences=[s.sentences for s in kept],
        masks=[s.masks for s in kept],
        finding_boxes=[s.finding_boxes for s in kept],
        finding_box_labels=[s.finding_box_labels for s in kept],
        sources=[s.source for s in kept],
        splits=[s.split for s in kept],
        region_set=first.region_set,
        finding_set=first.finding_set,
    )


def name_counterpart(node_id: str) -> str | None:
    """The id-naming rule ``left_X`` <-> ``right_X`` (no KG needed)."""
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if node_id.startswith(a):
            return b + node_id[len(a):]
    return None


@functools.cache  # once per process: load_kg() re-checks the ontology files on every call (~8 ms)
def _default_counterpart() -> Callable[[str], str | None]:
    """``kg``'s ``lateral_counterpart`` (:func:`anatomy_vlm.kgload.load_kg`; raises when the KG
    cannot be built, and a failure is not cached: no silent fallback to the id-naming rule)."""
    from anatomy_vlm.kgload import load_kg

    return load_kg().lateral_counterpart


def lateral_pairs(
    ids: Sequence[str], counterpart: Callable[[str], str | None] | None = None
) -> list[int]:
    """Permutation ``perm`` with ``perm[i]`` = index of the lateral counterpart of ``ids[i]``
    (or ``i`` itself when it has none in ``ids``)."""
    counterpart = _safe(counterpart or _default_counterpart())
    index = {node_id: i for i, node_id in enumerate(ids)}
    perm = list(range(len(ids)))
    for i, node_id in enumerate(ids):
        other = counterpart(node_id)
        if other is not None and other in index:
            perm[i] = index[other]
    return perm


_SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def _swap_side_words(text: str) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        new = "right" if word.lower() == "left" else "left"
        if word.isupper():
            return new.upper()
        return new.capitalize() if word[0].isupper() else new

    return _SIDE.sub(swap, text)


def _safe(counterpart: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """Counterpart lookup that treats ids unknown to the KG (mask names …) as unpaired."""
    from kg.errors import UnknownTermError

    def lookup(node_id: str) -> str | None:
        try:
            return counterpart(node_id)
        except UnknownTermError:  # an id the KG does not have (a mask name): unpaired
            return None

    return lookup


def _swap_id(node_id: str, counterpart: Callable[[str], str | None]) -> str:
    return counterpart(node_id) or node_id


def hflip(
    sample: CXRSample, counterpart: Callable[[str], str | None] | None = None
) -> CXRSample:
    """Horizontal flip: x -> W - x, and every left/right region pair swapped.

    Swaps region rows of ``boxes``, ``region_labels`` and ``region_uncertain``, lateral mask
    names, sentence region ids and the words "left"/"right" in sentence text, so the flipped
    sample stays true under the patient-left-on-image-right convention. Abbreviations such as
    "L CPA" / "RLL" in sentence text are not rewritten (region ids are).
    """
    counterpart = _safe(counterpart or _default_counterpart())
    width = float(sample.width)
    perm = torch.tensor(lateral_pairs(sample.region_set.ids, counterpart), dtype=torch.long)

    def flip_boxes(boxes: torch.Tensor) -> torch.Tensor:
        out = boxes.clone()
        out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
        return out

    sentences = [
        GroundedSentence(
            text=_swap_side_words(s.text),
            region_ids=tuple(_swap_id(r, counterpart) for r in s.region_ids),
            finding_ids=s.finding_ids,
            negated_ids=s.negated_ids,
        )
        for s in sample.sentences
    ]
    masks = {
        _swap_id(name, counterpart): torch.flip(mask, dims=[-1]) for name, mask in sample.masks.items()
    }
    return replace(
        sample,
        image=torch.flip(sample.image, dims=[-1]),
        boxes=flip_boxes(sample.boxes)[perm],
        region_labels=sample.region_labels[perm],
        region_uncertain=sample.region_uncertain[perm],
        finding_boxes=flip_boxes(sample.finding_boxes),
        sentences=sentences,
        masks=masks,
    )


def resize(sample: CXRSample, size: int | tuple[int, int]) -> CXRSample:
    """Resize the image to ``size`` (square int or ``(H, W)``; the aspect ratio is not kept);
    boxes and masks follow.

    Image: bilinear (antialiased); masks: nearest. Box coordinates scale by W'/W and H'/H.
    """
    import torch.nn.functional as nnf

    out_h, out_w = (size, size) if isinstance(size, int) else size
    if (out_h, out_w) == (sample.height, sample.width):
        return sample
    sx, sy = out_w / sample.width, out_h / sample.height
    scale = torch.tensor([sx, sy, sx, sy], dtype=torch.float32)
    image = nnf.interpolate(
        sample.image[None], size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True
    )[0].clamp_(0.0, 1.0)
    masks = {}
    if sample.masks:  # all masks in one nearest-neighbour call, as uint8
        names = list(sample.masks)
        stacked = torch.stack([sample.masks[n] for n in names]).to(torch.uint8)[None]
        resized = nnf.interpolate(stacked, size=(out_h, out_w), mode="nearest")[0] > 0
        masks = dict(zip(names, resized, strict=True))
    return replace(
        sample,
        image=image,
        boxes=sample.boxes * scale,
        finding_boxes=sample.finding_boxes * scale,
        masks=masks,
    )


def sample_to_json(sample: CXRSample) -> dict[str, Any]:
    """A JSON-ready summary of a sample (no pixels): ids, sizes, positive labels, boxes."""
    def positives(labels: torch.Tensor) -> list[str]:
        return [sample.finding_set.ids[j] for j in torch.nonzero(labels == 1).flatten().tolist()]

    return {
        "image_id": sample.image_id,
        "study_id": sample.study_id,
        "subject_id": sample.subject_id,
        "view": sample.view,
        "source": sample.source,
        "split": sample.split,
        "width": sample.width,
        "height": sample.height,
        "image_positive": positives(sample.image_labels),
        "region_set": sample.region_set.name,
        "finding_set": sample.finding_set.name,
        "boxes": {
            rid: [round(float(v), 2) for v in box]
            for rid, box in zip(sample.region_set.ids, sample.boxes, strict=True)
            if not torch.isnan(box).any()
        },
    }
