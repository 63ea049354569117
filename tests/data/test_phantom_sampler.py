"""Phantom finding sampler and report writer: KG-driven vs prior-shifted locations, report truthfulness."""

from __future__ import annotations

import numpy as np

from anatomy_vlm.data.phantom.reports import TruthFinding, write_report
from anatomy_vlm.data.phantom.sampler import CORE_FINDINGS, Priors, sample_findings


def _priors() -> Priors:
    location = {f: {"a": 1.0, "b": 1.0} for f in CORE_FINDINGS}
    location["nodule"] = {"right_apical_zone": 99.0, "right_lower_lung_zone": 1.0}
    pmi = {f: {} for f in CORE_FINDINGS}
    pmi["nodule"] = {"mass": 2.0}
    return Priors(location=location, pmi=pmi, source="test")


def _regions(domain: str, n: int = 3000) -> list[str]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        out += [p.region for p in sample_findings(rng, domain=domain, priors=_priors()) if p.finding == "nodule"]
    return out


def test_id_follows_kg_locations_and_prior_shift_does_not():
    in_domain = _regions("id")
    shifted = _regions("prior_shift")
    assert np.mean([r == "right_apical_zone" for r in in_domain]) > 0.9
    assert 0.35 < np.mean([r == "right_apical_zone" for r in shifted]) < 0.65


def test_normal_fraction_and_determinism():
    a = [sample_findings(np.random.default_rng(i), domain="id", priors=_priors(), normal_fraction=0.5) for i in range(400)]
    b = [sample_findings(np.random.default_rng(i), domain="id", priors=_priors(), normal_fraction=0.5) for i in range(400)]
    assert a == b
    assert 0.4 < np.mean([not x for x in a]) < 0.6
    assert all(0 <= p.severity <= 1 for x in a for p in x)


def test_report_never_denies_a_present_finding():
    effusion = TruthFinding(finding="pleural_effusion", severity=0.9, side="left",
                            regions=("left_lung", "left_costophrenic_angle"))
    opacity = TruthFinding(finding="lung_opacity", severity=0.5, side="right",
                           regions=("right_lung", "right_lower_lung_zone"))
    for seed in range(50):
        text = " ".join(write_report(np.random.default_rng(seed), [effusion, opacity]).lower().split())
        assert "no pleural effusion" not in text and "lungs are clear" not in text
        assert "left" in text and "pleural effusion" in text and "right" in text
    normal = write_report(np.random.default_rng(1), []).lower()
    assert "pneumothorax" in normal and "impression" in normal
