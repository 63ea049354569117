"""Acquisition styles: how the attenuation map becomes an 8-bit film.

``id`` is the default style; ``portable_ap``, ``low_dose`` and ``other_scanner`` are named
acquisition shifts. ``prior_shift`` is a *sampling* domain (handled by the sampler) and is
exposed like ``id``. Geometry shifts of the AP view (magnified heart, high clavicles, lower
volumes) come from :func:`anatomy.sample_patient`; this module adds scapulae for AP films.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from anatomy_vlm.data.phantom import fields as F
from anatomy_vlm.data.phantom.anatomy import Layout


@dataclass(frozen=True, kw_only=True)
class Style:
    """Exposure parameters.

    Attributes:
        mu: curvature of the film response (film = level · (1 − exp(−mu · att)) / (1 − exp(−mu)):
            higher = stronger shoulder, darker-looking bone over soft tissue).
        level: film value of full-thickness soft tissue (att = 1) before contrast/gamma, so the
            body sits mid-grey, lungs dark grey and bone/metal above it (air stays black).
        contrast: output contrast around mid-grey; gamma: output gamma (> 1 darker mid-tones).
        noise: quantum noise σ (fraction of full scale) at mid-grey; grain: fixed-pattern σ.
        blur: Gaussian σ in pixels at 256 px (scaled with size); down: resolution factor
            (film rendered at size·down then upsampled; 1 = native).
        sharpen: unsharp-mask gain (scanner edge enhancement); offset: brightness shift.
        scapulae: draw scapular shadows over the upper lateral lungs (AP, arms not rotated out).
    """

    mu: float = 1.2
    level: float = 0.72
    contrast: float = 1.0
    gamma: float = 1.0
    noise: float = 0.012
    grain: float = 0.0
    blur: float = 0.45
    down: float = 1.0
    sharpen: float = 0.25
    offset: float = 0.0
    scapulae: bool = False


STYLES: dict[str, Style] = {
    "id": Style(),
    "prior_shift": Style(),
    "portable_ap": Style(mu=0.9, level=0.74, contrast=0.8, gamma=0.9, noise=0.02, blur=0.7,
                         sharpen=0.1, offset=-0.03, scapulae=True),
    "low_dose": Style(noise=0.085, grain=0.02, blur=0.4, sharpen=0.0),
    "other_scanner": Style(mu=1.6, level=0.76, contrast=1.15, gamma=1.45, noise=0.01, blur=1.3, down=0.5,
                           sharpen=0.8, offset=-0.04),
}


def get_style(domain: str) -> Style:
    """The :class:`Style` of ``domain``; raises ValueError for an unknown name."""
    try:
        return STYLES[domain]
    except KeyError:
        raise ValueError(f"unknown phantom domain {domain!r}; known: {sorted(STYLES)}") from None


def scapulae(att: np.ndarray, lay: Layout) -> None:
    """Add scapular shadows (soft bony triangles) over the upper lateral lung fields, in place."""
    s, cm = lay.size, lay.cm
    top = lay.levels["lung_top"]
    for x_edge, sign in ((lay.levels["thorax_x1"], 1.0), (lay.levels["thorax_x2"], -1.0)):
        p0 = (x_edge - sign * 1.0 * cm, top + 1.5 * cm)
        p1 = (x_edge + sign * 2.8 * cm, top + 12.0 * cm)
        win, d = F.capsule((s, s), p0, p1, 1.6 * cm, soft=1.2 * cm)
        att[win] += 0.09 * d
        win, d = F.capsule((s, s), (p0[0] - sign * 1.5 * cm, p0[1]), p1, 0.25 * cm, soft=0.3 * cm)
        att[win] += 0.06 * d  # lateral scapular border


def expose(att: np.ndarray, style: Style, rng: np.random.Generator, *, view: str, lay: Layout) -> np.ndarray:
    """Attenuation float32 [S, S] → uint8 [S, S] film in ``style`` (noise drawn from ``rng``)."""
    s = att.shape[0]
    if style.scapulae:
        scapulae(att, lay)
    img = 1.0 - np.exp(-style.mu * np.clip(att, 0.0, None))
    img *= np.float32(style.level / (1.0 - np.exp(-style.mu)))  # soft tissue (att 1) → level
    scale = s / 256.0
    if style.down < 1.0:
        small = ndimage.zoom(img, style.down, order=1, prefilter=False)
        img = ndimage.zoom(small, s / small.shape[0], order=1, prefilter=False)[:s, :s]
    if style.blur * scale >= 0.5 or style.down < 1.0:  # sub-half-pixel blur: not worth a pass
        soft = F.binomial_blur(img, style.blur * scale)
        if style.sharpen > 0:  # scanner edge enhancement: unsharp mask on a wider kernel
            wide = ndimage.uniform_filter(soft, size=max(int(4 * scale) | 1, 3))
            soft += style.sharpen * (soft - wide)
        img = soft
    img = (img - 0.5) * style.contrast + 0.5 + style.offset
    np.clip(img, 0.0, 1.0, out=img)
    if style.gamma != 1.0:
        img **= style.gamma
    if style.noise > 0:
        sigma = style.noise * np.sqrt(img + 0.3)  # fewer photons behind dense tissue: noisier
        # unit-variance uniform noise: 5x cheaper than normal draws, looks the same on film
        white = rng.random(img.shape, dtype=np.float32)
        white -= np.float32(0.5)
        img += sigma * white * np.float32(3.4641016)
    if style.grain > 0:
        img += style.grain * F.lowpass_noise(rng, s, max(s // 6, 4))
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
