"""The training loop: a state object, a step function, validation-based checkpoint choice.

No globals: everything a step needs is in :class:`TrainState` (model, optimiser, schedule, RNG,
step), so resuming and bf16 (autocast around :func:`train_step`) slot in without reshaping it.

Under ``torchrun`` (``engine.distributed``): gloo on CPU, NCCL on GPUs. Every rank loads the
same cached splits and draws the same global sample order from the seed; optimiser step ``k``
takes the same ``batch_size`` samples as a single process, rank ``r`` the share
``index[r::world_size]`` (cut into ``accumulate`` micro-batches, all but the last in
``no_sync()``). The forward pass runs through a DDP wrapper (``TrainState.forward_model``) while
``TrainState.model`` stays the bare module, so checkpoints, validation and the saved run are the
same at any world size. Rank 0 alone owns the run directory, validates, writes metrics, the
progress bar and the run; checkpoints are saved collectively (rank 0 writes). Images are cached
in memory, so no DataLoader workers run during training (nothing per rank to seed).

The knowledge-fusion step retrieves with a FAISS flat index built, on every forward, from the
current node embeddings. Those come from parameters DDP keeps identical on all ranks (the same
seeded init, broadcast at wrap time, then the same all-reduced gradients and AdamW update), so
every rank searches the same node index and a query retrieves the same rows on every rank
(``tests/engine/test_ddp.py``).
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.engine.augment import augment_batch
from anatomy_vlm.engine.checkpoint import discard_checkpoints
from anatomy_vlm.engine.config import TrainConfig
from anatomy_vlm.engine.data import SplitTensors, load_split, make_batch
from anatomy_vlm.engine.distributed import (
    all_reduce_mean,
    barrier,
    cleanup,
    get_rank,
    get_world_size,
    init_distributed,
    is_distributed,
    is_main,
    plan_batches,
)
from anatomy_vlm.engine.guards import check_finite
from anatomy_vlm.engine.labels import (
    complete_labels,
    descendant_matrix,
    expressible_findings,
    region_sides,
)
from anatomy_vlm.engine.resume import resume_train_state, save_train_state
from anatomy_vlm.engine.rng import derive_seed
from anatomy_vlm.engine.rundir import prepare_run_dir, write_metrics
from anatomy_vlm.engine.stop import TrainingInterrupted, stop_requests
from anatomy_vlm.engine.tblog import log_row, open_writer, require_tensorboard
from anatomy_vlm.engine.validate import predict_split, region_auroc
from anatomy_vlm.errors import ConfigError
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
    # under torchrun: the DDP wrapper used for the forward pass (``model`` stays the bare module,
    # so state dicts, validation and checkpoints are the same at every world size), and a
    # per-rank augmentation generator (``generator`` then only deals the sample order)
    forward_model: torch.nn.Module | None = None
    augment_generator: torch.Generator | None = None


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
    state: TrainState, batches: dict | list[dict], config: TrainConfig, device: str
) -> dict[str, float]:
    """One optimiser step on ``batches`` (micro-batches from :func:`make_batch`, accumulated).

    Returns the loss terms (the mean over micro-batches; under DDP the mean over ranks too).
    Each micro-batch's loss is scaled by ``1 / len(batches)``; under DDP all but the last run in
    ``no_sync()``, so gradients are all-reduced once per step. Raises
    :class:`~anatomy_vlm.engine.guards.NonFiniteLossError` (naming the step and the term)
    before any weight changes when a loss term is NaN or infinite.
    """
    micro = batches if isinstance(batches, list) else [batches]
    model = state.forward_model or state.model
    model.train()
    state.optimizer.zero_grad(set_to_none=True)
    totals: dict[str, float] = {}
    for position, batch in enumerate(micro):
        last = position == len(micro) - 1
        with nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync():
            terms = _micro_step(state, model, batch, config, device)
            (terms["loss"] / len(micro)).backward()
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + float(value.detach()) / len(micro)
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), config.grad_clip)
    state.optimizer.step()
    state.scheduler.step()
    state.step += 1
    if is_distributed():  # for the log only: the gradients are already averaged by DDP
        mean = all_reduce_mean(torch.tensor(list(totals.values()), dtype=torch.float64))
        totals = dict(zip(totals, mean.tolist(), strict=True))
    return totals


def _micro_step(state: TrainState, model, batch: dict, config: TrainConfig, device: str) -> dict:
    images, boxes = batch["images"], batch["targets"]["boxes"]
    if config.augment:
        generator = state.augment_generator or state.generator
        images, boxes = augment_batch(images, boxes, generator=generator)
    targets = {k: v.to(device) for k, v in {**batch["targets"], "boxes": boxes}.items()}
    with _autocast(config, device):
        outputs = model(
            images.to(device),
            report_text=batch["report_text"].to(device),
            sentence_text=batch["sentence_text"].to(device),
        )
        terms = state.criterion(outputs, targets)
    # before backward: a non-finite step never reaches the weights or the checkpoints
    check_finite(terms, state.step + 1)
    return terms


def _autocast(config: TrainConfig, device: str):
    """bf16 autocast on CUDA when ``config.bf16``; CPU runs stay fp32 (no context at all)."""
    if config.bf16 and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _device(config: TrainConfig) -> str:
    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device == "cuda" and not torch.cuda.is_available():
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
          stop, checkpoint_every, keep, writer=None):
    """Steps until ``config.steps``; returns the rest of the sample order and images seen."""
    generator = state.generator
    while state.step < config.steps:
        if len(order) < config.batch_size:
            order = torch.cat([order, torch.randperm(len(train_split), generator=generator)])
        index, order = order[: config.batch_size], order[config.batch_size :]
        tick = time.perf_counter()
        # rank r takes index[r::world] (the sampler's dealing rule): together the ranks see the
        # single-process global batch; each rank's share is cut into ``accumulate`` micro-batches
        mine = index[get_rank() :: get_world_size()]
        micro = [make_batch(train_split, part) for part in mine.chunk(config.accumulate)]
        terms = train_step(state, micro, config, device)
        images_seen += len(index)
        row = {
            "step": state.step,
            "lr": state.scheduler.get_last_lr()[0],
            **terms,
            "images_per_s": len(index) / (time.perf_counter() - tick),
            "elapsed_s": time.perf_counter() - t0,
        }
        if is_main() and (state.step % config.val_every == 0 or state.step == config.steps):
            result = _validate_and_keep(state, valid_split, config, device)
            row.update(val_region_auroc=result["macro"], val_region_auroc_pooled=result["pooled"])
            write_metrics(out, state.history + [row])
        state.history.append(row)
        if writer is not None:
            log_row(writer, row)
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
            if is_main():
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
    device = _device(config)
    # torchrun: gloo when training on CPU, NCCL on GPUs; a no-op without WORLD_SIZE > 1
    ranks = init_distributed(backend="gloo" if device == "cpu" else None)
    try:
        with stop_requests() as stop:  # from the start: a signal while loading stops after step 1
            return _train(config, data=data, out=out, progress=progress and is_main(),
                          extra=extra, checkpoint_every=checkpoint_every, keep=keep,
                          resume=resume, stop=stop, ranks=ranks)
    finally:
        cleanup()


def _wrap_ddp(model: torch.nn.Module, ranks, device: str) -> torch.nn.Module | None:
    """The DDP wrapper for the forward pass under torchrun (None for a single process)."""
    if ranks.world_size == 1:
        return None
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ranks.local_rank] if device.startswith("cuda") else None
    # some parameters get no gradient in some configs (zero loss weights, holistic scoring)
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)


def _train(config: TrainConfig, *, data: Path, out: Path, progress: bool, extra: dict | None,
           checkpoint_every: int, keep: int | None, resume: bool, stop, ranks) -> Path:
    from anatomy_vlm.model.checkpoint import save_pretrained

    if config.tensorboard:
        require_tensorboard()  # before minutes of loading
    plan = plan_batches(config.batch_size, ranks.world_size)  # ConfigError when it does not split
    if plan.per_rank_batch % config.accumulate:
        raise ConfigError(f"batch_size {config.batch_size} over {ranks.world_size} rank(s) does "
                          f"not split into accumulate={config.accumulate} micro-batches")
    out = prepare_run_dir(out) if is_main() else Path(out)  # rank 0 owns the run directory
    barrier()
    device = _device(config)
    if ranks.world_size > 1 and device != "cpu":
        device = ranks.device
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
        forward_model=_wrap_ddp(model, ranks, device),
    )
    if config.compile:
        state.forward_model = torch.compile(state.forward_model or model)
    if ranks.world_size > 1:  # same order on every rank, its own augmentation draws
        seed = derive_seed(config.seed, rank=ranks.rank, stream=1)
        state.augment_generator = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    bar, t_train, images_seen = _bar(config.steps, progress), time.perf_counter(), 0
    restored = resume_train_state(out, state, config=config.to_json()) if resume else None
    if restored is not None:
        order, images_seen = restored["order"], restored["images_seen"]
        bar.update(state.step)
        if progress:
            _log(f"train: resumed from {restored['path']} (step {state.step})")
    elif not resume and is_main():
        discard_checkpoints(out)
    barrier()
    writer = None
    if config.tensorboard and is_main():
        writer = open_writer(out, config=config.to_json(), kg_version=context.kg_version)
    try:
        order, images_seen = _loop(
            state, train_split, valid_split, config, device, out,
            order=order, images_seen=images_seen, bar=bar, t0=t0, stop=stop,
            checkpoint_every=checkpoint_every, keep=keep, writer=writer,
        )
    finally:
        if writer is not None:
            writer.close()
    bar.close()
    train_s = time.perf_counter() - t0
    if not is_main():
        return out
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
        "world_size": ranks.world_size,
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
