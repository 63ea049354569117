"""The phantom's finding rules, one row per core finding: the one place they are written.

Region truth (:mod:`anatomy_vlm.data.region_truth`), the sampler, the renderer, the report
writer, the label vocabularies and the benchmarks read a finding's side policy, candidate and
default regions, renderer, report nouns and label names from :data:`RULES`. Which findings and
regions exist is not decided here: ids come from the KG's named sets (``kg.sets``: the ``core``
finding set and the ``cig36`` region set); a test checks that this table covers exactly them.

Region templates hold ``{side}`` for sided regions ("{side}_lung" → ``right_lung``,
``left_lung``); a side ``None`` or ``"bilateral"`` expands to both, right first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from kg.sets import finding_set, region_set

__all__ = [
    "FindingRule", "RULES", "CORE_FINDINGS", "CIG36", "DEVICES", "LUNG_FINDINGS", "rule",
    "expand",
]

# Region truth kinds (docs/architecture.md#region-truth)
COVERAGE = "coverage"  # lesion covers >= 10% of a candidate region (or holds most of the lesion)
FIXED = "fixed"  # whole-organ rule: always the candidate regions
TIP = "tip"  # devices: the smallest candidate region holding the tip

_ZONES = ("{side}_apical_zone", "{side}_upper_lung_zone", "{side}_mid_lung_zone", "{side}_lower_lung_zone")
_LUNG_DEFAULT = ("{side}_lung",)


@dataclass(frozen=True, kw_only=True)
class FindingRule:
    """Everything the phantom knows about one core finding.

    Attributes:
        id: ontology id (a member of the KG's ``core`` finding set).
        truth: region-truth kind: ``coverage``, ``fixed`` or ``tip``.
        candidates: region templates where it may be named (coverage/fixed/tip tested on these).
        defaults: where a sentence that names no anatomy grounds it ("No pneumothorax." → lungs).
        side_regions: where a sentence naming only a side grounds it, when not ``defaults``
            ("left rib fracture" → left chest wall, a text-only Chest ImaGenome region).
        lung: a lung-tissue or pleural finding (its absence lets the report say "lungs are clear").
        sided: drawn on a side; ``p_bilateral`` the chance that side is "bilateral".
        prevalence: relative frequency on an abnormal film.
        renderer: the drawing function (``lesions`` or ``devices``) that renders it.
        device: a support device (drawn last, metal; reported first).
        nouns: report nouns (empty: the id with spaces); KG synonyms are added for these.
        countable: takes an article ("a small effusion").
        chexpert: CheXpert columns it counts for (when the KG crosswalk has none).
        imagenome: Chest ImaGenome ``(category, label)`` pairs (when the KG crosswalk has none).
    """

    id: str
    truth: str
    candidates: tuple[str, ...]
    defaults: tuple[str, ...] = ()
    side_regions: tuple[str, ...] = ()
    lung: bool = False
    sided: bool = True
    p_bilateral: float = 0.0
    prevalence: float
    renderer: str
    device: bool = False
    nouns: tuple[str, ...] = ()
    countable: bool = False
    chexpert: tuple[str, ...] = ()
    imagenome: tuple[tuple[str, str], ...] = ()

    def candidate_regions(self, side: str | None = None) -> tuple[str, ...]:
        return expand(self.candidates, side)

    def default_regions(self, side: str | None = None) -> tuple[str, ...]:
        return expand(self.defaults, side)


def expand(templates: tuple[str, ...], side: str | None = None) -> tuple[str, ...]:
    """Region ids of ``templates`` for ``side`` ("right" | "left" | "bilateral" | None = both)."""
    if not any("{side}" in t for t in templates):
        return templates
    sides = ("right", "left") if side in (None, "bilateral") else (side,)
    return tuple(t.format(side=s) for s in sides for t in templates)


_LESION = "anatomicalfinding"
# In report order: devices, lungs, pleura, heart and mediastinum, bones.
_TABLE = (
    FindingRule(id="endotracheal_tube", truth=TIP, candidates=("trachea", "carina"), defaults=("trachea",),
                sided=False, prevalence=0.4, renderer="ett", device=True, chexpert=("Support Devices",),
                imagenome=(("tubesandlines", "endotracheal tube"),)),
    FindingRule(id="enteric_tube", truth=TIP, candidates=("left_upper_abdomen", "abdomen"), defaults=("abdomen",),
                sided=False, prevalence=0.4, renderer="enteric", device=True, chexpert=("Support Devices",),
                imagenome=(("tubesandlines", "enteric tube"),)),
    FindingRule(id="central_venous_catheter", truth=TIP, candidates=("svc", "cavoatrial_junction", "right_atrium"),
                defaults=("svc",), prevalence=0.5, renderer="cvc", device=True, chexpert=("Support Devices",),
                imagenome=(("tubesandlines", "ij line"),)),
    FindingRule(id="pacemaker", truth=TIP,  # the lead tips (right atrium / ventricle)
                candidates=("right_atrium", "right_cardiac_silhouette", "left_cardiac_silhouette",
                            "cardiac_silhouette"),
                defaults=("cardiac_silhouette",), prevalence=0.3, renderer="pacemaker", device=True,
                chexpert=("Support Devices",), imagenome=(("device", "cardiac pacer and wires"),)),
    FindingRule(id="lung_opacity", truth=COVERAGE, candidates=_ZONES, defaults=_LUNG_DEFAULT, lung=True,
                prevalence=1.0, renderer="opacity", nouns=("opacity", "airspace opacity", "opacification"),
                chexpert=("Lung Opacity",), imagenome=((_LESION, "lung opacity"),)),
    FindingRule(id="consolidation", truth=COVERAGE, candidates=_ZONES, defaults=_LUNG_DEFAULT, lung=True,
                prevalence=0.6, renderer="consolidation", nouns=("consolidation", "airspace consolidation"),
                chexpert=("Consolidation",), imagenome=((_LESION, "consolidation"), (_LESION, "lung opacity"))),
    FindingRule(id="atelectasis", truth=COVERAGE, candidates=_ZONES, defaults=_LUNG_DEFAULT, lung=True,
                p_bilateral=0.1, prevalence=0.8, renderer="atelectasis",
                nouns=("atelectasis", "atelectatic change"), chexpert=("Atelectasis",),
                imagenome=((_LESION, "atelectasis"),)),
    FindingRule(id="nodule", truth=COVERAGE, candidates=_ZONES, defaults=_LUNG_DEFAULT, lung=True,
                prevalence=0.7, renderer="nodule", nouns=("nodule", "pulmonary nodule"), countable=True,
                chexpert=("Lung Lesion",),
                imagenome=((_LESION, "mass/nodule (not otherwise specified)"), (_LESION, "lung lesion"))),
    FindingRule(id="mass", truth=COVERAGE, candidates=_ZONES, defaults=_LUNG_DEFAULT, lung=True,
                prevalence=0.4, renderer="mass", nouns=("mass", "pulmonary mass"), countable=True,
                chexpert=("Lung Lesion",),
                imagenome=((_LESION, "mass/nodule (not otherwise specified)"), (_LESION, "lung lesion"))),
    FindingRule(id="pulmonary_edema", truth=COVERAGE, candidates=_ZONES, defaults=_LUNG_DEFAULT, lung=True,
                p_bilateral=1.0, prevalence=0.6, renderer="edema", chexpert=("Edema",),
                imagenome=((_LESION, "pulmonary edema/hazy opacity"),)),
    FindingRule(id="pleural_effusion", truth=COVERAGE,
                candidates=("{side}_costophrenic_angle", "{side}_lower_lung_zone", "{side}_mid_lung_zone",
                            "{side}_upper_lung_zone"),
                defaults=_LUNG_DEFAULT, lung=True, p_bilateral=0.3, prevalence=1.0, renderer="effusion",
                countable=True, chexpert=("Pleural Effusion",), imagenome=((_LESION, "pleural effusion"),)),
    FindingRule(id="pneumothorax", truth=COVERAGE, candidates=_ZONES, defaults=_LUNG_DEFAULT, lung=True,
                prevalence=0.6, renderer="pneumothorax", countable=True, chexpert=("Pneumothorax",),
                imagenome=((_LESION, "pneumothorax"),)),
    FindingRule(id="cardiomegaly", truth=FIXED, candidates=("cardiac_silhouette",), defaults=("cardiac_silhouette",),
                sided=False, prevalence=0.8, renderer="cardiomegaly", chexpert=("Cardiomegaly",),
                imagenome=((_LESION, "enlarged cardiac silhouette"),)),
    FindingRule(id="mediastinal_widening", truth=FIXED, candidates=("upper_mediastinum", "mediastinum"),
                defaults=("mediastinum", "upper_mediastinum"), sided=False, prevalence=0.3, renderer="widening",
                chexpert=("Enlarged Cardiomediastinum",), imagenome=((_LESION, "mediastinal widening"),)),
    FindingRule(id="hilar_enlargement", truth=FIXED, candidates=("{side}_hilar_structures",),
                defaults=("{side}_hilar_structures",), p_bilateral=0.3, prevalence=0.4, renderer="hilar",
                imagenome=((_LESION, "enlarged hilum"),)),
    FindingRule(id="rib_fracture", truth=COVERAGE, candidates=_ZONES, side_regions=("{side}_chest_wall",),
                prevalence=0.4, renderer="rib_fracture", countable=True, chexpert=("Fracture",),
                imagenome=((_LESION, "rib fracture"),)),
    FindingRule(id="clavicle_fracture", truth=COVERAGE, candidates=("{side}_clavicle",),
                defaults=("{side}_clavicle",), prevalence=0.3, renderer="clavicle_fracture", countable=True,
                chexpert=("Fracture",), imagenome=((_LESION, "clavicle fracture"),)),
)

RULES: MappingProxyType = MappingProxyType({r.id: r for r in _TABLE})
"""Finding id → :class:`FindingRule`, in report order."""

CORE_FINDINGS: tuple[str, ...] = finding_set("core").ids
"""The KG's ``core`` finding set (what the phantom renders), in the set's order."""
CIG36: tuple[str, ...] = region_set("cig36").ids
"""The KG's ``cig36`` region set (every region the phantom boxes), in the set's order."""
DEVICES: tuple[str, ...] = tuple(r.id for r in _TABLE if r.device)
LUNG_FINDINGS: frozenset[str] = frozenset(r.id for r in _TABLE if r.lung)


@cache
def rule(finding: str) -> FindingRule:
    """The rule of a core finding (KeyError naming it otherwise)."""
    try:
        return RULES[finding]
    except KeyError:
        raise KeyError(f"no phantom rule for finding {finding!r}") from None
