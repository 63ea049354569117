"""The image-blind ``prior`` model kind: train-split prevalence per (region, finding).

It answers "how much of a (region, finding) cell's AUROC needs the image at all": it predicts
the same table for every film, so each cell's AUROC is exactly 0.5, while the pooled region
AUROC (which ranks cells against each other) and the calibration are those of prevalence alone.

Training reads only the loader's report-derived labels of the train split (``region_labels``,
``region_uncertain``), exactly as the image models do; never ``phantom_truth.jsonl`` or masks.
Label treatment, per (region, finding) cell over the train images:

- ``1`` is a positive;
- ``0`` and NaN without the uncertain mark are negatives: a report names what it sees, so a
  finding it does not mention at a region counts as absent there (MIMIC-style "not mentioned");
- a hedged label (``region_uncertain``) is left out of that cell;
- prevalence ``p = (n_pos + 0.5) / (n_known + 1)`` (Jeffreys smoothing: never exactly 0 or 1).

Image probabilities (one aggregation, applied to the labels before averaging): a train image is
positive for a finding when any region is positive for it, left out when it has no positive
and a hedged region label, else negative; the same smoothing gives ``image_prevalence [F]``.

Run directory: ``config.json`` (run format, kind ``prior``) and ``model.safetensors`` with
``region_prevalence [R, F]``, ``image_prevalence [F]`` and the counts behind them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anatomy_vlm.errors import ConfigError, DataError
from anatomy_vlm.model.run import RUN_FORMAT, Prediction

__all__ = ["train_prior", "load_predictor", "PriorPredictor", "prevalence_tables"]

WEIGHTS = "model.safetensors"


def prevalence_tables(
    region_labels: np.ndarray, region_uncertain: np.ndarray
) -> dict[str, np.ndarray]:
    """Prevalence tables from stacked train labels (module docstring for the rules).

    Args:
        region_labels: ``[N, R, F]`` float in {1, 0, NaN}.
        region_uncertain: ``[N, R, F]`` bool.

    Returns:
        ``region_prevalence [R, F]``, ``image_prevalence [F]`` (float32) and the int64
        counts ``region_positive``, ``region_known`` ``[R, F]``, ``image_positive``,
        ``image_known`` ``[F]``.
    """
    known = ~region_uncertain
    positive = (region_labels == 1) & known
    image_positive = positive.any(axis=1)
    image_known = image_positive | ~region_uncertain.any(axis=1)
    counts = {
        "region_positive": positive.sum(0),
        "region_known": known.sum(0),
        "image_positive": image_positive.sum(0),
        "image_known": image_known.sum(0),
    }
    tables = {key: value.astype(np.int64) for key, value in counts.items()}
    tables["region_prevalence"] = (
        (tables["region_positive"] + 0.5) / (tables["region_known"] + 1.0)
    ).astype(np.float32)
    tables["image_prevalence"] = (
        (tables["image_positive"] + 0.5) / (tables["image_known"] + 1.0)
    ).astype(np.float32)
    return tables


def train_prior(
    *,
    data: Path,
    out: Path,
    region_set: str = "cig29",
    finding_set: str = "core",
    image_size: int = 160,
    name: str = "prior",
    seed: int = 0,
) -> Path:
    """Count the train split of ``data`` (MIMIC-CXR-JPG + Chest ImaGenome layout, the phantom's
    too) and write the run directory ``out``; returns ``out``.

    ``image_size`` is recorded (evaluate resizes films to it; the prior ignores pixels); ``seed``
    is recorded for the run format (counting is deterministic).
    """
    from anatomy_vlm.data.datasets import open_dataset
    from anatomy_vlm.kgload import load_kg

    if image_size < 16:
        raise ConfigError(f"image_size must be at least 16, got {image_size}")
    started = time.perf_counter()
    dataset = open_dataset(
        "mimic",
        data,
        split="train",
        region_set=region_set,
        finding_set=finding_set,
        load_masks=False,
    )
    labels, uncertain = [], []
    for index in range(len(dataset)):
        sample = dataset[index]
        if sample is not None:
            labels.append(sample.region_labels.numpy())
            uncertain.append(sample.region_uncertain.numpy())
    if not labels:
        raise DataError(f"{Path(data).name}: no train images to count")
    tables = prevalence_tables(np.stack(labels), np.stack(uncertain))
    config = {
        "format": RUN_FORMAT,
        "kind": "prior",
        "name": name,
        "steps": 0,
        "train_s": round(time.perf_counter() - started, 3),
        "image_size": int(image_size),
        "kg_version": load_kg().version,
        "region_set": {"name": dataset.region_set.name, "hash": dataset.region_set.hash},
        "finding_set": {"name": dataset.finding_set.name, "hash": dataset.finding_set.hash},
        "seed": int(seed),
        "n_train_images": len(labels),
        "data": str(data),
        "label_policy": "1 positive; 0 and unmentioned negative; hedged out; (pos+.5)/(known+1)",
        "image_aggregation": "image positive when any region is positive (labels), then prevalence",
    }
    _write_run(Path(out), config, tables)
    return Path(out)


def _write_run(out: Path, config: dict, tables: dict[str, np.ndarray]) -> None:
    """``config.json`` and ``model.safetensors``, each written to a temporary file and renamed."""
    from safetensors.numpy import save_file

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    metadata = {
        "region_set": config["region_set"]["hash"],
        "finding_set": config["finding_set"]["hash"],
    }
    tmp = out / f".{WEIGHTS}.{os.getpid()}.tmp"
    try:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in tables.items()}, str(tmp), metadata=metadata
        )
        os.replace(tmp, out / WEIGHTS)
    finally:
        tmp.unlink(missing_ok=True)
    tmp = out / f".config.json.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, out / "config.json")
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class PriorPredictor:
    """An opened ``prior`` run (a :class:`anatomy_vlm.model.run.Predictor`)."""

    name: str
    config: dict
    image_size: int
    region_set: object
    finding_set: object
    region_prevalence: np.ndarray = field(repr=False)
    image_prevalence: np.ndarray = field(repr=False)
    kind: str = "prior"

    def predict(self, images) -> Prediction:
        """``images`` ``[B, 1, H, W]`` (pixels ignored) → the prevalence tables for each image:
        ``region_probs [B, R, F]``, ``image_probs [B, F]``, ``boxes [B, R, 4]`` all NaN."""
        batch = int(images.shape[0])
        regions = self.region_prevalence.shape[0]
        return Prediction(
            region_probs=np.broadcast_to(
                self.region_prevalence, (batch, *self.region_prevalence.shape)
            ).copy(),
            image_probs=np.broadcast_to(
                self.image_prevalence, (batch, *self.image_prevalence.shape)
            ).copy(),
            boxes=np.full((batch, regions, 4), np.nan, dtype=np.float32),
        )


def load_predictor(run_dir: Path, config: dict, *, device: str = "cpu") -> PriorPredictor:
    """Open a ``prior`` run; ConfigError when its sets are not the installed ones, DataError
    when the table is missing, corrupt or of the wrong shape. ``device`` is unused (numpy)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from kg.errors import KGError
    from kg.sets import finding_set, region_set

    try:
        regions = region_set(config["region_set"]["name"])
        findings = finding_set(config["finding_set"]["name"])
    except (KeyError, TypeError, KGError) as err:
        raise ConfigError(f"{Path(run_dir).name}: run config names unknown sets ({err})") from None
    for kind, named in (("region_set", regions), ("finding_set", findings)):
        if config[kind].get("hash") != named.hash:
            raise ConfigError(
                f"{Path(run_dir).name}: {kind} {named.name} changed since training "
                f"(hash {config[kind].get('hash')} != {named.hash})"
            )
    path = Path(run_dir) / WEIGHTS
    try:
        tables = load_file(str(path))
        region, image = tables["region_prevalence"], tables["image_prevalence"]
    except (OSError, SafetensorError, KeyError) as err:
        raise DataError(
            f"{path.name} in {Path(run_dir).name}: unreadable prior table ({err})"
        ) from None
    if region.shape != (len(regions), len(findings)) or image.shape != (len(findings),):
        raise DataError(
            f"{path.name} in {Path(run_dir).name}: table shape {region.shape} does not match "
            "the sets"
        )
    return PriorPredictor(
        name=str(config.get("name", "prior")),
        config=config,
        image_size=int(config.get("image_size", 160)),
        region_set=regions,
        finding_set=findings,
        region_prevalence=region.astype(np.float32),
        image_prevalence=image.astype(np.float32),
    )
