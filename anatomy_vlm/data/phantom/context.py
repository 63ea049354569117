"""What one ``anatomy-vlm data phantom`` run is: its configuration, its jobs and the frozen
context every worker reads (handed to it as an argument, never through module state).

A leaf module: :mod:`.generate` (the parent), :mod:`.image_job` (the workers) and
:mod:`.dataset_files` import from here and never from each other in a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anatomy_vlm.data.phantom.sampler import DOMAINS
from anatomy_vlm.errors import ConfigError

__all__ = ["CARD_MARKER", "FORMAT_ID", "MARKER_NAME", "Job", "PhantomConfig", "RunContext"]

CARD_MARKER = "anatomy-vlm phantom dataset"
# The marker file a phantom output holds: its first line is the format id, the next lines the
# relative paths the generator wrote. Only a folder holding it is replaced by a new run.
MARKER_NAME = ".anatomy-vlm-phantom"
FORMAT_ID = "anatomy-vlm-phantom/1"


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
class Job:
    """One image to make: its index, subject and split (fixed by the plan)."""

    index: int
    subject_index: int
    split: str


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """Everything a worker needs besides its :class:`Job`, built once in the parent and never
    changed (the worker reads it; plain dicts so it pickles under the ``spawn`` start method).

    Attributes:
        config: the run's configuration.
        priors: location and co-occurrence priors (:class:`.sampler.Priors`).
        maps: label vocabularies (:class:`.vocab.LabelMaps`).
        hierarchy: cig36 region → its ``part_of`` ancestors in cig36 (from the KG).
        named_ancestor: anatomy id → nearest Chest ImaGenome-named ``part_of`` ancestor.
        root: the temporary folder the run writes into.
    """

    config: PhantomConfig
    priors: Any
    maps: Any
    hierarchy: dict[str, tuple[str, ...]]
    named_ancestor: dict[str, str]
    root: Path
