"""Hostile inputs to ``anatomy-vlm report parse`` (issue 9): missing path-like arguments,
folders, named pipes, devices and oversized input are refused with one line and exit 2,
before anything is read past the size cap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from anatomy_vlm.cli import main
from anatomy_vlm.report.cli import DEFAULT_MAX_BYTES


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["report", "parse", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anatomy-vlm: error:"), err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["missing.md", "missing.txt", "notes/missing", "./missing", "report.json"])
def test_missing_path_like_argument_is_an_error_not_text(tmp_path, monkeypatch, capsys, tally, name):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, name)
    assert_one_line_error(code, err, "not found")
    assert out == ""
    tally("report", "missing path-like argument", 1, "exit 2, one line")


def test_one_word_report_text_is_still_text(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "Cardiomegaly.")
    assert code == 0 and "cardiomegaly" in out


def test_folder_is_refused(tmp_path, capsys, tally):
    code, _, err = run_cli(capsys, str(tmp_path))
    assert_one_line_error(code, err, "folder")
    tally("report", "folder", 1, "exit 2, one line")


def test_named_pipe_is_refused_without_opening_it(tmp_path, capsys, no_hang, tally):
    fifo = tmp_path / "report.txt"
    os.mkfifo(fifo)
    with no_hang(20):  # opening a FIFO with no writer would block forever
        code, _, err = run_cli(capsys, str(fifo))
    assert_one_line_error(code, err, "not a regular file")
    tally("report", "named pipe", 1, "exit 2, one line, not opened")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused(capsys, no_hang, tally, device):
    assert os.path.exists(device)
    with no_hang(20):
        code, _, err = run_cli(capsys, device)
    assert_one_line_error(code, err, "not a regular file")
    tally("report", "device file", 1, "exit 2, one line, not opened")


def test_oversized_file_is_refused(tmp_path, capsys, tally):
    path = tmp_path / "big.txt"
    path.write_text("No pneumothorax. " * 100, encoding="utf-8")
    code, _, err = run_cli(capsys, str(path), "--max-bytes", "1000")
    assert_one_line_error(code, err, "larger than 1000 bytes")
    code, out, _ = run_cli(capsys, str(path), "--max-bytes", str(path.stat().st_size))
    assert code == 0 and "pneumothorax" in out
    tally("report", "file over --max-bytes", 2, "refused over the cap, parsed at the cap")


def test_oversized_text_argument_is_refused(capsys, tally):
    code, _, err = run_cli(capsys, "No pneumothorax. " * 100, "--max-bytes", "100")
    assert_one_line_error(code, err, "larger than 100 bytes")
    tally("report", "text argument over --max-bytes", 1, "exit 2, one line")


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_bad_max_bytes_exits_2(capsys, value):
    with pytest.raises(SystemExit) as stop:
        main(["report", "parse", "No effusion.", "--max-bytes", value])
    assert stop.value.code == 2
    assert "--max-bytes" in capsys.readouterr().err


def test_endless_stdin_stops_at_the_cap(tally):
    """``/dev/zero`` on stdin once ran to 4.6 GB and a MemoryError; now it reads cap + 1 bytes."""
    with open("/dev/zero", "rb") as zero:
        done = subprocess.run([sys.executable, "-m", "anatomy_vlm.cli", "report", "parse", "-"],
                              stdin=zero, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"anatomy-vlm: error: report from standard input is larger than {DEFAULT_MAX_BYTES} bytes (--max-bytes)"]
    tally("report", "endless stdin (/dev/zero)", 1, "exit 2, one line, read capped at 1 MiB + 1")


def test_binary_stdin_is_one_line(tally):
    done = subprocess.run([sys.executable, "-m", "anatomy_vlm.cli", "report", "parse", "-"],
                          input=b"\xff\xfe\x00\x81 no effusion", capture_output=True, timeout=120)
    assert done.returncode == 2 and b"UTF-8" in done.stderr and b"Traceback" not in done.stderr
    tally("report", "non-UTF-8 stdin", 1, "exit 2, one line")
