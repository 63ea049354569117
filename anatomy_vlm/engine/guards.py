"""NaN/inf guard: stop a run at the first non-finite loss term, naming the step and the term."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.distributed as dist

from anatomy_vlm.engine.distributed import collective_device, is_distributed
from anatomy_vlm.errors import AnatomyVLMError

__all__ = ["NonFiniteLossError", "check_finite"]


class NonFiniteLossError(AnatomyVLMError):
    """A loss term is NaN or infinite. ``term`` is None when it happened on another rank."""

    def __init__(self, step: int, term: str | None, value: float | None) -> None:
        self.step, self.term, self.value = step, term, value
        where = (f"loss term {term!r} is {value}" if term
                 else "a loss term on another rank is not finite")
        super().__init__(f"step {step}: {where} (lower the learning rate, check the data, "
                         "or resume from the last checkpoint)")


def _first_non_finite(value) -> float | None:
    if isinstance(value, torch.Tensor):
        flat = value.detach().reshape(-1)
        bad = flat[~torch.isfinite(flat)]
        return float(bad[0]) if bad.numel() else None
    number = float(value)
    return None if math.isfinite(number) else number


def check_finite(loss_terms: Mapping[str, torch.Tensor | float], step: int, *,
                 sync: bool | None = None) -> None:
    """Raise :class:`NonFiniteLossError` for the first non-finite term of ``loss_terms``.

    With ``sync`` (default: whenever a process group of more than one rank is up) the ranks
    agree through one all-reduce, so every rank raises at the same step instead of the healthy
    ones hanging in the next collective. A tensor term counts as non-finite when any element is.
    """
    bad_term, bad_value = None, None
    for name, value in loss_terms.items():
        number = _first_non_finite(value)
        if number is not None:
            bad_term, bad_value = name, number
            break
    if sync is None:
        sync = is_distributed()
    if sync and is_distributed():
        flag = torch.tensor([0.0 if bad_term is None else 1.0], device=collective_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if bad_term is None and flag.item() > 0:
            raise NonFiniteLossError(step, None, None)
    if bad_term is not None:
        raise NonFiniteLossError(step, bad_term, bad_value)
