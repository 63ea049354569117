"""Training engine: configs and presets, the loop, the ``train`` command.

Python API (used by ``quickstart``)::

    from anatomy_vlm.engine import load_preset, apply_overrides, train
    config = apply_overrides(load_preset("quickstart"), ["steps=200"])
    run_dir = train(config, data=Path("phantom"), out=Path("runs/anatomy_vlm"))
"""

from __future__ import annotations

from pathlib import Path

from anatomy_vlm.engine.config import (
    TrainConfig,
    apply_overrides,
    list_presets,
    load_config_file,
    load_preset,
    with_kind,
)

__all__ = [
    "TrainConfig",
    "train",
    "load_preset",
    "apply_overrides",
    "list_presets",
    "load_config_file",
    "with_kind",
]


def train(
    config: TrainConfig,
    *,
    data: Path,
    out: Path,
    kind: str | None = None,
    progress: bool = True,
    extra: dict | None = None,
    checkpoint_every: int = 0,
    keep: int | None = 3,
    resume: bool = False,
) -> Path:
    """Train into the run directory ``out`` and return it.

    ``kind`` (``anatomy_vlm``, ``holistic`` or ``prior``) overrides ``config.model.kind``; the
    image-blind ``prior`` is trained by :func:`anatomy_vlm.model.prior.train_prior`.
    ``checkpoint_every`` / ``keep`` / ``resume``: see :func:`anatomy_vlm.engine.loop.train`
    (the prior trains in one pass and ignores them).
    """
    if kind == "prior":
        from anatomy_vlm.model.prior import train_prior

        return train_prior(
            data=Path(data),
            out=Path(out),
            region_set=config.region_set,
            finding_set=config.finding_set,
            image_size=config.image_size,
            name=config.name or "prior",
            seed=config.seed,
        )
    if kind is not None:
        config = with_kind(config, kind)
    from anatomy_vlm.engine.loop import train as run

    return run(
        config,
        data=Path(data),
        out=Path(out),
        progress=progress,
        extra=extra,
        checkpoint_every=checkpoint_every,
        keep=keep,
        resume=resume,
    )
