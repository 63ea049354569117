"""Radiology reports written from the phantom's truth, in the MIMIC-CXR free-text style.

A report has FINDINGS (devices, lungs, pleura, heart and mediastinum, bones) and IMPRESSION.
Positive findings are named with their anatomy from :func:`region_truth` ("left costophrenic
angle", "right lower lung zone", "bibasilar"); subtle findings are often hedged ("possible",
"cannot be excluded"); absent findings get negations ("No pneumothorax.") or normal statements
("The lungs are clear."), but only those the truth allows: a normal statement is never written
over a finding it would deny (no "lungs are clear" beside an opacity). Phrasing varies through
several templates per finding plus KG synonyms (:class:`Vocabulary`). Seeded: the same
generator state gives the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from anatomy_vlm.data.phantom.findings import DEVICES, LUNG_FINDINGS, RULES
from anatomy_vlm.data.phantom.sampler import severity_bin

__all__ = ["TruthFinding", "Vocabulary", "write_report", "location_phrase"]

_ZONE_WORDS = {
    "apical_zone": ("apical zone", "apex"),
    "upper_lung_zone": ("upper lung zone", "upper lung"),
    "mid_lung_zone": ("mid lung zone", "mid lung"),
    "lower_lung_zone": ("lower lung zone", "lung base"),
    "costophrenic_angle": ("costophrenic angle",),
    "cardiophrenic_angle": ("cardiophrenic angle",),
}
_ORDER = tuple(RULES)  # the finding table is in report order: devices, lungs, pleura, heart, bones
_ADJ = {
    "pleural_effusion": (("small", "trace"), ("moderate", "moderate-sized"), ("large",)),
    "pneumothorax": (("small", "tiny"), ("moderate", "moderate-sized"), ("large",)),
    "pulmonary_edema": (("mild",), ("moderate",), ("severe",)),
    "cardiomegaly": (("mild",), ("moderate",), ("marked", "severe")),
    "_lung": (("mild", "subtle", "faint"), ("patchy", "moderate"), ("dense", "extensive")),
}
_NOUNS = {f: list(r.nouns) for f, r in RULES.items() if r.nouns}
_COUNTABLE = frozenset(f for f, r in RULES.items() if r.countable)
_HEDGES = ("Possible {p}.", "{P} cannot be excluded.", "Questionable {p}.", "Findings may represent {p}.",
           "Cannot exclude {p}.")


@dataclass(frozen=True)
class TruthFinding:
    """A rendered finding as the report sees it: regions come from :func:`region_truth`."""

    finding: str
    severity: float
    side: str | None
    regions: tuple[str, ...]
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Vocabulary:
    """Extra nouns per finding (e.g. KG synonyms that resolve back to the same finding)."""

    nouns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def noun(self, rng: np.random.Generator, finding: str) -> str:
        return _pick(rng, [*_NOUNS.get(finding, [finding.replace("_", " ")]), *self.nouns.get(finding, ())])


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def location_phrase(rng: np.random.Generator, regions: Sequence[str]) -> str | None:
    """Anatomy words for a set of positive lung regions, e.g. "right lower lung zone", "bibasilar"."""
    by_side = _zones_by_side(regions)
    if not by_side:
        return None
    if _bibasilar(by_side):
        return _pick(rng, ("lung bases bilaterally", "bilateral lower lung zones"))
    parts = []
    for side, zones in by_side.items():
        if len(zones) >= 3:
            parts.append(f"{side} lung")
        else:
            parts.append(" and ".join(f"{side} {_pick(rng, _ZONE_WORDS[z])}" for z in zones))
    return " and ".join(parts)


def _bibasilar(by_side: dict[str, list[str]]) -> bool:
    bases = {"lower_lung_zone", "costophrenic_angle"}
    return len(by_side) == 2 and all(set(z) <= bases for z in by_side.values())


def _zones_by_side(regions: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for region in regions:
        for side in ("right", "left"):
            rest = region[len(side) + 1:] if region.startswith(f"{side}_") else None
            if rest in _ZONE_WORDS:
                out.setdefault(side, []).append(rest)
    return out


def _side_word(side: str | None) -> str:
    return {"right": "right", "left": "left", "bilateral": "bilateral"}.get(side or "", "")


def _truth_side(item: TruthFinding) -> str:
    """The side the truth regions say (they describe what was drawn), else the planned side."""
    right = any(r.startswith("right_") for r in item.regions)
    left = any(r.startswith("left_") for r in item.regions)
    if right and left:
        return "bilateral"
    if right or left:
        return "right" if right else "left"
    return _side_word(item.side)


def _adjective(rng: np.random.Generator, finding: str, severity: float) -> str:
    table = _ADJ.get(finding, _ADJ["_lung"])
    return _pick(rng, table[("subtle", "moderate", "obvious").index(severity_bin(severity))])


def _positive_phrase(rng: np.random.Generator, item: TruthFinding, vocab: Vocabulary) -> str:
    """A noun phrase naming a present finding with its anatomy (lower case, no full stop)."""
    f, sev, side = item.finding, item.severity, _truth_side(item)
    loc = location_phrase(rng, item.regions) or (f"{side} lung" if side in ("right", "left") else "lungs")
    adj = _adjective(rng, f, sev)
    if f == "pleural_effusion":
        noun = "pleural effusions" if side == "bilateral" else "pleural effusion"
        return f"{adj} {side} {noun}"
    if f == "pneumothorax":
        apical = any(r.endswith("apical_zone") for r in item.regions) and side != "bilateral"
        return f"{adj} {side} {'apical ' if apical else ''}pneumothorax"
    if f == "pulmonary_edema":
        noun = _pick(rng, ("pulmonary edema", "interstitial pulmonary edema", "pulmonary edema"))
        return f"{adj} {noun}" if side == "bilateral" else f"{adj} {noun} in the {loc}"
    if f == "cardiomegaly":
        return f"{adj} cardiomegaly"
    if f in ("nodule", "mass"):
        size_mm = 10.0 * float(item.params.get("size_cm", 1.0 if f == "nodule" else 4.0))
        size_text = f"{size_mm:.0f} mm" if f == "nodule" else f"{size_mm / 10:.1f} cm"
        return f"{size_text} {vocab.noun(rng, f)} in the {loc}"
    if f in _NOUNS:
        if _bibasilar(_zones_by_side(item.regions)) and rng.random() < 0.5:
            return f"{adj} bibasilar {vocab.noun(rng, f)}"
        if f == "atelectasis" and severity_bin(sev) == "subtle" and rng.random() < 0.5:
            return f"plate-like atelectasis in the {loc}"
        return f"{adj} {vocab.noun(rng, f)} in the {loc}"
    return _organ_phrase(rng, item, side)


def _organ_phrase(rng: np.random.Generator, item: TruthFinding, side: str) -> str:
    f = item.finding
    if f == "hilar_enlargement":
        return "bilateral hilar enlargement" if side == "bilateral" else _pick(
            rng, (f"enlargement of the {side} hilum", f"{side} hilar enlargement"))
    if f == "mediastinal_widening":
        return _pick(rng, ("widening of the mediastinum", "widening of the upper mediastinum",
                           "mediastinal widening"))
    if f == "rib_fracture":
        kind = "displaced" if item.params.get("displaced") else "nondisplaced"
        return _pick(rng, (f"{side} rib fracture", f"fracture of a {side} posterior rib",
                           f"{kind} {side} rib fracture"))
    if f == "clavicle_fracture":
        return _pick(rng, (f"fracture of the {side} clavicle", f"{side} clavicle fracture",
                           f"{side} clavicular fracture"))
    raise KeyError(f)


def _device_sentence(rng: np.random.Generator, item: TruthFinding) -> str:
    """A device sentence; the access route and tip come from what the renderer drew (params)."""
    f, side = item.finding, _side_word(item.side) or "right"
    if f == "endotracheal_tube":
        cm = item.params.get("tip_cm_above_carina")
        where = f"{cm:.1f} cm above the carina" if isinstance(cm, (int, float)) else "above the carina"
        return _pick(rng, (f"Endotracheal tube terminates {where}.",
                           f"An endotracheal tube is in place with the tip {where}."))
    if f == "enteric_tube":
        return _pick(rng, ("Enteric tube courses into the stomach.",
                           "A nasogastric tube is seen with the tip in the stomach.",
                           "Orogastric tube tip projects over the stomach."))
    if f == "central_venous_catheter":
        tip = {"svc": "mid SVC", "cavoatrial_junction": "cavoatrial junction", "right_atrium": "right atrium"}
        where = next((tip[r] for r in item.regions if r in tip), "SVC")
        approach = str(item.params.get("approach") or f"{side} internal jugular")
        return _pick(rng, (f"{_cap(approach)} central venous catheter terminates in the {where}.",
                           f"{_cap(approach)} central line with the tip at the {where}."))
    generator = str(item.params.get("generator") or f"{side}_infraclavicular")
    side = "left" if generator.startswith("left") else "right"
    return _pick(rng, (f"A pacemaker projects over the {side} chest wall with leads in the right atrium and right "
                       "ventricle.",
                       f"{_cap(side)} chest wall pacemaker with leads terminating in the right atrium and right "
                       "ventricle."))


def _blunting_sentence(rng: np.random.Generator, item: TruthFinding) -> str | None:
    """A trace effusion (the renderer draws blunting only below severity 0.3) is often reported
    as costophrenic blunting that may reflect fluid: the effusion itself is then hedged."""
    if item.finding != "pleural_effusion" or rng.random() < 0.5:
        return None
    if not item.params.get("blunting_only", item.severity < 0.3):
        return None
    side = _truth_side(item)
    if side == "bilateral":
        return "Blunting of both costophrenic angles, which may reflect small bilateral pleural effusions."
    return _pick(rng, (f"Blunting of the {side} costophrenic angle, which may reflect a small pleural effusion.",
                       f"Blunting of the {side} costophrenic angle, likely a trace pleural effusion."))


def _negations(rng: np.random.Generator, present: set[str]) -> list[str]:
    """Normal statements that the truth allows, in report order (lungs, pleura, heart, bones)."""
    out: list[str] = []
    if not present & LUNG_FINDINGS:
        out.append(_pick(rng, ("The lungs are clear.", "Lungs are clear.", "The lungs are well expanded and clear.")))
    else:
        if not present & {"consolidation", "lung_opacity"}:
            out.append(_pick(rng, ("No focal consolidation.", "There is no focal consolidation.")))
        if "pulmonary_edema" not in present and rng.random() < 0.5:
            out.append(_pick(rng, ("No pulmonary edema.", "There is no pulmonary edema.")))
    effusion, ptx = "pleural_effusion" in present, "pneumothorax" in present
    if not effusion and not ptx and rng.random() < 0.5:
        out.append(_pick(rng, ("No pleural effusion or pneumothorax.", "There is no pleural effusion or pneumothorax.")))
    else:
        if not effusion:
            out.append(_pick(rng, ("No pleural effusion.", "There is no pleural effusion.", "No pleural effusions.")))
        if not ptx:
            out.append(_pick(rng, ("No pneumothorax.", "There is no pneumothorax.", "No evidence of pneumothorax.")))
    if "cardiomegaly" not in present:
        out.append(_pick(rng, ("Heart size is normal.", "The cardiac silhouette is normal in size.",
                               "No cardiomegaly.")))
    if not present & {"mediastinal_widening", "hilar_enlargement"}:
        out.append(_pick(rng, ("The mediastinal and hilar contours are normal.",
                               "Mediastinal and hilar contours are unremarkable.")))
    if not present & {"rib_fracture", "clavicle_fracture"} and rng.random() < 0.6:
        out.append(_pick(rng, ("No acute osseous abnormality.", "No displaced fracture is seen.")))
    return out


def write_report(
    rng: np.random.Generator,
    findings: Sequence[TruthFinding],
    *,
    view: str = "PA",
    vocabulary: Vocabulary | None = None,
) -> str:
    """The full report text (EXAMINATION, INDICATION, FINDINGS, IMPRESSION), MIMIC-CXR style."""
    vocab = vocabulary or Vocabulary()
    ordered = sorted(findings, key=lambda t: _ORDER.index(t.finding))
    present = {t.finding for t in ordered}
    body: list[str] = []
    impression: list[str] = []
    for item in ordered:
        if item.finding in DEVICES:
            sentence = _device_sentence(rng, item)
            body.append(sentence)
            continue
        blunting = _blunting_sentence(rng, item)
        if blunting is not None:
            body.append(blunting)
            impression.append(blunting)
            continue
        phrase = _positive_phrase(rng, item, vocab)
        hedged = severity_bin(item.severity) == "subtle" and rng.random() < 0.6
        text = _pick(rng, _HEDGES).format(p=phrase, P=_cap(phrase)) if hedged else _assert(rng, phrase, item.finding)
        body.append(text)
        impression.append(text if hedged else f"{_cap(phrase)}.")
    body.extend(_negations(rng, present))
    if not impression:
        impression.append(_pick(rng, ("No acute cardiopulmonary process.", "No acute cardiopulmonary abnormality.")))
    exam = "CHEST (PORTABLE AP)" if view == "AP" else "CHEST (PA AND LAT)"
    indication = _pick(rng, ("Cough.", "Shortness of breath.", "Chest pain.", "Fever.", "Follow-up."))
    return (
        "                                 FINAL REPORT\n"
        f" EXAMINATION:  {exam}\n \n INDICATION:  {indication}\n \n COMPARISON:  None.\n \n"
        f" FINDINGS: \n \n {_wrap(' '.join(body))}\n \n IMPRESSION: \n \n {_wrap(' '.join(impression))}\n"
    )


def _assert(rng: np.random.Generator, phrase: str, finding: str) -> str:
    if rng.random() < 0.5:
        return f"{_cap(phrase)}."
    if phrase.endswith("effusions"):
        return f"There are {phrase}."
    if finding in _COUNTABLE and not phrase.startswith(("fracture", "enlargement")):
        return f"There is {_article(phrase)} {phrase}."
    return f"There is {phrase}."


def _article(phrase: str) -> str:
    """ "an" before a vowel sound, including numbers read with one ("an 8 mm", "an 11 mm", "an 18 mm")."""
    word = phrase.split()[0]
    if word[0].isdigit():
        number = word.split(".")[0]
        return "an" if number.startswith("8") or number in ("11", "18") else "a"
    return "an" if word[0] in "aeiou" else "a"


def _wrap(text: str, width: int = 76) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n ".join(lines)
