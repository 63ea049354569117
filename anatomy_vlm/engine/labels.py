"""Which region cells enter the concept loss, and with what weight.

Report-derived region labels are sparse: a report names where a finding *is* and usually says
nothing about the other 28 regions, so the loader leaves those cells NaN ("not mentioned"). With
``label_completion="none"`` NaN and uncertain cells are simply left out. With ``"closed_world"``
(the quickstart default) a report is read as complete for the findings it can express, the way
MIMIC-CXR's blank labels are commonly read as negatives:

- a finding the report does not assert anywhere (no positive or hedged cell, no positive or
  hedged image label) is negative at every region the report leaves unmentioned;
- a finding the report asserts only at regions of one side is negative at the unmentioned
  regions of the other side; its unmentioned regions on the same side and in the midline stay
  unknown (region truth counts every region a lesion covers by 10% or more, while a report
  names one: "left apical pneumothorax" says nothing about the left upper zone it also covers);
- a finding the report asserts at a midline region (cardiac silhouette, trachea …) is negative
  at the unmentioned regions that are not parts of a positive region;
- a finding asserted only outside the region set, and findings that never occur as a region
  positive in the training split (the report vocabulary cannot place them: e.g. Chest ImaGenome's
  "mass/nodule (not otherwise specified)"), are left unlabelled.

Completed negatives get ``completed_negative_weight``; labelled cells weight 1; uncertain cells
and cells left NaN weight 0.
"""

from __future__ import annotations

import torch

__all__ = ["descendant_matrix", "region_sides", "complete_labels", "expressible_findings"]


def descendant_matrix(kg, region_ids) -> torch.Tensor:
    """``[R, R]`` bool: ``[a, d]`` True when region ``d`` is a ``part_of`` descendant of ``a``."""
    index = {r: i for i, r in enumerate(region_ids)}
    matrix = torch.zeros(len(region_ids), len(region_ids), dtype=torch.bool)
    for a, region in enumerate(region_ids):
        for d in kg.descendants(region, "part_of"):
            if d in index:
                matrix[a, index[d]] = True
    return matrix


def region_sides(region_ids) -> torch.Tensor:
    """``[R]`` int64: 1 for ``left_*`` regions, 2 for ``right_*``, 0 for the midline (id rule)."""
    return torch.tensor(
        [1 if r.startswith("left_") else 2 if r.startswith("right_") else 0 for r in region_ids],
        dtype=torch.long,
    )


def expressible_findings(region_labels: torch.Tensor) -> torch.Tensor:
    """``[N, R, F]`` training labels → ``[F]`` bool: the finding is a region positive somewhere."""
    return (region_labels == 1).flatten(0, 1).any(dim=0)


def complete_labels(
    region_labels: torch.Tensor,
    region_uncertain: torch.Tensor,
    image_labels: torch.Tensor,
    image_uncertain: torch.Tensor,
    *,
    descendants: torch.Tensor,
    expressible: torch.Tensor,
    mode: str,
    sides: torch.Tensor | None = None,
    negative_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Completed labels and loss weights, both ``[N, R, F]`` (module docstring).

    Args:
        region_labels / region_uncertain: ``[N, R, F]``; image_labels / image_uncertain: ``[N, F]``.
        descendants: :func:`descendant_matrix` ``[R, R]``.
        expressible: :func:`expressible_findings` of the training split ``[F]``.
        mode: ``none`` or ``closed_world``.
        sides: :func:`region_sides` ``[R]`` (default: every region midline, i.e. no side rule).
    """
    labels = region_labels.clone()
    known = ~torch.isnan(labels) & ~region_uncertain
    weights = known.float()
    if mode == "none":
        return labels, weights
    positive = (labels == 1) & ~region_uncertain
    hedged = region_uncertain.any(dim=1) | image_uncertain  # [N, F]
    asserted = positive.any(dim=1) | (image_labels == 1)  # [N, F]
    # a region under a positive region: unknown which part holds the finding
    under_positive = torch.einsum("nrf,rd->ndf", positive.float(), descendants.float()) > 0
    fill = torch.isnan(labels) & ~region_uncertain & ~under_positive
    fill &= ~hedged[:, None, :] & expressible[None, None, :]
    # asserted only outside the region set: no region positive to anchor the negatives
    fill &= ~(asserted & ~positive.any(dim=1))[:, None, :]
    # asserted at lateral regions only: negatives only on the side with no positive
    sides = torch.zeros(labels.shape[1], dtype=torch.long) if sides is None else sides
    side_positive = torch.stack(
        [positive[:, sides == s].any(dim=1) for s in (0, 1, 2)]
    )  # [3, N, F]
    lateral = positive.any(dim=1) & ~side_positive[0]  # [N, F]
    region_side_positive = side_positive[sides].permute(1, 0, 2)  # [N, R, F]: its own side
    other_side = (sides > 0)[None, :, None] & ~region_side_positive
    fill &= ~lateral[:, None, :] | other_side
    labels[fill] = 0.0
    weights[fill] = float(negative_weight)
    return labels, weights
