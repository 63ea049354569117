"""Orchestration of ``anatomy-vlm data phantom``: plan, render in workers, write, publish atomically.

Image ``i`` gets its own generator ``np.random.default_rng([seed, i])``, so every image (and so
every byte of the dataset) is a function of ``(seed, i)`` alone, whatever ``workers`` is.
Workers render and write the per-image files and return a small record; the parent writes the
per-dataset files in index order. Everything is written under a temporary sibling folder and
renamed into place at the end, so an interrupted run never leaves a half-written dataset.

Output policy: ``out`` may be missing, an empty folder, or a previous phantom output (it holds
``phantom_truth.jsonl`` and a ``DATA_CARD.md`` that says so), which is replaced whole. Any other
non-empty folder is refused with :class:`ConfigError`.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anatomy_vlm.data.phantom.sampler import DOMAINS, build_priors
from anatomy_vlm.data.phantom.vocab import build_label_maps
from anatomy_vlm.errors import ConfigError

__all__ = ["PhantomConfig", "PhantomResult", "generate", "CARD_MARKER", "split_plan"]

CARD_MARKER = "anatomy-vlm phantom dataset"
SPLITS = ("train", "validate", "test")
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)


@dataclass(frozen=True, kw_only=True)
class PhantomConfig:
    """What to generate. ``size`` in pixels (square films), ``normal_fraction`` in [0, 1],
    ``workers`` 0 = one per CPU core (the output does not depend on it)."""

    out: Path
    n: int
    size: int = 512
    domain: str = "id"
    seed: int = 0
    workers: int = 1
    normal_fraction: float = 0.3

    def validate(self) -> None:
        """Raise :class:`ConfigError` on a bad value."""
        if not 1 <= self.n <= 1_000_000:
            raise ConfigError(f"--n must be between 1 and 1000000, got {self.n}")
        if not 128 <= self.size <= 1024:
            raise ConfigError(f"--size must be between 128 and 1024 pixels, got {self.size}")
        if self.domain not in DOMAINS:
            raise ConfigError(f"unknown --domain {self.domain!r}; choose from {', '.join(DOMAINS)}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"--seed must be a non-negative integer, got {self.seed}")
        if not 0 <= self.workers <= 256:
            raise ConfigError(f"--workers must be between 0 (one per core) and 256, got {self.workers}")
        if not 0.0 <= self.normal_fraction <= 1.0:
            raise ConfigError(f"--normal-fraction must be in [0, 1], got {self.normal_fraction}")


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
    prior_source: str = ""
    label_source: str = ""

    def to_json(self) -> dict:
        return {
            "out": self.out, "n": self.n, "size": self.size, "domain": self.domain, "seed": self.seed,
            "workers": self.workers, "seconds": round(self.seconds, 3),
            "images_per_s": round(self.n / max(self.seconds, 1e-9), 2), "splits": self.splits,
            "findings": self.findings, "prior_source": self.prior_source, "label_source": self.label_source,
        }


@dataclass(frozen=True)
class Job:
    """One image to make: its index, subject and split (fixed by the plan)."""

    index: int
    subject_index: int
    split: str


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


# Shared read-only state of one run, set in the parent before the pool forks.
_STATE: dict = {}


def generate(config: PhantomConfig) -> PhantomResult:
    """Write a phantom dataset to ``config.out`` (see module docstring for the output policy)."""
    from anatomy_vlm.data.phantom.dataset_files import finding_counts, write_dataset_files

    config.validate()
    out = Path(config.out).expanduser().resolve()
    _check_target(out)
    start = time.perf_counter()
    _tune_malloc()
    priors = build_priors()
    maps = build_label_maps()
    jobs = split_plan(config.seed, config.n)
    workers = config.workers or max(1, min(os.cpu_count() or 1, 8))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for sub in ("files", "scene_graph", "masks", "silver_dataset/splits"):
            (tmp / sub).mkdir(parents=True)
        _STATE.update(config=config, priors=priors, maps=maps, root=tmp)
        records = _run_jobs(jobs, workers)
        write_dataset_files(tmp, config, records, priors=priors, maps=maps)
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        _STATE.clear()
    seconds = time.perf_counter() - start
    return PhantomResult(
        out=str(out), n=config.n, size=config.size, domain=config.domain, seed=config.seed,
        workers=workers, seconds=seconds,
        splits={s: sum(j.split == s for j in jobs) for s in SPLITS},
        findings=finding_counts(records), prior_source=priors.source, label_source=maps.source,
    )


def _run_jobs(jobs: list[Job], workers: int) -> list[dict]:
    from anatomy_vlm.data.phantom.image_job import make_image

    if workers == 1 or len(jobs) < 2:
        return [make_image(job) for job in jobs]
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    chunk = max(1, min(16, len(jobs) // (workers * 4)))
    with context.Pool(processes=workers, initializer=_set_state, initargs=(dict(_STATE),)) as pool:
        return list(pool.imap(make_image, jobs, chunksize=chunk))


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


def _set_state(state: dict) -> None:
    """Pool initializer: the run's shared state (also works under the ``spawn`` start method)."""
    _STATE.clear()
    _STATE.update(state)


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    existing = next((p for p in out.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"--out {out}: {existing} is not a folder")
    if out.is_dir() and any(out.iterdir()) and not is_phantom_output(out):
        raise ConfigError(f"--out {out} is a non-empty folder that is not a phantom dataset; refusing to write into it")


def is_phantom_output(path: Path) -> bool:
    """True when ``path`` holds a dataset written by this generator (safe to replace)."""
    card = path / "DATA_CARD.md"
    if not (path / "phantom_truth.jsonl").is_file() or not card.is_file():
        return False
    try:
        return CARD_MARKER in card.read_text(encoding="utf-8")[:2000]
    except OSError:
        return False


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished dataset into place; a previous phantom output is replaced whole."""
    old = None
    if out.exists():
        if any(out.iterdir()):
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        else:
            out.rmdir()
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
