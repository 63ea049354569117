"""Batch augmentation on tensors: random zoom and shift (boxes follow), contrast and gamma.

No horizontal flip: the heart, aortic arch and gastric bubble are on the patient's left, so a
mirrored film is anatomy no patient has (and every left/right label and sentence would have to
be swapped with it).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["augment_batch"]


def augment_batch(
    images: Tensor,
    boxes: Tensor,
    *,
    generator: torch.Generator,
    zoom: float = 0.08,
    shift: float = 0.05,
    contrast: float = 0.15,
    gamma: float = 0.15,
) -> tuple[Tensor, Tensor]:
    """``images`` ``[B, 1, H, W]`` in [0, 1], ``boxes`` ``[B, R, 4]`` (x1, y1, x2, y2) in [0, 1]
    → augmented copies of both (NaN box rows stay NaN)."""
    b = images.shape[0]

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(b, generator=generator)

    scale = uniform(1 - zoom, 1 + zoom)  # > 1 zooms in
    tx, ty = uniform(-shift, shift), uniform(-shift, shift)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(images, grid, padding_mode="border", align_corners=False)
    # output coordinate n_out = (n_in - t) * scale in [-1, 1] units
    offset = torch.stack([tx, ty, tx, ty], dim=1)[:, None, :]
    moved = (((boxes * 2 - 1) - offset) * scale[:, None, None] + 1) / 2
    moved = moved.clamp(0, 1)
    gain = uniform(1 - contrast, 1 + contrast)[:, None, None, None]
    power = uniform(1 - gamma, 1 + gamma)[:, None, None, None]
    mean = out.mean(dim=(2, 3), keepdim=True)
    out = ((out - mean) * gain + mean).clamp(0, 1) ** power
    return out, moved
