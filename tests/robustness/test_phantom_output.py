"""``anatomy-vlm data phantom`` loses nothing (issue 9): a user's file beside an old output
survives, a run stopped by SIGTERM/SIGINT leaves no temporary folder, and an output path that
cannot be written ends in one line and exit 2, before anything is written."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anatomy_vlm.cli import main
from anatomy_vlm.data.phantom.context import FORMAT_ID, MARKER_NAME
from anatomy_vlm.data.phantom.generate import is_phantom_output


def _run(out: Path, n: int = 2, *extra: str) -> int:
    return main(["data", "phantom", "--out", str(out), "--n", str(n), "--size", "128", "--seed", "3",
                 "--workers", "1", *extra])


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("anatomy-vlm: error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def _no_temp_left(parent: Path) -> None:
    assert not [p.name for p in parent.iterdir() if p.name.startswith(".")], list(parent.iterdir())


@pytest.fixture
def old_output(tmp_path) -> Path:
    out = tmp_path / "ds"
    assert _run(out) == 0
    assert is_phantom_output(out) and (out / MARKER_NAME).read_text().splitlines()[0] == FORMAT_ID
    return out


@pytest.mark.parametrize("where", ["notes.txt", "files/notes.txt", "scene_graph/extra_SceneGraph.json"])
def test_a_canary_beside_an_old_phantom_survives(old_output, where, capsys):
    canary = old_output / where
    canary.write_text("keep me")
    before = _digest(old_output)
    assert _run(old_output, 3) == 2
    line = _one_error_line(capsys)
    assert where in line and "refusing" in line
    assert canary.read_text() == "keep me" and _digest(old_output) == before  # nothing touched
    _no_temp_left(old_output.parent)


def test_an_old_output_is_known_by_its_marker_never_by_guessing(old_output, capsys):
    before = _digest(old_output)
    (old_output / MARKER_NAME).write_text("some-other-tool/1\n")  # looks like a phantom, wrong marker
    assert _run(old_output) == 2
    assert "marker" in _one_error_line(capsys)
    (old_output / MARKER_NAME).unlink()  # an output without a marker (what an older version wrote)
    assert _run(old_output) == 2
    _one_error_line(capsys)
    assert {k: v for k, v in _digest(old_output).items() if k != MARKER_NAME} == \
        {k: v for k, v in before.items() if k != MARKER_NAME}


def test_an_own_output_is_replaced_by_exactly_the_new_one(old_output, tmp_path):
    assert _run(old_output, 4) == 0  # bigger, then smaller: files of films 3-4 must go
    assert _run(old_output, 2) == 0
    fresh = tmp_path / "fresh"
    assert _run(fresh, 2) == 0
    assert _digest(old_output) == _digest(fresh)
    _no_temp_left(tmp_path)


def test_an_empty_folder_with_empty_subfolders_is_used(tmp_path):
    out = tmp_path / "ds"
    (out / "a" / "b").mkdir(parents=True)
    assert _run(out) == 0 and is_phantom_output(out) and not (out / "a").exists()


def test_a_symlink_inside_an_old_output_is_foreign(old_output, tmp_path, capsys):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    (old_output / "masks" / "link").symlink_to(target)
    assert _run(old_output) == 2
    _one_error_line(capsys)
    assert (target / "precious.txt").read_text() == "keep me"


def _bad_paths(tmp: Path) -> dict[str, Path]:
    (tmp / "loop").symlink_to(tmp / "loop")
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    (tmp / "file").write_text("keep me")
    return {"proc": Path("/proc/x"), "proc_self": Path("/proc/self/x"), "sysfs": Path("/sys/x"),
            "self_loop": tmp / "loop", "under_self_loop": tmp / "loop" / "x", "two_link_loop": tmp / "a" / "x",
            "regular_file": tmp / "file", "under_regular_file": tmp / "file" / "x",
            "under_dev_null": Path("/dev/null/x"), "name_too_long": tmp / ("x" * 300)}


@pytest.mark.parametrize("kind", ["proc", "proc_self", "sysfs", "self_loop", "under_self_loop", "two_link_loop",
                                  "regular_file", "under_regular_file", "under_dev_null", "name_too_long"])
def test_unwritable_or_looping_paths_exit_2_with_one_line(tmp_path, kind, capsys):
    out = _bad_paths(tmp_path)[kind]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert _run(out) == 2
    _one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert (tmp_path / "file").read_text() == "keep me"


def _start(out: Path) -> subprocess.Popen:
    code = ("import sys; from anatomy_vlm.cli import main; "
            f"sys.exit(main(['data', 'phantom', '--out', {str(out)!r}, '--n', '3000', '--size', '256', "
            "'--workers', '2']))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for_images(parent: Path, proc: subprocess.Popen, timeout: float = 120.0) -> Path:
    """The run's temporary folder, once workers have written a few images into it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for tmp in parent.glob(".ds.tmp-*"):
            if sum(1 for _ in (tmp / "files").rglob("*.jpg")) >= 4:
                return tmp
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the run never started writing")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_run_killed_by_a_signal_leaves_no_temporary_folder(tmp_path, sig, status):
    out = tmp_path / "ds"
    proc = _start(out)
    tmp = _wait_for_images(tmp_path, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not tmp.exists() and not out.exists()
    _no_temp_left(tmp_path)


def test_a_killed_rerun_keeps_the_old_output(old_output):
    before = _digest(old_output)
    proc = _start(old_output)
    _wait_for_images(old_output.parent, proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert _digest(old_output) == before
    _no_temp_left(old_output.parent)
