"""Crafted (hostile) dataset trees: every loader's tables with rows whose id or path values
climb out of the dataset root (``../``) or are absolute, each pointing at a *valid* file placed
outside the root, so a loader that followed them would read it; and recognisable fake ids in
bad rows, which no message may ever print.

Each ``craft_<name>(tmp_path)`` returns a :class:`Crafted`: the root, loader keyword arguments,
how many rows leave the root, and the outside folder that must never be opened.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.data.fixtures_datasets import (
    CHEXPERT_HEADER,
    OPENI_XML,
    PADCHEST_HEADER,
    build_chexpert,
    build_openi,
    build_padchest,
    build_rsna,
    build_siim,
    build_vindr_kaggle,
)
from tests.data.fixtures_loaders import (
    phantom_like_image,
    write_csv,
    write_dicom,
    write_jpeg,
    write_png,
)
from tests.data.fixtures_mimic import CHEX, H, W, build_mimic

FAKE_ID = "ZQXFAKEID"  # a recognisable fake identifier: never in any message
SECRET_TEXT = "Secret outside report: massive left pneumothorax."


@dataclass
class Crafted:
    root: Path
    outside: Path
    escaping: int  # rows whose path leaves the root
    kwargs: dict[str, Any] = field(default_factory=dict)


def _outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "secret.txt").write_text(f"FINDINGS: {SECRET_TEXT}\n")
    return folder


def _dicom(path: Path) -> Path:
    return write_dicom(path, np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1)))


def _append_csv_gz(path: Path, lines: list[str], *, first: bool = False) -> None:
    """Add ``lines`` to a gzipped CSV: at the end, or right after the header (``first``, so
    that under the strict policy they are the first problem met)."""
    import gzip

    head, _, body = gzip.decompress(path.read_bytes()).decode().partition("\n")
    added = "".join(line + "\n" for line in lines)
    text = head + "\n" + (added + body if first else body + added)
    path.write_bytes(gzip.compress(text.encode(), mtime=0))


def _insert_rows(path: Path, lines: list[str]) -> None:
    """Add ``lines`` right after the header of a plain CSV."""
    head, _, body = path.read_text().partition("\n")
    path.write_text(head + "\n" + "".join(line + "\n" for line in lines) + body)


def craft_mimic(tmp_path: Path) -> Crafted:
    """Study id climbing to ``outside/secret`` (report + image there); an absolute dicom_id."""
    outside = _outside(tmp_path)
    root = build_mimic(tmp_path / "ds", imagenome_splits=False)
    write_jpeg(outside / "secret" / "d7.jpg", phantom_like_image(H, W))  # .../s1/../../../../../outside/secret
    write_jpeg(outside / "abs.jpg", phantom_like_image(H, W))
    climb = "1/../../../../../outside/secret"
    (root / "files" / "p10" / "p10000007" / "s1").mkdir(parents=True)  # so the OS can walk the climb
    absolute = str(outside / "abs")
    _append_csv_gz(root / "mimic-cxr-2.0.0-metadata.csv.gz",
                   [f"d7,10000007,{climb},X,PA,{H},{W},21800101,120000", f"{absolute},10000008,50000008,X,PA,{H},{W},1,1"],
                   first=True)
    _append_csv_gz(root / "mimic-cxr-2.0.0-split.csv.gz", [f"d7,{climb},10000007,train", f"{absolute},50000008,10000008,train"])
    return Crafted(root, outside, 2, {"frontal_only": False})


def craft_chexpert(tmp_path: Path) -> Crafted:
    outside = _outside(tmp_path)
    base = build_chexpert(tmp_path / "ds")
    write_jpeg(outside / "patient99" / "study1" / "view1_frontal.jpg", phantom_like_image(20, 24))
    paths = ["CheXpert-v1.0-small/../../outside/patient99/study1/view1_frontal.jpg",
             str(outside / "patient99" / "study1" / "view1_frontal.jpg")]
    _insert_rows(base / "train.csv", [",".join([p, "Male", "50", "Frontal", "PA"] + [""] * (len(CHEXPERT_HEADER) - 5))
                                      for p in paths])
    return Crafted(base, outside, 2)


def craft_nih(tmp_path: Path) -> Crafted:
    outside = _outside(tmp_path)
    root = tmp_path / "ds"
    header = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "View Position"]
    write_png(outside / "n.png", phantom_like_image(64, 64))
    rows = [["00000001_000.png", "No Finding", "0", "1", "PA"],
            ["../../outside/n.png", "Effusion", "0", "2", "PA"],
            [str(outside / "n.png"), "Effusion", "0", "3", "PA"]]
    write_csv(root / "Data_Entry_2017.csv", header, rows)
    write_png(root / "images" / "00000001_000.png", phantom_like_image(64, 64))
    return Crafted(root, outside, 2)


def craft_rsna(tmp_path: Path) -> Crafted:
    outside = _outside(tmp_path)
    root = build_rsna(tmp_path / "ds")
    _dicom(outside / "r.dcm")
    text = "patientId,x,y,width,height,Target\nneg,,,,,0\n../../outside/r,,,,,0\n" + f"{outside / 'r'},,,,,0\n"
    (root / "stage_2_train_labels.csv.zip").unlink()
    (root / "stage_2_train_labels.csv").write_text(text)
    return Crafted(root, outside, 2, {"frontal_only": False})


def craft_siim(tmp_path: Path) -> Crafted:
    outside = _outside(tmp_path)
    root = build_siim(tmp_path / "ds", "2 3 10 4", "5 2")
    _dicom(outside / "s.dcm")
    (root / "train-rle.csv").write_text(  # without the fixture's bad RLE row: strict meets the escapes first
        f"ImageId, EncodedPixels\n1.2.3.pos, 2 3 10 4\n1.2.3.neg, -1\n../outside/s, -1\n{outside / 's'}, -1\n")
    return Crafted(root, outside, 2)


def craft_vindr(tmp_path: Path) -> Crafted:
    outside = _outside(tmp_path)
    root = build_vindr_kaggle(tmp_path / "ds")
    _dicom(outside / "v.dicom")
    lines = [line for line in (root / "train.csv").read_text().splitlines() if ",x," not in line]  # bad row out
    lines += ["../../outside/v,No finding,14,R1,,,,", f"{outside / 'v'},No finding,14,R1,,,,"]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return Crafted(root, outside, 2)


def craft_padchest(tmp_path: Path) -> Crafted:
    outside = _outside(tmp_path)
    root = build_padchest(tmp_path / "ds")
    write_png(outside / "pc.png", phantom_like_image(40, 40))
    rows = [["9", "pc.png", "../outside", "1", "S9", "P9", "PA", "Physician", "['cardiomegaly']", "[]", "[]", "[]", "[]"],
            ["10", str(outside / "pc.png"), "0", "1", "S10", "P10", "PA", "Physician", "['cardiomegaly']", "[]", "[]",
             "[]", "[]"]]
    path = root / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"
    buffer = io.StringIO()
    import csv

    csv.writer(buffer, lineterminator="\n").writerows(rows)
    _append_csv_gz(path, buffer.getvalue().splitlines(), first=True)
    assert PADCHEST_HEADER[1] == "ImageID"
    return Crafted(root, outside, 2)


def craft_openi(tmp_path: Path) -> Crafted:
    outside = _outside(tmp_path)
    root = build_openi(tmp_path / "ds")
    write_png(outside / "oi.png", phantom_like_image(30, 30))
    ids = ["../../outside/oi", str(outside / "oi")]
    xml = OPENI_XML.format(uid="CXR9", findings="Clear.", impression="Normal.", mesh="<major>normal</major>",
                           images="".join(f'<parentImage id="{i}"><figureId>F1</figureId></parentImage>' for i in ids))
    (root / "ecgen-radiology" / "9.xml").write_text(xml)
    _append_csv_gz(root / "nlmcxr_dicom_metadata.csv.gz", [f"{i},X,PA" for i in ids])
    return Crafted(root, outside, 2)


CRAFTERS = {"mimic": craft_mimic, "chexpert": craft_chexpert, "nih": craft_nih, "rsna": craft_rsna,
            "siim": craft_siim, "vindr": craft_vindr, "padchest": craft_padchest, "openi": craft_openi}


# -- fake ids in bad rows -----------------------------------------------------------------
def leaky_mimic(tmp_path: Path) -> Path:
    """Bad rows and files keyed by the fake id: a metadata row with too few fields, a CheXpert
    row with a bad value, a missing image, a truncated image, a corrupt scene graph."""
    root = build_mimic(tmp_path / "ds", imagenome_splits=False)
    pid, study = FAKE_ID + "P", FAKE_ID + "S"
    folder = root / "files" / f"p{pid[:2]}" / f"p{pid}" / f"s{study}"
    write_jpeg(folder / f"{FAKE_ID}a.jpg", phantom_like_image(H, W))
    (folder / f"{FAKE_ID}b.jpg").write_bytes(b"\xff\xd8 truncated")
    (root / "scene_graph" / f"{FAKE_ID}a_SceneGraph.json").write_text('{"objects": 7}')
    _append_csv_gz(root / "mimic-cxr-2.0.0-metadata.csv.gz",
                   [f"{FAKE_ID}a,{pid},{study},X,PA,{H},{W},1,1", f"{FAKE_ID}b,{pid},{study},X,PA,{H},{W},1,1",
                    f"{FAKE_ID}c,{pid},{study},X,PA,{H},{W},1,1", f"{FAKE_ID}d,{pid}"])
    _append_csv_gz(root / "mimic-cxr-2.0.0-split.csv.gz",
                   [f"{FAKE_ID}{x},{study},{pid},train" for x in "abc"] + [f"{FAKE_ID}e,{study},{pid},{FAKE_ID}"])
    _append_csv_gz(root / "mimic-cxr-2.0.0-chexpert.csv.gz", [f"{pid},{study}," + ",".join(["7"] * len(CHEX))])
    return root


def leaky_rsna(tmp_path: Path) -> Path:
    root = build_rsna(tmp_path / "ds")
    (root / "stage_2_train_labels.csv.zip").unlink()
    (root / "stage_2_train_labels.csv").write_text(
        "patientId,x,y,width,height,Target\npos,100,200,300,400,1\nneg,,,,,0\n"
        f"{FAKE_ID}1,,,,,0\n{FAKE_ID}1,1,1,5,5,1\n{FAKE_ID}2,x,y,z,w,1\n{FAKE_ID}3,,,,,0\n")
    (root / "stage_2_train_images" / f"{FAKE_ID}3.dcm").write_bytes(b"not a dicom")
    return root


def leaky_tables(name: str, tmp_path: Path) -> Path:
    """The other loaders: one bad row each, keyed by the fake id."""
    root = tmp_path / "ds"
    if name == "nih":
        write_csv(root / "Data_Entry_2017.csv", ["Image Index", "Finding Labels", "Patient ID", "View Position"],
                  [["a.png", "No Finding", "1", "PA"], [f"{FAKE_ID}.png", "Made Up", FAKE_ID, "PA"],
                   [f"{FAKE_ID}2.png", "Effusion", FAKE_ID, "PA"]])
        write_png(root / "images" / "a.png", phantom_like_image(64, 64))
    elif name == "siim":
        build_siim(root, "2 3 10 4", "5 2")
        with open(root / "train-rle.csv", "a") as handle:
            handle.write(f"{FAKE_ID}, 5 x 7\n{FAKE_ID}2, -1\n")
    elif name == "vindr":
        build_vindr_kaggle(root)
        with open(root / "train.csv", "a") as handle:
            handle.write(f"{FAKE_ID},Cardiomegaly,3,{FAKE_ID}R,a,b,c,d\n")
    elif name == "chexpert":
        base = build_chexpert(root)
        with open(base / "train.csv", "a") as handle:
            handle.write(",".join([f"CheXpert-v1.0-small/train/{FAKE_ID}/study1/v.jpg", "M", "1", "Frontal", "PA"]
                                  + ["9"] * 14) + "\n")
        return base
    elif name == "padchest":
        build_padchest(root)
        import csv

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([
            ["9", f"{FAKE_ID}.png", "0", "1", f"{FAKE_ID}S", f"{FAKE_ID}P", "PA", "Physician", "[['x'", "[]", "[]",
             "[]", "[]"],
            ["10", f"{FAKE_ID}2.png", "0", "1", f"{FAKE_ID}S2", f"{FAKE_ID}P", "PA", "Physician", "[]", "[]", "[]",
             "[]", "[]"]])
        _append_csv_gz(root / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz", buffer.getvalue().splitlines())
    elif name == "openi":
        build_openi(root)
        (root / "ecgen-radiology" / f"{FAKE_ID}.xml").write_text("<eCitation><unclosed>")
        xml = OPENI_XML.format(uid=f"{FAKE_ID}U", findings="Clear.", impression="Normal.", mesh="<major>normal</major>",
                               images=f'<parentImage id="{FAKE_ID}I"><figureId>F1</figureId></parentImage>')
        (root / "ecgen-radiology" / "8.xml").write_text(xml)
        _append_csv_gz(root / "nlmcxr_dicom_metadata.csv.gz", [f"{FAKE_ID}I,X,PA"])
    return root


def write_scene_graph(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path

