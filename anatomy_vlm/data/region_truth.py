"""Region truth: the one rule that says at which anatomical regions a radiologist would name a finding.

The phantom's truth file, its scene graphs and its reports all call :func:`region_truth`, so the
three never disagree. Rules (ARCHITECTURE.md, "Region truth"):

- **Lung-tissue and pleural findings** (opacity, consolidation, nodule, mass, atelectasis, edema,
  effusion, pneumothorax) are positive at a region when the lesion covers at least
  ``threshold`` (10%) of that region's area. Small lesions (a nodule covers a few percent of a
  zone) are positive also where at least ``lesion_share`` (30%) of the lesion itself lies, and
  always at the one candidate region holding most of it, so a lesion is never placed nowhere.
- **Whole-organ findings** follow fixed rules: cardiomegaly → cardiac silhouette; mediastinal
  widening → mediastinum + upper mediastinum; hilar enlargement → that side's hilar structures;
  fractures → the region holding most of the fracture (clavicle, or the lung zone a rib crosses);
  devices → the smallest allowed region holding their tip (tube, line or pacemaker lead).
- Every positive region is then propagated to its ``part_of`` ancestors inside the region set
  (from the KG when it is built, else the static Chest ImaGenome hierarchy below).

Coordinates are pixels of the stored image (x right, y down). Masks are boolean ``[H, W]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

__all__ = [
    "LUNG_FINDINGS",
    "WHOLE_ORGAN_FINDINGS",
    "DEVICE_FINDINGS",
    "region_truth",
    "region_hierarchy",
    "default_regions",
    "candidate_regions",
    "load_kg",
]

THRESHOLD = 0.10
LESION_SHARE = 0.30

LUNG_FINDINGS = frozenset({
    "lung_opacity", "consolidation", "nodule", "mass", "atelectasis", "pulmonary_edema",
    "pleural_effusion", "pneumothorax",
})
WHOLE_ORGAN_FINDINGS = frozenset({
    "cardiomegaly", "mediastinal_widening", "hilar_enlargement", "rib_fracture", "clavicle_fracture",
})
DEVICE_FINDINGS = frozenset({"endotracheal_tube", "enteric_tube", "central_venous_catheter", "pacemaker"})

_ZONES = ("apical_zone", "upper_lung_zone", "mid_lung_zone", "lower_lung_zone")

# Static part_of hierarchy inside cig36 (KNOWLEDGE_SOURCES.md §1.2); used when the KG is not built.
_STATIC_PARENTS: dict[str, tuple[str, ...]] = {
    **{f"{s}_{z}": (f"{s}_lung",) for s in ("right", "left") for z in (*_ZONES, "hilar_structures")},
    "carina": ("trachea",),
    "trachea": ("upper_mediastinum",),
    "aortic_arch": ("upper_mediastinum",),
    "svc": ("upper_mediastinum",),
    "upper_mediastinum": ("mediastinum",),
    "cardiac_silhouette": ("mediastinum",),
    "left_cardiac_silhouette": ("cardiac_silhouette",),
    "right_cardiac_silhouette": ("cardiac_silhouette",),
    "right_atrium": ("right_cardiac_silhouette",),
    "cavoatrial_junction": ("right_cardiac_silhouette",),
    "descending_aorta": ("mediastinum",),
    "left_upper_abdomen": ("abdomen",),
    "right_upper_abdomen": ("abdomen",),
}


def candidate_regions(finding: str, side: str | None = None) -> tuple[str, ...]:
    """Regions where ``finding`` may be named (the leaves the coverage rule is tested on).

    ``side`` in {"right", "left", "bilateral", None}; None or "bilateral" gives both sides.
    """
    sides = ("right", "left") if side in (None, "bilateral") else (side,)
    if finding in ("pleural_effusion",):
        return tuple(f"{s}_{r}" for s in sides for r in ("costophrenic_angle", "lower_lung_zone", "mid_lung_zone", "upper_lung_zone"))
    if finding in LUNG_FINDINGS or finding == "rib_fracture":
        return tuple(f"{s}_{z}" for s in sides for z in _ZONES)
    if finding == "clavicle_fracture":
        return tuple(f"{s}_clavicle" for s in sides)
    if finding == "hilar_enlargement":
        return tuple(f"{s}_hilar_structures" for s in sides)
    if finding == "cardiomegaly":
        return ("cardiac_silhouette",)
    if finding == "mediastinal_widening":
        return ("upper_mediastinum", "mediastinum")
    if finding == "endotracheal_tube":
        return ("trachea", "carina")
    if finding == "enteric_tube":
        return ("left_upper_abdomen", "abdomen")
    if finding == "central_venous_catheter":
        return ("svc", "cavoatrial_junction", "right_atrium")
    if finding == "pacemaker":  # the lead tips (right atrium / ventricle)
        return ("right_atrium", "right_cardiac_silhouette", "left_cardiac_silhouette", "cardiac_silhouette")
    raise KeyError(f"no region rule for finding {finding!r}")


def default_regions(finding: str, side: str | None = None) -> tuple[str, ...]:
    """Where a sentence that names no anatomy is grounded (e.g. "No pneumothorax." → both lungs)."""
    sides = ("right", "left") if side in (None, "bilateral") else (side,)
    if finding in LUNG_FINDINGS:
        return tuple(f"{s}_lung" for s in sides)
    fixed = {
        "cardiomegaly": ("cardiac_silhouette",),
        "mediastinal_widening": ("mediastinum", "upper_mediastinum"),
        "endotracheal_tube": ("trachea",),
        "enteric_tube": ("abdomen",),
        "central_venous_catheter": ("svc",),
        "pacemaker": ("cardiac_silhouette",),
    }
    if finding in fixed:
        return fixed[finding]
    if finding == "hilar_enlargement":
        return tuple(f"{s}_hilar_structures" for s in sides)
    if finding == "clavicle_fracture":
        return tuple(f"{s}_clavicle" for s in sides)
    return ()


@lru_cache(maxsize=1)
def load_kg():
    """The KG (``AnatomyKG.load()``), loaded once per process; None when it cannot be built."""
    try:
        from kg import AnatomyKG

        return AnatomyKG.load()
    except Exception:  # KG not built or API absent: callers fall back to static tables
        return None


@lru_cache(maxsize=16)
def region_hierarchy(region_ids: tuple[str, ...], use_kg: bool = True) -> dict[str, tuple[str, ...]]:
    """``region → part_of ancestors that are in region_ids`` (transitive), from the KG if it loads."""
    graph = load_kg() if use_kg else None
    if graph is not None:
        try:
            keep = set(region_ids)
            return {r: tuple(a for a in graph.ancestors(r) if a in keep and a != r) for r in region_ids}
        except Exception:  # API absent: the static Chest ImaGenome hierarchy
            pass
    return {r: _static_ancestors(r, set(region_ids)) for r in region_ids}


def _static_ancestors(region: str, keep: set[str]) -> tuple[str, ...]:
    out: list[str] = []
    frontier = list(_STATIC_PARENTS.get(region, ()))
    while frontier:
        parent = frontier.pop(0)
        if parent not in out:
            out.append(parent)
            frontier.extend(_STATIC_PARENTS.get(parent, ()))
    return tuple(a for a in out if a in keep)


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
    if finding in LUNG_FINDINGS or finding in ("rib_fracture", "clavicle_fracture"):
        leaves = _covered(finding, side, region_masks, lesion_mask, threshold, lesion_share)
    elif finding in ("cardiomegaly", "mediastinal_widening", "hilar_enlargement"):
        leaves = candidate_regions(finding, side)
    elif finding in DEVICE_FINDINGS:
        leaves = _device_regions(finding, side, region_masks, tip)
    else:
        raise KeyError(f"no region rule for finding {finding!r}")
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
