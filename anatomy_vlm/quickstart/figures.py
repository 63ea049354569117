"""Films drawn for the quickstart page: the image, region boxes and finding names (PNG)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["draw_film"]

# a few high-contrast colours cycled over the drawn regions
_COLOURS = ((255, 80, 80), (80, 200, 255), (120, 255, 120), (255, 200, 60), (220, 120, 255),
            (255, 140, 200), (90, 255, 220), (255, 255, 255))


def draw_film(image: np.ndarray, boxes: Sequence[tuple[str, Sequence[float]]], out: Path, *,
              scale: int = 2) -> Path:
    """Write ``image`` (``[H, W]`` float in [0, 1]) with labelled boxes as a PNG at ``out``.

    ``boxes``: ``(label, [x1, y1, x2, y2])`` in pixels of ``image``; rows with NaN are skipped
    (a region the film does not show is not drawn). The picture is upscaled ``scale`` times so
    that labels stay legible.
    """
    grey = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    picture = Image.fromarray(grey, mode="L").convert("RGB")
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.BILINEAR)
    draw = ImageDraw.Draw(picture)
    for index, (label, box) in enumerate(boxes):
        if box is None or any(not np.isfinite(v) for v in box):
            continue
        colour = _COLOURS[index % len(_COLOURS)]
        x1, y1, x2, y2 = (float(v) * scale for v in box)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=2)
        draw.text((x1 + 3, y1 + 2), label, fill=colour)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    picture.save(tmp, format="PNG")
    os.replace(tmp, out)
    return out
