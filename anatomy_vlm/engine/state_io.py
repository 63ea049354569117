"""Training state as safetensors + JSON: durable writes and a pickle-free encoding of state dicts.

``state_dict()`` of a torch optimizer, LR scheduler or ``GradScaler`` is a nested mix of
tensors, numbers, tuples and int-keyed dicts. :func:`split_tensors` turns it into a JSON tree
plus a flat ``{name: tensor}`` dict (one safetensors file), and :func:`join_tensors` inverts it
exactly: tuples stay tuples, int keys stay ints, ``nan``/``inf`` survive, floats round-trip bit
for bit (JSON floats are written with Python's shortest round-trip ``repr``). Anything else
(a function, an arbitrary object) is refused with :class:`StateEncodingError` naming its key:
it would need pickle.

Durability: :func:`write_durable` writes a file and fsyncs it; :func:`fsync_dir` makes a
rename or an unlink in a folder survive a power cut.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

from anatomy_vlm.errors import DataError

__all__ = [
    "StateEncodingError",
    "split_tensors",
    "join_tensors",
    "tensors_to_bytes",
    "tensors_from_bytes",
    "write_durable",
    "fsync_dir",
    "json_bytes",
]

_TENSOR, _TUPLE, _DICT, _FLOAT = "__tensor__", "__tuple__", "__dict__", "__float__"
_TAGS = (_TENSOR, _TUPLE, _DICT, _FLOAT)


class StateEncodingError(DataError):
    """A state dict holds something that cannot be stored without pickle, or a stored tree is
    malformed (a placeholder names a tensor the file does not hold)."""


def split_tensors(tree, prefix: str) -> tuple[object, dict[str, torch.Tensor]]:
    """``tree`` → (JSON-safe tree, ``{name: tensor}``); tensor names start with ``prefix``."""
    tensors: dict[str, torch.Tensor] = {}
    return _encode(tree, prefix, tensors), tensors


def _encode(value, key: str, tensors: dict[str, torch.Tensor]):
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().cpu().contiguous()
        return {_TENSOR: key}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {_FLOAT: repr(value)}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not any(k in _TAGS for k in value):
            return {k: _encode(v, f"{key}.{k}", tensors) for k, v in value.items()}
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise StateEncodingError(f"{key}: dict key {k!r} is neither str nor int")
            items.append([k, _encode(v, f"{key}.{k}", tensors)])
        return {_DICT: items}
    raise StateEncodingError(
        f"{key}: a {type(value).__name__} cannot be stored without pickle "
        "(use tensors, numbers, strings, lists, tuples or dicts)"
    )


def join_tensors(tree, tensors: dict[str, torch.Tensor]):
    """Inverse of :func:`split_tensors`."""
    if isinstance(tree, list):
        return [join_tensors(v, tensors) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) == 1:
        (tag, body), = tree.items()
        if tag == _TENSOR:
            if body not in tensors:
                raise StateEncodingError(f"tensor {body!r} is named in the state but not stored")
            return tensors[body]
        if tag == _TUPLE:
            return tuple(join_tensors(v, tensors) for v in body)
        if tag == _DICT:
            return {k: join_tensors(v, tensors) for k, v in body}
        if tag == _FLOAT:
            return float(body)
    return {k: join_tensors(v, tensors) for k, v in tree.items()}


def tensors_to_bytes(tensors: dict[str, torch.Tensor],
                     metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file's bytes (every tensor CPU, contiguous)."""
    ready = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    return safetensors_save(ready, metadata=metadata)


def tensors_from_bytes(blob: bytes) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file's bytes (CPU)."""
    return safetensors_load(blob)


def json_bytes(payload) -> bytes:
    """Indented UTF-8 JSON; refuses NaN/inf (they must go through :func:`split_tensors`)."""
    return (json.dumps(payload, indent=1, allow_nan=False) + "\n").encode("utf-8")


def write_durable(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it (the caller makes the folder's rename atomic)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """fsync a folder so the renames and unlinks inside it are durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
