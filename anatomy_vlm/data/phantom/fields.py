"""Vectorised anatomy fields for the phantom renderer (no per-pixel Python loops).

Every function works on pixel coordinates of an S×S film: ``cols`` float [1, S] and ``rows``
float [S, 1] (pixel centres), broadcast to [S, S]. Values are unitless densities in [0, 1]
unless stated; the renderer scales them into attenuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from anatomy_vlm.data.phantom.anatomy import Layout, Patient


@lru_cache(maxsize=8)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(cols [1, S], rows [S, 1]) float32 pixel-centre coordinates, cached per size."""
    c = (np.arange(size, dtype=np.float32) + 0.5)
    return c[None, :], c[:, None].copy()


def ramp(d: np.ndarray, width: float) -> np.ndarray:
    """Soft step: 0 for d ≤ 0, 1 for d ≥ width (pixels), linear between."""
    return np.clip(d * np.float32(1.0 / max(width, 1e-3)), 0.0, 1.0)


def lung_distance(lay: Layout, side: int) -> np.ndarray:
    """float32 [S, S] approximate signed distance (px) inside lung ``side`` (0 right, 1 left)."""
    cols, rows = grid(lay.size)
    a = lay.lung_a[side].astype(np.float32)[:, None]
    b = lay.lung_b[side].astype(np.float32)[:, None]
    d = np.minimum(cols - a, b - cols)
    np.minimum(d, lay.diaphragm[side].astype(np.float32)[None, :] - rows, out=d)
    return d


def span_mask(a: np.ndarray, b: np.ndarray, size: int) -> np.ndarray:
    """bool [S, S]: a[y] ≤ x < b[y] per row (pixel centres)."""
    cols, _ = grid(size)
    return (cols >= a[:, None]) & (cols < b[:, None])


def capsule(shape: tuple[int, int], p0: tuple[float, float], p1: tuple[float, float],
            radius: float, *, soft: float = 1.0) -> tuple[tuple[slice, slice], np.ndarray]:
    """Soft capsule (thick segment) rasterised in its bounding window.

    Returns:
        (window slices, float32 [h, w] density in [0, 1]) to add into a [S, S] field.
    """
    h, w = shape
    pad = radius + soft + 1
    x0 = int(max(min(p0[0], p1[0]) - pad, 0))
    x1 = int(min(max(p0[0], p1[0]) + pad + 1, w))
    y0 = int(max(min(p0[1], p1[1]) - pad, 0))
    y1 = int(min(max(p0[1], p1[1]) + pad + 1, h))
    if x1 <= x0 or y1 <= y0:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), np.float32)
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    ll = dx * dx + dy * dy
    t = np.clip(((xs - p0[0]) * dx + (ys - p0[1]) * dy) / max(ll, 1e-6), 0.0, 1.0)
    dist = np.hypot(xs - (p0[0] + t * dx), ys - (p0[1] + t * dy))
    return (slice(y0, y1), slice(x0, x1)), ramp(radius - dist, soft)


def disk(shape: tuple[int, int], c: tuple[float, float], r: tuple[float, float],
         *, soft: float = 1.0) -> tuple[tuple[slice, slice], np.ndarray]:
    """Soft ellipse centred at ``c`` with radii ``r`` (px), rasterised in its window."""
    h, w = shape
    x0, x1 = int(max(c[0] - r[0] - soft - 1, 0)), int(min(c[0] + r[0] + soft + 2, w))
    y0, y1 = int(max(c[1] - r[1] - soft - 1, 0)), int(min(c[1] + r[1] + soft + 2, h))
    if x1 <= x0 or y1 <= y0:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), np.float32)
    xs = (np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - c[0]) / max(r[0], 0.5)
    ys = (np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - c[1]) / max(r[1], 0.5)
    rr = np.sqrt(xs * xs + ys * ys)
    return (slice(y0, y1), slice(x0, x1)), ramp((1.0 - rr) * min(r), soft)


@dataclass(frozen=True, kw_only=True)
class RibModel:
    """Posterior rib levels at the spine: c(w) = c1 + s0 (w − 1) + g (w − 1)², w = rib number.

    Anterior rib u runs from the lateral wall (where posterior rib u ends) down-medially to its
    cartilage end at x' = 0.3, level with posterior rib 1.5 u + 1: so the 6th anterior rib end
    sits at the 10th posterior rib (the dome, good inspiration), the 2nd near the carina.
    """

    c1: float
    s0: float
    g: float
    mid: float
    half_w: float
    lift: float  # px: scale of the posterior rib's rise from the spine and lateral downturn

    def level(self, u: float) -> float:
        """Centre y (px) of posterior rib ``u`` at the spine."""
        return self.c1 + self.s0 * (u - 1) + self.g * (u - 1) ** 2

    def anterior_end(self, u: float) -> float:
        """y (px) of the cartilage end (x' = 0.3) of anterior rib ``u``."""
        return self.level(1.5 * u + 1)

    def _hpost(self, xp):
        x2 = xp * xp
        return self.lift * (-2.0 * xp + 3.0 * x2 * x2)

    def index(self, xs: np.ndarray, ys: np.ndarray, *, anterior: bool = False) -> np.ndarray:
        """Continuous rib coordinate u at pixels (x, y): rib centre lines at u = 1, 2, ...."""
        xp = np.abs(xs - self.mid) * np.float32(1.0 / self.half_w)
        if not anterior:
            y = ys - self._hpost(xp)
            disc = np.maximum(self.s0 ** 2 + 4 * self.g * (y - self.c1), 0.0)
            return 1.0 + (np.sqrt(disc) - self.s0) / (2 * self.g)
        f = np.clip((1.0 - xp) / 0.7, 0.0, 1.0)  # 0 at the lateral wall, 1 at the cartilage end
        g, s0, h1 = self.g, self.s0, self.lift * 1.0
        a = g * (1.0 + 1.25 * f)
        b = s0 * (1.0 + 0.5 * f) - 2 * g * (1.0 - f)
        c = self.c1 + (1.0 - f) * (g - s0 + h1) - ys
        disc = np.maximum(b * b - 4 * a * c, 0.0)
        return (np.sqrt(disc) - b) / (2 * a)


def rib_model(p: Patient, lay: Layout) -> RibModel:
    """Fit rib levels so the right dome sits at posterior rib ``p.inspiration`` (≈ 10: good)."""
    top = lay.levels["lung_top"]
    dome = lay.points["right_dome"][1]
    mid = float(np.median(lay.mid_x))
    half_w = 0.5 * (lay.levels["thorax_x2"] - lay.levels["thorax_x1"]) + 0.6 * lay.cm
    lift = 2.4 * lay.cm
    c1 = top + 0.2 * lay.cm
    g_frac = 0.012
    # c(inspiration) at the dome apex (x' ≈ 0.5): solve for s0 given g = g_frac · s0
    hp = lift * (-2.0 * 0.5 + 3.0 * 0.0625)
    n = p.inspiration - 1.0
    s0 = (dome - hp - c1) / (n + n * n * g_frac)
    return RibModel(c1=c1, s0=s0, g=g_frac * s0, mid=mid, half_w=half_w, lift=lift)


def rib_band(u: np.ndarray, thick: float) -> np.ndarray:
    """Rib density profile for rib coordinate u: a band of ``thick`` (fraction of a spacing)
    with brighter cortical rims; zero outside ribs 1..12."""
    q = np.abs(u - np.round(u))
    band = np.clip((0.5 * thick - q) * 14.0, 0.0, 1.0)
    rim = np.clip(1.0 - np.abs(q - 0.5 * thick + 0.025) * 40.0, 0.0, 1.0)
    valid = (u > 0.55) & (u < 12.5)
    return (0.6 * band + 0.5 * rim) * valid


def clavicle_centre(lay: Layout, p: Patient, side: int, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clavicle centre-line y (px) and validity for columns ``xs`` (side 0 right, 1 left).

    S-shaped, from the sternal end (1.6 cm off the midline) out to the shoulder, rising
    laterally; AP films project it higher and flatter.
    """
    name = "clavicle_r" if side == 0 else "clavicle_l"
    mx, my = lay.points[name]
    length = 0.40 * (lay.levels["thorax_x2"] - lay.levels["thorax_x1"]) + 2.0 * lay.cm
    sign = -1.0 if side == 0 else 1.0
    f = (xs - mx) * sign / length
    rise = (2.4 if p.view == "PA" else 1.0) * lay.cm
    y = my - rise * f - 0.7 * lay.cm * np.sin(2 * np.pi * np.clip(f, 0, 1))
    return y, (f >= 0) & (f <= 1)


def tree_points(origin, angles: np.ndarray, length, width: float,
                rng: np.random.Generator, *, levels: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Branching trees, one per trunk: segments per level vectorised, sampled as points.

    Args:
        origin: (x, y) px shared by all trunks, or a pair of float [N] arrays (one per trunk).
        angles: float [N] trunk directions (radians, image frame: 0 = +x, π/2 = down).
        length: trunk length (px), scalar or float [N]; children are 0.62–0.8 as long, 0.7 as wide.
    Returns:
        (x, y, w) float32 [P] sample points along every segment with the local width (px).
    """
    n0 = angles.size
    px = np.broadcast_to(np.asarray(origin[0], np.float64), (n0,)).copy()
    py = np.broadcast_to(np.asarray(origin[1], np.float64), (n0,)).copy()
    ang, wd = angles.astype(np.float64), np.full(n0, width)
    ln = np.broadcast_to(np.asarray(length, np.float64), (n0,)).copy()
    xs, ys, ws = [], [], []
    for _ in range(levels):
        ex, ey = px + ln * np.cos(ang), py + ln * np.sin(ang)
        n = max(int(ln.max() / 0.8), 2)
        t = np.linspace(0.0, 1.0, n)[None, :]
        bend = (rng.normal(0.0, 0.12, size=ang.size) * ln)[:, None] * (4.0 * t * (1.0 - t))  # gentle curve
        xs.append((px[:, None] + t * (ex - px)[:, None] - bend * np.sin(ang)[:, None]).ravel())
        ys.append((py[:, None] + t * (ey - py)[:, None] + bend * np.cos(ang)[:, None]).ravel())
        ws.append((wd[:, None] * (1.0 - 0.25 * t)).ravel())
        k = ang.size
        spread = rng.uniform(0.2, 0.5, size=k)
        ang = np.concatenate([ang + spread, ang - spread * rng.uniform(0.5, 1.0, size=k)])
        ang += rng.normal(0.0, 0.15, size=ang.size)
        px, py = np.tile(ex, 2), np.tile(ey, 2)
        ln = np.tile(ln, 2) * rng.uniform(0.62, 0.8, size=2 * k)
        wd = np.tile(wd, 2) * 0.7
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32),
            np.concatenate(ws).astype(np.float32))


def binomial_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable [1, 2, 1]/4 passes approximating a Gaussian of ``sigma`` px (variance 0.5 per
    pass); much cheaper than scipy's Gaussian at these sizes. Returns a new float32 array."""
    if sigma > 1.2:  # many passes would cost more than scipy's Gaussian
        from scipy import ndimage

        return ndimage.gaussian_filter(img, sigma, truncate=2.5)
    passes = max(int(round(2.0 * sigma * sigma)), 1)
    q, h = np.float32(0.25), np.float32(0.5)
    x = img
    for _ in range(passes):
        y = x * h
        y[1:] += x[:-1] * q
        y[:-1] += x[1:] * q
        x = y * h
        x[:, 1:] += y[:, :-1] * q
        x[:, :-1] += y[:, 1:] * q
    return x


def splat(size: int, x: np.ndarray, y: np.ndarray, w: np.ndarray, sigma: float) -> np.ndarray:
    """Rasterise weighted points into float32 [S, S] and blur (separable Gaussian, ``sigma`` px)."""
    ix, iy = x.astype(np.int32), y.astype(np.int32)
    ok = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    acc = np.bincount(iy[ok] * size + ix[ok], weights=w[ok], minlength=size * size)
    img = acc.reshape(size, size).astype(np.float32)
    return binomial_blur(img, sigma) if sigma > 0.2 else img


@lru_cache(maxsize=32)
def _interp_index(size: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """(i0 int [S], f float32 [S]): linear interpolation from a lattice to pixel centres."""
    pos = (np.arange(size) + 0.5) / size * cells
    i0 = np.clip(np.floor(pos).astype(np.intp), 0, cells - 1)
    return i0, (pos - i0).astype(np.float32)


def lowpass_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise float32 [S, S], ~N(0, 1) per cell, bilinear from a cells×cells lattice.

    Pure gathers (no BLAS), so it never wakes a thread pool."""
    lattice = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    i0, f = _interp_index(size, cells)
    rows = lattice[i0] * (1 - f)[:, None] + lattice[i0 + 1] * f[:, None]  # [S, cells + 1]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]
