"""Checkpoint and resume a training loop: the glue between the loop's state and checkpoint.py.

The loop keeps what changes in one state object (``loop.TrainState``): ``model``,
``optimizer``, ``scheduler``, ``step`` and, where present, ``generator`` (the torch.Generator
behind data order and augmentation), ``best_score`` / ``best_step`` / ``best_weights`` /
``best_scoring`` and ``history``. A few loop locals (the rest of the epoch's sample order)
travel as ``loop``. :func:`save_train_state` stores all of it with every RNG state;
:func:`resume_train_state` puts it back so the run continues with the exact next step.

Plugging it into a loop (``checkpoint_every`` / ``keep`` / ``resume`` from the CLI)::

    if resume:
        restored = resume_train_state(out, state, config=config.to_json())
        order = restored["order"] if restored else order
    else:
        discard_checkpoints(out)  # a fresh run must never resume an older one later
    while state.step < config.steps:
        ...one step...
        if checkpoint_every and state.step % checkpoint_every == 0:
            save_train_state(out, state, loop={"order": order}, config=config.to_json(), keep=keep)

Under DDP every rank calls both functions (they gather RNG states and meet at a barrier);
rank 0 writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from anatomy_vlm.engine.checkpoint import resume_latest, save_checkpoint
from anatomy_vlm.engine.distributed import barrier, gather_rng_states, is_main
from anatomy_vlm.engine.rng import capture_rng_state
from anatomy_vlm.errors import ConfigError

__all__ = ["TRACKED", "config_fingerprint", "save_train_state", "resume_train_state"]

TRACKED = ("step", "best_score", "best_step", "best_weights", "best_scoring", "history")
log = logging.getLogger(__name__)


def config_fingerprint(config: dict) -> str:
    """SHA-256 of a config's canonical JSON (sorted keys): what a resume must match."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def save_train_state(run_dir: Path | str, state, *, loop: dict | None = None,
                     config: dict | None = None, keep: int | None = None, sampler=None,
                     scaler=None) -> Path | None:
    """Checkpoint ``state`` at ``state.step``; the entry's path on rank 0, None elsewhere.

    ``loop``: loop locals to restore (tensors, numbers, strings, lists, dicts); ``config``: the
    training config as JSON, whose fingerprint a resume must match; ``sampler``: a
    :class:`~anatomy_vlm.engine.distributed.ResumableDistributedSampler`, if the loop uses one.
    """
    rng_states = gather_rng_states(capture_rng_state())  # collective: every rank
    path = None
    if is_main():
        extra = {"train_state": {k: getattr(state, k) for k in TRACKED if hasattr(state, k)},
                 "loop": dict(loop or {}),
                 "config_sha256": None if config is None else config_fingerprint(config)}
        if getattr(state, "generator", None) is not None:
            extra["generator"] = state.generator.get_state()
        path = save_checkpoint(run_dir, state.step, model=state.model, optimizer=state.optimizer,
                               scheduler=state.scheduler, scaler=scaler, rng_state=rng_states,
                               sampler_state=None if sampler is None else sampler.state_dict(),
                               extra=extra, keep=keep)
    barrier()
    return path


def resume_train_state(run_dir: Path | str, state, *, config: dict | None = None, sampler=None,
                       scaler=None) -> dict | None:
    """Restore ``state`` (in place) from the newest sound checkpoint of ``run_dir``.

    Returns the saved ``loop`` dict plus ``"step"`` and ``"path"``, or None when the run has no
    checkpoint (the caller starts from scratch). ConfigError when the checkpoint was written
    with another training config.
    """
    restored = resume_latest(run_dir, model=state.model, optimizer=state.optimizer,
                             scheduler=state.scheduler, scaler=scaler)
    if restored is None:
        return None
    extra = restored.extra
    saved_sha = extra.get("config_sha256")
    if config is not None and saved_sha is not None and saved_sha != config_fingerprint(config):
        raise ConfigError(f"{restored.path}: written with another training config; resume with "
                          "the same config, or start a new run without --resume")
    for name, value in extra.get("train_state", {}).items():
        setattr(state, name, value)
    if "generator" in extra and getattr(state, "generator", None) is not None:
        state.generator.set_state(extra["generator"])
    if sampler is not None and restored.sampler_state is not None:
        sampler.load_state_dict(restored.sampler_state)
    log.info("resumed from %s (step %d)", restored.path, restored.step)
    return {**extra.get("loop", {}), "step": restored.step, "path": restored.path}
