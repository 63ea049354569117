"""Where does the KG put a bony, pleural or device finding? Top region per region set.

For every bony, pleural and device finding, ``locations_of`` is asked in each region set
(``cig29``, ``cig36``, ``cig38_text``) and in the anatomy the sources name (``raw``); the top
answer is checked against the anatomically acceptable regions in :data:`EXPECTED` (bones →
the bone, or the chest wall where the set has it; pleural findings → costophrenic angles,
pleura, lower zones; devices → where their tip or course lies). ``None`` means the set has no
region for that anatomy and nothing is required. Writes ``results/kg_ranking.json`` and ``.md``.

Run: ``.venv/bin/python -m benchmarks.bench_kg_ranking [--baseline OLD_kg_ranking.json]``
(with a baseline, the table shows before → after where the top region moved).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks._machine import write_result

SETS = ("cig29", "cig36", "cig38_text", "raw")


def _both(name: str) -> tuple[str, str]:
    return (f"right_{name}", f"left_{name}")


CHEST_WALL = _both("chest_wall")
CLAVICLE = _both("clavicle")
CPA = _both("costophrenic_angle")
LOWER = _both("lower_lung_zone")
MID = _both("mid_lung_zone")
UPPER = _both("upper_lung_zone")
APEX = _both("apical_zone")
LUNG = _both("lung")
HEMI = _both("hemidiaphragm")
SHOULDER_ARM = (*_both("shoulder"), *_both("arm"))
CARDIAC = ("cardiac_silhouette", "right_atrium", "cavoatrial_junction")
CARDIAC36 = (*CARDIAC, "left_cardiac_silhouette", "right_cardiac_silhouette")
LUNG_FIELDS = (*LUNG, *UPPER, *MID, *LOWER, *APEX)
RIBS = ("rib", *_both("rib"), "anterior_rib", "posterior_rib")
SPINE_RAW = ("spine", "thoracic_spine", "vertebra", "cervical_spine", "lumbar_spine", "paravertebral_region", "bone")
BONES_RAW = ("bone", "bony_thorax", *RIBS, *SPINE_RAW, "clavicle", *CLAVICLE, "sternum", "scapula",
             *_both("scapula"), "humerus", *_both("humerus"), "humeral_head", "humeral_neck", "shoulder", *_both("shoulder"))
PLEURA_RAW = ("pleura", *_both("pleura"), "costophrenic_angle", *CPA, "lung_base", *_both("lung_base"),
              "lower_lung_zone", *LOWER, "hemithorax", *_both("hemithorax"))
PLEURAL = (*CPA, *LOWER)
MEDIASTINUM = ("mediastinum", "upper_mediastinum")


def _same(regions: tuple[str, ...], raw: tuple[str, ...]) -> dict[str, tuple[str, ...] | None]:
    return {"cig29": regions, "cig36": regions, "cig38_text": regions, "raw": raw}


def _rib() -> dict:
    return {"cig29": LUNG_FIELDS, "cig36": LUNG_FIELDS, "cig38_text": CHEST_WALL, "raw": RIBS}


def _bone_any() -> dict:
    """A lesion of bone in general: the spine/clavicles where only they are boxed, the chest wall in text."""
    return {"cig29": ("spine", *CLAVICLE, *LUNG_FIELDS), "cig36": ("spine", *CLAVICLE, *LUNG_FIELDS),
            "cig38_text": (*CHEST_WALL, "spine", *CLAVICLE, *SHOULDER_ARM), "raw": BONES_RAW}


def _spine() -> dict:
    return _same(("spine",), SPINE_RAW)


def _shoulder() -> dict:
    return {"cig29": None, "cig36": None, "cig38_text": SHOULDER_ARM,
            "raw": ("humerus", *_both("humerus"), "shoulder", *_both("shoulder"), "arm", *_both("arm"),
                    "glenohumeral_joint", "acromioclavicular_joint", "humeral_head", "humeral_neck")}


def _pleural(extra: tuple[str, ...] = (), raw_extra: tuple[str, ...] = ()) -> dict:
    return _same((*PLEURAL, *extra), (*PLEURA_RAW, *raw_extra))


def _pneumothorax() -> dict:
    regions = (*APEX, *UPPER, *LUNG, *CPA)
    return _same(regions, ("pleura", *_both("pleura"), "apical_zone", *APEX, "hemithorax", *_both("hemithorax"),
                           "lung", "lungs", *LUNG, "upper_lung_zone", *UPPER, "apical_pleura"))


def _cvc(raw: tuple[str, ...] = ()) -> dict:
    return _same(("svc", "cavoatrial_junction", "right_atrium"),
                 ("svc", "cavoatrial_junction", "right_atrium", "heart_atrium", *raw))


def _pacer() -> dict:
    heart = ("cardiac_silhouette", "right_atrium", "cavoatrial_junction")
    return {"cig29": heart, "cig36": (*heart, "left_cardiac_silhouette", "right_cardiac_silhouette"),
            "cig38_text": (*heart, *CHEST_WALL), "raw": ("right_atrium", "heart_ventricle", "heart_atrium",
                                                       "heart", "pectoral_region", *_both("pectoral_region"))}


EXPECTED: dict[str, tuple[str, dict[str, tuple[str, ...] | None]]] = {
    # bony
    "rib_fracture": ("bone", _rib()),
    "callus_rib_fracture": ("bone", _rib()),
    "fracture": ("bone", _bone_any()),
    "clavicle_fracture": ("bone", _same(CLAVICLE, ("clavicle", *CLAVICLE))),
    "humeral_fracture": ("bone", _shoulder()),
    "vertebral_fracture": ("bone", _spine()),
    "vertebral_compression": ("bone", _spine()),
    "vertebral_anterior_compression": ("bone", _spine()),
    "vertebral_degenerative_changes": ("bone", _spine()),
    "kyphosis": ("bone", _spine()),
    "scoliosis": ("bone", _spine()),
    "axial_hyperostosis": ("bone", _spine()),
    "bone_lesion": ("bone", _bone_any()),
    "lytic_bone_lesion": ("bone", _bone_any()),
    "sclerotic_bone_lesion": ("bone", _bone_any()),
    "bone_metastasis": ("bone", _bone_any()),
    "osteopenia": ("bone", _bone_any()),
    "osteoporosis": ("bone", _bone_any()),
    "thoracic_cage_deformation": ("bone", _bone_any()),
    # the depressed sternum displaces the heart and blurs the right heart border
    "pectus_excavatum": ("bone", _same((*MEDIASTINUM, *CARDIAC36), ("sternum", "heart"))),
    "pectus_carinatum": ("bone", _same((*MEDIASTINUM, *CARDIAC36), ("sternum", "heart"))),
    "non_axial_articular_degenerative_changes": ("bone", _shoulder()),
    # pleural
    "pleural_effusion": ("pleura", _pleural()),
    "loculated_pleural_effusion": ("pleura", _pleural(MID)),
    "loculated_fissural_effusion": ("pleura", _same((*MID, *LOWER, *UPPER),
                                                    ("pulmonary_fissure", "minor_fissure", "major_fissure"))),
    "costophrenic_angle_blunting": ("pleura", _same(CPA, ("costophrenic_angle", *CPA))),
    "pleural_abnormality": ("pleura", _pleural(APEX)),
    "other_pleural_abnormality": ("pleura", _pleural(APEX)),
    "pleural_thickening": ("pleura", _pleural((*APEX, *HEMI), ("apical_pleura", "apical_zone", *APEX))),
    "apical_pleural_thickening": ("pleura", _same(APEX, ("apical_pleura", "apical_zone", *APEX))),
    "calcified_pleural_thickening": ("pleura", _pleural((*HEMI, *MID))),
    "pleural_plaque": ("pleura", _pleural((*HEMI, *MID), ("diaphragm", "hemidiaphragm", *HEMI))),
    "calcified_pleural_plaques": ("pleura", _pleural((*HEMI, *MID), ("diaphragm", "hemidiaphragm", *HEMI))),
    "asbestos_related_disease": ("pleura", _pleural((*HEMI, *MID), ("diaphragm", "hemidiaphragm", *HEMI))),
    "empyema": ("pleura", _pleural(MID)),
    "pneumothorax": ("pleura", _pneumothorax()),
    "tension_pneumothorax": ("pleura", _pneumothorax()),
    "hydropneumothorax": ("pleura", _same((*PLEURAL, *APEX, *LUNG), (*PLEURA_RAW, "apical_zone", *APEX))),
    "fissure_thickening": ("pleura", _same((*MID, *LOWER, *UPPER),
                                           ("pulmonary_fissure", "minor_fissure", "major_fissure"))),
    "minor_fissure_thickening": ("pleura", _same(("right_mid_lung_zone", "right_upper_lung_zone"), ("minor_fissure",))),
    "major_fissure_thickening": ("pleura", _same((*MID, *LOWER), ("major_fissure",))),
    # devices: where the tip (or the course) lies
    "endotracheal_tube": ("device", _same(("trachea", "carina"), ("trachea", "carina"))),
    "tracheostomy_tube": ("device", {"cig29": ("trachea",), "cig36": ("trachea",), "cig38_text": ("trachea", "neck"),
                                     "raw": ("trachea", "neck")}),
    "enteric_tube": ("device", {"cig29": ("abdomen",), "cig36": ("left_upper_abdomen", "abdomen"),
                                "cig38_text": ("abdomen",),
                                "raw": ("stomach", "esophagus", "subdiaphragmatic_region", "abdomen")}),
    "gastrostomy_tube": ("device", {"cig29": ("abdomen",), "cig36": ("left_upper_abdomen", "abdomen"),
                                    "cig38_text": ("abdomen",), "raw": ("stomach", "abdomen")}),
    "central_venous_catheter": ("device", _cvc()),
    "jugular_central_venous_catheter": ("device", _cvc(("jugular_vein",))),
    "subclavian_central_venous_catheter": ("device", _cvc(("subclavian_vein", *_both("subclavian_vein")))),
    "peripherally_inserted_central_catheter": ("device", _cvc(("arm", *_both("arm")))),
    "chest_port": ("device", {**_cvc(("pectoral_region", *_both("pectoral_region"))),
                              "cig38_text": ("svc", "cavoatrial_junction", "right_atrium", *CHEST_WALL)}),
    "umbilical_venous_catheter": ("device", _same(("right_atrium", "cavoatrial_junction", "abdomen", "right_upper_abdomen"),
                                                  ("right_atrium", "right_upper_abdomen", "abdomen"))),  # via the umbilical vein
    "swan_ganz_catheter": ("device", _same(("right_hilar_structures", "left_hilar_structures", "mediastinum",
                                            "cardiac_silhouette", "right_atrium"),
                                           ("pulmonary_artery", "right_atrium"))),
    "pacemaker": ("device", _pacer()),
    "dual_chamber_device": ("device", _pacer()),
    "single_chamber_device": ("device", _pacer()),
    "implantable_cardioverter_defibrillator": ("device", _pacer()),
    "chest_tube": ("device", _same((*PLEURAL, *APEX, *UPPER, *LUNG), (*PLEURA_RAW, "apical_zone", *APEX))),
    "pigtail_catheter": ("device", _same((*PLEURAL, *APEX, *UPPER, *LUNG), (*PLEURA_RAW, "apical_zone", *APEX))),
    "mediastinal_drain": ("device", _same(MEDIASTINUM, ("mediastinum",))),
    "intra_aortic_balloon_pump": ("device", {"cig29": ("aortic_arch", "mediastinum"),
                                             "cig36": ("descending_aorta", "aortic_arch"),
                                             "cig38_text": ("aortic_arch", "mediastinum"),
                                             "raw": ("descending_aorta", "aorta", "aortic_arch")}),
    "aortic_graft": ("device", _same(("aortic_arch", "descending_aorta", "mediastinum", "upper_mediastinum"),
                                     ("aorta", "aortic_arch", "descending_aorta", "ascending_aorta"))),
    "artificial_heart_valve": ("device", _same(CARDIAC36, ("heart_valve", "heart"))),
    "artificial_aortic_heart_valve": ("device", _same(CARDIAC36, ("heart_valve", "heart"))),
    "artificial_mitral_heart_valve": ("device", _same(CARDIAC36, ("heart_valve", "heart"))),
    "cabg_grafts": ("device", _same((*CARDIAC36, *MEDIASTINUM), ("heart", "mediastinum", "coronary_artery"))),
    # median sternotomy wires run down the midline over the upper mediastinum and the heart
    "sternotomy_wires": ("device", _same((*MEDIASTINUM, "cardiac_silhouette"), ("sternum", "heart", "mediastinum"))),
    "sternotomy": ("device", _same((*MEDIASTINUM, "cardiac_silhouette"), ("sternum", "heart", "mediastinum"))),
    "humeral_prosthesis": ("device", _shoulder()),
    # implants lie in the breast or under the pectoral muscle (anterior chest wall), over the lung zones
    "mammary_prosthesis": ("device", {"cig29": (*LOWER, *MID, *UPPER), "cig36": (*LOWER, *MID, *UPPER),
                                      "cig38_text": (*_both("breast"), *CHEST_WALL),
                                      "raw": ("breast", *_both("breast"), "pectoral_region", *_both("pectoral_region"))}),
    "osteosynthesis_material": ("device", _bone_any()),
}


def top_regions(kg) -> dict[str, dict[str, dict | None]]:
    """``{finding: {set: {"top", "score", "second", "second_score"} | None}}`` (None: no answer)."""
    table: dict[str, dict[str, dict | None]] = {}
    for finding in EXPECTED:
        row: dict[str, dict | None] = {}
        for name in SETS:
            ranked = kg.locations_of(finding, region_set=None if name == "raw" else name)
            if not ranked:
                row[name] = None
                continue
            second = ranked[1] if len(ranked) > 1 else None
            row[name] = {"top": ranked[0].node.id, "score": round(ranked[0].score, 4),
                         "second": second.node.id if second else None,
                         "second_score": round(second.score, 4) if second else None}
        table[finding] = row
    return table


def verdicts(table: dict) -> dict[str, dict[str, bool | None]]:
    """True: the top region is anatomically acceptable; False: wrong; None: nothing required."""
    out: dict[str, dict[str, bool | None]] = {}
    for finding, (_kind, wanted) in EXPECTED.items():
        out[finding] = {}
        for name in SETS:
            accept = wanted.get(name)
            got = table[finding][name]
            out[finding][name] = None if accept is None else bool(got and got["top"] in accept)
    return out


def markdown(payload: dict, baseline: dict | None) -> str:
    machine = payload["machine"]
    lines = ["# bench_kg_ranking", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}. KG {payload['kg_version']}.",
             "", "Top region of `locations_of(finding, region_set=SET)`; ✓ anatomically acceptable, ✗ wrong, "
             "· nothing required (the set has no region for that anatomy). With a baseline: before → after.", "",
             "| finding | kind | " + " | ".join(SETS) + " |", "|---|---|" + "---|" * len(SETS)]
    marks = {True: "✓", False: "✗", None: "·"}
    for finding, (kind, _wanted) in EXPECTED.items():
        cells = []
        for name in SETS:
            now = payload["table"][finding][name]
            top = now["top"] if now else "—"
            before = (baseline or {}).get(finding, {}).get(name)
            if baseline is not None and (before["top"] if before else "—") != top:
                top = f"{before['top'] if before else '—'} → {top}"
            cells.append(f"{top} {marks[payload['verdicts'][finding][name]]}")
        lines.append(f"| {finding} | {kind} | " + " | ".join(cells) + " |")
    summary = payload["summary"]
    lines += ["", f"Acceptable: {summary['ok']} of {summary['checked']} checked cells; wrong: {summary['wrong']}."]
    if summary["wrong_cells"]:
        lines.append("Wrong: " + ", ".join(summary["wrong_cells"]) + ".")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="an earlier kg_ranking.json to show before → after")
    args = parser.parse_args()
    from kg import AnatomyKG

    kg = AnatomyKG.load()
    table = top_regions(kg)
    checks = verdicts(table)
    cells = [(f, s, v) for f, row in checks.items() for s, v in row.items() if v is not None]
    wrong = [f"{f}@{s}" for f, s, v in cells if not v]
    baseline = json.loads(args.baseline.read_text(encoding="utf-8"))["table"] if args.baseline else None
    payload = {"kg_version": kg.version, "sets": list(SETS), "table": table, "verdicts": checks,
               "summary": {"findings": len(table), "checked": len(cells), "ok": len(cells) - len(wrong),
                           "wrong": len(wrong), "wrong_cells": wrong}}
    if baseline is not None:
        payload["before"] = {f: {s: (baseline.get(f, {}).get(s) or {}).get("top") for s in SETS} for f in table}
    from benchmarks._machine import machine

    text = markdown({**payload, "machine": machine()}, baseline)
    path = write_result("kg_ranking", payload, markdown=text)
    print(text)
    print(f"wrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
