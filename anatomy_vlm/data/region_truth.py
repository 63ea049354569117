"""Region truth: the one rule that says at which anatomical regions a radiologist would name a finding.

The phantom's truth file, its scene graphs and its reports all call :func:`region_truth`, so the
three never disagree. Rules (docs/architecture.md#region-truth):

- **Lung-tissue and pleural findings** (opacity, consolidation, nodule, mass, atelectasis, edema,
  effusion, pneumothorax) are positive at a region when the lesion covers at least
  ``threshold`` (10%) of that region's area. Small lesions (a nodule covers a few percent of a
  zone) are positive also where at least ``lesion_share`` (30%) of the lesion itself lies, and
  always at the one candidate region holding most of it, so a lesion is never placed nowhere.
- **Whole-organ findings** follow fixed rules: cardiomegaly → cardiac silhouette; mediastinal
  widening → mediastinum + upper mediastinum; hilar enlargement → that side's hilar structures;
  fractures → the region holding most of the fracture (clavicle, or the lung zone a rib crosses);
  devices → the smallest allowed region holding their tip (tube, line or pacemaker lead).
- Every positive region is then propagated to its ``part_of`` ancestors inside the region set,
  read from the KG (:func:`anatomy_vlm.kgload.load_kg`, or a graph passed in); there is no
  fallback table: a KG that cannot be loaded raises.

Each finding's rule kind and regions live in one table, :mod:`anatomy_vlm.data.phantom.findings`.
A region absent from ``region_masks`` (one the film does not show) is never positive.

Coordinates are pixels of the stored image (x right, y down). Masks are boolean ``[H, W]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from anatomy_vlm.data.phantom import findings

__all__ = [
    "LUNG_FINDINGS",
    "DEVICE_FINDINGS",
    "region_truth",
    "region_hierarchy",
    "default_regions",
    "candidate_regions",
]

THRESHOLD = 0.10
LESION_SHARE = 0.30

LUNG_FINDINGS = findings.LUNG_FINDINGS
DEVICE_FINDINGS = frozenset(findings.DEVICES)


def candidate_regions(finding: str, side: str | None = None) -> tuple[str, ...]:
    """Regions where ``finding`` may be named (the leaves the coverage rule is tested on).

    ``side`` in {"right", "left", "bilateral", None}; None or "bilateral" gives both sides.
    """
    return findings.rule(finding).candidate_regions(side)


def default_regions(finding: str, side: str | None = None) -> tuple[str, ...]:
    """Where a sentence that names no anatomy is grounded (e.g. "No pneumothorax." → both lungs);
    empty for a finding outside the core set."""
    return findings.RULES[finding].default_regions(side) if finding in findings.RULES else ()


def region_hierarchy(region_ids: tuple[str, ...], *, graph=None) -> dict[str, tuple[str, ...]]:
    """``region → part_of ancestors that are in region_ids`` (transitive, nearest first), from
    ``graph`` (default: :func:`anatomy_vlm.kgload.load_kg`, which raises when the KG fails)."""
    if graph is None:
        from anatomy_vlm.kgload import load_kg

        graph = load_kg()
    keep = set(region_ids)
    return {r: tuple(a for a in graph.ancestors(r) if a in keep and a != r) for r in region_ids}


def region_truth(
    finding: str,
    *,
    region_masks: Mapping[str, np.ndarray],
    lesion_mask: np.ndarray | None = None,
    side: str | None = None,
    tip: tuple[float, float] | None = None,
    hierarchy: Mapping[str, Sequence[str]] | None = None,
    threshold: float = THRESHOLD,
    lesion_share: float = LESION_SHARE,
) -> tuple[str, ...]:
    """Regions (ids, sorted by the order of ``region_masks``) at which ``finding`` is positive.

    Args:
        finding: core finding id (``pleural_effusion``, ``cardiomegaly``, …).
        region_masks: region id → boolean mask ``[H, W]`` of the stored image (cig36 regions).
        lesion_mask: boolean ``[H, W]`` mask of this lesion (lung findings, fractures).
        side: "right" | "left" | "bilateral" | None (hilar enlargement, fallback for others).
        tip: ``(x, y)`` pixel of a tube/line tip (devices).
        hierarchy: region → part_of ancestors in the set; default :func:`region_hierarchy`.
        threshold: fraction of a region's area the lesion must cover.
        lesion_share: fraction of the lesion that must lie in a region (small lesions).
    """
    order = tuple(region_masks)
    if hierarchy is None:
        hierarchy = region_hierarchy(order)
    kind = findings.rule(finding).truth
    if kind == findings.COVERAGE:
        leaves = _covered(finding, side, region_masks, lesion_mask, threshold, lesion_share)
    elif kind == findings.FIXED:
        leaves = candidate_regions(finding, side)
    else:
        leaves = _device_regions(finding, side, region_masks, tip)
    positive = set()
    for region in leaves:
        if region in region_masks:
            positive.add(region)
            positive.update(a for a in hierarchy.get(region, ()) if a in region_masks)
    return tuple(r for r in order if r in positive)


def _covered(
    finding: str,
    side: str | None,
    region_masks: Mapping[str, np.ndarray],
    lesion_mask: np.ndarray | None,
    threshold: float,
    lesion_share: float,
) -> tuple[str, ...]:
    candidates = [r for r in candidate_regions(finding, None) if r in region_masks]
    if lesion_mask is None or not lesion_mask.any():
        return tuple(default_regions(finding, side)) if finding in LUNG_FINDINGS else ()
    ys, xs = np.nonzero(lesion_mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = lesion_mask[y0:y1, x0:x1]
    lesion_area = float(len(ys))
    shares: dict[str, float] = {}
    hits: list[str] = []
    for region in candidates:
        mask = region_masks[region]
        overlap = float(np.count_nonzero(mask[y0:y1, x0:x1] & crop))
        if overlap == 0:
            continue
        shares[region] = overlap / lesion_area
        area = float(np.count_nonzero(mask))
        if overlap / max(area, 1.0) >= threshold or shares[region] >= lesion_share:
            hits.append(region)
    if not hits and shares:
        hits.append(max(shares, key=shares.__getitem__))
    return tuple(hits)


def _device_regions(
    finding: str,
    side: str | None,
    region_masks: Mapping[str, np.ndarray],
    tip: tuple[float, float] | None,
) -> tuple[str, ...]:
    allowed = candidate_regions(finding, side)
    if tip is None:
        return default_regions(finding, side)
    x, y = int(round(tip[0])), int(round(tip[1]))
    inside = []
    for region in allowed:
        mask = region_masks.get(region)
        if mask is not None and 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x]:
            inside.append(region)
    if not inside:
        return default_regions(finding, side)
    # the smallest region holding the tip is the one a radiologist names
    inside.sort(key=lambda r: int(np.count_nonzero(region_masks[r])))
    return (inside[0],)
