"""The training loop: a state object, a step function, validation-based checkpoint choice.

No globals: everything a step needs is in :class:`TrainState` (model, optimiser, schedule, RNG,
step), so resuming, DDP (wrap ``state.model``) and bf16 (autocast around :func:`train_step`) slot
in without reshaping the loop.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.engine.augment import augment_batch
from anatomy_vlm.engine.checkpoint import discard_checkpoints
from anatomy_vlm.engine.config import TrainConfig
from anatomy_vlm.engine.data import SplitTensors, load_split, make_batch
from anatomy_vlm.engine.guards import check_finite
from anatomy_vlm.engine.labels import (
    complete_labels,
    descendant_matrix,
    expressible_findings,
    region_sides,
)
from anatomy_vlm.engine.resume import resume_train_state, save_train_state
from anatomy_vlm.engine.rundir import prepare_run_dir, write_metrics
from anatomy_vlm.engine.stop import TrainingInterrupted, stop_requests
from anatomy_vlm.engine.validate import predict_split, region_auroc
from anatomy_vlm.model.config import HolisticRegionScoring, ModelKind
from anatomy_vlm.model.losses import AlignmentCriterion
from anatomy_vlm.model.run import RUN_FORMAT

__all__ = ["TrainState", "train_step", "train", "cosine_with_warmup"]


@dataclass
class TrainState:
    """Everything that changes while training."""

    model: torch.nn.Module
    criterion: AlignmentCriterion
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    step: int = 0
    best_score: float = -math.inf
    best_step: int = -1
    best_weights: dict | None = None
    best_scoring: str | None = None
    history: list[dict] = field(default_factory=list)


def cosine_with_warmup(optimizer, *, warmup: int, total: int):
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay, plain = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else plain).append(p)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": plain, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )


def train_step(
    state: TrainState, batch: dict, config: TrainConfig, device: str
) -> dict[str, float]:
    """One optimiser step on ``batch`` (from :func:`make_batch`); returns the loss terms.

    Raises :class:`~anatomy_vlm.engine.guards.NonFiniteLossError` (naming the step and the
    term) before any weight changes when a loss term is NaN or infinite.
    """
    state.model.train()
    images, boxes = batch["images"], batch["targets"]["boxes"]
    if config.augment:
        images, boxes = augment_batch(images, boxes, generator=state.generator)
    targets = {k: v.to(device) for k, v in {**batch["targets"], "boxes": boxes}.items()}
    outputs = state.model(
        images.to(device),
        report_text=batch["report_text"].to(device),
        sentence_text=batch["sentence_text"].to(device),
    )
    terms = state.criterion(outputs, targets)
    # before backward: a non-finite step never reaches the weights or the checkpoints
    check_finite(terms, state.step + 1)
    state.optimizer.zero_grad(set_to_none=True)
    terms["loss"].backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), config.grad_clip)
    state.optimizer.step()
    state.scheduler.step()
    state.step += 1
    return {k: float(v.detach()) for k, v in terms.items()}


def _device(config: TrainConfig) -> str:
    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device == "cuda" and not torch.cuda.is_available():
        from anatomy_vlm.errors import ConfigError

        raise ConfigError("device=cuda but torch sees no GPU")
    return config.device


def config_regions(config: TrainConfig) -> tuple[str, ...]:
    from kg.sets import region_set

    return region_set(config.region_set).ids


def _complete(
    split: SplitTensors, config: TrainConfig, descendants, expressible, *, mode: str | None = None
) -> None:
    split.labels, split.weights = complete_labels(
        split.region_labels,
        split.region_uncertain,
        split.image_labels,
        split.image_uncertain,
        descendants=descendants,
        expressible=expressible,
        mode=mode or config.label_completion,
        sides=region_sides(config_regions(config)),
        negative_weight=config.completed_negative_weight,
    )
    split.weights = torch.where(
        split.labels == 1, split.weights * config.positive_weight, split.weights
    )


def validate(model, split: SplitTensors, *, device: str, scoring: str | None = None) -> dict:
    """Region AUROC of ``model`` on ``split`` (engine.validate); the score used for checkpoints."""
    model.eval()
    if scoring is None:
        predict = model.predict_tensors
    else:

        def predict(images):
            return model.predict_tensors(images, scoring)

    probs = predict_split(predict, split.images, device=device)["region_probs"]
    return region_auroc(probs, split.labels.numpy(), split.weights.numpy())


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _prepare(config: TrainConfig, data: Path, device: str, progress: bool):
    """KG context, model, criterion and the two splits in memory."""
    from anatomy_vlm.kgload import load_kg
    from anatomy_vlm.model.context import build_context
    from anatomy_vlm.model.text import TextEmbeddingCache
    from anatomy_vlm.model.vlm import build_model
    from kg.sets import finding_set, region_set

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kg = load_kg()
    regions, findings = region_set(config.region_set), finding_set(config.finding_set)
    cache = TextEmbeddingCache(model_name=config.model.text_model)
    started = time.perf_counter()
    context = build_context(kg, regions, findings, text_cache=cache)
    train_split = load_split(
        data, split="train", config=config, text_cache=cache, limit=config.train_limit
    )
    valid_split = load_split(
        data, split="valid", config=config, text_cache=cache, limit=config.val_limit
    )
    descendants = descendant_matrix(kg, regions.ids)
    expressible = expressible_findings(train_split.region_labels)
    _complete(train_split, config, descendants, expressible)
    # validation always reads reports closed-world, so runs with other label modes stay comparable
    _complete(valid_split, config, descendants, expressible, mode="closed_world")
    if progress:
        _log(
            f"train: {len(train_split)} train / {len(valid_split)} validate images in memory "
            f"({time.perf_counter() - started:.1f} s with prompts)"
        )
    model = build_model(config.model, context, seed=config.seed).to(device)
    criterion = AlignmentCriterion(weight_dict=config.loss_weights)
    return model, criterion, context, train_split, valid_split


def _bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        desc="train",
        leave=True,
    )


def _validate_and_keep(
    state: TrainState, valid: SplitTensors, config: TrainConfig, device: str
) -> dict:
    scores = {}
    if config.kind == ModelKind.HOLISTIC.value:
        for option in HolisticRegionScoring:
            scores[option.value] = validate(state.model, valid, device=device, scoring=option.value)
        best = max(scores, key=lambda k: np.nan_to_num(scores[k]["macro"], nan=-1))
        result = {**scores[best], "scoring": best}
    else:
        result = validate(state.model, valid, device=device)
    score = np.nan_to_num(result["macro"], nan=-1.0)
    if score > state.best_score:
        state.best_score, state.best_step = float(score), state.step
        state.best_weights = copy.deepcopy(
            {k: v.detach().cpu() for k, v in state.model.state_dict().items()}
        )
        state.best_scoring = result.get("scoring")
    return result


def _loop(state, train_split, valid_split, config, device, out, *, order, images_seen, bar, t0,
          stop, checkpoint_every, keep):
    """Steps until ``config.steps``; returns the rest of the sample order and images seen."""
    generator = state.generator
    while state.step < config.steps:
        if len(order) < config.batch_size:
            order = torch.cat([order, torch.randperm(len(train_split), generator=generator)])
        index, order = order[: config.batch_size], order[config.batch_size :]
        tick = time.perf_counter()
        terms = train_step(state, make_batch(train_split, index), config, device)
        images_seen += len(index)
        row = {
            "step": state.step,
            "lr": state.scheduler.get_last_lr()[0],
            **terms,
            "images_per_s": len(index) / (time.perf_counter() - tick),
            "elapsed_s": time.perf_counter() - t0,
        }
        if state.step % config.val_every == 0 or state.step == config.steps:
            result = _validate_and_keep(state, valid_split, config, device)
            row.update(val_region_auroc=result["macro"], val_region_auroc_pooled=result["pooled"])
            write_metrics(out, state.history + [row])
        state.history.append(row)
        bar.set_postfix(
            loss=f"{terms['loss']:.3f}",
            img_s=f"{row['images_per_s']:.0f}",
            val=f"{state.best_score:.3f}",
        )
        bar.update(1)
        loop, saved = {"order": order, "images_seen": images_seen}, None
        if checkpoint_every and state.step % checkpoint_every == 0:
            saved = save_train_state(out, state, loop=loop, config=config.to_json(), keep=keep)
        signum = stop.pending()
        if signum:  # Ctrl-C / SIGTERM: checkpoint this step (when checkpointing is on), stop
            if checkpoint_every and saved is None:
                saved = save_train_state(out, state, loop=loop, config=config.to_json(), keep=keep)
            write_metrics(out, state.history)
            bar.close()
            raise TrainingInterrupted(signum, state.step, saved)
    return order, images_seen


def train(
    config: TrainConfig,
    *,
    data: Path,
    out: Path,
    progress: bool = True,
    extra: dict | None = None,
    checkpoint_every: int = 0,
    keep: int | None = 3,
    resume: bool = False,
) -> Path:
    """Train ``config.model.kind`` on ``data`` into the run directory ``out``; returns ``out``.

    ``extra`` is stored in ``config.json`` (e.g. ``{"preset": ..., "overrides": [...]}``).
    ``checkpoint_every``: every N steps save a resumable checkpoint in ``out/checkpoints``
    (0: never), keeping the newest ``keep``. ``resume``: continue from the newest sound one
    (same config; from scratch when there is none); without it, old checkpoints are discarded.
    SIGINT / SIGTERM: the current step finishes, is checkpointed (when ``checkpoint_every``)
    and :class:`~anatomy_vlm.engine.stop.TrainingInterrupted` is raised (``exit_code`` 130/143).
    """
    with stop_requests() as stop:  # from the start: a signal while loading stops after step 1
        return _train(config, data=data, out=out, progress=progress, extra=extra,
                      checkpoint_every=checkpoint_every, keep=keep, resume=resume, stop=stop)


def _train(config: TrainConfig, *, data: Path, out: Path, progress: bool, extra: dict | None,
           checkpoint_every: int, keep: int | None, resume: bool, stop) -> Path:
    from anatomy_vlm.model.checkpoint import save_pretrained

    out = prepare_run_dir(out)
    device = _device(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    t0 = time.perf_counter()
    model, criterion, context, train_split, valid_split = _prepare(
        config, Path(data), device, progress
    )
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = _optimizer(model, config)
    state = TrainState(
        model=model,
        criterion=criterion,
        optimizer=optimizer,
        scheduler=cosine_with_warmup(optimizer, warmup=config.warmup_steps, total=config.steps),
        generator=generator,
    )
    order = torch.empty(0, dtype=torch.long)
    bar, t_train, images_seen = _bar(config.steps, progress), time.perf_counter(), 0
    restored = resume_train_state(out, state, config=config.to_json()) if resume else None
    if restored is not None:
        order, images_seen = restored["order"], restored["images_seen"]
        bar.update(state.step)
        if progress:
            _log(f"train: resumed from {restored['path']} (step {state.step})")
    elif not resume:
        discard_checkpoints(out)
    order, images_seen = _loop(
        state, train_split, valid_split, config, device, out,
        order=order, images_seen=images_seen, bar=bar, t0=t0, stop=stop,
        checkpoint_every=checkpoint_every, keep=keep,
    )
    bar.close()
    train_s = time.perf_counter() - t0
    model.load_state_dict(state.best_weights)
    model_config = config.model
    if config.kind == ModelKind.HOLISTIC.value and state.best_scoring:
        model_config = replace(model_config, holistic_region_scoring=state.best_scoring)
    run_config = {
        "format": RUN_FORMAT,
        "kind": config.kind,
        "name": config.run_name,
        "steps": state.step,
        "train_s": round(train_s, 2),
        "image_size": config.image_size,
        "kg_version": context.kg_version,
        "train": {**config.to_json(), "model": model_config.to_json()},
        "seed": config.seed,
        "checkpoint": {
            "chosen_on": "validate",
            "metric": "val_region_auroc (report-derived labels)",
            "step": state.best_step,
            "value": state.best_score,
        },
        "images_seen": images_seen,
        "train_loop_s": round(time.perf_counter() - t_train, 2),
        **(extra or {}),
    }
    model.config = model_config
    write_metrics(out, state.history)
    save_pretrained(model, out, run_config)
    if progress:
        _log(
            f"train: {config.kind} -> {out} ({train_s:.0f} s; best validate region AUROC "
            f"{state.best_score:.3f} at step {state.best_step})"
        )
    return out
