"""``evaluate``: run directories side by side on one or more data folders.

Each folder is read with the MIMIC-CXR-JPG + Chest ImaGenome loader (the phantom's too) at its
stored size; every film is resized to each run's ``image_size`` with the loader's own
:func:`~anatomy_vlm.data.types.resize` (so the pixels are those ``open_dataset(...,
image_size=...)`` returns), predicted by ``load_run(run_dir).predict``, and predicted boxes are
scaled back to original-image pixels. Truth comes from ``phantom_truth.jsonl`` when the folder
has one, else from the dataset's own labels (:mod:`anatomy_vlm.eval.truth`); the one protocol
(:func:`anatomy_vlm.eval.protocol.evaluate_scores`) scores it per domain.

Writes ``OUT/metrics.json`` (schema ``anatomy-vlm-eval/1``, docs/architecture.md#evaluation-output) and
``OUT/scores.npz`` (unicode id arrays, float32 scores; loads with ``allow_pickle=False``).
"""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anatomy_vlm.errors import ConfigError, DataError
from anatomy_vlm.eval.protocol import evaluate_scores
from anatomy_vlm.eval.truth import (
    TRUTH_FILE,
    EvalTruth,
    label_targets,
    phantom_targets,
    read_phantom_truth,
)
from anatomy_vlm.knowledge._io import atomic_write_bytes

__all__ = ["SCHEMA", "SPLITS", "evaluate"]

SCHEMA = "anatomy-vlm-eval/1"
SPLITS = {"test": "test", "validate": "valid", "valid": "valid", "all": None}
_SCORE_KEYS = ("region_probs", "image_probs", "boxes")


@dataclass
class _Run:
    run_dir: Path
    name: str
    config: dict
    predictor: object


@dataclass
class _Collected:
    """Per-image truth and per-model scores, appended batch by batch."""

    ids: list = field(default_factory=list)
    patients: list = field(default_factory=list)
    domains: list = field(default_factory=list)
    region_truth: list = field(default_factory=list)
    image_truth: list = field(default_factory=list)
    boxes: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)


def evaluate(
    run_dirs: list[Path],
    data_dirs: list[Path],
    *,
    split: str = "test",
    out: Path,
    batch_size: int = 64,
    progress: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    min_positives: int = 20,
    device: str = "cpu",
) -> dict:
    """Evaluate ``run_dirs`` on the ``split`` (``test``, ``validate`` or ``all``) of every
    folder in ``data_dirs``; write ``out/metrics.json`` and ``out/scores.npz``; return the
    metrics dict. ConfigError / DataError on bad input (one line each). ``n_boot``, ``seed``
    and ``min_positives`` are the protocol's (:func:`evaluate_scores`; keep 20 to compare
    with published numbers)."""
    if not run_dirs or not data_dirs:
        raise ConfigError("evaluate needs at least one --checkpoint and one --data folder")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (test, validate or all)")
    if batch_size < 1:
        raise ConfigError(f"batch size must be positive, got {batch_size}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    runs = _open_runs(run_dirs, device=device)
    started = time.perf_counter()
    collected = _Collected(scores={run.name: {k: [] for k in _SCORE_KEYS} for run in runs})
    truth_sources = []
    for k, data_dir in enumerate(data_dirs):
        truth_sources.append(
            _read_folder(
                Path(data_dir),
                k,
                runs,
                collected,
                split=split,
                batch_size=batch_size,
                progress=progress,
            )
        )
    truth, scores = _stack(collected, runs)
    predict_s = time.perf_counter() - started
    scored = evaluate_scores(truth, scores, n_boot=n_boot, seed=seed, min_positives=min_positives)
    metrics = _metrics(runs, scored, split=split, data_dirs=data_dirs, truth_sources=truth_sources)
    metrics["timing_s"] = {
        "predict": round(predict_s, 2),
        "protocol": round(time.perf_counter() - started - predict_s, 2),
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_scores(out / "scores.npz", truth, scores)
    atomic_write_bytes(out / "metrics.json", (json.dumps(metrics, indent=1) + "\n").encode("utf-8"))
    return metrics


def _open_runs(run_dirs: list[Path], *, device: str) -> list[_Run]:
    from anatomy_vlm.model.run import load_run, read_run_config

    configs = [
        (Path(d), read_run_config(d)) for d in run_dirs
    ]  # every config checked before any load
    first_dir, first = configs[0]
    names: dict[str, Path] = {}
    for run_dir, config in configs:
        for key in ("region_set", "finding_set"):
            if _set_key(config, key, run_dir) != _set_key(first, key, first_dir):
                raise ConfigError(
                    f"runs use different {key.replace('_', ' ')}s: {first_dir.name} "
                    f"{_set_key(first, key, first_dir)} vs {run_dir.name} "
                    f"{_set_key(config, key, run_dir)}"
                )
        name = str(config.get("name") or config["kind"])
        if name in names:
            raise ConfigError(
                f"two runs are named {name!r} ({names[name].name}, {run_dir.name}); "
                "model names must differ"
            )
        names[name] = run_dir
    runs = []
    for run_dir, config in configs:
        predictor = load_run(run_dir, device=device)
        runs.append(
            _Run(
                run_dir=run_dir,
                name=str(config.get("name") or config["kind"]),
                config=config,
                predictor=predictor,
            )
        )
    return runs


def _set_key(config: dict, key: str, run_dir: Path) -> tuple[str, str]:
    value = config.get(key)
    if not isinstance(value, dict) or "name" not in value or "hash" not in value:
        raise DataError(f"{run_dir.name}/config.json: no {key} name and hash")
    return str(value["name"]), str(value["hash"])


def _read_folder(
    data_dir: Path,
    k: int,
    runs: list[_Run],
    collected: _Collected,
    *,
    split: str,
    batch_size: int,
    progress: bool,
) -> str:
    """Append the truth and every run's scores of one folder; returns its truth source."""
    from anatomy_vlm.data.datasets import open_dataset

    predictor = runs[0].predictor
    if not data_dir.is_dir():
        raise DataError(f"--data {data_dir}: not a folder")
    phantom = (data_dir / TRUTH_FILE).is_file()
    records = read_phantom_truth(data_dir) if phantom else None
    dataset = open_dataset(
        "phantom" if phantom else "mimic",
        data_dir,
        split=SPLITS[split],
        region_set=predictor.region_set,
        finding_set=predictor.finding_set,
        load_masks=False,
    )
    if len(dataset) == 0:
        raise DataError(f"--data {data_dir.name}: no images in split {split!r}")
    batch: list = []
    for index in range(len(dataset)):
        sample = dataset[index]
        if sample is not None:
            batch.append(sample)
        if len(batch) == batch_size or (index == len(dataset) - 1 and batch):
            _add_truth(batch, k, records, collected, data_dir)
            _add_scores(batch, runs, collected)
            batch = []
            if progress and sys.stderr.isatty():
                print(
                    f"\revaluate: {data_dir.name}: {index + 1}/{len(dataset)} films",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    if progress:
        print(
            f"\revaluate: {data_dir.name}: {len(dataset)} films read and predicted", file=sys.stderr
        )
    return "phantom_truth" if phantom else "dataset_labels"


def _add_truth(
    batch: list, k: int, records: dict | None, collected: _Collected, data_dir: Path
) -> None:
    regions, findings = batch[0].region_set.ids, batch[0].finding_set.ids
    for sample in batch:
        if records is None:
            region, image = label_targets(sample)
            domain = "id"
        else:
            record = records.get(sample.image_id)
            if record is None:
                raise DataError(f"{data_dir.name}: image {sample.image_id} is not in {TRUTH_FILE}")
            region, image = phantom_targets(record, regions, findings)
            domain = str(record.get("domain") or "id")
        collected.ids.append(sample.image_id)
        collected.patients.append(f"{k}:{sample.subject_id}")
        collected.domains.append(domain)
        collected.region_truth.append(region)
        collected.image_truth.append(image)
        collected.boxes.append(sample.boxes.numpy().astype(np.float32))


def _add_scores(batch: list, runs: list[_Run], collected: _Collected) -> None:
    import torch

    from anatomy_vlm.data.types import resize

    sizes = np.array([[s.width, s.height, s.width, s.height] for s in batch], dtype=np.float32)
    images: dict[int, torch.Tensor] = {}
    for run in runs:
        size = int(run.predictor.image_size)
        if size not in images:
            images[size] = torch.stack([resize(s, size).image for s in batch])
        with torch.no_grad():
            prediction = run.predictor.predict(images[size])
        arrays = _checked(
            run, prediction, len(batch), len(batch[0].region_set.ids), len(batch[0].finding_set.ids)
        )
        arrays["boxes"] = arrays["boxes"] * (sizes[:, None, :] / size)
        for key in _SCORE_KEYS:
            collected.scores[run.name][key].append(arrays[key])


def _checked(run: _Run, prediction, n: int, r: int, f: int) -> dict[str, np.ndarray]:
    expected = {"region_probs": (n, r, f), "image_probs": (n, f), "boxes": (n, r, 4)}
    arrays = {}
    for key, shape in expected.items():
        value = prediction.get(key) if hasattr(prediction, "get") else None
        if value is None:
            raise DataError(f"model {run.name}: prediction has no {key!r}")
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        if value.shape != shape:
            raise DataError(f"model {run.name}: {key} has shape {value.shape}, expected {shape}")
        if key != "boxes" and not np.isfinite(value).all():
            raise DataError(f"model {run.name}: {key} holds NaN or infinite probabilities")
        arrays[key] = value.astype(np.float32)
    return arrays


def _stack(collected: _Collected, runs: list[_Run]) -> tuple[EvalTruth, dict]:
    regions, findings = runs[0].predictor.region_set.ids, runs[0].predictor.finding_set.ids
    truth = EvalTruth(
        image_ids=np.asarray(collected.ids, dtype=str),
        patients=np.asarray(collected.patients, dtype=str),
        domains=np.asarray(collected.domains, dtype=str),
        region_ids=tuple(regions),
        finding_ids=tuple(findings),
        region_truth=np.stack(collected.region_truth),
        image_truth=np.stack(collected.image_truth),
        boxes=np.stack(collected.boxes),
    )
    scores = {
        name: {key: np.concatenate(parts) for key, parts in by_key.items()}
        for name, by_key in collected.scores.items()
    }
    return truth, scores


def _metrics(
    runs: list[_Run], scored: dict, *, split: str, data_dirs: list[Path], truth_sources: list[str]
) -> dict:
    from anatomy_vlm.kgload import load_kg

    first = runs[0].predictor
    protocol = dict(scored["protocol"])
    protocol.update(
        {"split": split, "data": [Path(d).name for d in data_dirs], "truth": truth_sources}
    )
    return {
        "schema": SCHEMA,
        "kg_version": load_kg().version,
        "region_set": {"name": first.region_set.name, "hash": first.region_set.hash},
        "finding_set": {"name": first.finding_set.name, "hash": first.finding_set.hash},
        "protocol": protocol,
        "models": {
            run.name: {
                "run_dir": str(run.run_dir),
                "kind": run.config["kind"],
                "steps": run.config.get("steps"),
                "train_s": run.config.get("train_s"),
                "image_size": int(run.predictor.image_size),
                "kg_version": run.config.get("kg_version"),
            }
            for run in runs
        },
        "results": scored["results"],
        "comparisons": scored["comparisons"],
        "domains": scored["domains"],
    }


def _write_scores(path: Path, truth: EvalTruth, scores: dict) -> None:
    arrays = {
        "image_ids": truth.image_ids,
        "region_ids": np.asarray(truth.region_ids, dtype=str),
        "finding_ids": np.asarray(truth.finding_ids, dtype=str),
        "image_domains": truth.domains,
        "image_patients": truth.patients,
    }
    for name, by_key in scores.items():
        for key, value in by_key.items():
            arrays[f"{key}__{name}"] = value.astype(np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())

