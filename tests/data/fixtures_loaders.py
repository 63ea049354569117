"""Shared fixture writers: tiny images and tables in the real on-disk formats, and a stub
crosswalk (so loader tests do not depend on the KG build). Nothing binary is committed: every
file is written into ``tmp_path`` at test time."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

SECRET_PATIENT = "SECRET123"
SECRET_NAME = "Doe^Jane^Secret"

# (vocabulary, label) -> [(ontology_id, match)] — a small, faithful subset of the crosswalks
STUB_TABLE: dict[str, dict[str, list[tuple[str, str]]]] = {
    "chexpert": {
        "atelectasis": [("atelectasis", "exact")],
        "cardiomegaly": [("cardiomegaly", "exact")],
        "consolidation": [("consolidation", "exact")],
        "edema": [("pulmonary_edema", "exact")],
        "lung opacity": [("lung_opacity", "exact")],
        "pleural effusion": [("pleural_effusion", "exact")],
        "pneumothorax": [("pneumothorax", "exact")],
        "lung lesion": [("nodule", "narrow"), ("mass", "narrow")],
        "fracture": [("rib_fracture", "narrow"), ("clavicle_fracture", "narrow")],
        "enlarged cardiomediastinum": [("mediastinal_widening", "narrow")],
    },
    "chest_imagenome": {
        "lung opacity": [("lung_opacity", "exact")],
        "airspace opacity": [("lung_opacity", "exact")],
        "consolidation": [("consolidation", "exact")],
        "pleural effusion": [("pleural_effusion", "exact")],
        "pneumothorax": [("pneumothorax", "exact")],
        "enlarged cardiac silhouette": [("cardiomegaly", "exact")],
        "atelectasis": [("atelectasis", "exact")],
        "pulmonary edema/hazy opacity": [("pulmonary_edema", "exact")],
        "enlarged hilum": [("hilar_enlargement", "exact")],
        "mediastinal widening": [("mediastinal_widening", "exact")],
        "rib fracture": [("rib_fracture", "exact")],
        "clavicle fracture": [("clavicle_fracture", "exact")],
        "endotracheal tube": [("endotracheal_tube", "exact")],
        "enteric tube": [("enteric_tube", "exact")],
        "cardiac pacer and wires": [("pacemaker", "exact")],
        "mass/nodule (not otherwise specified)": [("nodule", "narrow"), ("mass", "narrow")],
        "lung lesion": [("nodule", "narrow"), ("mass", "narrow")],
        "ij line": [("central_venous_catheter", "narrow")],
        "subclavian line": [("central_venous_catheter", "narrow")],
    },
    "chestxray14": {
        "atelectasis": [("atelectasis", "exact")],
        "cardiomegaly": [("cardiomegaly", "exact")],
        "effusion": [("pleural_effusion", "exact")],
        "infiltration": [("lung_opacity", "broad")],
        "mass": [("mass", "exact")],
        "nodule": [("nodule", "exact")],
        "pneumothorax": [("pneumothorax", "exact")],
        "consolidation": [("consolidation", "exact")],
        "edema": [("pulmonary_edema", "exact")],
    },
    "vindr": {
        "cardiomegaly": [("cardiomegaly", "exact")],
        "pleural effusion": [("pleural_effusion", "exact")],
        "nodule/mass": [("nodule", "narrow"), ("mass", "narrow")],
        "pneumothorax": [("pneumothorax", "exact")],
        "lung opacity": [("lung_opacity", "exact")],
        "atelectasis": [("atelectasis", "exact")],
        "consolidation": [("consolidation", "exact")],
    },
    "rsna": {"lung opacity": [("lung_opacity", "exact")]},
    "siim": {"pneumothorax": [("pneumothorax", "exact")]},
    "padchest_labels": {
        "pleural effusion": [("pleural_effusion", "exact")],
        "cardiomegaly": [("cardiomegaly", "exact")],
        "nodule": [("nodule", "exact")],
        "pneumothorax": [("pneumothorax", "exact")],
        "infiltrates": [("lung_opacity", "broad")],
    },
    "padchest_localizations": {
        "loc left": [("left", "exact")],
        "loc right": [("right", "exact")],
        "loc costophrenic angle": [("costophrenic_angle", "exact")],
        "loc cardiac": [("cardiac_silhouette", "broad")],
    },
    "openi_mesh": {
        "pleural effusion": [("pleural_effusion", "exact")],
        "cardiomegaly": [("cardiomegaly", "exact")],
        "pneumothorax": [("pneumothorax", "exact")],
        "opacity": [("lung_opacity", "exact")],
        "nodule": [("nodule", "exact")],
        "left": [("left", "exact")],
        "lung": [("lung", "exact")],
        "base": [("lung_base", "exact")],
    },
}


def stub_crosswalk(vocabulary: str, label: str) -> list[tuple[str, str]]:
    """Crosswalk lookup over :data:`STUB_TABLE` (case-insensitive)."""
    return STUB_TABLE.get(vocabulary, {}).get(label.strip().lower(), [])


def phantom_like_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth uint8 test pattern (not blank, so decoding errors show)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = 80 + 60 * np.sin(x / 7.0) * np.cos(y / 9.0) + rng.normal(0, 5, (height, width))
    return np.clip(base, 0, 255).astype(np.uint8)


def write_jpeg(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """8-bit (uint8) or 16-bit (uint16) grayscale PNG."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if pixels.dtype == np.uint16:
        Image.fromarray(pixels).save(path, format="PNG")
    else:
        Image.fromarray(pixels).save(path, format="PNG")
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: max(8, int(len(data) * keep))])
    return path


def write_csv(path: Path, header: list[str], rows: list[list], *, gz: bool = False) -> Path:
    """CSV written with the csv module (gzip when ``gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    view: str = "PA",
    high_bit_noise: bool = False,
) -> Path:
    """An uncompressed 16-bit DICOM with identifying tags set to fake secrets.

    ``high_bit_noise`` sets bits above ``bits_stored`` (as overlay data may), which a reader
    must mask off.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientID = SECRET_PATIENT
    ds.PatientName = SECRET_NAME
    ds.PatientBirthDate = "19000101"
    ds.Modality = "CR"
    ds.ViewPosition = view
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    data = pixels.astype(np.uint16)
    if high_bit_noise:
        data = data | np.uint16(1 << 15)
    ds.PixelData = data.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def assert_real_crosswalk(vocabulary: str, label: str) -> None:
    """Fail the calling test unless the KG's crosswalk maps ``label`` (the ontology and
    torchxrayvision are hard dependencies: a missing crosswalk is a failure, not a skip)."""
    from anatomy_vlm.data.datasets.labels import kg_crosswalk

    assert kg_crosswalk()(vocabulary, label), f"the {vocabulary} crosswalk does not map {label!r}"
