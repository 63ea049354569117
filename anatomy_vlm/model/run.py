"""Run directories: the one on-disk format every model kind shares, and how to open one.

A run directory (``anatomy-vlm train --out RUN_DIR``) holds at least:

- ``config.json``: ``{"format": RUN_FORMAT, "kind": "anatomy_vlm"|"holistic"|"prior",
  "name": str, "steps": int, "train_s": float, "image_size": int, "kg_version": str,
  "region_set": {"name", "hash"}, "finding_set": {"name", "hash"}, ...}`` plus whatever the
  kind needs to rebuild itself (model config, preset, overrides, seed);
- ``model.safetensors``: the weights (or, for ``prior``, the prevalence table); never pickle.

Every kind opens as a :class:`Predictor`, so ``evaluate``, ``interpret`` and the benchmarks
read all of them the same way. A kind registers its loader in :data:`LOADERS`
(``"module:function"``, imported lazily so opening a ``prior`` run never builds a network).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Protocol, runtime_checkable

from anatomy_vlm.errors import ConfigError, DataError

__all__ = ["RUN_FORMAT", "LOADERS", "Predictor", "Prediction", "read_run_config", "load_run"]

RUN_FORMAT = "anatomy-vlm-run/1"

# kind -> "module:function(run_dir: Path, config: dict, *, device: str) -> Predictor"
LOADERS: dict[str, str] = {
    "anatomy_vlm": "anatomy_vlm.model.checkpoint:load_predictor",
    "holistic": "anatomy_vlm.model.checkpoint:load_predictor",
    "prior": "anatomy_vlm.model.prior:load_predictor",
}


class Prediction(dict):
    """What :meth:`Predictor.predict` returns (a dict, so it converts to npz/JSON directly).

    Keys (B images, R = len(region_set), F = len(finding_set)):

    - ``"region_probs"``: ``[B, R, F]`` float32 in [0, 1];
    - ``"image_probs"``: ``[B, F]`` float32 in [0, 1];
    - ``"boxes"``: ``[B, R, 4]`` float32, ``[x1, y1, x2, y2]`` in pixels of the images passed in
      (NaN rows where the model predicts no box, e.g. ``holistic`` and ``prior``).
    """


@runtime_checkable
class Predictor(Protocol):
    """An opened run. ``region_set`` / ``finding_set`` are :class:`kg.sets.NamedSet`."""

    kind: str
    name: str
    config: dict
    image_size: int
    region_set: object
    finding_set: object

    def predict(self, images) -> Prediction:
        """``images`` ``[B, 1, H, W]`` float32 in [0, 1] with ``H = W = image_size`` (the caller
        resizes) → :class:`Prediction` of numpy arrays. Deterministic, no gradients."""
        ...


def read_run_config(run_dir: Path | str) -> dict:
    """``RUN_DIR/config.json``, checked for the run format; DataError when absent or foreign."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise DataError(f"{run_dir}: not a run directory (no config.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable run config ({err})") from None
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise DataError(f"{path}: not an {RUN_FORMAT} run config")
    if config.get("kind") not in LOADERS:
        known = ", ".join(LOADERS)
        raise DataError(f"{path}: unknown model kind {config.get('kind')!r}; known: {known}")
    return config


def load_run(run_dir: Path | str, *, device: str = "cpu") -> Predictor:
    """Open any run directory as a :class:`Predictor` (kind read from its config)."""
    config = read_run_config(run_dir)
    module, function = LOADERS[config["kind"]].split(":")
    try:
        loader = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as err:  # a kind registered but not installed
        raise ConfigError(f"model kind {config['kind']!r} is not available: {err}") from None
    return loader(Path(run_dir), config, device=device)
