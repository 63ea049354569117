"""Optional TensorBoard logging (``tensorboard=true``): per-step scalars, the config, the KG.

Needs the ``tensorboard`` package (``pip install 'anatomy-vlm[tensorboard]'``); without it a run
asking for TensorBoard stops at once with one line. Rank 0 writes into ``RUN_DIR/tensorboard``.
"""

from __future__ import annotations

import json
from pathlib import Path

from anatomy_vlm.errors import ConfigError

__all__ = ["require_tensorboard", "open_writer", "log_row"]


def require_tensorboard():
    """``SummaryWriter``; ConfigError (one line) when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "tensorboard=true needs the tensorboard package "
            "(pip install 'anatomy-vlm[tensorboard]')"
        ) from None
    return SummaryWriter


def open_writer(out: Path, *, config: dict, kg_version: str):
    """A ``SummaryWriter`` in ``out/tensorboard`` with the run's config and KG version as text."""
    SummaryWriter = require_tensorboard()  # noqa: N806 (a class)
    writer = SummaryWriter(log_dir=str(Path(out) / "tensorboard"))
    text = json.dumps(config, indent=1, sort_keys=True, default=str)
    writer.add_text("config", f"```\n{text}\n```", global_step=0)
    writer.add_text("kg_version", str(kg_version), global_step=0)
    return writer


def log_row(writer, row: dict) -> None:
    """Every number of a metrics row (loss terms, lr, throughput, validation) at its step."""
    step = int(row["step"])
    for name, value in row.items():
        if name != "step" and isinstance(value, int | float):
            writer.add_scalar(f"train/{name}" if not name.startswith("val_") else name,
                              value, global_step=step)
