"""Training configuration: a validated dataclass, named JSON presets, ``key=value`` overrides.

Presets live in ``anatomy_vlm/engine/presets/NAME.json`` as ``{"description": str, "config":
{...}}``; ``config`` holds :class:`TrainConfig` fields, with ``model`` a
:class:`~anatomy_vlm.model.config.ModelConfig` dict and ``loss_weights`` a term → weight dict.
Overrides use dotted keys for those two (``model.embed_dim=128``, ``loss_weights.box_l1=0``);
values are parsed as JSON when they parse, else taken as strings. Any bad key or value raises
:class:`~anatomy_vlm.errors.ConfigError` with one line naming it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from importlib import resources
from pathlib import Path

from anatomy_vlm.errors import ConfigError
from anatomy_vlm.model.config import ModelConfig
from anatomy_vlm.model.losses import DEFAULT_WEIGHTS

__all__ = [
    "TrainConfig",
    "LabelCompletion",
    "list_presets",
    "load_preset",
    "load_config_file",
    "apply_overrides",
]


class LabelCompletion(str, Enum):
    """How cells a report leaves unmentioned enter the concept loss (see ``engine.labels``)."""

    NONE = "none"
    CLOSED_WORLD = "closed_world"


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Args:
        model: the :class:`ModelConfig` (its ``kind`` is the model kind).
        name: run name (default: the kind).
        dataset: dataset loader name (``mimic`` reads the phantom too).
        region_set / finding_set: named sets.
        image_size: square input side in pixels.
        batch_size / steps: images per optimiser step (the global batch, summed over torchrun
            ranks and accumulated micro-batches) and optimiser steps.
        accumulate: micro-batches per rank per optimiser step (gradient accumulation);
            ``batch_size`` must split evenly into ``world_size * accumulate`` micro-batches.
        lr / weight_decay / warmup_steps / grad_clip: AdamW, linear warm-up then cosine decay to 0,
            gradient-norm clipping (0 disables).
        seed: everything random (init, sampling, augmentation).
        loss_weights: term → weight (``model.losses.DEFAULT_WEIGHTS`` names the terms).
        label_completion / completed_negative_weight: unmentioned cells (``engine.labels``).
        positive_weight: loss weight of positive cells (they are ~1% of the labelled cells).
        augment: random scale / shift / contrast (no flips: chest anatomy is not mirror-symmetric).
        cache_images: decode and resize the training images once into memory (uint8).
        loader_workers: DataLoader workers used while caching.
        val_every / val_limit: validate every N steps on at most this many validate images.
        train_limit: use at most this many training images (None: all).
        threads: torch CPU threads (0 leaves torch's default).
        device: ``cpu``, ``cuda`` or ``auto``.
        bf16: bfloat16 autocast for the forward pass and loss on CUDA (CPU always runs fp32).
        compile: wrap the forward model in ``torch.compile`` (off by default; the FAISS search
            is a graph break).
        tensorboard: also log to ``RUN_DIR/tensorboard`` (needs the ``tensorboard`` package).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    name: str = ""
    dataset: str = "mimic"
    region_set: str = "cig29"
    finding_set: str = "core"
    image_size: int = 160
    batch_size: int = 32
    accumulate: int = 1
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0
    loss_weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    label_completion: str = LabelCompletion.CLOSED_WORLD.value
    completed_negative_weight: float = 1.0
    positive_weight: float = 1.0
    augment: bool = True
    cache_images: bool = True
    loader_workers: int = 0
    val_every: int = 200
    val_limit: int = 500
    train_limit: int | None = None
    threads: int = 2
    device: str = "cpu"
    bf16: bool = True
    compile: bool = False
    tensorboard: bool = False

    def __post_init__(self) -> None:
        positive = ("image_size", "batch_size", "accumulate", "steps", "val_every", "val_limit")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "loader_workers", "threads", "seed"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.cache_images:
            raise ConfigError("cache_images=false (streaming from disk) is not implemented yet")
        if self.batch_size % self.accumulate:
            raise ConfigError(
                f"batch_size {self.batch_size} does not split into accumulate={self.accumulate} "
                "micro-batches"
            )
        if self.image_size < 32:
            raise ConfigError(f"image_size must be >= 32, got {self.image_size}")
        if self.positive_weight <= 0 or self.completed_negative_weight < 0:
            raise ConfigError("positive_weight must be > 0 and completed_negative_weight >= 0")
        if not self.lr > 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("lr must be > 0, weight_decay and grad_clip >= 0")
        if self.train_limit is not None and self.train_limit < 1:
            raise ConfigError(f"train_limit must be >= 1 or null, got {self.train_limit}")
        if self.label_completion not in {c.value for c in LabelCompletion}:
            raise ConfigError(
                f"label_completion={self.label_completion!r}: expected "
                f"{', '.join(c.value for c in LabelCompletion)}"
            )
        if self.device not in {"cpu", "cuda", "auto"}:
            raise ConfigError(f"device={self.device!r}: expected cpu, cuda or auto")
        unknown = set(self.loss_weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ConfigError(
                f"unknown loss term(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(DEFAULT_WEIGHTS)}"
            )
        bad = [k for k, v in self.loss_weights.items() if not isinstance(v, int | float) or v < 0]
        if bad:
            raise ConfigError(f"loss weight(s) {', '.join(bad)} must be numbers >= 0")

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def run_name(self) -> str:
        return self.name or self.model.kind

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict) -> TrainConfig:
        if not isinstance(payload, dict):
            raise ConfigError("config must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(payload) - known
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(sorted(unknown))}")
        values = dict(payload)
        if "model" in values:
            if not isinstance(values["model"], dict):
                raise ConfigError("model must be an object of model config keys")
            values["model"] = ModelConfig.from_json(values["model"])
        if "loss_weights" in values:
            values["loss_weights"] = {**DEFAULT_WEIGHTS, **values["loss_weights"]}
        base = cls()
        for f in fields(cls):
            if f.name in values and f.name not in ("model", "loss_weights"):
                values[f.name] = _coerce(f.name, values[f.name], getattr(base, f.name), f.type)
        try:
            return cls(**values)
        except TypeError as err:
            raise ConfigError(f"bad config: {err}") from None


def _coerce(key: str, value, default, annotation: str):
    """Check a value against its field's type (bool, int, float, str, optional int)."""
    optional = "None" in str(annotation)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} cannot be null")
    kind = type(default) if default is not None else int
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: expected true or false")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ConfigError(f"{key}={value!r}: expected an integer")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}={value!r}: expected a number")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{key}={value!r}: expected a string")
    return value


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    folder = resources.files("anatomy_vlm.engine") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_preset(name: str) -> TrainConfig:
    """The named preset (``quickstart``, ``base`` …) as a validated :class:`TrainConfig`."""
    if name not in list_presets():
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(list_presets())}")
    text = (resources.files("anatomy_vlm.engine") / "presets" / f"{name}.json").read_text(
        encoding="utf-8"
    )
    return TrainConfig.from_json(json.loads(text)["config"])


def load_config_file(path: Path | str) -> TrainConfig:
    """A config from a JSON file: a preset-style ``{"config": {...}}`` or the fields directly."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path.name}: not a JSON config ({err})") from None
    if isinstance(payload, dict) and isinstance(payload.get("config"), dict):
        payload = payload["config"]
    return TrainConfig.from_json(payload)


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply ``key=value`` strings (dotted keys under ``model.`` and ``loss_weights.``)."""
    payload = config.to_json()
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        head, _, tail = key.partition(".")
        if tail:
            if head not in ("model", "loss_weights"):
                raise ConfigError(
                    f"unknown config key {key!r} (only model.* and loss_weights.* nest)"
                )
            known = payload[head]
            if tail not in known:
                raise ConfigError(
                    f"unknown config key {key!r}; known under {head}: {', '.join(known)}"
                )
            known[tail] = value
        elif head in ("model", "loss_weights"):
            raise ConfigError(f"{key!r} is a group: set {key}.<name>=value")
        elif head not in payload:
            raise ConfigError(f"unknown config key {key!r}; known: {', '.join(sorted(payload))}")
        else:
            payload[head] = value
    return TrainConfig.from_json(payload)


def with_kind(config: TrainConfig, kind: str) -> TrainConfig:
    """``config`` with ``model.kind`` set (``anatomy_vlm`` or ``holistic``)."""
    return replace(config, model=replace(config.model, kind=kind))
