"""Which findings a phantom film shows, where, on which side and how severe.

Two kinds of domain:

- ``id`` and the acquisition shifts (``portable_ap``, ``low_dose``, ``other_scanner``): a
  finding's target region follows the KG's location evidence (``kg.locations_of(finding,
  region_set="cig36")``) and extra findings follow its co-occurrence evidence
  (``kg.cooccurrence``: an extra finding's weight is multiplied by 2^PMI, PMI in bits averaged
  over the findings already drawn, clipped to ±3). The acquisition shifts sample exactly like
  ``id``; only the rendering differs, so a drop there is the scanner's, not the case mix's.
- ``prior_shift``: the same findings and severities, but the region is uniform over the
  plausible regions and extra findings are drawn independently of the first one, so a model
  that memorised the KG's priors loses its edge while an anatomy-aware one does not.

The priors are computed once per run in the parent process (:func:`build_priors`) and passed
to workers as plain data. Severity is a float in [0, 1]: subtle < 1/3 ≤ moderate < 2/3 ≤ obvious.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from anatomy_vlm.data.region_truth import candidate_regions, load_kg, region_hierarchy
from kg.sets import finding_set, region_set

__all__ = [
    "DOMAINS",
    "CORE_FINDINGS",
    "FindingPlan",
    "Priors",
    "build_priors",
    "sample_findings",
    "severity_bin",
    "view_for_domain",
]

DOMAINS = ("id", "prior_shift", "portable_ap", "low_dose", "other_scanner")

# The ``core`` finding set is what the phantom renders (ontology/sets.json, read without a KG build).
CORE_FINDINGS = finding_set("core").ids

# Relative frequency of each finding on an abnormal film (the same in every domain, so domains
# differ only by location and co-occurrence). Loosely after CheXpert / PadChest label counts.
PREVALENCE = {
    "lung_opacity": 1.0, "consolidation": 0.6, "pleural_effusion": 1.0, "pneumothorax": 0.6,
    "cardiomegaly": 0.8, "nodule": 0.7, "mass": 0.4, "atelectasis": 0.8, "pulmonary_edema": 0.6,
    "hilar_enlargement": 0.4, "mediastinal_widening": 0.3, "rib_fracture": 0.4,
    "clavicle_fracture": 0.3, "endotracheal_tube": 0.4, "enteric_tube": 0.4,
    "central_venous_catheter": 0.5, "pacemaker": 0.3,
}
# Findings drawn with a side; "bilateral" allowed for these.
_BILATERAL = {"pleural_effusion": 0.3, "hilar_enlargement": 0.3, "pulmonary_edema": 1.0, "atelectasis": 0.1}
_NO_SIDE = {"cardiomegaly", "mediastinal_widening", "endotracheal_tube", "enteric_tube"}
_CIG36 = region_set("cig36").ids
_ALL_ANCESTORS = region_hierarchy(_CIG36, use_kg=False)


@dataclass(frozen=True)
class FindingPlan:
    """One finding to render: ``side`` in {"right","left","bilateral",None}; ``region`` a cig36 id."""

    finding: str
    severity: float
    side: str | None
    region: str | None
    params: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"finding": self.finding, "severity": round(self.severity, 4), "side": self.side,
                "region": self.region, "params": dict(self.params)}


@dataclass(frozen=True)
class Priors:
    """Location weights per finding (region → weight > 0), co-occurrence PMI, and their source."""

    location: dict[str, dict[str, float]]
    pmi: dict[str, dict[str, float]]
    source: str

    def to_json(self) -> dict:
        return {"location": self.location, "pmi": self.pmi, "source": self.source}


def severity_bin(severity: float) -> str:
    """``subtle`` (< 1/3), ``moderate`` (< 2/3) or ``obvious``."""
    return "subtle" if severity < 1 / 3 else ("moderate" if severity < 2 / 3 else "obvious")


def view_for_domain(domain: str) -> str:
    """``AP`` for the portable domain, ``PA`` otherwise."""
    return "AP" if domain == "portable_ap" else "PA"


def build_priors(*, use_kg: bool = True) -> Priors:
    """Location and co-occurrence priors over the core findings, from the KG when it loads."""
    location = {f: {r: 1.0 for r in _plausible(f)} for f in CORE_FINDINGS}
    pmi: dict[str, dict[str, float]] = {f: {} for f in CORE_FINDINGS}
    source = "builtin-uniform"
    if use_kg:
        graph = load_kg()  # None when the KG is not available: uniform priors, said in the data card
        if graph is not None:
            source = f"kg:{getattr(graph, 'version', 'unknown')}"
            for finding in CORE_FINDINGS:
                location[finding] = _kg_locations(graph, finding, location[finding])
                pmi[finding] = _kg_pmi(graph, finding)
    return Priors(location=location, pmi=pmi, source=source)


def _plausible(finding: str) -> tuple[str, ...]:
    return candidate_regions(finding, None)


def _kg_locations(graph, finding: str, plausible: dict[str, float]) -> dict[str, float]:
    """KG location scores on the plausible regions; a score at a parent region (``left_lung``)
    is shared equally among its plausible parts (its zones)."""
    try:
        ranked = graph.locations_of(finding, region_set="cig36")
    except Exception:
        return plausible
    hierarchy = region_hierarchy(_CIG36)
    scores = dict.fromkeys(plausible, 0.0)
    for r in ranked:
        region, score = r.node.id, float(r.score)
        if region in scores:
            scores[region] += score
            continue
        parts = [p for p in plausible if region in _static_or_kg_ancestors(p, hierarchy)]
        for part in parts:
            scores[part] += score / len(parts)
    total = sum(scores.values())
    if total <= 0:
        return plausible
    # a floor keeps every plausible region possible (the KG prior is soft, never a hard zero)
    floor = 0.02 * total / len(plausible)
    return {r: scores[r] + floor for r in plausible}


def _static_or_kg_ancestors(region: str, hierarchy: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return _ALL_ANCESTORS.get(region, ()) or hierarchy.get(region, ())


def _kg_pmi(graph, finding: str) -> dict[str, float]:
    try:
        rows = graph.cooccurrence(finding)
    except Exception:
        return {}
    core = set(CORE_FINDINGS)
    return {other: float(pmi) for other, _count, pmi in rows if other in core and other != finding}


def sample_findings(
    rng: np.random.Generator,
    *,
    domain: str,
    priors: Priors,
    normal_fraction: float = 0.3,
    max_findings: int = 4,
) -> list[FindingPlan]:
    """Draw the findings of one film (empty list = normal film)."""
    if rng.random() < normal_fraction:
        return []
    n_findings = min(max_findings, 1 + int(rng.poisson(0.7)))
    shifted = domain == "prior_shift"
    weights = np.array([PREVALENCE[f] for f in CORE_FINDINGS], dtype=np.float64)
    chosen: list[str] = []
    for _ in range(n_findings):
        w = weights.copy()
        for i, finding in enumerate(CORE_FINDINGS):
            if finding in chosen:
                w[i] = 0.0
            elif chosen and not shifted:
                boost = sum(priors.pmi.get(c, {}).get(finding, 0.0) for c in chosen) / len(chosen)
                w[i] *= 2.0 ** float(np.clip(boost, -3.0, 3.0))  # the KG's PMI is in bits
        if w.sum() <= 0:
            break
        chosen.append(CORE_FINDINGS[int(rng.choice(len(w), p=w / w.sum()))])
    return [_plan(rng, f, priors, shifted) for f in chosen]


def _plan(rng: np.random.Generator, finding: str, priors: Priors, shifted: bool) -> FindingPlan:
    severity = float(rng.uniform(0.02, 1.0))
    weights = priors.location[finding]
    regions = list(weights)
    p = np.ones(len(regions)) if shifted else np.array([weights[r] for r in regions], dtype=np.float64)
    region = regions[int(rng.choice(len(regions), p=p / p.sum()))]
    side = _side(rng, finding, region, shifted)
    if side == "bilateral" and finding in ("hilar_enlargement",):
        region = region.replace("left_", "right_")
    # the renderer reads size_cm for nodules and masses; the report quotes what was drawn
    params = {"size_cm": round(_size_mm(rng, finding, severity) / 10.0, 1)} if finding in ("nodule", "mass") else {}
    return FindingPlan(finding=finding, severity=severity, side=side, region=region, params=params)


def _side(rng: np.random.Generator, finding: str, region: str, shifted: bool) -> str | None:
    if finding in _NO_SIDE:
        return None
    p_bilateral = _BILATERAL.get(finding, 0.0)
    if shifted and finding == "pulmonary_edema":
        p_bilateral = 0.5  # edema is bilateral by the KG's evidence; the shifted domain ignores it
    if rng.random() < p_bilateral:
        return "bilateral"
    if region.startswith("right_"):
        return "right"
    if region.startswith("left_"):
        return "left"
    return "right" if rng.random() < 0.5 else "left"


def _size_mm(rng: np.random.Generator, finding: str, severity: float) -> float:
    if finding == "nodule":
        return 6.0 + 22.0 * severity + float(rng.uniform(-1, 1))  # 5–29 mm
    return 32.0 + 50.0 * severity + float(rng.uniform(-2, 2))  # mass ≥ 3 cm
