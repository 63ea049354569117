"""A tiny MIMIC-CXR-JPG + Chest ImaGenome tree in the real formats, with its quirks:
gzipped MIMIC tables, split value ``validate``, a lateral view, scene-graph boxes in the
original frame (one faulty, one overhanging the image), ``category|yes/no|label`` attributes,
one missing image, one truncated JPEG and one malformed metadata row."""

from __future__ import annotations

import json
from pathlib import Path

from tests.data.fixtures_loaders import phantom_like_image, truncate, write_csv, write_jpeg

H, W = 48, 64
CHEX = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
        "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion",
        "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices"]

# dicom_id, subject, study, view, mimic split, imagenome split
IMAGES = [
    ("d1", "10000001", "50000001", "PA", "train", "train"),
    ("d2", "10000001", "50000001", "LATERAL", "train", None),
    ("d3", "10000002", "50000002", "AP", "validate", "valid"),
    ("d4", "10000003", "50000003", "PA", "test", "test"),
    ("d5", "10000004", "50000004", "PA", "train", "train"),  # image file missing
    ("d6", "10000005", "50000005", "PA", "train", "train"),  # truncated JPEG
]


def _obj(dicom_id: str, name: str, box: tuple[float, float, float, float]) -> dict:
    x1, y1, x2, y2 = box
    return {
        "object_id": f"{dicom_id}_{name}", "bbox_name": name, "name": name.title(),
        "x1": 0, "y1": 0, "x2": 1, "y2": 1, "width": 1, "height": 1,
        "original_x1": x1, "original_y1": y1, "original_x2": x2, "original_y2": y2,
        "original_width": x2 - x1, "original_height": y2 - y1,
    }


def scene_graph(dicom_id: str, subject: str, study: str) -> dict:
    """Left effusion (yes at left costophrenic angle and left lung), no pneumothorax."""
    objects = [
        _obj(dicom_id, "right lung", (4, 4, 30, 40)),
        _obj(dicom_id, "left lung", (34, 4, 60, 40)),
        _obj(dicom_id, "left costophrenic angle", (50, 32, 70, 52)),  # overhangs: clipped
        _obj(dicom_id, "right costophrenic angle", (20, 40, 10, 30)),  # faulty: rejected
        _obj(dicom_id, "cardiac silhouette", (24, 20, 44, 42)),
    ]
    effusion = "Small left pleural effusion."
    no_ptx = "No pneumothorax."
    attributes = [
        {"bbox_name": "left costophrenic angle", "phrases": [effusion],
         "attributes": [["anatomicalfinding|yes|pleural effusion", "severity|yes|small",
                         "laterality|yes|left"]]},
        {"bbox_name": "left lung", "phrases": [effusion, no_ptx],
         "attributes": [["anatomicalfinding|yes|pleural effusion"],
                        ["anatomicalfinding|no|pneumothorax"]]},
        {"bbox_name": "right lung", "phrases": [no_ptx],
         "attributes": [["anatomicalfinding|no|pneumothorax", "nlp|yes|normal"]]},
    ]
    return {"image_id": dicom_id, "patient_id": int(subject), "study_id": int(study),
            "viewpoint": "PA", "objects": objects, "attributes": attributes, "relationships": []}


def build_mimic(root: Path, *, imagenome_splits: bool = True) -> Path:
    """Write the tree under ``root`` and return it."""
    meta, split_rows, chex = [], [], {}
    for i, (dicom_id, subject, study, view, split, _) in enumerate(IMAGES):
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        path = write_jpeg(folder / f"{dicom_id}.jpg", phantom_like_image(H, W, seed=i))
        if dicom_id == "d5":
            path.unlink()
        if dicom_id == "d6":
            truncate(path, 0.4)
        (folder.parent / f"s{study}.txt").write_text(
            "FINDINGS: Small left pleural effusion. No pneumothorax.\nIMPRESSION: Effusion.\n"
        )
        meta.append([dicom_id, subject, study, "CHEST (PA AND LAT)", view, H, W, "21800101", "120000.000"])
        split_rows.append([dicom_id, study, subject, split])
        if view != "LATERAL":
            sg = root / "scene_graph" / f"{dicom_id}_SceneGraph.json"
            sg.parent.mkdir(parents=True, exist_ok=True)
            sg.write_text(json.dumps(scene_graph(dicom_id, subject, study)))
        values = {c: "" for c in CHEX}
        values.update({"Pleural Effusion": "1.0", "Pneumothorax": "0.0", "Atelectasis": "-1.0"})
        chex[(subject, study)] = values
    meta.append(["broken-row", "10000009"])  # malformed: too few fields
    write_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz",
              ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription",
               "ViewPosition", "Rows", "Columns", "StudyDate", "StudyTime"], meta, gz=True)
    write_csv(root / "mimic-cxr-2.0.0-split.csv.gz",
              ["dicom_id", "study_id", "subject_id", "split"], split_rows, gz=True)
    write_csv(root / "mimic-cxr-2.0.0-chexpert.csv.gz", ["subject_id", "study_id", *CHEX],
              [[s, st, *(v[c] for c in CHEX)] for (s, st), v in chex.items()], gz=True)
    if imagenome_splits:
        for name in ("train", "valid", "test"):
            rows = [[d, s, st, f"files/p{s[:2]}/p{s}/s{st}/{d}.dcm"]
                    for d, s, st, _, _, sp in IMAGES if sp == name]
            write_csv(root / "silver_dataset" / "splits" / f"{name}.csv",
                      ["dicom_id", "subject_id", "study_id", "path"], rows)
    return root
