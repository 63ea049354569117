"""Training checkpoints that never lose work: atomic, verified, pruned, resumable — no pickle.

Layout (one finished entry per saved step; a finished entry is never partial)::

    RUN_DIR/checkpoints/step-000123/
        model.safetensors       weights (tied tensors stored once, aliases in its metadata)
        optimizer.safetensors   optimizer tensors (moments, step counts)
        optimizer.json          the rest of optimizer.state_dict() (param groups, ...)
        scheduler.json          LR scheduler state (when one is given)
        scaler.json             AMP GradScaler state (when one is given)
        state.safetensors       RNG ByteTensors of every rank (+ any tensors of the JSON parts)
        state.json              step, RNG states (JSON half) per rank, sampler position, extra
        manifest.json           sha256 and size of every file above; written last

An entry is assembled in ``checkpoints/.tmp-step-000123-PID/`` (each file fsynced), then
renamed into place and the folder fsynced. A SIGTERM/SIGINT during a save is held until the
entry is finished, then re-delivered to the previous handler; a second one aborts the save
and removes the temporary folder. A save also removes temporaries left by a killed process.

:func:`latest_checkpoint` walks entries newest first and refuses one whose files are missing,
truncated or corrupt (manifest sha256), with one warning line naming it, falling back to the
previous entry. :func:`load_checkpoint` checks every byte it reads against the manifest before
touching the model, so a refused checkpoint never half-restores a run.

Under DDP, every rank calls :func:`anatomy_vlm.engine.distributed.gather_rng_states` (a
collective) and rank 0 alone calls :func:`save_checkpoint` with the list; then all ranks meet
at a barrier. On load each rank restores its own RNG state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from anatomy_vlm.engine.distributed import get_rank
from anatomy_vlm.engine.rng import RNGState, restore_rng_state
from anatomy_vlm.engine.state_io import (
    StateEncodingError,
    fsync_dir,
    join_tensors,
    json_bytes,
    split_tensors,
    tensors_from_bytes,
    tensors_to_bytes,
    write_durable,
)
from anatomy_vlm.errors import ConfigError, DataError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "CheckpointInterrupted",
    "CheckpointState",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "resume_latest",
    "list_checkpoints",
    "discard_checkpoints",
    "verify_checkpoint",
    "prune_checkpoints",
]

CHECKPOINT_FORMAT = "anatomy-vlm-checkpoint/1"
CHECKPOINTS = "checkpoints"
_ENTRY = re.compile(r"^step-(\d{6,})$")
_LEFTOVER = re.compile(r"^\.(tmp|old)-(step-\d{6,})-\d+$")
log = logging.getLogger(__name__)


class CheckpointError(DataError):
    """A checkpoint is missing, truncated, corrupt, foreign, or does not fit the model."""


class CheckpointInterrupted(BaseException):
    """A second SIGTERM/SIGINT arrived during a save: the save was abandoned and cleaned up."""


@dataclass
class CheckpointState:
    """What :func:`load_checkpoint` hands back besides the objects it restored in place."""

    path: Path
    step: int
    sampler_state: dict | None
    extra: dict
    rng_states: list[RNGState] = field(default_factory=list)
    rng_restored: bool = False


def entry_name(step: int) -> str:
    return f"step-{step:06d}"


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module whose state dict is the checkpoint (DDP's ``module``, compile's ``_orig_mod``)."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel | torch.nn.DataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def _model_bytes(model: torch.nn.Module) -> bytes:
    """Weights as safetensors; tensors sharing memory (tied weights) are stored once."""
    tensors, aliases, seen = {}, {}, {}
    for name, tensor in _unwrap(model).state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(),
               tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype, tensor.device)
        if tensor.numel() and key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
            tensors[name] = tensor
    return tensors_to_bytes(tensors, metadata={"format": CHECKPOINT_FORMAT,
                                               "aliases": json.dumps(aliases)})


def _state_files(step, model, optimizer, scheduler, scaler, rng_state, sampler_state, extra):
    """Every file of an entry as ``{name: bytes}``, built before anything touches the disk."""
    rng_states = rng_state if isinstance(rng_state, list | tuple) else [rng_state]
    if not rng_states or not all(isinstance(s, RNGState) for s in rng_states):
        raise ConfigError("rng_state must be an RNGState or a list of them (one per rank)")
    side_tensors: dict[str, torch.Tensor] = {}
    rng_meta = []
    for rank, state in enumerate(rng_states):
        meta, tensors = state.to_parts(prefix=f"rng.{rank}")
        rng_meta.append(meta)
        side_tensors.update(tensors)
    optimizer_tree, optimizer_tensors = split_tensors(optimizer.state_dict(), "optimizer")
    files = {"model.safetensors": _model_bytes(model),
             "optimizer.safetensors": tensors_to_bytes(optimizer_tensors),
             "optimizer.json": json_bytes(optimizer_tree)}
    for name, owner in (("scheduler", scheduler), ("scaler", scaler)):
        if owner is not None:
            tree, tensors = split_tensors(owner.state_dict(), name)
            side_tensors.update(tensors)
            files[f"{name}.json"] = json_bytes(tree)
    extra_tree, extra_tensors = split_tensors(dict(extra or {}), "extra")
    sampler_tree, sampler_tensors = split_tensors(sampler_state, "sampler")
    side_tensors.update(extra_tensors | sampler_tensors)
    files["state.safetensors"] = tensors_to_bytes(side_tensors)
    files["state.json"] = json_bytes({
        "format": CHECKPOINT_FORMAT, "step": step, "world_size": len(rng_states),
        "rng": rng_meta, "sampler": sampler_tree, "extra": extra_tree,
        "torch_version": torch.__version__, "saved_unix_s": round(time.time(), 3)})
    return files


class _DeferSignals:
    """Hold the first SIGTERM/SIGINT until the block ends (then re-deliver it to the previous
    handler); raise :class:`CheckpointInterrupted` on a second. Main thread only."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __enter__(self):
        self.previous, self.pending = {}, None
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pending is None:
            self.pending = signum
            log.warning("signal %d received during a checkpoint save: finishing the save first",
                        signum)
            return
        raise CheckpointInterrupted(f"checkpoint save abandoned on signal {signum}")

    def __exit__(self, *exc_info):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.pending is not None:
            signal.raise_signal(self.pending)
        return False


def _clean_leftovers(folder: Path) -> None:
    """Remove temporaries of interrupted saves; put back an entry a killed replace moved aside."""
    for path in folder.iterdir():
        match = _LEFTOVER.match(path.name)
        if not match:
            continue
        final = folder / match.group(2)
        if match.group(1) == "old" and not final.exists():
            os.replace(path, final)
        else:
            shutil.rmtree(path, ignore_errors=True)


def save_checkpoint(run_dir: Path | str, step: int, *, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler=None, scaler=None,
                    rng_state: RNGState | list[RNGState], sampler_state: dict | None = None,
                    extra: dict | None = None, keep: int | None = None) -> Path:
    """Write ``RUN_DIR/checkpoints/step-{step:06d}/`` atomically and return its path.

    ``rng_state``: this process's :class:`RNGState`, or every rank's (DDP, rank order).
    ``extra``: JSON-safe run facts to keep with it (config hash, region/finding set hashes...).
    ``keep``: prune to the newest ``keep`` entries afterwards (None keeps all). An entry of the
    same step is replaced. StateEncodingError (nothing written) when a state holds an object
    that would need pickle.
    """
    if step < 0 or (keep is not None and keep < 1):
        raise ConfigError(f"checkpoint step must be >= 0 and keep >= 1 (got {step}, {keep})")
    files = _state_files(step, model, optimizer, scheduler, scaler, rng_state, sampler_state, extra)
    manifest = {"format": CHECKPOINT_FORMAT, "step": step,
                "files": {name: {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
                          for name, blob in files.items()}}
    folder = Path(run_dir) / CHECKPOINTS
    final = folder / entry_name(step)
    tmp = folder / f".tmp-{final.name}-{os.getpid()}"
    aside = folder / f".old-{final.name}-{os.getpid()}"
    with _DeferSignals():
        folder.mkdir(parents=True, exist_ok=True)
        _clean_leftovers(folder)
        try:
            tmp.mkdir()
            for name, blob in files.items():
                write_durable(tmp / name, blob)
            write_durable(tmp / "manifest.json", json_bytes(manifest))
            fsync_dir(tmp)
            if final.exists():
                os.replace(final, aside)
            os.replace(tmp, final)
            fsync_dir(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if aside.exists() and not final.exists():
                os.replace(aside, final)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        if keep is not None:
            prune_checkpoints(run_dir, keep, protect=final)
    return final


def discard_checkpoints(run_dir: Path | str) -> int:
    """Remove every checkpoint of a run (a fresh run must not later resume an older one);
    the number of entries removed."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return 0
    count = len(list_checkpoints(run_dir))
    aside = folder.with_name(f".{CHECKPOINTS}-discarded-{os.getpid()}")
    os.replace(folder, aside)  # one rename: no half-deleted set is ever visible as checkpoints
    fsync_dir(folder.parent)
    shutil.rmtree(aside, ignore_errors=True)
    return count


def list_checkpoints(run_dir: Path | str) -> list[tuple[int, Path]]:
    """Finished entries as ``(step, path)``, oldest first (not verified)."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    entries = [(int(m.group(1)), p) for p in folder.iterdir()
               if (m := _ENTRY.match(p.name)) and p.is_dir()]
    return sorted(entries)


def prune_checkpoints(run_dir: Path | str, keep: int, *, protect: Path | None = None) -> list[Path]:
    """Delete all but the newest ``keep`` entries (never ``protect``); the deleted paths."""
    entries = [path for _, path in list_checkpoints(run_dir)]
    doomed = [p for p in entries[: max(len(entries) - keep, 0)] if p != protect]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    if doomed:
        fsync_dir(Path(run_dir) / CHECKPOINTS)
    return doomed


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{path.name}: no manifest.json (unfinished or not a checkpoint)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path.name}: unreadable manifest.json ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path.name}: not an {CHECKPOINT_FORMAT} checkpoint")
    match = _ENTRY.match(path.name)
    if match and int(match.group(1)) != manifest.get("step"):
        raise CheckpointError(f"{path.name}: manifest is for step {manifest.get('step')}")
    return manifest


def _check_blob(path: Path, name: str, blob: bytes, expected: dict) -> None:
    if len(blob) != expected["bytes"]:
        raise CheckpointError(f"{path.name}/{name}: {len(blob)} bytes, manifest says "
                              f"{expected['bytes']} (truncated or replaced)")
    if hashlib.sha256(blob).hexdigest() != expected["sha256"]:
        raise CheckpointError(f"{path.name}/{name}: sha256 does not match the manifest (corrupt)")


def _read_verified(path: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and every file's bytes, each checked against the manifest."""
    manifest = _read_manifest(Path(path))
    blobs = {}
    for name, expected in manifest["files"].items():
        try:
            blob = (path / name).read_bytes()
        except OSError:
            raise CheckpointError(f"{path.name}/{name}: missing") from None
        _check_blob(path, name, blob, expected)
        blobs[name] = blob
    return manifest, blobs


def verify_checkpoint(path: Path | str) -> int:
    """The entry's step when every file matches its manifest; CheckpointError otherwise."""
    manifest, _ = _read_verified(Path(path))
    return int(manifest["step"])


def latest_checkpoint(run_dir: Path | str) -> Path | None:
    """The newest entry that verifies; each refused one is named in one warning line."""
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            verify_checkpoint(path)
        except CheckpointError as err:
            log.warning("refusing checkpoint %s: %s; trying the previous one", path, err)
            continue
        return path
    return None


def _decode(path: Path, blobs: dict[str, bytes]) -> dict:
    """Every state of an entry, decoded (nothing restored yet)."""
    try:
        state = json.loads(blobs["state.json"])
        side = tensors_from_bytes(blobs["state.safetensors"])
        header_len = int.from_bytes(blobs["model.safetensors"][:8], "little")
        header = json.loads(blobs["model.safetensors"][8:8 + header_len])
        aliases = json.loads(header.get("__metadata__", {}).get("aliases", "{}"))
        weights = tensors_from_bytes(blobs["model.safetensors"])
        weights.update({name: weights[source] for name, source in aliases.items()})
        decoded = {
            "state": state, "weights": weights,
            "optimizer": join_tensors(json.loads(blobs["optimizer.json"]),
                                      tensors_from_bytes(blobs["optimizer.safetensors"])),
            "rng": [RNGState.from_parts(meta, side, prefix=f"rng.{rank}")
                    for rank, meta in enumerate(state["rng"])],
            "sampler": join_tensors(state["sampler"], side),
            "extra": join_tensors(state["extra"], side),
        }
        for name in ("scheduler", "scaler"):
            blob = blobs.get(f"{name}.json")
            decoded[name] = None if blob is None else join_tensors(json.loads(blob), side)
    except (KeyError, ValueError, TypeError, StateEncodingError) as err:
        raise CheckpointError(f"{path.name}: malformed checkpoint ({err})") from None
    return decoded


def load_checkpoint(path: Path | str, *, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scheduler=None, scaler=None,
                    restore_rng: bool = True, rank: int | None = None) -> CheckpointState:
    """Restore ``model`` (+ optimizer, scheduler, scaler, this rank's RNG states) in place.

    Every file is verified before anything is restored. CheckpointError when the entry is
    corrupt, or when it does not fit the objects given (other architecture, a scheduler
    requested that was not saved).
    """
    path = Path(path)
    _, blobs = _read_verified(path)
    return _restore(path, _decode(path, blobs), model=model, optimizer=optimizer,
                    scheduler=scheduler, scaler=scaler, restore_rng=restore_rng, rank=rank)


def resume_latest(run_dir: Path | str, *, model: torch.nn.Module,
                  optimizer: torch.optim.Optimizer | None = None, scheduler=None, scaler=None,
                  restore_rng: bool = True, rank: int | None = None) -> CheckpointState | None:
    """:func:`load_checkpoint` of the newest sound entry (each file read and hashed once);
    None when the run has none. A corrupt entry is skipped with one warning line; an entry
    that does not fit the model raises (falling back would silently train something else)."""
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            _, blobs = _read_verified(path)
            decoded = _decode(path, blobs)
        except CheckpointError as err:
            log.warning("refusing checkpoint %s: %s; trying the previous one", path, err)
            continue
        return _restore(path, decoded, model=model, optimizer=optimizer, scheduler=scheduler,
                        scaler=scaler, restore_rng=restore_rng, rank=rank)
    return None


def _restore(path: Path, decoded: dict, *, model, optimizer, scheduler, scaler, restore_rng,
             rank) -> CheckpointState:
    for name, owner in (("scheduler", scheduler), ("scaler", scaler)):
        if owner is not None and decoded[name] is None:
            raise CheckpointError(f"{path.name}: holds no {name} state")
    try:
        _unwrap(model).load_state_dict(decoded["weights"], strict=True)
        if optimizer is not None:
            optimizer.load_state_dict(decoded["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path.name}: does not fit this model/optimizer ({first_line})") from None
    if scheduler is not None:
        scheduler.load_state_dict(decoded["scheduler"])
    if scaler is not None:
        scaler.load_state_dict(decoded["scaler"])
    rank = get_rank() if rank is None else rank
    restored = False
    if restore_rng and rank < len(decoded["rng"]):
        restore_rng_state(decoded["rng"][rank])
        restored = True
    elif restore_rng:
        log.warning("%s holds RNG states of %d ranks; rank %d keeps its seeded state",
                    path.name, len(decoded["rng"]), rank)
    return CheckpointState(path=path, step=int(decoded["state"]["step"]),
                           sampler_state=decoded["sampler"], extra=decoded["extra"],
                           rng_states=decoded["rng"], rng_restored=restored)
