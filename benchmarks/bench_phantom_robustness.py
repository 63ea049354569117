"""``anatomy-vlm data phantom`` against hostile output folders and signals (issue 9).

Every input goes through a fresh CLI process, as a user would run it; for each, the exit status,
the stderr line, and what is left on disk (a canary file, the old output, temporary folders).
Writes ``benchmarks/results/robustness_phantom.{json,md}``.

Run: ``.venv/bin/python -m benchmarks.bench_phantom_robustness``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._machine import write_result

SMALL = ["--n", "2", "--size", "128", "--seed", "3", "--workers", "1"]


def _cli(out: Path | str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anatomy_vlm.cli", "data", "phantom", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=600)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".ds."))


def _row(kind: str, given: str, proc, **checks) -> dict:
    err = proc.stderr.strip().splitlines() if isinstance(proc.stderr, str) else []
    return {"class": kind, "input": given, "exit": proc.returncode, "stderr_lines": len(err),
            "stderr": err[-1] if err else "", "traceback": any("Traceback" in line for line in err), **checks}


def folder_cases(tmp: Path) -> list[dict]:
    rows = []
    for where in ("notes.txt", "files/notes.txt", "masks/link -> a folder elsewhere"):
        case = tmp / f"canary_{len(rows)}"
        out = case / "ds"
        case.mkdir()
        _cli(out, *SMALL)
        if "->" in where:
            (case / "elsewhere").mkdir()
            (case / "elsewhere" / "precious.txt").write_text("keep me")
            (out / "masks" / "link").symlink_to(case / "elsewhere")
            canary = case / "elsewhere" / "precious.txt"
        else:
            canary = out / where
            canary.write_text("keep me")
        before = _digest(out)
        proc = _cli(out, *SMALL[:1], "3", *SMALL[2:])
        rows.append(_row("user file beside an old output", where, proc, canary_kept=canary.read_text() == "keep me",
                         old_output_unchanged=_digest(out) == before, temp_left=_hidden(case)))
    for label, edit in (("marker deleted (an unmarked older output)", "delete"),
                        ("marker with another format id", "foreign")):
        case = tmp / f"marker_{edit}"
        out = case / "ds"
        case.mkdir()
        _cli(out, *SMALL)
        marker = out / ".anatomy-vlm-phantom"
        marker.unlink() if edit == "delete" else marker.write_text("some-other-tool/1\n")
        before = _digest(out)
        proc = _cli(out, *SMALL)
        rows.append(_row("old output not recognised", label, proc, old_output_unchanged=_digest(out) == before,
                         temp_left=_hidden(case)))
    case = tmp / "own"
    out = case / "ds"
    case.mkdir()
    _cli(out, "--n", "4", *SMALL[2:])
    proc = _cli(out, *SMALL)
    fresh = case / "fresh"
    _cli(fresh, *SMALL)
    rows.append(_row("own output replaced", "n=4 output, rerun with n=2", proc,
                     same_as_fresh_run=_digest(out) == _digest(fresh), temp_left=_hidden(case)))
    return rows


def path_cases(tmp: Path) -> list[dict]:
    (tmp / "loop").symlink_to(tmp / "loop")
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    (tmp / "file").write_text("keep me")
    paths = {"/proc/x": "/proc/x", "/proc/self/x": "/proc/self/x", "/sys/x": "/sys/x",
             "symlink to itself": tmp / "loop", "under a symlink to itself": tmp / "loop" / "x",
             "under a two-link loop": tmp / "a" / "x", "a regular file": tmp / "file",
             "under a regular file": tmp / "file" / "x", "under /dev/null": "/dev/null/x",
             "a 300-character name": tmp / ("x" * 300)}
    rows = []
    for label, path in paths.items():
        before = sorted(p.name for p in tmp.iterdir())
        proc = _cli(path, *SMALL)
        rows.append(_row("unwritable or looping --out", label, proc,
                         nothing_written=sorted(p.name for p in tmp.iterdir()) == before))
    return rows


def signal_cases(tmp: Path) -> list[dict]:
    rows = []
    for sig, old in ((signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)):
        case = tmp / f"sig_{sig.name}_{int(old)}"
        out = case / "ds"
        case.mkdir()
        before = None
        if old:
            _cli(out, *SMALL)
            before = _digest(out)
        cmd = [sys.executable, "-m", "anatomy_vlm.cli", "data", "phantom", "--out", str(out), "--n", "3000",
               "--size", "256", "--workers", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        start, images = time.monotonic(), 0
        while time.monotonic() - start < 120 and images < 4:
            images = sum(1 for tmp_dir in case.glob(".ds.tmp-*") for _ in (tmp_dir / "files").rglob("*.jpg"))
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        proc.stderr = err
        label = f"{sig.name} after {images} images" + (" (rerun over an old output)" if old else "")
        rows.append(_row("stopped by a signal", label, proc, temp_left=_hidden(case),
                         out_state=("old output unchanged" if _digest(out) == before else "old output CHANGED")
                         if old else ("absent" if not out.exists() else "PRESENT")))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for sub in ("folders", "paths", "signals"):
            (base / sub).mkdir()
        rows = folder_cases(base / "folders") + path_cases(base / "paths") + signal_cases(base / "signals")
    cols = [k for k in rows[0] if k not in ("class", "input", "exit", "stderr", "stderr_lines", "traceback")]
    lines = ["# `anatomy-vlm data phantom`: hostile output folders and signals (issue 9)", "",
             "Each input through a fresh CLI process (`python -m benchmarks.bench_phantom_robustness`); "
             "exit status, stderr (lines; the last one shown), and what is left on disk. Expected: a refusal "
             "is exit 2 with one line and nothing touched; a signal ends the run with 128 + N and no "
             "temporary folder; a user's file always survives.", "",
             "| class | input | exit | stderr lines | traceback | checks | stderr |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        checks = ", ".join(f"{k}={r[k]}" for k in r if k not in ("class", "input", "exit", "stderr",
                                                                 "stderr_lines", "traceback"))
        lines.append(f"| {r['class']} | {r['input']} | {r['exit']} | {r['stderr_lines']} | {r['traceback']} | "
                     f"{checks} | {r['stderr'].replace('|', '/').replace(tmp, '<tmp>')} |")
    del cols
    write_result("robustness_phantom", {"rows": [{**r, "stderr": r["stderr"].replace(tmp, "<tmp>")} for r in rows]},
                 markdown="\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
