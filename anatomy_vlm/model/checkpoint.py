"""Save and open ``anatomy_vlm`` / ``holistic`` runs: ``config.json`` + ``model.safetensors``.

The safetensors file holds the weights and the KG-derived buffers the model needs (node text
embeddings, location priors, prompt embeddings), so an opened run predicts without re-encoding
any text; its SHA-256 is recorded in ``config.json``. On load the run's KG version and region /
finding set hashes are checked against the installed KG and sets (typed
:class:`CheckpointMismatchError`). Nothing is ever unpickled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.knowledge._io import atomic_write_bytes, read_verified, sha256_bytes
from anatomy_vlm.knowledge.errors import KnowledgeFileError, KnowledgeMismatchError
from anatomy_vlm.model.config import ModelConfig, ModelKind
from anatomy_vlm.model.context import KnowledgeContext
from anatomy_vlm.model.run import Prediction, read_run_config

__all__ = [
    "CheckpointMismatchError",
    "save_weights",
    "save_pretrained",
    "from_pretrained",
    "load_predictor",
    "ModelPredictor",
    "WEIGHTS_FILE",
]

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_FORMAT = "anatomy-vlm-model/1"


class CheckpointMismatchError(KnowledgeMismatchError):
    """A run was trained with another KG version or region / finding set than the installed ones."""


def save_weights(model: torch.nn.Module, run_dir: Path | str) -> str:
    """Write ``RUN_DIR/model.safetensors`` atomically; returns its SHA-256 (for ``config.json``)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"format": WEIGHTS_FORMAT})
    atomic_write_bytes(Path(run_dir) / WEIGHTS_FILE, blob)
    return sha256_bytes(blob)


def save_pretrained(model: torch.nn.Module, run_dir: Path | str, run_config: dict) -> Path:
    """Write ``model.safetensors`` then ``config.json`` (``run_config`` plus the model config, the
    KG provenance and the weights' SHA-256), both atomically; returns ``run_dir``."""
    import json

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = model.context_meta
    config = {
        **run_config,
        "model": model.config.to_json(),
        "knowledge": meta,
        "kg_version": meta["kg_version"],
        "region_set": meta["region_set"],
        "finding_set": meta["finding_set"],
        "weights_sha256": save_weights(model, run_dir),
    }
    atomic_write_bytes(
        run_dir / "config.json", (json.dumps(config, indent=1) + "\n").encode("utf-8")
    )
    return run_dir


def check_provenance(config: dict, *, kg_version: str | None = None) -> None:
    """Raise :class:`CheckpointMismatchError` unless the run's KG version and set hashes match the
    installed ones (``kg_version`` defaults to the installed KG's)."""
    from kg.sets import finding_set, region_set

    for key, getter in (("region_set", region_set), ("finding_set", finding_set)):
        saved = config.get(key) or {}
        current = getter(saved.get("name", ""))
        if current.hash != saved.get("hash"):
            raise CheckpointMismatchError(
                f"run was trained with {key} {saved.get('name')!r} hash {saved.get('hash')}, "
                f"installed hash is {current.hash}"
            )
    if kg_version is None:
        from anatomy_vlm.kgload import load_kg

        kg_version = load_kg().version
    if config.get("kg_version") != kg_version:
        raise CheckpointMismatchError(
            f"run was trained with KG version {config.get('kg_version')}, installed is {kg_version}"
        )


def from_pretrained(
    run_dir: Path | str,
    *,
    config: dict | None = None,
    device: str = "cpu",
    kg_version: str | None = None,
) -> torch.nn.Module:
    """The model saved in ``run_dir``, in eval mode, after the provenance checks."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from anatomy_vlm.model.vlm import build_model
    from kg.sets import finding_set, region_set

    run_dir = Path(run_dir)
    config = config or read_run_config(run_dir)
    check_provenance(config, kg_version=kg_version)
    blob = read_verified(
        run_dir / WEIGHTS_FILE, config.get("weights_sha256"), described_by="config.json"
    )
    try:
        tensors = load(blob)
        model_config = ModelConfig.from_json(config["model"])
        meta = config["knowledge"]
        context = KnowledgeContext(
            kg_version=config["kg_version"],
            region_set=region_set(config["region_set"]["name"]),
            finding_set=finding_set(config["finding_set"]["name"]),
            node_ids=tuple(meta["node_ids"]),
            node_text=tensors["node_text"],
            region_rows=tensors["region_rows"],
            node_prior=tensors["node_log_prior"].exp(),
            finding_prior=tensors["finding_prior"],
            prompts=tensors["prompts"],
            image_prompts=tensors.get("image_prompts", torch.zeros(0, 2, model_config.text_dim)),
            prompt_hash=meta["prompt_hash"],
            text_model=meta["text_model"],
        )
        model = build_model(model_config, context, seed=None)
        model.load_state_dict(tensors)
    except (SafetensorError, KeyError, TypeError, RuntimeError) as err:
        raise KnowledgeFileError(
            f"{run_dir.name}/{WEIGHTS_FILE}: cannot rebuild the model ({err})"
        ) from None
    return model.to(device).eval()


class ModelPredictor:
    """A :class:`~anatomy_vlm.model.run.Predictor` over an ``anatomy_vlm`` / ``holistic`` run."""

    def __init__(self, model: torch.nn.Module, config: dict, *, device: str = "cpu") -> None:
        self.model = model
        self.config = config
        self.kind = config["kind"]
        self.name = config.get("name", self.kind)
        self.image_size = int(config["image_size"])
        self.region_set = model.region_set
        self.finding_set = model.finding_set
        self.device = device

    def predict(self, images) -> Prediction:
        """``[B, 1, S, S]`` in [0, 1] (numpy or torch) → :class:`Prediction` (numpy float32)."""
        tensor = torch.as_tensor(np.asarray(images, dtype=np.float32)).to(self.device)
        if tensor.ndim != 4 or tensor.shape[1] != 1:
            raise ValueError(f"images must be [B, 1, H, W], got {tuple(tensor.shape)}")
        out = self.model.predict_tensors(tensor)
        return Prediction(
            {k: v.detach().float().cpu().numpy().astype(np.float32) for k, v in out.items()}
        )


def load_predictor(run_dir: Path | str, config: dict, *, device: str = "cpu") -> ModelPredictor:
    """Run loader (:data:`anatomy_vlm.model.run.LOADERS`) of ``anatomy_vlm`` and ``holistic``."""
    if config.get("kind") not in {k.value for k in ModelKind}:
        raise KnowledgeFileError(
            f"{Path(run_dir).name}: kind {config.get('kind')!r} is not a network run"
        )
    model = from_pretrained(run_dir, config=config, device=device)
    return ModelPredictor(model, config, device=device)
