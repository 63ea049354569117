"""Ctrl-C / SIGTERM during training: finish the step, checkpoint, stop with 128 + signal.

:func:`stop_requests` swaps in handlers that only record the signal; the loop asks
:meth:`StopRequests.pending` after each optimiser step (all ranks agree through one all-reduce
under DDP, so they stop at the same step), saves a checkpoint when checkpointing is on and raises
:class:`TrainingInterrupted`. A second signal while the first is pending interrupts at once
(KeyboardInterrupt). Handlers can only be set from the main thread; elsewhere nothing changes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist

from anatomy_vlm.engine.distributed import collective_device, is_distributed

__all__ = ["TrainingInterrupted", "StopRequests", "stop_requests"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal after ``step``; ``checkpoint`` is the saved entry or None.

    A KeyboardInterrupt, so callers that do not know it (the quickstart, benchmarks) still end
    quietly through ``anatomy-vlm``'s own Ctrl-C handling (exit 130); ``anatomy-vlm train``
    reports it in one line with :attr:`exit_code` (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int, step: int, checkpoint: Path | None) -> None:
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        saved = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint (--checkpoint-every 0)"
        super().__init__(
            f"stopped by {signal.Signals(signum).name} after step {step}; {saved}"
        )

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopRequests:
    """Signals received since the handlers were set (newest last)."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def handle(self, signum: int, frame) -> None:
        if self.received:
            raise KeyboardInterrupt
        self.received.append(signum)

    def pending(self) -> int:
        """The signal to stop on (0: none); the maximum over ranks under DDP."""
        signum = self.received[0] if self.received else 0
        if is_distributed():
            flag = torch.tensor([float(signum)], device=collective_device())
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            signum = int(flag.item())
        return signum


@contextmanager
def stop_requests() -> Iterator[StopRequests]:
    """Record SIGINT / SIGTERM instead of dying inside a step; old handlers come back after."""
    requests = StopRequests()
    if threading.current_thread() is not threading.main_thread():
        yield requests
        return
    previous = {signum: signal.signal(signum, requests.handle) for signum in SIGNALS}
    try:
        yield requests
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
