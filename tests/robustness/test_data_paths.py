"""Paths built from table values never leave the dataset root (issue 9).

For every loader that builds paths from table values, a crafted table has rows whose id or
path climbs out with ``../`` or is absolute, each pointing at a valid file outside the root.
The loader must skip those rows as ``outside root`` (strict: raise ``OutsideRoot``) and never
open anything outside the root, not even while decoding every kept sample.
"""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path

import pytest

from anatomy_vlm.data.datasets import open_dataset
from anatomy_vlm.errors import OutsideRoot
from tests.data.fixtures_crafted import CRAFTERS, SECRET_TEXT
from tests.data.fixtures_loaders import stub_crosswalk


@pytest.fixture
def opened(monkeypatch):
    """Every path opened through os.open / open / io.open while the fixture is active."""
    seen: list[str] = []
    real_os_open, real_open, real_io_open = os.open, builtins.open, io.open

    def spy_os_open(path, *args, **kwargs):
        seen.append(os.path.abspath(os.fspath(path)))
        return real_os_open(path, *args, **kwargs)

    def spy_open(path, *args, **kwargs):
        if isinstance(path, (str, bytes, os.PathLike)):
            seen.append(os.path.abspath(os.fspath(path)))
        return real_open(path, *args, **kwargs)

    def spy_io_open(path, *args, **kwargs):
        if isinstance(path, (str, bytes, os.PathLike)):
            seen.append(os.path.abspath(os.fspath(path)))
        return real_io_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_io_open)
    return seen


def _under(path: str, folder: Path) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


@pytest.mark.parametrize("name", sorted(CRAFTERS))
def test_rows_that_leave_the_root_are_skipped_and_never_read(name, tmp_path, opened, tally):
    crafted = CRAFTERS[name](tmp_path)
    opened.clear()
    ds = open_dataset(name, crafted.root, crosswalk=stub_crosswalk, hierarchy=None, **crafted.kwargs)
    assert ds.report.skipped["outside root"] == crafted.escaping, ds.report.skipped
    samples = [ds[i] for i in range(len(ds))]
    assert not [p for p in opened if _under(p, crafted.outside)], "a file outside the root was opened"
    for record in ds.records:  # every kept path is lexically under the root
        assert not os.path.relpath(os.path.normpath(record.image_path), crafted.root.parent).startswith("..")
        assert ".." not in Path(record.image_path).parts and record.image_path.is_relative_to(crafted.root)
    for sample in samples:
        if sample is not None:
            assert not any(SECRET_TEXT in s.text for s in sample.sentences)
    with pytest.raises(OutsideRoot, match="outside root"):
        open_dataset(name, crafted.root, crosswalk=stub_crosswalk, hierarchy=None, policy="strict",
                     verify=False, **crafted.kwargs)
    tally("data", f"path from a table leaving the root ({name})", crafted.escaping,
          "skipped as 'outside root' (strict: OutsideRoot); nothing outside the root opened")


def test_mimic_report_outside_the_root_never_reaches_sentences(tmp_path):
    """The reported attack: a study id climbing to a .txt outside the root. The row is skipped;
    the kept samples' sentences come from inside only."""
    crafted = CRAFTERS["mimic"](tmp_path)
    ds = open_dataset("mimic", crafted.root, crosswalk=stub_crosswalk, hierarchy=None, frontal_only=False)
    assert "d7" not in {r.image_id for r in ds.records}
    texts = [s.text for i in range(len(ds)) if ds[i] is not None for s in ds[i].sentences]
    assert texts and not any("Secret" in t for t in texts)


def test_within_is_lexical_and_refuses_every_escape(tmp_path):
    from anatomy_vlm.data.datasets.nih import ChestXray14

    ds = ChestXray14.__new__(ChestXray14)  # only the helper: no index needed
    root = tmp_path / "ds"
    assert ds.within(root, "images", "a.png") == root / "images" / "a.png"
    assert ds.within(root, "sub/dir/x..png") == root / "sub" / "dir" / "x..png"  # '..' inside a name is fine
    for bad in ("../x.png", "a/../../x", "/etc/passwd", "a\x00b", "images/.."):
        with pytest.raises(OutsideRoot):
            ds.within(root, "images", bad, where="t.csv row 2")
