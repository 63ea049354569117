"""Image encoders: a timm CNN feature pyramid, or a timm ViT that carries extra query tokens.

Both take one-channel films of any size (``in_chans=1``; ViTs with ``dynamic_img_size``) and are
built with ``pretrained=False``: weights are never downloaded. A local safetensors file of
backbone weights can be given instead (``backbone_weights``).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from anatomy_vlm.errors import ConfigError

__all__ = ["CNNBackbone", "ViTBackbone", "sine_positions"]

# films are in [0, 1]; centre them the way ImageNet-style stems expect
_MEAN, _STD = 0.5, 0.25


def _load_local_weights(module: nn.Module, path: str | None) -> None:
    if not path:
        return
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(Path(path)))
    except (OSError, SafetensorError) as err:
        raise ConfigError(f"backbone_weights {Path(path).name}: unreadable ({err})") from None
    missing, unexpected = module.load_state_dict(state, strict=False)
    if len(missing) == len(module.state_dict()):
        raise ConfigError(f"backbone_weights {Path(path).name}: no tensor matches the backbone")


def _create(name: str, **kwargs) -> nn.Module:
    import timm

    try:
        return timm.create_model(name, pretrained=False, in_chans=1, **kwargs)
    except (RuntimeError, TypeError, ValueError) as err:  # unknown name or bad argument
        raise ConfigError(f"model.backbone={name!r}: {err}") from None


class CNNBackbone(nn.Module):
    """timm CNN → one stride-16 feature map (last two stages merged) and a global vector.

    Args:
        name: timm model name.
        args: extra timm keyword arguments.
        dim: output channels D.
        weights: optional local safetensors file for the timm body.
    """

    def __init__(self, *, name: str, args: dict, dim: int, weights: str | None = None) -> None:
        super().__init__()
        probe = _create(name, features_only=True, **args)
        last = len(probe.feature_info) - 1
        self.body = _create(name, features_only=True, out_indices=(last - 1, last), **args)
        _load_local_weights(self.body, weights)
        fine, coarse = self.body.feature_info.channels()
        self.lateral = nn.Conv2d(fine, dim, 1)
        self.top = nn.Conv2d(coarse, dim, 1)
        self.norm = nn.GroupNorm(1, dim)
        self.dim = dim

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images`` ``[B, 1, H, W]`` in [0, 1] → (feature map ``[B, D, H/16, W/16]``,
        global feature ``[B, D]``)."""
        fine, coarse = self.body((images - _MEAN) / _STD)
        top = self.top(coarse)
        merged = self.lateral(fine) + nn.functional.interpolate(
            top, size=fine.shape[-2:], mode="nearest"
        )
        return self.norm(merged), top.mean(dim=(2, 3))


class ViTBackbone(nn.Module):
    """timm ViT whose sequence carries ``extra`` query tokens next to the patch tokens.

    Args:
        name: timm ViT name (e.g. ``vit_tiny_patch16_224``).
        args: extra timm keyword arguments (``img_size`` sets the position grid).
        dim: output width D (the ViT width is projected to it).
        weights: optional local safetensors file for the ViT.
    """

    def __init__(self, *, name: str, args: dict, dim: int, weights: str | None = None) -> None:
        super().__init__()
        self.vit = _create(name, num_classes=0, dynamic_img_size=True, **args)
        if not hasattr(self.vit, "blocks") or not hasattr(self.vit, "patch_embed"):
            raise ConfigError(f"model.backbone={name!r} is not a ViT (queries=tokens needs one)")
        _load_local_weights(self.vit, weights)
        self.width = int(self.vit.embed_dim)
        self.out = nn.Linear(self.width, dim)
        self.dim = dim

    def forward(
        self, images: Tensor, extra: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """``images`` ``[B, 1, H, W]``, ``extra`` ``[B, Q, width]`` tokens or None →
        (patch tokens ``[B, D, H/p, W/p]``, global ``[B, D]``, extra tokens ``[B, Q, D]`` or
        None)."""
        vit = self.vit
        x = vit.patch_embed((images - _MEAN) / _STD)  # [B, h, w, C] with dynamic_img_size
        b, h, w, _ = x.shape
        x = vit._pos_embed(x)
        prefix = x.shape[1] - h * w
        if extra is not None:
            x = torch.cat([x, extra], dim=1)
        x = vit.norm(vit.blocks(vit.norm_pre(x)))
        patches = self.out(x[:, prefix : prefix + h * w])
        queries = self.out(x[:, prefix + h * w :]) if extra is not None else None
        return patches.transpose(1, 2).reshape(b, -1, h, w), self.out(x[:, 0]), queries


def sine_positions(height: int, width: int, dim: int, *, device=None) -> Tensor:
    """2-D sine/cosine position code ``[height * width, dim]`` (half x, half y), any grid size."""
    quarter = dim // 4
    freq = torch.exp(torch.arange(quarter, device=device) * (-math.log(10000.0) / max(quarter, 1)))
    ys = torch.linspace(0, 1, height, device=device)[:, None] * freq * 2 * math.pi * 8
    xs = torch.linspace(0, 1, width, device=device)[:, None] * freq * 2 * math.pi * 8
    y = torch.cat([ys.sin(), ys.cos()], dim=1)[:, None, :].expand(height, width, -1)
    x = torch.cat([xs.sin(), xs.cos()], dim=1)[None, :, :].expand(height, width, -1)
    code = torch.cat([x, y], dim=-1).reshape(height * width, -1)
    return nn.functional.pad(code, (0, dim - code.shape[1]))
