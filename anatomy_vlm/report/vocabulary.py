"""Report grammar the ontology does not hold: side words, generic sites, composite phrases.

Everything here is keyed by ontology ids and used only where the graph holds the id. Terms were
chosen from radiology usage and the Open-I *dev* split (never the test split).
"""

from __future__ import annotations

# Extra surface forms per ontology id (added after the graph's own labels/synonyms/abbreviations).
SUPPLEMENT: dict[str, tuple[str, ...]] = {
    "pleural_effusion": ("effusion", "pleural fluid", "pleural effusion"),
    "pneumothorax": ("pneumothorax", "PTX"),
    "lung_opacity": ("opacity", "opacification", "opacified", "density", "infiltrate", "infiltration"),
    "airspace_opacity": ("airspace disease", "airspace opacity", "air space disease", "air space opacity",
                         "airspace opacification", "air space opacification"),
    "consolidation": ("consolidation", "consolidative", "airspace consolidation", "consolidated"),
    "atelectasis": ("atelectasis", "atelectatic", "atelectatic change", "subsegmental atelectasis",
                    "discoid atelectasis", "linear atelectasis", "plate-like atelectasis",
                    "volume loss", "collapse"),
    "pulmonary_edema": ("edema", "pulmonary edema", "interstitial edema", "alveolar edema",
                        "fluid overload", "pulmonary vascular congestion", "vascular congestion",
                        "pulmonary congestion", "interstitial pulmonary edema"),
    "cardiomegaly": ("cardiomegaly", "cardiac enlargement", "enlarged heart", "enlarged cardiac silhouette",
                     "cardiomegally"),
    "nodule": ("nodule", "nodular opacity", "nodular density", "pulmonary nodule", "nodular"),
    "mass": ("mass", "masslike", "mass like", "mass-like"),
    "hilar_enlargement": ("hilar enlargement", "hilar prominence", "hilar fullness", "hilar adenopathy",
                          "hilar lymphadenopathy"),
    "mediastinal_widening": ("mediastinal widening", "widened mediastinum", "mediastinal enlargement",
                             "wide mediastinum"),
    "rib_fracture": ("rib fracture", "fractured rib", "rib fx"),
    "clavicle_fracture": ("clavicle fracture", "clavicular fracture", "fractured clavicle"),
    "endotracheal_tube": ("endotracheal tube", "ET tube", "ETT", "ET", "endotracheal"),
    "enteric_tube": ("nasogastric tube", "NG tube", "NGT", "orogastric tube", "OG tube", "feeding tube",
                     "enteric tube", "dobhoff", "dobbhoff", "gastric tube", "enteric catheter"),
    "central_venous_catheter": ("central venous catheter", "central line", "central venous line",
                                "PICC", "PICC line", "CVC", "venous catheter", "port-a-cath",
                                "internal jugular catheter", "subclavian catheter", "central catheter"),
    "pacemaker": ("pacemaker", "pacer", "AICD", "ICD", "pacemaker lead", "defibrillator",
                  "cardiac pacemaker", "pacing lead"),
    "scoliosis": ("dextroscoliosis", "levoscoliosis", "dextrocurvature", "levocurvature",
                  "dextro curvature", "levo curvature", "dextroconvex curvature", "levoconvex curvature",
                  "curvature of the spine", "spinal curvature"),
    "costophrenic_angle_blunting": ("blunting", "blunting of the costophrenic angle"),
    "granulomatous_disease": ("granulomatous process", "granulomatous", "prior granulomatous disease",
                              "old granulomatous disease"),
    "pneumonia": ("infectious process", "infection", "pneumonic", "infectious"),
    "atypical_pneumonia": ("atypical infectious process", "atypical infection"),
    "vertebral_anterior_compression": ("wedging", "anterior wedging", "wedge deformity",
                                       "wedge compression deformity"),
    "loculated_pleural_effusion": ("loculated fluid", "loculated pleural fluid"),
    "low_lung_volumes": ("low lung volumes", "low volumes", "hypoinflated", "underinflated",
                         "shallow inspiration"),
    "hyperinflation": ("hyperexpanded", "hyperexpanded lungs", "hyperexpansion", "overinflated",
                       "hyperaerated", "hyperinflated"),
    "aortic_elongation": ("tortuosity", "aortic tortuosity", "unfolding", "unfolded", "unfolded aorta"),
    "atherosclerosis": ("atherosclerotic", "atherosclerotic change", "atherosclerotic disease",
                        "atherosclerotic vascular disease"),
    "calcification": ("calcified", "calcific", "calcium"),
    "foreign_body": ("bullet", "bullet fragment", "shrapnel", "metallic fragment", "nipple ring",
                     "nipple jewelry", "body piercing", "piercing"),
    "non_axial_articular_degenerative_changes": ("arthritic", "arthritic change", "arthritic changes",
                                                 "degenerative joint change"),
    "bronchovascular_markings": ("crowding", "bronchovascular crowding", "bronchopulmonary crowding",
                                 "vascular crowding"),
    # anatomy
    "blood_vessel": ("vasculature", "pulmonary vasculature", "vascularity", "pulmonary vascularity",
                     "vascular markings"),
    "cardiac_silhouette": ("heart", "cardiac silhouette", "heart size", "cardiac size",
                           "cardiomediastinal silhouette", "cardiac shadow", "heart shadow",
                           "cardiac contour"),
    "mediastinum": ("mediastinum", "mediastinal contour", "mediastinal silhouette"),
    "carina": ("carina",),
    "trachea": ("trachea",),
    "svc": ("superior vena cava", "SVC"),
    "spine": ("spine", "thoracic spine", "vertebral body", "vertebra"),
    "aortic_arch": ("aortic arch", "aortic knob"),
    "left_costophrenic_angle": ("L CPA", "left CPA"),
    "right_costophrenic_angle": ("R CPA", "right CPA"),
}

# Side words → the sides they name and, for some, a zone (``bibasilar`` = both lower zones).
SIDE_WORDS: dict[tuple[str, ...], tuple[tuple[str, ...], str | None]] = {
    ("left",): (("left",), None),
    ("right",): (("right",), None),
    ("bilateral",): (("left", "right"), None),
    ("bilaterally",): (("left", "right"), None),
    ("dextro",): (("right",), None),
    ("levo",): (("left",), None),
    ("bibasilar",): (("left", "right"), "lower_lung_zone"),
    ("bibasal",): (("left", "right"), "lower_lung_zone"),
    ("bibasalar",): (("left", "right"), "lower_lung_zone"),
    ("biapical",): (("left", "right"), "apical_zone"),
    ("bihilar",): (("left", "right"), "hilar_structures"),
    ("l",): (("left",), None),
    ("r",): (("right",), None),
}

# Finding words that carry a side in their prefix ("dextroscoliosis" = convex to the right).
SIDE_PREFIXES: dict[str, str] = {"dextro": "right", "levo": "left"}

# Generic anatomy words → the sided region template suffix (``{side}_<suffix>``).
GENERIC_SITES: dict[tuple[str, ...], str] = {
    ("lung",): "lung",
    ("hemithorax",): "lung",
    ("pleural",): "lung",
    ("base",): "lower_lung_zone",
    ("basilar",): "lower_lung_zone",
    ("basal",): "lower_lung_zone",
    ("lung", "base"): "lower_lung_zone",
    ("lower", "lung"): "lower_lung_zone",
    ("lower", "lung", "zone"): "lower_lung_zone",
    ("lower", "zone"): "lower_lung_zone",
    ("lower", "lobe"): "lower_lung_zone",
    ("midlung",): "mid_lung_zone",
    ("mid", "lung"): "mid_lung_zone",
    ("mid", "lung", "zone"): "mid_lung_zone",
    ("middle", "lobe"): "mid_lung_zone",
    ("perihilar",): "mid_lung_zone",
    ("upper", "lung"): "upper_lung_zone",
    ("upper", "lung", "zone"): "upper_lung_zone",
    ("upper", "zone"): "upper_lung_zone",
    ("upper", "lobe"): "upper_lung_zone",
    ("apex",): "apical_zone",
    ("apical",): "apical_zone",
    ("lung", "apex"): "apical_zone",
    ("hilum",): "hilar_structures",
    ("hilar",): "hilar_structures",
    ("hilar", "region"): "hilar_structures",
    ("costophrenic", "angle"): "costophrenic_angle",
    ("costophrenic",): "costophrenic_angle",
    ("cp", "angle"): "costophrenic_angle",
    ("cardiophrenic", "angle"): "cardiophrenic_angle",
    ("hemidiaphragm",): "hemidiaphragm",
    ("diaphragm",): "hemidiaphragm",
    ("clavicle",): "clavicle",
    ("clavicular",): "clavicle",
    ("chest", "wall"): "chest_wall",
    ("shoulder",): "shoulder",
    ("arm",): "arm",
    ("breast",): "breast",
    # access routes name a side only ("" = the finding's own sided site)
    ("ij",): "",
    ("internal", "jugular"): "",
    ("subclavian",): "",
    ("sided",): "",
    # not anatomy, but the head of "lung volumes are low" (composites below)
    ("lung", "volume"): "lung_volume",
}

# Anatomy + descriptor in one clause → a finding at that anatomy ("the heart is enlarged").
COMPOSITES: tuple[tuple[frozenset[str], frozenset[str], str], ...] = (
    (frozenset({"cardiac_silhouette", "heart"}),
     frozenset({"enlarged", "enlargement", "large", "increased", "prominent", "cardiomegaly"}),
     "cardiomegaly"),
    (frozenset({"aorta", "aortic_arch", "ascending_aorta", "descending_aorta"}),
     frozenset({"tortuous", "tortuosity", "unfolded", "unfolding", "elongated", "elongation"}), "aortic_elongation"),
    (frozenset({"mediastinum", "upper_mediastinum"}),
     frozenset({"widened", "widening", "wide", "enlarged", "enlargement"}), "mediastinal_widening"),
    (frozenset({"hilar_structures", "left_hilar_structures", "right_hilar_structures"}),
     frozenset({"enlarged", "enlargement", "prominent", "prominence", "fullness", "full", "bulky"}),
     "hilar_enlargement"),
    (frozenset({"lung_volume"}), frozenset({"low", "decreased", "reduced", "diminished", "small"}),
     "low_lung_volumes"),
    (frozenset({"lung_volume", "lung", "lungs"}),
     frozenset({"hyperinflated", "hyperexpanded", "overinflated", "hyperaerated", "hyperlucent"}), "hyperinflation"),
    (frozenset({"hemidiaphragm", "diaphragm", "left_hemidiaphragm", "right_hemidiaphragm"}),
     frozenset({"elevation", "elevated", "raised", "high"}), "hemidiaphragm_elevation"),
    (frozenset({"hemidiaphragm", "diaphragm", "left_hemidiaphragm", "right_hemidiaphragm"}),
     frozenset({"flattening", "flattened", "flat"}), "flattened_diaphragm"),
    (frozenset({"costophrenic_angle", "left_costophrenic_angle", "right_costophrenic_angle"}),
     frozenset({"blunting", "blunted", "blunt"}), "costophrenic_angle_blunting"),
    (frozenset({"pulmonary_artery"}), frozenset({"enlarged", "enlargement", "large", "prominent", "dilated",
                                                 "prominence", "dilatation"}), "pulmonary_artery_enlargement"),
    (frozenset({"blood_vessel"}), frozenset({"prominent", "prominence", "increased", "engorged", "engorgement",
                                             "congested", "congestion", "indistinct", "cephalization"}),
     "vascular_congestion"),
)

# Anatomy + one of these words states the finding is absent ("heart size is normal").
NEGATING_COMPOSITES: tuple[tuple[frozenset[str], frozenset[str], str], ...] = (
    (frozenset({"cardiac_silhouette", "heart"}), frozenset({"normal"}), "cardiomegaly"),
)
# A general finding named with a specific site becomes the specific finding.
SPECIALISE: dict[str, tuple[tuple[str, str], ...]] = {
    "fracture": (("clavicle", "clavicle_fracture"), ("rib", "rib_fracture"), ("humer", "humeral_fracture"),
                 ("vertebra", "vertebral_fracture"), ("spine", "vertebral_fracture")),
    # "the aorta is tortuous and calcified", "aortic knob calcification" (not the aortic valve)
    "calcification": (("aorta", "aortic_atheromatosis"), ("aortic_arch", "aortic_atheromatosis")),
}
# A generic finding word right after a finding is its head noun, not a second mention
# ("mass lesion", "nodular lesion"; "chest tube" is one lexicon phrase already).
GENERIC_HEADS = frozenset({"lesion", "lung_lesion", "tube", "catheter", "support_devices"})
# "calcified … granuloma": an adjective finding and the finding it qualifies, a few words apart,
# are one finding (adjective id, its spellings, qualified id) → merged id.
MERGES: dict[tuple[str, str], str] = {
    ("calcification", "granuloma"): "calcified_granuloma",
    ("calcification", "nodule"): "calcified_nodule",
}
MERGE_ADJECTIVES = frozenset({"calcified", "calcific"})

# Region ids the radiograph frame names differently from the organ.
REGION_ALIASES: dict[str, str] = {"heart": "cardiac_silhouette"}
# Graph synonyms too ambiguous in report text to match alone (id, phrase).
AMBIGUOUS: frozenset[tuple[str, str]] = frozenset({
    ("catheter", "line"), ("catheter", "lines"), ("airspace_opacity", "alveolar"),
    ("spine", "column"), ("lungs", "pulmonary"), ("lung_opacity", "increased density"),
})

# Where a finding sits when the sentence names a side but no anatomy (suffix of ``{side}_…``),
# and where a whole-organ finding sits when it names neither.
SIDED_SITE: dict[str, str] = {
    "hilar_enlargement": "hilar_structures",
    "clavicle_fracture": "clavicle",
    "rib_fracture": "chest_wall",
}
UNSIDED_SITE: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("cardiac_silhouette",),
    "mediastinal_widening": ("mediastinum",),
    "endotracheal_tube": ("trachea",),
    "hilar_enlargement": ("left_hilar_structures", "right_hilar_structures"),
}

# Words that tie a following location to the finding before it ("opacity *in the* left base").
PREPOSITIONS = frozenset({"in", "at", "of", "within", "involving", "along", "over", "overlying",
                          "near", "projecting", "projects", "to", "into", "from", "on", "about",
                          "adjacent", "posterior", "anterior", "lateral", "medial", "above",
                          "below", "terminates", "terminating", "tip", "via", "through"})
