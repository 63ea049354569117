"""Robust chest-radiograph image reading: JPEG, PNG (8- or 16-bit), DICOM.

Every reader returns a ``[H, W]`` float32 array in [0, 1] with 0 = black (air) and 1 = white
(bone), whatever the file's bit depth or photometric interpretation:

- 8-bit JPEG/PNG: divided by 255; RGB/palette/alpha images are converted to grayscale.
- 16-bit PNG: divided by ``2**bitdepth - 1`` as the PNG header declares (65535), never by 255.
- DICOM (pydicom): pixel values masked to ``BitsStored``, then the Modality LUT
  (RescaleSlope/Intercept or LUT), then the VOI LUT or the first window (linear DICOM
  windowing); without VOI the range is min-max scaled. ``MONOCHROME1`` is inverted.

The format is detected from the file's magic bytes, not its suffix (real collections ship PNGs
named ``.jpg``). A missing, empty, truncated or undecodable file raises a typed
:class:`anatomy_vlm.errors.DataError` (``MissingFile``, ``CorruptImage`` …). Files are opened
without blocking and checked to be regular files first (:func:`open_regular`), so a named
pipe or device in place of an image is a ``NotRegularFile``, never a hang; an image whose
declared size exceeds :data:`MAX_PIXELS` (a decompression bomb) is an ``ImageTooLarge``,
rejected before its pixels are decoded. DICOM patient identifiers (PatientID, PatientName,
BirthDate, …) are never parsed (pydicom reads only the pixel and acquisition tags listed in
``_DICOM_TAGS``), so they cannot reach a return value, a log line or an error message.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from anatomy_vlm.errors import (
    CorruptImage,
    DataError,
    FileTooLarge,
    ImageTooLarge,
    MissingFile,
    NotRegularFile,
    UnreadableFile,
)

__all__ = ["DicomInfo", "read_image", "read_mask", "read_dicom", "probe_image", "image_format",
           "open_regular", "read_regular", "MAX_PIXELS", "MAX_FILE_BYTES"]

MAX_PIXELS = 64 * 2**20  # ~67 Mpx per frame: 8k x 8k; chest films are at most ~4.3k x 4.3k
MAX_FILE_BYTES = 1 << 30  # 1 GiB: no radiograph or annotation file is near it

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


def open_regular(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> BinaryIO:
    """Open ``path`` for binary reading only when it is a regular file of at most ``max_bytes``.

    The file is opened non-blocking and checked with ``fstat`` on the open descriptor, so a named
    pipe, device or socket is refused without ever waiting on it (no check-then-open race).
    Raises ``MissingFile``, ``NotRegularFile``, ``UnreadableFile`` (permissions, symlink loop,
    I/O error) or ``FileTooLarge`` (over ``max_bytes``).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise MissingFile(f"missing file: {path.name}") from None
    except (OSError, ValueError) as err:  # ValueError: an embedded NUL in the path
        code = errno.errorcode.get(getattr(err, "errno", None) or 0, type(err).__name__)
        raise UnreadableFile(f"unreadable file {path.name} ({code})", detail=code) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"not a regular file: {path.name}")
        if info.st_size > max_bytes:
            raise FileTooLarge(f"{path.name}: {info.st_size} bytes (limit {max_bytes})",
                                detail=f"file over {max_bytes} bytes")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file (see :func:`open_regular` for what is refused)."""
    with open_regular(path, max_bytes=max_bytes) as handle:
        try:
            return handle.read()
        except OSError as err:
            code = errno.errorcode.get(err.errno or 0, "OSError")
            raise UnreadableFile(f"unreadable file {Path(path).name} ({code})", detail=code) from None


def _format_of(head: bytes, path: Path) -> str:
    if head.startswith(_PNG_SIG):
        return "png"
    if head.startswith(_JPEG_SIG):
        return "jpeg"
    if head[128:132] == b"DICM" or Path(path).suffix.lower() in {".dcm", ".dicom"}:
        return "dicom"
    return "unknown"


def image_format(path: str | Path) -> str:
    """``"jpeg"``, ``"png"``, ``"dicom"`` or ``"unknown"`` from the first bytes of the file."""
    with open_regular(path) as handle:
        return _format_of(handle.read(132), Path(path))


def probe_image(path: str | Path) -> DataError | None:
    """Cheap structural check without decoding pixels.

    Returns None when the file looks whole, else the typed error saying why: ``MissingFile``,
    ``NotRegularFile``, ``UnreadableFile``, ``ImageTooLarge`` (PNG header or DICOM size over
    :data:`MAX_PIXELS`) or ``CorruptImage`` (empty, unknown format, JPEG without end marker,
    PNG without IEND, DICOM that does not parse or whose pixel data is shorter than Rows x
    Columns needs).
    """
    path = Path(path)
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(132)
            if size < 8:
                raise CorruptImage(f"corrupt image {path.name}: empty", detail="empty file")
            fmt = _format_of(head, path)
            if fmt == "dicom":
                handle.seek(0)
                _read_dataset(handle, path.name)
                return None
            handle.seek(max(0, size - 64))
            tail = handle.read().rstrip(b"\x00")
        if fmt == "png":
            _check_pixels(int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), path.name)
            if b"IEND" in tail[-12:]:
                return None
        if fmt == "jpeg" and tail.endswith(b"\xff\xd9"):
            return None
        raise CorruptImage(f"corrupt image {path.name}: truncated or unknown format",
                           detail="truncated or unknown format")
    except DataError as err:
        return err
    except OSError as err:  # a read error after a successful open
        return UnreadableFile(f"unreadable file {path.name}", detail=errno.errorcode.get(err.errno or 0, "OSError"))


def _check_pixels(width: int, height: int, name: str, frames: int = 1) -> None:
    if width * height * max(frames, 1) > MAX_PIXELS:
        raise ImageTooLarge(f"{name}: {width} x {height} pixels (limit {MAX_PIXELS})",
                            detail=f"over {MAX_PIXELS} pixels")


def read_image(path: str | Path) -> np.ndarray:
    """Read any supported image as ``[H, W]`` float32 in [0, 1] (see module docstring)."""
    path = Path(path)
    with open_regular(path) as handle:
        fmt = _format_of(handle.read(132), path)
        handle.seek(0)
        if fmt == "dicom":
            return _read_dicom(handle, path.name)[0]
        if fmt in {"png", "jpeg"}:
            return _read_raster(handle, path.name, fmt)
    raise CorruptImage(f"corrupt image {path.name}: not a JPEG, PNG or DICOM file", detail="unknown format")


def _open_pil(handle: BinaryIO, name: str):
    """PIL image of ``handle`` after the pixel-count check (header only; nothing decoded yet)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(handle)
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{name}: decompression bomb (over {MAX_PIXELS} pixels)",
                            detail=f"over {MAX_PIXELS} pixels") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise CorruptImage(f"corrupt image {name} ({type(err).__name__})", detail=type(err).__name__) from None
    _check_pixels(*img.size, name)
    return img


def _read_raster(handle: BinaryIO, name: str, fmt: str) -> np.ndarray:
    img = _open_pil(handle, name)
    try:
        with img:
            img.load()
            if img.mode in {"I;16", "I;16B", "I;16L", "I"}:
                pixels = np.asarray(img, dtype=np.float64)
                depth = _png_bit_depth(handle) if fmt == "png" else 16
                scale = float(2 ** min(depth, 16) - 1) if depth > 8 else 255.0
            elif img.mode == "F":
                pixels = np.asarray(img, dtype=np.float64)
                scale = max(float(pixels.max()), 1.0)
            else:  # 8-bit: exact in float32, already inside [0, 1]
                gray = img if img.mode == "L" else img.convert("L")
                return np.asarray(gray, dtype=np.float32) * np.float32(1.0 / 255.0)
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise CorruptImage(f"corrupt image {name} ({type(err).__name__})", detail=type(err).__name__) from None
    return np.clip(pixels / scale, 0.0, 1.0).astype(np.float32)


def _png_bit_depth(handle: BinaryIO) -> int:
    handle.seek(0)
    header = handle.read(25)
    return header[24] if len(header) >= 25 else 8


def read_mask(path: str | Path) -> np.ndarray:
    """A mask image (any bit depth) as ``[H, W]`` bool: True where above half range.

    8-bit grayscale PNGs (what the phantom writes) are thresholded as integers, without the
    float image in between; anything else goes through :func:`read_image`.
    """
    path = Path(path)
    if path.suffix.lower() == ".png":
        with open_regular(path) as handle:
            img = _open_pil(handle, path.name)
            try:
                with img:
                    if img.mode == "L":
                        img.load()
                        return np.asarray(img) > 127
            except (OSError, ValueError, SyntaxError, EOFError) as err:
                raise CorruptImage(f"corrupt image {path.name} ({type(err).__name__})",
                                   detail=type(err).__name__) from None
    return read_image(path) > 0.5


def _read_dataset(handle: BinaryIO, name: str):
    """Parse a DICOM file fully and check its size and pixel data length (uncompressed syntaxes)."""
    import pydicom

    try:  # only the tags below are parsed: patient identifiers are never even decoded
        with warnings.catch_warnings():  # pydicom warns per malformed value: the error says it once
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(handle, force=True, specific_tags=_DICOM_TAGS)
            rows, cols = int(ds.Rows), int(ds.Columns)
            data = ds.PixelData
            frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
            samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
            bits = int(getattr(ds, "BitsAllocated", 16) or 16)
            syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
            compressed = syntax is not None and syntax.is_compressed
    except Exception as err:  # noqa: BLE001 - pydicom raises many types on hostile bytes
        # the message of a pydicom error may quote element values: report only its type
        raise CorruptImage(f"corrupt DICOM {name} ({type(err).__name__})", detail=type(err).__name__) from None
    _check_pixels(cols, rows, name, frames)
    if not compressed and len(data) < rows * cols * frames * samples * bits // 8:
        raise CorruptImage(f"corrupt DICOM {name}: truncated pixel data", detail="truncated pixel data")
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
    path = Path(path)
    with open_regular(path) as handle:
        return _read_dicom(handle, path.name)


def _to_unit(ds, raw: np.ndarray, apply_modality_lut) -> tuple[np.ndarray, int, str]:
    """Stored pixels -> ``[H, W]`` values in [0, 1] (masking, modality LUT, VOI, photometric)."""
    if raw.ndim == 4:  # multi-frame colour: first frame
        raw = raw[0]
    if raw.ndim == 3:  # multi-frame or colour: first frame / luminance
        raw = raw[0] if raw.shape[-1] not in (3, 4) else raw[..., :3].mean(axis=-1)
    if raw.ndim != 2:
        raise ValueError("not a 2-D image")
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
    return np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0), bits_stored, photometric


def _read_dicom(handle: BinaryIO, name: str) -> tuple[np.ndarray, DicomInfo]:
    from pydicom.pixels import apply_modality_lut

    ds = _read_dataset(handle, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = ds.pixel_array
    except Exception as err:  # pydicom raises many types for undecodable pixel data
        raise CorruptImage(f"corrupt DICOM {name} ({type(err).__name__})", detail=type(err).__name__) from None
    try:  # header values drive the transforms below: a malformed one is a corrupt file
        values, bits_stored, photometric = _to_unit(ds, raw, apply_modality_lut)
    except Exception as err:  # noqa: BLE001 - pydicom's LUT code raises many types on bad headers
        raise CorruptImage(f"corrupt DICOM {name}: pixel transform ({type(err).__name__})",
                           detail=f"pixel transform: {type(err).__name__}") from None
    info = DicomInfo(
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        view_position=str(getattr(ds, "ViewPosition", "") or ""),
        photometric=photometric,
        bits_stored=bits_stored,
        modality=str(getattr(ds, "Modality", "") or ""),
    )
    return values.astype(np.float32), info
