"""Orchestration of ``anatomy-vlm data phantom``: plan, render in workers, write, publish.

Image ``i`` gets its own generator ``np.random.default_rng([seed, i])``, so every image (and so
every byte of the dataset) is a function of ``(seed, i)`` alone, whatever ``workers`` is.
Workers render and write the per-image files and return a small record; the parent writes the
per-dataset files in index order. Workers get the run's frozen :class:`RunContext` as an
argument (``functools.partial``), never through module state.

Nothing is lost (issue 9):

- Everything is written under a temporary sibling folder and renamed into place at the end, so
  an interrupted run never leaves a half-written dataset. SIGTERM and SIGINT remove that folder
  and end the run with :class:`Interrupted` (the CLI exits 128 + the signal number).
- ``out`` may be missing, an empty folder, or a previous phantom output, recognised by its
  marker file (:data:`MARKER_NAME`: the format id, then every file it wrote), never by guessing.
  A folder holding anything else (a file a user put beside the dataset, an older output with no
  marker) is refused with :class:`ConfigError` before anything is written. Replacing an output
  removes only the files its marker lists.
- An output path that cannot be written (``/proc/x``, under a regular file, a symlink loop, no
  permission) is a :class:`ConfigError`: one line, exit 2.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anatomy_vlm.data.phantom.context import (
    CARD_MARKER,
    FORMAT_ID,
    MARKER_NAME,
    Job,
    PhantomConfig,
    RunContext,
)
from anatomy_vlm.data.phantom.dataset_files import (
    finding_counts,
    omitted_counts,
    write_dataset_files,
)
from anatomy_vlm.data.phantom.image_job import make_image, nearest_named_ancestors
from anatomy_vlm.data.phantom.regions import CIG36
from anatomy_vlm.data.phantom.sampler import build_priors
from anatomy_vlm.data.phantom.vocab import build_label_maps
from anatomy_vlm.data.region_truth import region_hierarchy
from anatomy_vlm.errors import ConfigError

__all__ = ["PhantomConfig", "PhantomResult", "Interrupted", "generate", "CARD_MARKER", "split_plan",
           "is_phantom_output"]

SPLITS = ("train", "validate", "test")
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)


class Interrupted(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt
    """The run was stopped by a signal (its temporary folder is already removed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


@dataclass(frozen=True)
class PhantomResult:
    """Summary of a run (printed by the CLI; ``--json`` prints :meth:`to_json`)."""

    out: str
    n: int
    size: int
    domain: str
    seed: int
    workers: int
    seconds: float
    splits: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    regions_omitted: dict[str, int] = field(default_factory=dict)
    prior_source: str = ""
    label_source: str = ""

    def to_json(self) -> dict:
        return {
            "out": self.out, "n": self.n, "size": self.size, "domain": self.domain, "seed": self.seed,
            "workers": self.workers, "seconds": round(self.seconds, 3),
            "images_per_s": round(self.n / max(self.seconds, 1e-9), 2), "splits": self.splits,
            "findings": self.findings, "regions_omitted": self.regions_omitted,
            "prior_source": self.prior_source, "label_source": self.label_source,
        }


def split_plan(seed: int, n: int) -> list[Job]:
    """Subjects (1–3 studies each) and patient-level splits, a pure function of ``(seed, n)``."""
    rng = np.random.default_rng([seed, 0x5B1D])
    subject_of: list[int] = []
    subject = 0
    while len(subject_of) < n:
        subject_of.extend([subject] * int(rng.choice([1, 1, 1, 2, 2, 3])))
        subject += 1
    subject_of = subject_of[:n]
    n_subjects = subject_of[-1] + 1
    order = rng.permutation(n_subjects)
    cuts = np.floor(np.cumsum(SPLIT_FRACTIONS) * n_subjects).astype(int)
    if n_subjects >= 3:  # every split holds at least one patient
        cuts[0] = min(max(cuts[0], 1), n_subjects - 2)
        cuts[1] = min(max(cuts[1], cuts[0] + 1), n_subjects - 1)
    split_of = {}
    for rank, s in enumerate(order):
        split_of[int(s)] = SPLITS[int(np.searchsorted(cuts[:2], rank, side="right"))]
    return [Job(index=i, subject_index=s, split=split_of[s]) for i, s in enumerate(subject_of)]


def generate(config: PhantomConfig) -> PhantomResult:
    """Write a phantom dataset to ``config.out`` (see module docstring for the output policy)."""
    config.validate()
    out = _target(config.out)
    start = time.perf_counter()
    _tune_malloc()
    from anatomy_vlm.kgload import load_kg

    graph = load_kg()
    priors = build_priors(graph)
    maps = build_label_maps(graph)
    jobs = split_plan(config.seed, config.n)
    workers = config.workers or max(1, min(os.cpu_count() or 1, 8))
    with _stop_on_signals():
        tmp = _make_tmp(out)
        try:
            for sub in ("files", "scene_graph", "masks", "silver_dataset/splits"):
                (tmp / sub).mkdir(parents=True)
            context = RunContext(config=config, priors=priors, maps=maps,
                                 hierarchy=region_hierarchy(CIG36, graph=graph),
                                 named_ancestor=nearest_named_ancestors(graph), root=tmp)
            records = _run_jobs(context, jobs, workers)
            write_dataset_files(tmp, config, records, priors=priors, maps=maps)
            _write_marker(tmp)
            with _signals_held():  # a signal now waits until the old output is swapped out whole
                _publish(tmp, out)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ConfigError(f"--out {out}: cannot write the dataset ({_reason(err)})") from err
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    seconds = time.perf_counter() - start
    return PhantomResult(
        out=str(out), n=config.n, size=config.size, domain=config.domain, seed=config.seed,
        workers=workers, seconds=seconds,
        splits={s: sum(j.split == s for j in jobs) for s in SPLITS},
        findings=finding_counts(records), regions_omitted=omitted_counts(records),
        prior_source=priors.source, label_source=maps.source,
    )


def _run_jobs(context: RunContext, jobs: list[Job], workers: int) -> list[dict]:
    work = functools.partial(make_image, context)
    if workers == 1 or len(jobs) < 2:
        return [work(job) for job in jobs]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    chunk = max(1, min(16, len(jobs) // (workers * 4)))
    with multiprocessing.get_context(method).Pool(processes=workers, initializer=_worker_signals) as pool:
        return list(pool.imap(work, jobs, chunksize=chunk))


def _worker_signals() -> None:
    """Pool initializer: a worker dies on SIGTERM (the parent's ``terminate``) and leaves SIGINT
    to the parent, which cleans up; it must not inherit the parent's handlers through fork."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM / SIGINT raise :class:`Interrupted` in the main thread while the run writes, so
    the ``except`` blocks remove the temporary folder; previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    owner = os.getpid()

    def stop(signum, _frame):
        if os.getpid() != owner:  # a worker forked before its initializer ran: die as by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Interrupted(signum)

    saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Block SIGTERM / SIGINT (main thread, POSIX) for the few renames of :func:`_publish`, so a
    stop never leaves ``out`` missing and the old output in a hidden folder; a signal that came
    meanwhile is delivered when they are unblocked."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _tune_malloc() -> None:
    """Keep freed image-sized buffers in the heap (glibc only; no-op elsewhere).

    Rendering allocates and frees many ``[S, S]`` float arrays; above glibc's default 128 KiB
    mmap threshold each one is a fresh mmap whose pages fault in again (≈ 1,300 minor page
    faults per 256 px image, a third of the CPU time as system time). Raising the threshold and
    the trim threshold lets the allocator reuse them. Workers inherit it through fork.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD (glibc's maximum on 64-bit)
        libc.mallopt(-1, 256 * 2**20)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, 32 * 2**20)  # M_TOP_PAD
    except (OSError, AttributeError):  # not glibc
        pass


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _target(out: Path) -> Path:
    """The absolute output folder, checked before anything is written (ConfigError otherwise)."""
    out = Path(out).expanduser()
    try:
        out = out.resolve()  # symlinks followed, so the dataset lands where the link points
    except (OSError, RuntimeError) as err:  # a symlink loop
        raise ConfigError(f"--out {out}: cannot resolve the path (symlink loop?)") from err
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a folder")
        existing = next((p for p in (out, *out.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ConfigError(f"--out {out}: {existing} is not a folder")
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"--out {out}: {existing} is not writable")
        if out.is_dir():
            foreign = _foreign_entry(out)
            if foreign is not None:
                raise ConfigError(f"--out {out} {foreign}; refusing to replace it (choose an empty or new folder)")
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot inspect the path ({_reason(err)})") from err
    return out


def _make_tmp(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot create a folder there ({_reason(err)})") from err


def _written(root: Path) -> list[str]:
    """Relative POSIX paths of every file under ``root`` (sorted), the marker itself excluded."""
    out = []
    for folder, _dirs, names in os.walk(root):
        rel = Path(folder).relative_to(root)
        out.extend((rel / name).as_posix() for name in names)
    return sorted(p for p in out if p != MARKER_NAME)


def _write_marker(root: Path) -> None:
    (root / MARKER_NAME).write_text("\n".join([FORMAT_ID, *_written(root)]) + "\n", encoding="utf-8")


def _listed(path: Path) -> set[str] | None:
    """The files the marker of ``path`` lists; None when there is no valid marker."""
    try:
        lines = (path / MARKER_NAME).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != FORMAT_ID:
        return None
    return set(lines[1:])


def _foreign_entry(path: Path) -> str | None:
    """Why the folder ``path`` is not (only) a phantom output, e.g. "holds 'notes.txt', which
    this generator did not write"; None when it is empty or holds exactly a marked output."""
    entries = _written(path)
    if not entries and not (path / MARKER_NAME).exists():
        return None  # an empty folder (empty sub-folders are harmless)
    listed = _listed(path)
    if listed is None:
        return (f"is not empty ({entries[0] if entries else MARKER_NAME!r}, ...) and has no valid "
                f"{MARKER_NAME} marker naming it a phantom output ({FORMAT_ID})")
    for entry in entries:
        if entry not in listed:
            return f"holds {entry!r}, which this generator did not write"
    for folder, dirs, _names in os.walk(path):  # links to folders are not walked: never ours
        for name in dirs:
            if (Path(folder) / name).is_symlink():
                link = (Path(folder) / name).relative_to(path).as_posix()
                return f"holds {link!r}, a link this generator did not write"
    return None


def is_phantom_output(path: Path) -> bool:
    """True when ``path`` holds a dataset written by this generator and nothing else."""
    return Path(path).is_dir() and _listed(Path(path)) is not None and _foreign_entry(Path(path)) is None


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished dataset into place; a previous output loses only the files it listed."""
    old = None
    if out.exists():
        listed = _listed(out)
        if listed is not None:
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        else:  # empty but for empty folders (checked before the run); rmdir never removes a file
            for sub, _dirs, _names in sorted(os.walk(out), key=lambda w: -len(w[0])):
                os.rmdir(sub)
    os.replace(tmp, out)
    if old is not None:
        _remove_listed(old, listed)


def _remove_listed(folder: Path, listed: set[str]) -> None:
    """Delete the listed files and the marker, then folders left empty; anything else stays."""
    for rel in (*listed, MARKER_NAME):
        try:
            (folder / rel).unlink()
        except FileNotFoundError:
            pass
    for sub, _dirs, _names in sorted(os.walk(folder), key=lambda w: -len(w[0])):
        try:
            os.rmdir(sub)
        except OSError:  # not empty: a file appeared during the run; it is kept, and said so
            if sub == str(folder):
                print(f"anatomy-vlm: warning: files added to {folder.name[1:]} during the run were kept in "
                      f"{folder}", file=sys.stderr)
