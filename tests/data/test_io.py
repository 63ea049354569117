"""Image reading: bit depths, DICOM LUTs and photometric interpretation, corrupt files."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from anatomy_vlm.data.io import probe_image, read_dicom, read_image
from anatomy_vlm.errors import CorruptImage, DataError, MissingFile
from tests.data.fixtures_loaders import (
    SECRET_NAME,
    SECRET_PATIENT,
    phantom_like_image,
    truncate,
    write_dicom,
    write_jpeg,
    write_png,
)


def test_jpeg_and_8bit_png_scale_by_255(tmp_path):
    pixels = phantom_like_image(32, 40)
    png = read_image(write_png(tmp_path / "a.png", pixels))
    jpg = read_image(write_jpeg(tmp_path / "a.jpg", pixels))
    assert png.shape == (32, 40) and png.dtype == np.float32
    np.testing.assert_allclose(png, pixels / 255.0, atol=1e-6)
    assert np.abs(jpg - pixels / 255.0).mean() < 0.03


def test_16bit_png_scaled_by_bit_depth_not_255(tmp_path):
    pixels = np.linspace(0, 65535, 24 * 24).reshape(24, 24).astype(np.uint16)
    image = read_image(write_png(tmp_path / "deep.png", pixels))
    np.testing.assert_allclose(image, pixels / 65535.0, atol=1e-6)
    assert image.max() == pytest.approx(1.0) and 0.45 < image.mean() < 0.55


def test_png_named_jpg_is_read_by_magic_bytes(tmp_path):
    pixels = phantom_like_image(16, 16)
    path = tmp_path / "mask.jpg"
    write_png(path, pixels)
    np.testing.assert_allclose(read_image(path), pixels / 255.0, atol=1e-6)


def test_dicom_monochrome1_is_inverted(tmp_path):
    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (8, 1))  # 8 x 64
    mono2 = read_image(write_dicom(tmp_path / "m2.dcm", ramp))
    mono1 = read_image(write_dicom(tmp_path / "m1.dicom", ramp, photometric="MONOCHROME1"))
    assert mono2[0, 0] == pytest.approx(0.0) and mono2[0, -1] == pytest.approx(1.0)
    np.testing.assert_allclose(mono1, 1.0 - mono2, atol=1e-6)


def test_dicom_window_and_bits_stored(tmp_path):
    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (4, 1))
    path = write_dicom(tmp_path / "w.dcm", ramp, window=(2048, 1024), high_bit_noise=True)
    image, info = read_dicom(path)
    # bits above BitsStored are masked, then linear windowing: below 1536 -> 0, above 2560 -> 1
    assert image[0, ramp[0] < 1500].max() == 0.0
    assert image[0, ramp[0] > 2600].min() == 1.0
    mid = (ramp[0] > 1600) & (ramp[0] < 2500)
    assert np.all(np.diff(image[0, mid]) > 0)
    assert info.bits_stored == 12 and info.view_position == "PA"


def test_dicom_modality_lut_applied_before_window(tmp_path):
    ramp = np.tile(np.arange(0, 2048, 32, dtype=np.uint16), (4, 1))
    # stored value v -> 2 v - 1000; window centred at 1048 (= stored 1024), width 2
    image, _ = read_dicom(write_dicom(tmp_path / "r.dcm", ramp, rescale=(2, -1000), window=(1048, 2)))
    assert image[0, ramp[0] < 1000].max() == 0.0 and image[0, ramp[0] > 1050].min() == 1.0


def test_dicom_identifiers_never_leak(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = write_dicom(tmp_path / "secret.dcm", phantom_like_image(16, 16).astype(np.uint16))
    image, info = read_dicom(path)
    assert SECRET_PATIENT not in repr(info) and SECRET_NAME not in repr(info)
    truncate(path, 0.6)
    with pytest.raises(DataError) as err:
        read_image(path)
    assert SECRET_PATIENT not in str(err.value) and "Secret" not in str(err.value)
    assert SECRET_PATIENT not in caplog.text


@pytest.mark.parametrize("writer", ["jpeg", "png", "dicom"])
def test_truncated_and_missing_files_raise_data_error(tmp_path, writer):
    pixels = phantom_like_image(64, 64)
    path = {
        "jpeg": lambda: write_jpeg(tmp_path / "t.jpg", pixels),
        "png": lambda: write_png(tmp_path / "t.png", pixels),
        "dicom": lambda: write_dicom(tmp_path / "t.dcm", pixels.astype(np.uint16)),
    }[writer]()
    assert probe_image(path) is None
    truncate(path, 0.5)
    assert isinstance(probe_image(path), CorruptImage)
    assert probe_image(path).reason == "corrupt image"
    with pytest.raises(CorruptImage):
        read_image(path)
    assert isinstance(probe_image(tmp_path / "absent.png"), MissingFile)
    with pytest.raises(MissingFile, match="missing"):
        read_image(tmp_path / "absent.png")


def test_garbage_file_is_corrupt(tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"this is not an image at all")
    assert isinstance(probe_image(path), CorruptImage)
    with pytest.raises(CorruptImage):
        read_image(path)


def test_dicom_voi_lut_sequence(tmp_path):
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (4, 1))
    path = write_dicom(tmp_path / "lut.dcm", ramp)
    ds = pydicom.dcmread(path)
    item = Dataset()
    # 4096-entry LUT, 8-bit output: a step at stored value 2048 (0 below, 255 above)
    item.LUTDescriptor = [4096, 0, 8]
    item.add_new(0x00283006, "US", [0] * 2048 + [255] * 2048)  # LUTData
    ds.VOILUTSequence = Sequence([item])
    ds.save_as(path)
    image, _ = read_dicom(path)
    assert image[0, ramp[0] < 2048].max() == 0.0 and image[0, ramp[0] >= 2048].min() == 1.0


def test_dicom_patient_tags_are_never_parsed(tmp_path, monkeypatch):
    import pydicom

    from anatomy_vlm.data import io as image_io

    seen = {}
    real = pydicom.dcmread

    def spy(*args, **kwargs):
        ds = real(*args, **kwargs)
        seen["ds"] = ds
        return ds

    monkeypatch.setattr(pydicom, "dcmread", spy)
    image_io.read_dicom(write_dicom(tmp_path / "p.dcm", phantom_like_image(16, 16).astype(np.uint16)))
    assert "PatientID" not in seen["ds"] and "PatientName" not in seen["ds"]
    assert SECRET_PATIENT not in str(seen["ds"])


def test_dicom_with_a_malformed_lut_is_a_corrupt_image(tmp_path):
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    path = write_dicom(tmp_path / "badlut.dcm", np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (4, 1)))
    ds = pydicom.dcmread(path)
    item = Dataset()
    item.LUTDescriptor = [16, 0]  # two values where the standard has three
    item.add_new(0x00283006, "US", [0] * 16)
    ds.VOILUTSequence = Sequence([item])
    ds.save_as(path)
    with pytest.raises(CorruptImage, match="pixel transform"):
        read_image(path)
