"""Robust chest-radiograph image reading: JPEG, PNG (8- or 16-bit), DICOM.

Every reader returns a ``[H, W]`` float32 array in [0, 1] with 0 = black (air) and 1 = white
(bone), whatever the file's bit depth or photometric interpretation:

- 8-bit JPEG/PNG: divided by 255; RGB/palette/alpha images are converted to grayscale.
- 16-bit PNG: divided by ``2**bitdepth - 1`` as the PNG header declares (65535), never by 255.
- DICOM (pydicom): pixel values masked to ``BitsStored``, then the Modality LUT
  (RescaleSlope/Intercept or LUT), then the VOI LUT or the first window (linear DICOM
  windowing); without VOI the range is min-max scaled. ``MONOCHROME1`` is inverted.

The format is detected from the file's magic bytes, not its suffix (real collections ship PNGs
named ``.jpg``). A missing, empty, truncated or undecodable file raises
:class:`anatomy_vlm.errors.DataError`. DICOM patient identifiers (PatientID, PatientName,
BirthDate, …) are never parsed (pydicom reads only the pixel and acquisition tags listed in
``_DICOM_TAGS``), so they cannot reach a return value, a log line or an error message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anatomy_vlm.errors import DataError

__all__ = ["DicomInfo", "read_image", "read_mask", "read_dicom", "probe_image", "image_format"]

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_DICOM_TAGS = [
    "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration", "NumberOfFrames",
    "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence", "VOILUTSequence",
    "WindowCenter", "WindowWidth", "VOILUTFunction", "ViewPosition", "Modality", "PixelData",
]
_JPEG_SIG = b"\xff\xd8"


@dataclass(frozen=True)
class DicomInfo:
    """Non-identifying acquisition fields of a DICOM file (never patient identifiers)."""

    rows: int
    columns: int
    view_position: str
    photometric: str
    bits_stored: int
    modality: str


def image_format(path: Path) -> str:
    """``"jpeg"``, ``"png"``, ``"dicom"`` or ``"unknown"`` from the first bytes of the file."""
    with open(path, "rb") as handle:
        head = handle.read(132)
    if head.startswith(_PNG_SIG):
        return "png"
    if head.startswith(_JPEG_SIG):
        return "jpeg"
    if head[128:132] == b"DICM" or Path(path).suffix.lower() in {".dcm", ".dicom"}:
        return "dicom"
    return "unknown"


def probe_image(path: str | Path) -> str | None:
    """Cheap structural check without decoding pixels.

    Returns None when the file looks whole, else the reason: ``"missing file"`` or
    ``"corrupt image"`` (empty, unknown format, JPEG without end marker, PNG without IEND,
    DICOM that does not parse or whose pixel data is shorter than Rows x Columns needs).
    """
    path = Path(path)
    if not path.is_file():
        return "missing file"
    size = path.stat().st_size
    if size < 8:
        return "corrupt image"
    fmt = image_format(path)
    if fmt == "dicom":
        try:
            _read_dataset(path)
        except DataError:
            return "corrupt image"
        return None
    with open(path, "rb") as handle:
        handle.seek(max(0, size - 64))
        tail = handle.read().rstrip(b"\x00")
    if fmt == "jpeg" and tail.endswith(b"\xff\xd9"):
        return None
    if fmt == "png" and b"IEND" in tail[-12:]:
        return None
    return "corrupt image"


def read_image(path: str | Path) -> np.ndarray:
    """Read any supported image as ``[H, W]`` float32 in [0, 1] (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing image file: {path.name}")
    fmt = image_format(path)
    if fmt == "dicom":
        return read_dicom(path)[0]
    if fmt in {"png", "jpeg"}:
        return _read_raster(path, fmt)
    raise DataError(f"corrupt image {path.name}: not a JPEG, PNG or DICOM file")


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as handle:
        header = handle.read(25)
    return header[24] if len(header) >= 25 else 8


def _read_raster(path: Path, fmt: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in {"I;16", "I;16B", "I;16L", "I"}:
                pixels = np.asarray(img, dtype=np.float64)
                depth = _png_bit_depth(path) if fmt == "png" else 16
                scale = float(2 ** min(depth, 16) - 1) if depth > 8 else 255.0
            elif img.mode == "F":
                pixels = np.asarray(img, dtype=np.float64)
                scale = max(float(pixels.max()), 1.0)
            else:  # 8-bit: exact in float32, already inside [0, 1]
                gray = img if img.mode == "L" else img.convert("L")
                return np.asarray(gray, dtype=np.float32) * np.float32(1.0 / 255.0)
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(f"corrupt image {path.name}: {err}") from None
    return np.clip(pixels / scale, 0.0, 1.0).astype(np.float32)


def read_mask(path: str | Path) -> np.ndarray:
    """A mask image (any bit depth) as ``[H, W]`` bool: True where above half range.

    8-bit grayscale PNGs (what the phantom writes) are thresholded as integers, without the
    float image in between; anything else goes through :func:`read_image`.
    """
    path = Path(path)
    if path.suffix.lower() == ".png" and path.is_file():
        from PIL import Image

        try:
            with Image.open(path) as img:
                if img.mode == "L":
                    img.load()
                    return np.asarray(img) > 127
        except (OSError, ValueError, SyntaxError) as err:
            raise DataError(f"corrupt image {path.name}: {err}") from None
    return read_image(path) > 0.5


def _read_dataset(path: Path):
    """Parse a DICOM file fully and check its pixel data length (uncompressed syntaxes)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:  # only the tags below are parsed: patient identifiers are never even decoded
        ds = pydicom.dcmread(path, force=True, specific_tags=_DICOM_TAGS)
        rows, cols = int(ds.Rows), int(ds.Columns)
        data = ds.PixelData
    except (InvalidDicomError, AttributeError, OSError, ValueError, KeyError, EOFError) as err:
        # the message of a pydicom error may quote element values: report only its type
        raise DataError(f"corrupt DICOM {path.name} ({type(err).__name__})") from None
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed:
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        need = rows * cols * frames * samples * int(getattr(ds, "BitsAllocated", 16)) // 8
        if len(data) < need:
            raise DataError(f"corrupt DICOM {path.name}: truncated pixel data")
    return ds


def _first(value) -> float:
    """The first of a possibly multi-valued DICOM number (several windows may be listed)."""
    from pydicom.multival import MultiValue

    return float(value[0] if isinstance(value, (MultiValue, list, tuple)) else value)


def _apply_lut(item, values: np.ndarray) -> np.ndarray:
    """A VOI LUT item (LUTDescriptor = entries, first mapped value, bits) -> values in [0, 1]."""
    entries, first, bits = (int(v) for v in item.LUTDescriptor)
    data = item.LUTData
    if isinstance(data, (bytes, bytearray)):  # OW: 16-bit words
        lut = np.frombuffer(bytes(data), dtype="<u2").astype(np.float64)
    else:
        lut = np.asarray(list(data) if hasattr(data, "__len__") else [data], dtype=np.float64)
    entries = entries or 65536
    lut = lut[:entries]
    index = np.clip(np.rint(values).astype(np.int64) - first, 0, len(lut) - 1)
    return np.clip(lut[index] / float(2 ** (bits or 16) - 1), 0.0, 1.0)


def _voi(ds, values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Apply the VOI LUT or the first window. Returns (values in [0, 1], applied)."""
    if "VOILUTSequence" in ds:
        return _apply_lut(ds.VOILUTSequence[0], values), True
    if "WindowCenter" in ds and "WindowWidth" in ds:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        width = max(width, 1.0)
        # DICOM PS3.3 C.11.2.1.2.1 linear windowing
        low = center - 0.5 - (width - 1.0) / 2.0
        return np.clip((values - low) / (width - 1.0 if width > 1 else 1.0), 0.0, 1.0), True
    return values, False


def read_dicom(path: str | Path) -> tuple[np.ndarray, DicomInfo]:
    """Read a DICOM radiograph as ``([H, W] float32 in [0, 1], DicomInfo)``."""
    from pydicom.pixels import apply_modality_lut

    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing image file: {path.name}")
    ds = _read_dataset(path)
    try:
        raw = ds.pixel_array
    except Exception as err:  # pydicom raises many types for undecodable pixel data
        raise DataError(f"corrupt DICOM {path.name} ({type(err).__name__})") from None
    if raw.ndim == 3:  # multi-frame or colour: first frame / luminance
        raw = raw[0] if raw.shape[-1] not in (3, 4) else raw[..., :3].mean(axis=-1)
    bits_stored = int(getattr(ds, "BitsStored", 0) or 0)
    if int(getattr(ds, "PixelRepresentation", 0)) == 0 and 0 < bits_stored < raw.dtype.itemsize * 8:
        raw = np.bitwise_and(raw, (1 << bits_stored) - 1)
    values = np.asarray(apply_modality_lut(raw, ds), dtype=np.float64)
    values, windowed = _voi(ds, values)
    if not windowed:
        low, high = float(values.min()), float(values.max())
        values = (values - low) / (high - low) if high > low else np.zeros_like(values)
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "MONOCHROME1":
        values = 1.0 - values
    info = DicomInfo(
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        view_position=str(getattr(ds, "ViewPosition", "") or ""),
        photometric=photometric,
        bits_stored=bits_stored,
        modality=str(getattr(ds, "Modality", "") or ""),
    )
    return values.astype(np.float32), info
