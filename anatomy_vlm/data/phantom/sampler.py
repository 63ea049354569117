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

from anatomy_vlm.data.phantom.findings import CIG36, CORE_FINDINGS, RULES
from anatomy_vlm.data.region_truth import candidate_regions, region_hierarchy

__all__ = [
    "DOMAINS",
    "CORE_FINDINGS",
    "FindingPlan",
    "Priors",
    "build_priors",
    "uniform_priors",
    "sample_findings",
    "severity_bin",
    "view_for_domain",
]

DOMAINS = ("id", "prior_shift", "portable_ap", "low_dose", "other_scanner")


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


def build_priors(graph=None) -> Priors:
    """Location and co-occurrence priors over the core findings, from the KG ``graph`` (default
    :func:`anatomy_vlm.kgload.load_kg`)."""
    if graph is None:
        from anatomy_vlm.kgload import load_kg

        graph = load_kg()
    hierarchy = region_hierarchy(CIG36, graph=graph)
    location = {f: _kg_locations(graph, f, {r: 1.0 for r in _plausible(f)}, hierarchy) for f in CORE_FINDINGS}
    pmi = {f: _kg_pmi(graph, f) for f in CORE_FINDINGS}
    return Priors(location=location, pmi=pmi, source=f"kg:{getattr(graph, 'version', 'unknown')}")


def uniform_priors() -> Priors:
    """Uniform location weights and no co-occurrence (tests; what ``prior_shift`` samples from)."""
    return Priors(location={f: {r: 1.0 for r in _plausible(f)} for f in CORE_FINDINGS},
                  pmi={f: {} for f in CORE_FINDINGS}, source="uniform")


def _plausible(finding: str) -> tuple[str, ...]:
    return candidate_regions(finding, None)


def _kg_locations(graph, finding: str, plausible: dict[str, float],
                  hierarchy: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """KG location scores on the plausible regions; a score at a parent region (``left_lung``)
    is shared equally among its plausible parts (its zones)."""
    ranked = graph.locations_of(finding, region_set="cig36")
    scores = dict.fromkeys(plausible, 0.0)
    for r in ranked:
        region, score = r.node.id, float(r.score)
        if region in scores:
            scores[region] += score
            continue
        parts = [p for p in plausible if region in hierarchy.get(p, ())]
        for part in parts:
            scores[part] += score / len(parts)
    total = sum(scores.values())
    if total <= 0:
        return plausible
    # a floor keeps every plausible region possible (the KG prior is soft, never a hard zero)
    floor = 0.02 * total / len(plausible)
    return {r: scores[r] + floor for r in plausible}


def _kg_pmi(graph, finding: str) -> dict[str, float]:
    core = set(CORE_FINDINGS)
    return {other: float(pmi) for other, _count, pmi in graph.cooccurrence(finding)
            if other in core and other != finding}


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
    weights = np.array([RULES[f].prevalence for f in CORE_FINDINGS], dtype=np.float64)
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
    if not RULES[finding].sided:
        return None
    p_bilateral = RULES[finding].p_bilateral
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
