"""``kg export`` loses nothing (issue 9): the old export survives any failure, a special file
as target is refused before anything is written, no temporary is left behind (failure,
SIGTERM, SIGINT), and every error is one line with exit 2."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anatomy_vlm.cli import main

CANARY = {"g.safetensors": b"old tensors, must survive\n", "g.mapping.json": b'{"old": "mapping"}\n'}


@pytest.fixture(scope="module", autouse=True)
def _kg_built():
    from kg import AnatomyKG

    AnatomyKG.load()


def _canaries(folder: Path) -> None:
    for name, data in CANARY.items():
        (folder / name).write_bytes(data)


def _canaries_intact(folder: Path) -> None:
    for name, data in CANARY.items():
        assert (folder / name).read_bytes() == data, name


def _no_temporaries(folder: Path) -> None:
    left = [p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert not left, left


def _one_line(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("anatomy-vlm: error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def test_mapping_failure_keeps_the_old_export(tmp_path, capsys, monkeypatch):
    """The issue: --format pyg overwrote the old .safetensors, then failed on its mapping file."""
    import kg.export as export

    _canaries(tmp_path)
    real = export._write_synced
    calls = []

    def fail_second(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(export, "_write_synced", fail_second)
    line = _one_line(capsys, main(["kg", "export", "--format", "pyg", "--out", str(tmp_path / "g.safetensors")]))
    assert "No space left" in line and "nothing was replaced" in line
    assert len(calls) == 2
    _canaries_intact(tmp_path)
    _no_temporaries(tmp_path)


@pytest.mark.parametrize(("where", "err"), [("mkstemp", errno.EROFS), ("fsync", errno.ENOSPC),
                                            ("replace", errno.EIO), ("mkstemp", errno.EACCES)])
def test_disk_errors_are_one_line_and_clean(tmp_path, capsys, monkeypatch, where, err, tally):
    import kg.export as export

    _canaries(tmp_path)

    def broken(*_args, **_kwargs):
        raise OSError(err, os.strerror(err))

    target = {"mkstemp": (export.tempfile, "mkstemp"), "fsync": (export.os, "fsync"),
              "replace": (export.os, "replace")}[where]
    monkeypatch.setattr(*target, broken)
    line = _one_line(capsys, main(["kg", "export", "--format", "pyg", "--out", str(tmp_path / "g")]))
    assert os.strerror(err) in line
    monkeypatch.undo()
    _canaries_intact(tmp_path)
    _no_temporaries(tmp_path)
    tally("kg export", f"disk error at {where} ({errno.errorcode[err]})", 1,
          "one line, exit 2; old export intact; no temporary left")


def _special_targets(tmp_path: Path) -> list[tuple[str, Path]]:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    link = tmp_path / "link_to_null"
    link.symlink_to("/dev/null")
    out = [("named pipe", fifo), ("folder", folder), ("symlink to /dev/null", link),
           ("/dev/null", Path("/dev/null"))]
    if Path("/dev/full").exists():
        out.append(("/dev/full", Path("/dev/full")))
    return out


@pytest.mark.parametrize("fmt", ["pyg", "graphml", "ttl"])
def test_special_files_are_refused(tmp_path, capsys, no_hang, fmt, tally):
    targets = _special_targets(tmp_path)
    before = {name: os.stat(path).st_mode for name, path in targets}
    with no_hang(60):  # opening a pipe for writing would block: it must never be opened
        for name, path in targets:
            line = _one_line(capsys, main(["kg", "export", "--format", fmt, "--out", str(path)]))
            assert "not a regular file" in line, (name, line)
    for name, path in targets:
        assert os.stat(path).st_mode == before[name], name  # still the special file it was
    assert not Path("/dev/full.safetensors").exists() and not Path("/dev/null.mapping.json").exists()
    _no_temporaries(tmp_path / "folder")
    tally("kg export", f"special file as --out ({fmt}: pipe, folder, symlink to a device, /dev/null, /dev/full)",
          len(targets), "refused before writing, one line, exit 2; every special file unchanged")


def test_bad_paths_are_one_line(tmp_path, capsys, tally):
    regular = tmp_path / "a_file"
    regular.write_text("canary")
    bad = [regular / "under_a_file.ttl", tmp_path / ("x" * 300) / "g.ttl", tmp_path / ("y" * 300 + ".ttl")]
    for path in bad:
        _one_line(capsys, main(["kg", "export", "--format", "ttl", "--out", str(path)]))
    assert regular.read_text() == "canary"
    tally("kg export", "unwritable --out (under a regular file, name too long)", len(bad), "one line, exit 2")


def test_success_replaces_both_parts(tmp_path, capsys):
    _canaries(tmp_path)
    code = main(["kg", "export", "--format", "pyg", "--out", str(tmp_path / "g"), "--json"])
    assert code == 0, capsys.readouterr().err
    files = json.loads(capsys.readouterr().out)["files"]
    assert [Path(f).name for f in files] == ["g.safetensors", "g.mapping.json"]
    assert json.loads((tmp_path / "g.mapping.json").read_text())["format"] == "anatomy-vlm-kg-pyg/1"
    assert (tmp_path / "g.safetensors").read_bytes() != CANARY["g.safetensors"]
    assert stat.S_IMODE((tmp_path / "g.safetensors").stat().st_mode) & 0o600 == 0o600
    _no_temporaries(tmp_path)


_SIGNAL_SCRIPT = textwrap.dedent("""
    import signal, sys, time
    import kg.export as export
    from anatomy_vlm.cli import main

    real = export._write_synced
    def write_then_signal(path, data):
        real(path, data)
        signal.raise_signal(getattr(signal, sys.argv[1]))  # to this thread; the handler runs at once
        time.sleep(30)  # or at the latest here (a sleep is interrupted by a raising handler)
        raise SystemExit("the signal did not stop the export")
    export._write_synced = write_then_signal
    sys.exit(main(["kg", "export", "--format", "pyg", "--out", sys.argv[2]]))
""")


@pytest.mark.parametrize(("signame", "status"), [("SIGTERM", 128 + signal.SIGTERM), ("SIGINT", 130)])
def test_signal_mid_export_removes_temporaries(tmp_path, signame, status, tally):
    _canaries(tmp_path)
    proc = subprocess.run([sys.executable, "-c", _SIGNAL_SCRIPT, signame, str(tmp_path / "g.safetensors")],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == status, proc.stderr[-800:]
    assert "Traceback" not in proc.stderr
    _canaries_intact(tmp_path)
    _no_temporaries(tmp_path)
    tally("kg export", f"{signame} after the first part was written", 1,
          f"exit {status}; old export intact; no temporary left")
