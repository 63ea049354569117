"""Tiny trees of CheXpert, NIH ChestX-ray14, RSNA, SIIM-ACR, VinDr-CXR, PadChest and Open-I in
their real formats, each with the quirks its loader must handle (see each builder)."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from tests.data.fixtures_loaders import (
    phantom_like_image,
    truncate,
    write_csv,
    write_dicom,
    write_jpeg,
    write_png,
)

CHEXPERT_HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding",
                   "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
                   "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
                   "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]


def build_chexpert(root: Path) -> Path:
    """4 train rows (1 lateral, 1 malformed value, 1 missing image) + 1 valid row."""
    base = root / "CheXpert-v1.0-small"
    labels = {  # column -> value; everything else blank
        "patient00001/study1/view1_frontal.jpg": {"Cardiomegaly": "1.0", "Pneumothorax": "0.0",
                                                  "Atelectasis": "-1.0", "Lung Lesion": "1.0"},
        "patient00001/study1/view2_lateral.jpg": {"Cardiomegaly": "1.0"},
        "patient00002/study1/view1_frontal.jpg": {"No Finding": "1.0", "Support Devices": ""},
        "patient00003/study1/view1_frontal.jpg": {"Edema": "2.0"},  # malformed value
        "patient00004/study1/view1_frontal.jpg": {"Edema": "1.0"},  # image missing
    }
    rows = []
    for i, (rel, values) in enumerate(labels.items()):
        lateral = "lateral" in rel
        row = [f"CheXpert-v1.0-small/train/{rel}", "Female", "60", "Lateral" if lateral else "Frontal",
               "" if lateral else "AP"] + [values.get(c, "") for c in CHEXPERT_HEADER[5:]]
        rows.append(row)
        if "patient00004" not in rel:
            write_jpeg(base / "train" / rel, phantom_like_image(20, 24, seed=i))
    write_csv(base / "train.csv", CHEXPERT_HEADER, rows)
    write_jpeg(base / "valid" / "patient64541/study1/view1_frontal.jpg", phantom_like_image(20, 24))
    write_csv(base / "valid.csv", CHEXPERT_HEADER,
              [["CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg", "Male", "70",
                "Frontal", "PA"] + ["0.0"] * 14])
    return base


def build_nih(root: Path) -> Path:
    """Data_Entry with split bracket headers, BBox_List with 'Infiltrate' and ',,,' columns,
    images in images_001/images at 64 px (boxes are in the 1024 frame)."""
    header = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age",
              "Patient Gender", "View Position", "OriginalImage[Width", "Height]",
              "OriginalImagePixelSpacing[x", "y]"]
    rows = [
        ["00000001_000.png", "Cardiomegaly|Infiltration", "0", "1", "57", "M", "PA", "2682", "2749", "0.143", "0.143"],
        ["00000002_000.png", "No Finding", "0", "2", "80", "M", "AP", "2500", "2048", "0.168", "0.168"],
        ["00000003_000.png", "Effusion|Made Up", "0", "3", "40", "F", "PA", "2500", "2048", "0.1", "0.1"],
    ]
    write_csv(root / "Data_Entry_2017_v2020.csv.gz", header, rows, gz=True)
    text = ("Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
            "00000001_000.png,Infiltrate,512.0,256.0,128.0,256.0\n"
            "00000001_000.png,Cardiomegaly,300,400,400,300\n")
    (root / "BBox_List_2017.csv.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    for i, row in enumerate(rows):
        write_png(root / "images_001" / "images" / row[0], phantom_like_image(64, 64, seed=i))
    (root / "test_list.txt").write_text("00000002_000.png\n")
    (root / "train_val_list.txt").write_text("00000001_000.png\n00000003_000.png\n")
    return root


def build_rsna(root: Path) -> Path:
    """Zipped labels: a positive with 2 boxes, a negative (empty box fields), a MONOCHROME1
    DICOM, a contradicting Target pair (malformed) and the header extract for the view."""
    text = ("patientId,x,y,width,height,Target\n"
            "pos,100,200,300,400,1\npos,600,200,200,300,1\nneg,,,,,0\n"
            "bad,,,,,0\nbad,10,10,10,10,1\n")
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "stage_2_train_labels.csv.zip", "w") as archive:
        archive.writestr("stage_2_train_labels.csv", text)
    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1))
    write_dicom(root / "stage_2_train_images" / "pos.dcm", ramp, view="AP")
    write_dicom(root / "stage_2_train_images" / "neg.dcm", ramp, photometric="MONOCHROME1", view="PA")
    write_csv(root / "kaggle_stage_2_train_images_dicom_headers.csv.gz",
              ["", "Filename", "Modality", "PatientID", "ViewPosition"],
              [["0", "pos.dcm", "CR", "pos", "AP"], ["1", "neg.dcm", "CR", "neg", "PA"]], gz=True)
    return root


def build_siim(root: Path, rle_pos: str, rle_pos2: str) -> Path:
    """' EncodedPixels' header (leading space), two rows for one image, a -1 negative, a bad
    RLE row; nested DICOM folders at 1024 px is too big for a test, so images are 32 px and
    the 1024 mask is resized."""
    write_csv(root / "train-rle.csv", ["ImageId", " EncodedPixels"],
              [["1.2.3.pos", f" {rle_pos}"], ["1.2.3.pos", f" {rle_pos2}"], ["1.2.3.neg", " -1"],
               ["1.2.3.bad", " 5 x 7"]])
    img = phantom_like_image(32, 32).astype(np.uint16) * 16
    write_dicom(root / "dicom-images-train" / "s1" / "se1" / "1.2.3.pos.dcm", img)
    write_dicom(root / "dicom-images-train" / "s2" / "se2" / "1.2.3.neg.dcm", img)
    return root


def build_vindr_kaggle(root: Path) -> Path:
    """3 readers: two agree on a cardiomegaly box, one adds a lone nodule; a 'No finding'
    image; a malformed box row."""
    header = ["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"]
    rows = [
        ["img1", "Cardiomegaly", "3", "R1", "10", "20", "40", "50"],
        ["img1", "Cardiomegaly", "3", "R2", "12", "22", "42", "52"],
        ["img1", "Nodule/Mass", "8", "R3", "50", "5", "58", "13"],
        ["img1", "No finding", "14", "R3", "", "", "", ""],
        ["img2", "No finding", "14", "R1", "", "", "", ""],
        ["img2", "No finding", "14", "R2", "", "", "", ""],
        ["img2", "Pleural effusion", "10", "R4", "x", "1", "2", "3"],
    ]
    write_csv(root / "train.csv", header, rows)
    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1))
    write_dicom(root / "train" / "img1.dicom", ramp, photometric="MONOCHROME1", window=(2048, 4096))
    write_dicom(root / "train" / "img2.dicom", ramp)
    return root


PADCHEST_HEADER = ["", "ImageID", "ImageDir", "StudyDate_DICOM", "StudyID", "PatientID",
                   "Projection", "MethodLabel", "Labels", "Localizations",
                   "LabelsLocalizationsBySentence", "labelCUIS", "LocalizationsCUIS"]


def build_padchest(root: Path) -> Path:
    """Two images of one study (PA + lateral), a bare `nan` inside a list, a leading-space term,
    an unparseable literal, 16-bit PNGs."""
    rows = [
        ["0", "a_pa.png", "0", "20140915", "S1", "P1", "PA", "Physician",
         "['pleural effusion', ' cardiomegaly', nan]", "['loc left', 'loc costophrenic angle', 'loc cardiac']",
         "[['pleural effusion', 'loc left', 'loc costophrenic angle'], ['cardiomegaly', 'loc cardiac'], ['normal']]",
         "['C0032227' 'C0018800']", "[]"],
        ["1", "a_lat.png", "0", "20140915", "S1", "P1", "L", "Physician", "['pleural effusion']", "[]", "[]", "[]", "[]"],
        ["2", "b_pa.png", "1", "20150101", "S2", "P2", "PA", "RNN_model", "['normal']", "[]", "['normal']", "[]", "[]"],
        ["3", "c_pa.png", "1", "20150101", "S3", "P3", "PA", "Physician", "[['unbalanced'", "[]", "[]", "[]", "[]"],
    ]
    write_csv(root / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz", PADCHEST_HEADER, rows, gz=True)
    deep = (np.linspace(0, 4095, 40 * 40).reshape(40, 40) * 16).astype(np.uint16)
    for row in rows:
        write_png(root / row[2] / row[1], deep)
    return root


OPENI_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="{uid}"/><MedlineCitation><Article><Abstract>
<AbstractText Label="FINDINGS">{findings}</AbstractText>
<AbstractText Label="IMPRESSION">{impression}</AbstractText>
</Abstract></Article></MedlineCitation>
<MeSH>{mesh}</MeSH>{images}</eCitation>"""


def build_openi(root: Path, *, as_tgz: bool = False) -> Path:
    """Two reports (one 'normal'), one with a truncated image; metadata CSV with a lateral."""
    reports = {
        "1.xml": ("CXR1", "Small left pleural effusion. Heart size normal.", "Effusion.",
                  ["Pleural Effusion/left/small", "Opacity/lung/base/left/mild"], ["CXR1_IM-0001-1001", "CXR1_IM-0001-2001"]),
        "2.xml": ("CXR2", "Clear lungs.", "Normal chest.", ["normal"], ["CXR2_IM-0002-1001"]),
    }
    files = {}
    for name, (uid, findings, impression, mesh, images) in reports.items():
        files[name] = OPENI_XML.format(
            uid=uid, findings=findings, impression=impression,
            mesh="".join(f"<major>{m}</major>" for m in mesh),
            images="".join(f'<parentImage id="{i}"><figureId>F1</figureId></parentImage>' for i in images),
        ).encode()
        for i, image in enumerate(images):
            path = write_png(root / "NLMCXR_png" / f"{image}.png", phantom_like_image(30, 30, seed=i))
            if uid == "CXR2":
                truncate(path, 0.5)
    if as_tgz:
        with tarfile.open(root / "NLMCXR_reports.tgz", "w:gz") as archive:
            for name, data in files.items():
                info = tarfile.TarInfo(f"ecgen-radiology/{name}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    else:
        for name, data in files.items():
            (root / "ecgen-radiology").mkdir(parents=True, exist_ok=True)
            (root / "ecgen-radiology" / name).write_bytes(data)
    write_csv(root / "nlmcxr_dicom_metadata.csv.gz",
              ["imageid", "Patient ID", "View Position"],
              [["CXR1_IM-0001-1001", "SECRET123", "PA"], ["CXR1_IM-0001-2001", "SECRET123", "LL"],
               ["CXR2_IM-0002-1001", "SECRET123", "PA"]], gz=True)
    return root


def build_vindr_physionet(root: Path) -> Path:
    """PhysioNet layout: annotations/ CSVs (3 readers in train, consensus in test), .dicom."""
    ann = root / "annotations"
    box_header = ["image_id", "rad_id", "class_name", "x_min", "y_min", "x_max", "y_max"]
    write_csv(ann / "annotations_train.csv", box_header, [
        ["tr1", "R1", "Pleural effusion", "40", "40", "60", "60"],
        ["tr1", "R2", "No finding", "", "", "", ""],
        ["tr1", "R3", "No finding", "", "", "", ""],
    ])
    write_csv(ann / "annotations_test.csv", box_header, [["te1", "R8", "Cardiomegaly", "10", "30", "50", "60"]])
    label_header = ["image_id", "rad_id", "Cardiomegaly", "Pleural effusion", "No finding"]
    write_csv(ann / "image_labels_train.csv", label_header,
              [["tr1", "R1", "0", "1", "0"], ["tr1", "R2", "0", "0", "1"], ["tr1", "R3", "0", "0", "1"]])
    write_csv(ann / "image_labels_test.csv", label_header, [["te1", "R8", "1", "0", "0"]])
    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1))
    write_dicom(root / "train" / "tr1.dicom", ramp)
    write_dicom(root / "test" / "te1.dicom", ramp)
    return root
