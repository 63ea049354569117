"""Which region cells enter the concept loss, and with what weight.

Report-derived region labels are sparse: a report names where a finding *is* and usually says
nothing about the other 28 regions, so the loader leaves those cells NaN ("not mentioned"). With
``label_completion="none"`` NaN and uncertain cells are simply left out. With ``"closed_world"``
(the quickstart default) a report is read as complete for the findings it can express, the way
MIMIC-CXR's blank labels are commonly read as negatives:

- a finding the report does not assert anywhere (no positive or hedged cell, no positive or
  hedged image label) is negative at every region the report leaves unmentioned;
- a finding the report asserts at some regions is negative at the unmentioned regions that are
  not parts of a positive region (a "left lung" positive says nothing about which left zone);
- a finding asserted only outside the region set, and findings that never occur as a region
  positive in the training split (the report vocabulary cannot place them: e.g. Chest ImaGenome's
  "mass/nodule (not otherwise specified)"), are left unlabelled.

Completed negatives get ``completed_negative_weight``; labelled cells weight 1; uncertain cells
and cells left NaN weight 0.
"""

from __future__ import annotations

import torch

__all__ = ["descendant_matrix", "complete_labels", "expressible_findings"]


def descendant_matrix(kg, region_ids) -> torch.Tensor:
    """``[R, R]`` bool: ``[a, d]`` True when region ``d`` is a ``part_of`` descendant of ``a``."""
    index = {r: i for i, r in enumerate(region_ids)}
    matrix = torch.zeros(len(region_ids), len(region_ids), dtype=torch.bool)
    for a, region in enumerate(region_ids):
        for d in kg.descendants(region, "part_of"):
            if d in index:
                matrix[a, index[d]] = True
    return matrix


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
    negative_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Completed labels and loss weights, both ``[N, R, F]`` (module docstring).

    Args:
        region_labels / region_uncertain: ``[N, R, F]``; image_labels / image_uncertain: ``[N, F]``.
        descendants: :func:`descendant_matrix` ``[R, R]``.
        expressible: :func:`expressible_findings` of the training split ``[F]``.
        mode: ``none`` or ``closed_world``.
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
    labels[fill] = 0.0
    weights[fill] = float(negative_weight)
    return labels, weights
