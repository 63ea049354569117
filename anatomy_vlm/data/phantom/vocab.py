"""Label vocabularies the phantom writes in: CheXpert columns, Chest ImaGenome attributes, KG nouns.

Maps go from ontology finding ids (what the report parser emits) to the target vocabulary,
through the KG's crosswalks (``kg.crosswalk("chexpert", column)``,
``kg.crosswalk("chest_imagenome", label)``) and ``is_a`` ancestors; a core finding the crosswalks
leave out gets the labels of its row in :mod:`.findings`. Built once in the parent process and
handed to workers as plain data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from anatomy_vlm.data.phantom.findings import RULES
from anatomy_vlm.data.phantom.writer import CHEXPERT_COLUMNS
from kg.errors import UnknownTermError

__all__ = ["IMAGENOME_VOCABULARY", "LabelMaps", "build_label_maps"]

# Chest ImaGenome attribute vocabulary (docs/data_formats.md#attribute-vocabulary), category → labels.
IMAGENOME_VOCABULARY: dict[str, tuple[str, ...]] = {
    "anatomicalfinding": (
        "lung opacity", "airspace opacity", "consolidation", "infiltration", "atelectasis",
        "linear/patchy atelectasis", "lobar/segmental collapse", "pulmonary edema/hazy opacity",
        "vascular congestion", "vascular redistribution", "increased reticular markings/ild pattern",
        "pleural effusion", "costophrenic angle blunting", "pleural/parenchymal scarring",
        "bronchiectasis", "enlarged cardiac silhouette", "mediastinal displacement",
        "mediastinal widening", "enlarged hilum", "tortuous aorta", "vascular calcification",
        "pneumomediastinum", "pneumothorax", "hydropneumothorax", "lung lesion",
        "mass/nodule (not otherwise specified)", "multiple masses/nodules", "calcified nodule",
        "superior mediastinal mass/enlargement", "rib fracture", "clavicle fracture",
        "spinal fracture", "hyperaeration", "cyst/bullae", "elevated hemidiaphragm",
        "diaphragmatic eventration (benign)", "sub-diaphragmatic air", "subcutaneous air", "hernia",
        "scoliosis", "spinal degenerative changes", "shoulder osteoarthritis", "bone lesion",
    ),
    "disease": (
        "pneumonia", "fluid overload/heart failure", "copd/emphysema", "granulomatous disease",
        "interstitial lung disease", "goiter", "lung cancer", "aspiration", "alveolar hemorrhage",
        "pericardial effusion",
    ),
    "tubesandlines": (
        "chest tube", "mediastinal drain", "pigtail catheter", "endotracheal tube",
        "tracheostomy tube", "picc", "ij line", "chest port", "subclavian line",
        "swan-ganz catheter", "intra-aortic balloon pump", "enteric tube",
    ),
    "device": ("sternotomy wires", "cabg grafts", "aortic graft/repair", "prosthetic valve",
               "cardiac pacer and wires"),
}

# The core findings' own labels (the finding table), for what the KG's crosswalks leave out.
_BUILTIN_IMAGENOME: dict[str, tuple[tuple[str, str], ...]] = {f: r.imagenome for f, r in RULES.items()}
_BUILTIN_CHEXPERT: dict[str, tuple[str, ...]] = {f: r.chexpert for f, r in RULES.items() if r.chexpert}
# Parser ids below the core ones, for when the KG's is_a edges are not available.
_BUILTIN_ALIASES = {"airspace_opacity": "lung_opacity", "laminar_atelectasis": "atelectasis",
                    "fracture": "rib_fracture", "support_devices": "pacemaker"}
_NOUN_FINDINGS = tuple(f for f, r in RULES.items() if r.nouns)  # KG synonyms join their nouns
# KG synonyms that would say more than the truth (a lobe, a diagnosis, collapse) or read badly
_NOUN_BLOCK = frozenset({"collapse", "lung collapse", "tumor", "tumour", "density", "increased density",
                         "lobar consolidation", "round opacity", "nodular opacity", "increased opacity"})
_CLEAN = re.compile(r"^[a-z][a-z \-]{2,40}$")


@dataclass(frozen=True)
class LabelMaps:
    """finding id → CheXpert columns; finding id → ImaGenome (category, label); extra report nouns."""

    chexpert: dict[str, tuple[str, ...]]
    imagenome: dict[str, tuple[tuple[str, str], ...]]
    nouns: dict[str, tuple[str, ...]]
    source: str
    region_cuis: dict[str, tuple[str, ...]] = field(default_factory=dict)


def build_label_maps(graph=None) -> LabelMaps:
    """Maps from the KG's crosswalks (``graph``, default :func:`anatomy_vlm.kgload.load_kg`),
    completed by the core findings' own labels."""
    if graph is None:
        from anatomy_vlm.kgload import load_kg

        graph = load_kg()
    chexpert = _crosswalk_chexpert(graph)
    imagenome = _crosswalk_imagenome(graph)
    for finding, cols in _with_aliases(_BUILTIN_CHEXPERT).items():
        chexpert.setdefault(finding, cols)
    for finding, labels in _builtin_imagenome().items():
        imagenome.setdefault(finding, labels)
    return LabelMaps(chexpert=chexpert, imagenome=imagenome, nouns=_kg_nouns(graph),
                     source=f"kg:{getattr(graph, 'version', 'unknown')}", region_cuis=_region_cuis(graph))


def _region_cuis(graph) -> dict[str, tuple[str, ...]]:
    """UMLS CUIs of the cig36 regions (scene-graph ``synsets``), where the KG knows them."""
    from kg import region_set

    out = {}
    for region in region_set("cig36").ids:
        try:
            cui = graph.node(region).umls
        except UnknownTermError:  # a region the KG does not hold: no synset
            cui = None
        if cui:
            out[region] = (cui,)
    return out


def _with_aliases(table: dict, *, skip: tuple[str, ...] = ()) -> dict:
    """``table`` plus the parser ids of :data:`_BUILTIN_ALIASES` (except ``skip``) mapped like their target."""
    out = dict(table)
    for alias, target in _BUILTIN_ALIASES.items():
        if alias not in skip:
            out.setdefault(alias, table[target])
    return out


def _builtin_imagenome() -> dict:
    # no ImaGenome label for a fracture or a device of unknown kind
    return _with_aliases(_BUILTIN_IMAGENOME, skip=("fracture", "support_devices"))


def _finding_ids(graph) -> list[str]:
    return [n.id for t in ("finding", "disease", "device") for n in graph.nodes(type=t)]


def _crosswalk_chexpert(graph) -> dict[str, tuple[str, ...]]:
    direct: dict[str, list[str]] = {}
    for column in CHEXPERT_COLUMNS:
        if column == "No Finding":
            continue
        for entry in _safe_crosswalk(graph, "chexpert", column):
            if entry.ontology_id and entry.match in ("exact", "broad", "narrow"):
                direct.setdefault(entry.ontology_id, []).append(column)
    out: dict[str, tuple[str, ...]] = {}
    for finding in _finding_ids(graph):
        cols = direct.get(finding)
        if not cols:  # the nearest is_a ancestor with a column (endotracheal tube → support devices)
            for ancestor in _safe_ancestors(graph, finding):
                if direct.get(ancestor):
                    cols = direct[ancestor]
                    break
        if cols:
            out[finding] = tuple(dict.fromkeys(cols))
    return out


def _crosswalk_imagenome(graph) -> dict[str, tuple[tuple[str, str], ...]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for category, labels in IMAGENOME_VOCABULARY.items():
        for label in labels:
            for entry in _safe_crosswalk(graph, "chest_imagenome", label):
                if entry.ontology_id and entry.match == "exact":
                    out.setdefault(entry.ontology_id, []).append((category, label))
    return {k: tuple(v) for k, v in out.items()}


def _kg_nouns(graph) -> dict[str, tuple[str, ...]]:
    nouns: dict[str, tuple[str, ...]] = {}
    for finding in _NOUN_FINDINGS:
        try:
            synonyms = graph.node(finding).synonyms
        except UnknownTermError:
            continue
        # synonyms of the node are in the parser's lexicon by construction, so they read back as
        # the same finding (the dataset test checks it); skip plurals and over-specific terms
        keep = [t for t in (x.strip().lower() for x in synonyms)
                if _CLEAN.match(t) and len(t.split()) <= 3 and not t.endswith("s") and t not in _NOUN_BLOCK]
        nouns[finding] = tuple(sorted(set(keep)))
    return nouns


def _safe_crosswalk(graph, vocabulary: str, label: str) -> list:
    """The crosswalk rows of ``label``; none when the KG's table does not hold it."""
    try:
        return list(graph.crosswalk(vocabulary, label))
    except UnknownTermError:
        return []


def _safe_ancestors(graph, node_id: str) -> list[str]:
    try:
        return list(graph.ancestors(node_id, relation="is_a"))
    except UnknownTermError:
        return []
