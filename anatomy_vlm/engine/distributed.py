"""torchrun support: process group set-up, a few collectives, the batch rule, a resumable sampler.

Launch: ``torchrun --nproc_per_node N -m anatomy_vlm.cli train ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed`
reads them (NCCL on GPUs, gloo on CPU). Without ``WORLD_SIZE`` (or with 1) it is a no-op and
every helper here behaves as the single process it is.

The batch rule — the global batch and the schedule do not depend on the world size:

- ``global_batch`` (samples per optimizer step, summed over ranks) is the configured number;
  it must be a multiple of ``world_size``. Each rank takes ``global_batch / world_size``.
- When that share exceeds ``max_micro_batch`` (memory), each rank accumulates gradients over
  ``accumulation_steps`` micro-batches of ``micro_batch`` samples (the smallest count that
  splits the share evenly), scaling each micro-batch loss by ``1 / accumulation_steps``
  (under DDP, inside ``model.no_sync()`` for all but the last micro-batch).
- So ``micro_batch * accumulation_steps * world_size == global_batch`` always; the optimizer
  takes the same number of steps per epoch and the LR schedule (counted in optimizer steps)
  is unchanged. DDP averages gradients over ranks; with equal per-rank batches that average is
  the single-process mean over the global batch.
- :class:`ResumableDistributedSampler` deals the global order rank-strided
  (``order[rank::world_size]``), so optimizer step ``k`` on all ranks together sees exactly
  ``order[k * global_batch:(k + 1) * global_batch]`` — the same samples a single process sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sized
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from anatomy_vlm.engine.rng import RNGState
from anatomy_vlm.errors import ConfigError

__all__ = [
    "DistContext",
    "init_distributed",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main",
    "barrier",
    "all_reduce_mean",
    "gather_rng_states",
    "cleanup",
    "BatchPlan",
    "plan_batches",
    "ResumableDistributedSampler",
]

SAMPLER_FORMAT = "anatomy-vlm-sampler/1"


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``backend`` is None for a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: str = "cpu"


def _env_int(name: str, default: int | None = None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None


def init_distributed(*, backend: str | None = None) -> DistContext:
    """Join the process group torchrun describes in the environment (idempotent).

    Returns a single-process :class:`DistContext` when ``WORLD_SIZE`` is unset or 1. Raises
    ConfigError when the variables are inconsistent (rank outside the world, no master address).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ConfigError(f"RANK={rank} / WORLD_SIZE={world_size} / LOCAL_RANK={local_rank} "
                          "do not describe a process in the world")
    use_cuda = torch.cuda.is_available()
    device = f"cuda:{local_rank}" if use_cuda else "cpu"
    if world_size == 1:
        return DistContext(device="cuda:0" if use_cuda else "cpu")
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name):
            raise ConfigError(
                f"WORLD_SIZE={world_size} but {name} is not set (launch with torchrun)")
    backend = backend or ("nccl" if use_cuda else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://",
                                rank=rank, world_size=world_size)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank,
                       backend=backend, device=device)


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0 (or a single process): the one that writes checkpoints, logs and the run dir."""
    return get_rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def collective_device() -> torch.device:
    """Where collective tensors must live: the current CUDA device under NCCL, else CPU."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over ranks (a detached copy; ``value`` itself is untouched)."""
    result = value.detach().clone()
    if not is_distributed():
        return result
    moved = result.to(collective_device())
    dist.all_reduce(moved, op=dist.ReduceOp.SUM)
    return (moved / dist.get_world_size()).to(value.device)


def gather_rng_states(state: RNGState) -> list[RNGState]:
    """Every rank's RNG state, in rank order, on every rank (collective; no pickle: each state
    travels as its safetensors bytes in a padded uint8 tensor)."""
    if not is_distributed():
        return [state]
    device = collective_device()
    blob = torch.frombuffer(bytearray(state.to_bytes()), dtype=torch.uint8).to(device)
    size = torch.tensor([blob.numel()], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    longest = int(max(int(s) for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8, device=device)
    padded[: blob.numel()] = blob
    gathered = [torch.zeros_like(padded) for _ in sizes]
    dist.all_gather(gathered, padded)
    return [RNGState.from_bytes(g[: int(n)].cpu().numpy().tobytes())
            for g, n in zip(gathered, sizes, strict=True)]


def cleanup() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@dataclass(frozen=True)
class BatchPlan:
    """How one optimizer step's ``global_batch`` samples are split: each of ``world_size``
    ranks runs ``accumulation_steps`` micro-batches of ``micro_batch`` samples."""

    global_batch: int
    world_size: int
    micro_batch: int
    accumulation_steps: int

    @property
    def per_rank_batch(self) -> int:
        return self.micro_batch * self.accumulation_steps


def plan_batches(global_batch: int, world_size: int, *,
                 max_micro_batch: int | None = None) -> BatchPlan:
    """The batch rule (module docstring). ConfigError when ``global_batch`` does not split evenly
    over ``world_size`` ranks."""
    if global_batch < 1 or world_size < 1:
        raise ConfigError(
            f"global batch ({global_batch}) and world size ({world_size}) must be >= 1")
    if global_batch % world_size:
        lower = global_batch // world_size * world_size
        options = " or ".join(str(n) for n in (lower, lower + world_size) if n > 0)
        raise ConfigError(f"global batch {global_batch} does not split over {world_size} ranks; "
                          f"use a multiple of {world_size} ({options})")
    share = global_batch // world_size
    if max_micro_batch is not None and max_micro_batch < 1:
        raise ConfigError(f"max micro-batch must be >= 1, got {max_micro_batch}")
    limit = share if max_micro_batch is None else max_micro_batch
    accumulation = next(a for a in range(1, share + 1) if share % a == 0 and share // a <= limit)
    return BatchPlan(global_batch, world_size, share // accumulation, accumulation)


class ResumableDistributedSampler(Sampler[int]):
    """A ``DistributedSampler`` whose position can be saved and restored mid-epoch.

    Epoch ``e``'s global order is a permutation seeded by (``seed``, ``e``) (or ``0..N-1``
    unshuffled), cut (``drop_last``) or wrapped around (padding) to a multiple of ``unit`` —
    ``global_batch`` when given, else ``world_size`` — so every world size sees the same
    global batches. Rank ``r`` gets ``order[r::world_size]``.

    The position counts samples the training loop has *consumed*: the loop calls
    :meth:`advance` after each micro-batch (DataLoader workers prefetch ahead, so the sampler
    cannot count for it). :meth:`state_dict` stores the epoch and the global position, so a
    resume (even with another world size that divides the position) yields exactly the next
    sample. :meth:`set_epoch` with the current epoch keeps the position; a new epoch starts at 0.
    """

    def __init__(self, dataset: Sized | int, *, num_replicas: int | None = None,
                 rank: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, global_batch: int | None = None) -> None:
        self.num_samples_total = dataset if isinstance(dataset, int) else len(dataset)
        self.world_size = get_world_size() if num_replicas is None else num_replicas
        self.rank = get_rank() if rank is None else rank
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(f"rank {self.rank} outside a world of {self.world_size}")
        self.unit = global_batch or self.world_size
        if self.unit % self.world_size:
            raise ConfigError(
                f"global batch {self.unit} is not a multiple of {self.world_size} ranks")
        if self.num_samples_total < (self.unit if drop_last else 1):
            raise ConfigError(
                f"{self.num_samples_total} samples are too few for batches of {self.unit}")
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        self.position = 0  # samples of this rank's share consumed in this epoch

    @property
    def total_size(self) -> int:
        """Samples per epoch over all ranks (after cut or padding)."""
        n, unit = self.num_samples_total, self.unit
        return n // unit * unit if self.drop_last else -(-n // unit) * unit

    @property
    def per_rank(self) -> int:
        return self.total_size // self.world_size

    @property
    def epoch_finished(self) -> bool:
        return self.position >= self.per_rank

    def global_order(self, epoch: int) -> np.ndarray:
        """Epoch ``epoch``'s sample order over all ranks, ``[total_size]`` int64."""
        n = self.num_samples_total
        if self.shuffle:
            seq = np.random.SeedSequence([self.seed, epoch, 0x53414D50])  # "SAMP"
            order = np.random.default_rng(seq).permutation(n)
        else:
            order = np.arange(n)
        if self.total_size > n:
            order = np.resize(order, self.total_size)  # wraps around from the start
        return order[: self.total_size].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        mine = self.global_order(self.epoch)[self.rank :: self.world_size]
        return iter(mine[self.position :].tolist())

    def __len__(self) -> int:
        return self.per_rank - self.position

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def advance(self, consumed: int) -> None:
        """Record that the loop consumed ``consumed`` more of this rank's samples."""
        if consumed < 0 or self.position + consumed > self.per_rank:
            raise ValueError(f"cannot advance by {consumed}: {len(self)} samples left in epoch")
        self.position += consumed

    def state_dict(self) -> dict:
        return {"format": SAMPLER_FORMAT, "epoch": self.epoch,
                "global_position": self.position * self.world_size,
                "num_samples": self.num_samples_total, "seed": self.seed,
                "shuffle": self.shuffle, "drop_last": self.drop_last, "unit": self.unit}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``; ConfigError when it belongs to another dataset or order."""
        if not isinstance(state, dict) or state.get("format") != SAMPLER_FORMAT:
            raise ConfigError("sampler state is not an anatomy-vlm sampler state")
        mine = self.state_dict()
        for key in ("num_samples", "seed", "shuffle", "drop_last", "unit"):
            if state[key] != mine[key]:
                raise ConfigError(f"cannot resume the sampler: {key} was {state[key]!r}, "
                                  f"now {mine[key]!r}")
        position = int(state["global_position"])
        if position % self.world_size or not 0 <= position <= self.total_size:
            raise ConfigError(f"cannot resume the sampler at global position {position} "
                              f"with {self.world_size} ranks")
        self.epoch, self.position = int(state["epoch"]), position // self.world_size
