"""The output folder of a run: refuse what this code did not write, write files atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from anatomy_vlm.errors import ConfigError
from anatomy_vlm.knowledge._io import atomic_write_bytes
from anatomy_vlm.model.run import RUN_FORMAT

__all__ = ["prepare_run_dir", "write_config", "write_metrics", "MARKER"]

MARKER = ".anatomy-vlm-run"  # written first, so an interrupted run is still recognised as ours


def _is_ours(out: Path) -> bool:
    if (out / MARKER).is_file():
        return True
    try:
        config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("format") == RUN_FORMAT


def prepare_run_dir(out: Path | str) -> Path:
    """Create ``out`` (or accept an empty folder or a previous run); ConfigError otherwise.

    A previous run's files are overwritten one by one as the new run writes them; nothing else
    in the folder is touched.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_ours(out):
        raise ConfigError(f"--out {out} exists, is not empty and is not a run directory")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(RUN_FORMAT + "\n", encoding="utf-8")
    return out


def write_config(out: Path, config: dict) -> None:
    atomic_write_bytes(out / "config.json", (json.dumps(config, indent=1) + "\n").encode("utf-8"))


def write_metrics(out: Path, rows: list[dict]) -> None:
    """``metrics.csv``: one row per logged step (columns: every key, first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "metrics.csv", buffer.getvalue().encode("utf-8"))
