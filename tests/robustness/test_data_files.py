"""Hostile files under a dataset root (issue 9): named pipes, decompression bombs, malformed
scene graphs, symlink loops. Each is a typed DataError, skipped and counted under the skip
policy (raised under strict), never a hang, a traceback or another exception type.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from anatomy_vlm.data.check import check_dataset
from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.data.io import MAX_PIXELS, probe_image, read_image, read_mask
from anatomy_vlm.errors import (
    CorruptAnnotation,
    DataError,
    ImageTooLarge,
    NotRegularFile,
    UnreadableFile,
)
from tests.data.fixtures_loaders import phantom_like_image, stub_crosswalk, write_jpeg
from tests.data.fixtures_mimic import build_mimic

BASE_SKIPS = {"malformed row": 1, "missing file": 1, "corrupt image": 1}  # the mimic fixture's own


def _clean_mimic(root: Path) -> Path:
    """The mimic fixture without its own bad rows and files (so strict meets the planted one)."""
    import gzip

    build_mimic(root, imagenome_splits=False)
    meta = root / "mimic-cxr-2.0.0-metadata.csv.gz"
    lines = [line for line in gzip.decompress(meta.read_bytes()).decode().splitlines()
             if not line.startswith(("broken-row", "d5,", "d6,"))]
    meta.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return root


def _folder(root: Path, dicom_id: str) -> Path:
    subject, study = {"d1": ("10000001", "50000001"), "d3": ("10000002", "50000002"),
                      "d4": ("10000003", "50000003")}[dicom_id]
    return root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def _bomb_png(path: Path, side: int = 40_000) -> Path:
    """A PNG whose header declares side x side pixels (1.6 G for 40000), with a tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def _bomb_jpeg(path: Path, side: int = 40_000) -> Path:
    """A whole, valid small JPEG whose SOF marker is patched to declare side x side pixels."""
    write_jpeg(path, phantom_like_image(16, 16))
    data = bytearray(path.read_bytes())
    sof = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
    data[sof + 5:sof + 9] = struct.pack(">HH", side, side)
    path.write_bytes(bytes(data))
    return path


# (case, how to plant it in the mimic fixture, reason it is counted under)
CASES = {
    "fifo scene graph": (lambda root: _fifo(root / "scene_graph" / "d1_SceneGraph.json"), "not a regular file"),
    "fifo image": (lambda root: _fifo(_folder(root, "d3") / "d3.jpg"), "not a regular file"),
    "fifo report": (lambda root: ((root / "scene_graph" / "d4_SceneGraph.json").unlink(),
                                  _fifo(_folder(root, "d4").with_suffix(".txt"))), "not a regular file"),
    "fifo mask": (lambda root: _fifo(root / "masks" / "d1" / "left_lung.png"), "not a regular file"),
    "png bomb 40000^2": (lambda root: _bomb_png(_folder(root, "d3") / "d3.jpg"), "image too large"),
    "jpeg bomb 40000^2": (lambda root: _bomb_jpeg(_folder(root, "d3") / "d3.jpg"), "image too large"),
    "symlink loop image": (lambda root: ((_folder(root, "d3") / "d3.jpg").unlink(),
                                         os.symlink("d3.jpg", _folder(root, "d3") / "d3.jpg")), "unreadable file"),
    "objects not a list": (lambda root: (root / "scene_graph" / "d1_SceneGraph.json").write_text('{"objects": 7}'),
                           "corrupt annotation"),
    "objects of strings": (lambda root: (root / "scene_graph" / "d1_SceneGraph.json").write_text(
        '{"objects": ["left lung"]}'), "corrupt annotation"),
    "200,000-deep nesting": (lambda root: (root / "scene_graph" / "d1_SceneGraph.json").write_text(
        '{"objects": ' + "[" * 200_000 + "]" * 200_000 + "}"), "corrupt annotation"),
    "phrases not strings": (lambda root: (root / "scene_graph" / "d1_SceneGraph.json").write_text(json.dumps(
        {"attributes": [{"bbox_name": "left lung", "phrases": [[["deep"]]], "attributes": [["a|yes|b"]]}]})),
        "corrupt annotation"),
    "not UTF-8": (lambda root: (root / "scene_graph" / "d1_SceneGraph.json").write_bytes(b'{"objects": "\xff"}'),
                  "corrupt annotation"),
    "4400-digit integer": (lambda root: (root / "scene_graph" / "d1_SceneGraph.json").write_text(
        '{"objects": [{"bbox_name": "left lung", "original_x1": ' + "9" * 4400 + "}]}"), "corrupt annotation"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_a_counted_skip_never_a_hang(case, tmp_path, no_hang, tally):
    plant, reason = CASES[case]
    root = build_mimic(tmp_path / "ds", imagenome_splits=False)
    plant(root)
    with no_hang(60):
        check = check_dataset("mimic", root, crosswalk=stub_crosswalk, hierarchy=None)
    expected = dict(BASE_SKIPS)
    expected[reason] = expected.get(reason, 0) + 1
    assert check.skipped == expected, check.skipped
    assert check.invalid == 0 and not any(p.startswith("sample") for p in check.problems)
    clean = _clean_mimic(tmp_path / "clean")
    assert check_dataset("mimic", clean, crosswalk=stub_crosswalk, hierarchy=None, policy="strict").skipped == {}
    plant(clean)
    with no_hang(60), pytest.raises(DataError) as err:  # strict: that typed error, at load or at decode
        ds = open_dataset("mimic", clean, crosswalk=stub_crosswalk, hierarchy=None, policy="strict")
        [ds[i] for i in range(len(ds))]
    assert err.value.reason == reason and "ZQX" not in str(err.value)
    tally("data", case, 1, f"skipped and counted as '{reason}' (strict: raised as such); no hang")


def test_the_pixel_limit_is_checked_before_decoding(tmp_path):
    png, jpeg = _bomb_png(tmp_path / "b.png"), _bomb_jpeg(tmp_path / "b.jpg")
    assert isinstance(probe_image(png), ImageTooLarge)  # from the PNG header, at load
    assert probe_image(jpeg) is None  # a JPEG's size is read on open: caught there
    for path in (png, jpeg):
        with pytest.raises(ImageTooLarge, match="pixels"):
            read_image(path)
    with pytest.raises(ImageTooLarge):
        read_mask(png)
    side = int(MAX_PIXELS ** 0.5) + 1  # just over the limit (PIL's own bomb check is far above)
    with pytest.raises(ImageTooLarge):
        read_image(_bomb_png(tmp_path / "c.png", side))


def test_named_pipes_and_loops_are_refused_without_blocking(tmp_path, no_hang):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.png"
    os.symlink("loop.png", loop)
    with no_hang(20):
        assert isinstance(probe_image(fifo), NotRegularFile)
        with pytest.raises(NotRegularFile):
            read_image(fifo)
        assert isinstance(probe_image(loop), UnreadableFile)
        with pytest.raises(UnreadableFile, match="ELOOP"):
            read_image(loop)
        assert isinstance(probe_image(tmp_path), NotRegularFile)  # a folder


def test_strict_policy_raises_the_typed_scene_graph_error(tmp_path):
    root = _clean_mimic(tmp_path / "ds")
    (root / "scene_graph" / "d1_SceneGraph.json").write_text('{"attributes": {"not": "a list"}}')
    ds = open_dataset("mimic", root, crosswalk=stub_crosswalk, hierarchy=None, policy="strict", verify=False,
                      split="train")
    index = next(i for i, r in enumerate(ds.records) if r.image_id == "d1")
    with pytest.raises(CorruptAnnotation, match="sample .*: corrupt annotation"):
        ds[index]


def test_a_looping_root_or_scene_graph_folder_is_one_clear_error(tmp_path, capsys):
    from anatomy_vlm.cli import main

    os.symlink("a", tmp_path / "b")
    os.symlink("b", tmp_path / "a")
    assert main(["data", "check", "mimic", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("anatomy-vlm: error:") and "\n" not in err and "Traceback" not in err
    root = build_mimic(tmp_path / "ds", imagenome_splits=False)
    for path in (root / "scene_graph").iterdir():
        path.unlink()
    (root / "scene_graph").rmdir()
    os.symlink("scene_graph", root / "scene_graph")  # a folder that is a loop: no scene graphs
    check = check_dataset("mimic", root, crosswalk=stub_crosswalk, hierarchy=None)
    assert check.skipped == BASE_SKIPS and check.invalid == 0
