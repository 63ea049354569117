"""Every random-number generator a training step touches: capture, restore, seed — no pickle.

A resumed run continues with the exact next random draw only if every generator is restored:
Python's ``random``, numpy's global ``RandomState``, torch's CPU generator and one CUDA
generator per visible device. :class:`RNGState` holds them; its JSON half (Python's Mersenne
Twister words, numpy's bit-generator state) and tensor half (torch's ``ByteTensor`` states) are
stored as JSON + safetensors, never pickled.

Seeding rule (one place): every stream is ``derive_seed(base_seed, rank, epoch, stream)``, a
SeedSequence hash, so ranks, epochs and DataLoader workers never share a stream and a world
size change never shifts another rank's seed. Stream 0 is the rank's main process; DataLoader
worker ``w`` is stream ``w + 1`` (:func:`seed_worker`, :func:`make_worker_init_fn`).

Only the global generators are captured here; a generator object the loop owns (a
``torch.Generator`` for data order or augmentation) is part of the loop's state and is saved
with it (``engine.resume``).

Exact resumption with DataLoader workers: workers prefetch ahead of the step that is
checkpointed, so per-sample randomness (augmentation) that must replay bit for bit after a
resume should come from :func:`sample_rng` (a function of base seed, epoch and sample index),
not from a worker's running stream.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass

import numpy as np
import torch

from anatomy_vlm.engine.state_io import StateEncodingError, tensors_from_bytes, tensors_to_bytes

__all__ = [
    "RNGState",
    "capture_rng_state",
    "restore_rng_state",
    "derive_seed",
    "seed_everything",
    "seed_worker",
    "make_worker_init_fn",
    "sample_rng",
]


@dataclass(frozen=True)
class RNGState:
    """One process's generator states.

    - ``python``: ``[version, [625 ints], gauss_next]`` (``random.getstate()`` as JSON);
    - ``numpy``: numpy's legacy global state as ``{"bit_generator", "state": {"key": [624
      ints], "pos"}, "has_gauss", "gauss"}``;
    - ``torch_cpu``: ``[5056]`` uint8; ``torch_cuda``: one uint8 state per CUDA device (empty
      without CUDA).
    """

    python: list
    numpy: dict
    torch_cpu: torch.Tensor
    torch_cuda: tuple[torch.Tensor, ...] = ()

    def to_parts(self, prefix: str = "rng") -> tuple[dict, dict[str, torch.Tensor]]:
        """(JSON-safe dict, ``{name: tensor}``) with tensor names under ``prefix``."""
        tensors = {f"{prefix}.torch_cpu": self.torch_cpu}
        for device, state in enumerate(self.torch_cuda):
            tensors[f"{prefix}.torch_cuda.{device}"] = state
        meta = {"python": self.python, "numpy": self.numpy, "cuda_devices": len(self.torch_cuda)}
        return meta, tensors

    @classmethod
    def from_parts(cls, meta: dict, tensors: dict[str, torch.Tensor],
                   prefix: str = "rng") -> RNGState:
        """Inverse of :meth:`to_parts`; StateEncodingError when a part is missing."""
        try:
            cuda = tuple(tensors[f"{prefix}.torch_cuda.{d}"] for d in range(meta["cuda_devices"]))
            return cls(python=meta["python"], numpy=meta["numpy"],
                       torch_cpu=tensors[f"{prefix}.torch_cpu"], torch_cuda=cuda)
        except (KeyError, TypeError) as err:
            raise StateEncodingError(f"RNG state incomplete: missing {err}") from None

    def to_bytes(self) -> bytes:
        """One safetensors blob (JSON half in its metadata), e.g. to gather across ranks."""
        meta, tensors = self.to_parts()
        return tensors_to_bytes(tensors, metadata={"rng": json.dumps(meta)})

    @classmethod
    def from_bytes(cls, blob: bytes) -> RNGState:
        """Inverse of :meth:`to_bytes`."""
        try:  # safetensors' header: 8-byte little-endian length, then JSON with __metadata__
            header_len = int.from_bytes(blob[:8], "little")
            header = json.loads(blob[8:8 + header_len])
            meta = json.loads(header["__metadata__"]["rng"])
        except (ValueError, KeyError, TypeError) as err:
            raise StateEncodingError(f"not an RNG state blob ({err})") from None
        return cls.from_parts(meta, tensors_from_bytes(blob))


def capture_rng_state() -> RNGState:
    """Snapshot of every generator in this process (CUDA ones only where CUDA is initialised)."""
    version, words, gauss_next = random.getstate()
    legacy = np.random.get_state(legacy=False)
    numpy_state = {
        "bit_generator": legacy["bit_generator"],
        "state": {"key": [int(k) for k in legacy["state"]["key"]],
                  "pos": int(legacy["state"]["pos"])},
        "has_gauss": int(legacy["has_gauss"]),
        "gauss": float(legacy["gauss"]),
    }
    cuda = ()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = tuple(state.clone() for state in torch.cuda.get_rng_state_all())
    return RNGState(python=[version, list(words), gauss_next], numpy=numpy_state,
                    torch_cpu=torch.get_rng_state().clone(), torch_cuda=cuda)


def restore_rng_state(state: RNGState) -> None:
    """Put every generator back to ``state`` (CUDA states for as many devices as both have)."""
    version, words, gauss_next = state.python
    random.setstate((version, tuple(words), gauss_next))
    numpy_state = dict(state.numpy)
    numpy_state["state"] = {"key": np.asarray(state.numpy["state"]["key"], dtype=np.uint32),
                            "pos": state.numpy["state"]["pos"]}
    np.random.set_state(numpy_state)
    torch.set_rng_state(state.torch_cpu.to(torch.uint8))
    if state.torch_cuda and torch.cuda.is_available():
        for device in range(min(len(state.torch_cuda), torch.cuda.device_count())):
            torch.cuda.set_rng_state(state.torch_cuda[device].to(torch.uint8), device)


def derive_seed(base_seed: int, *, rank: int = 0, epoch: int = 0, stream: int = 0) -> int:
    """A 32-bit seed for (base seed, rank, epoch, stream); distinct inputs → independent streams."""
    if min(base_seed, rank, epoch, stream) < 0:
        raise ValueError("seed, rank, epoch and stream must be non-negative")
    return int(np.random.SeedSequence([base_seed, rank, epoch, stream]).generate_state(1)[0])


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def seed_everything(base_seed: int, *, rank: int = 0) -> int:
    """Seed Python, numpy and torch (CPU + CUDA) for this rank's main process; the seed used."""
    seed = derive_seed(base_seed, rank=rank)
    _seed_all(seed)
    return seed


def seed_worker(worker_id: int, *, base_seed: int, rank: int = 0, epoch: int = 0) -> None:
    """DataLoader ``worker_init_fn`` body: seed this worker's generators from its own stream."""
    _seed_all(derive_seed(base_seed, rank=rank, epoch=epoch, stream=worker_id + 1))


def make_worker_init_fn(base_seed: int, *, rank: int = 0, epoch: int = 0):
    """A picklable ``worker_init_fn`` for ``DataLoader`` (set it again each epoch:
    ``loader.worker_init_fn = make_worker_init_fn(seed, rank=rank, epoch=epoch)``)."""
    return functools.partial(seed_worker, base_seed=base_seed, rank=rank, epoch=epoch)


def sample_rng(base_seed: int, *, epoch: int, index: int) -> np.random.Generator:
    """A generator for one sample's randomness in one epoch: independent of rank, worker and
    prefetch, so a resumed run replays the same augmentation for the same sample."""
    return np.random.default_rng(np.random.SeedSequence([base_seed, epoch, index, 0x5A]))
