"""Lung shape model fitted to the 517 real lung masks of torchxrayvision (V7 Labs, COVID-19 set).

Each lung is described by *row spans*: for ``K`` rows evenly spaced from the lung's top to its
bottom, the lateral and medial edge, in the thorax frame (the box around both lungs, mapped to
[0, 1]²; x measured from the patient's midline-side-agnostic outer edge so that left and right
share one convention: 0 = outer chest wall, 1 = opposite wall). The shape vector of one film is

    [R_lat(K), R_med(K), L_lat(K), L_med(K), R_top, R_bot, L_top, L_bot]

with the left lung mirrored (x → 1 − x). A PCA over the real films gives the mean and the
principal modes; :func:`sample_shape` draws a new pair of lungs from it.

The fitted model ships as ``lung_shapes.npz`` next to this file. It is refitted with
``python -m anatomy_vlm.data.phantom.shapes`` (reads the xrv zip; never at generation time).
The same loader, :func:`load_real_masks`, serves the Dice benchmark.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

K_ROWS = 24
MODEL_PATH = Path(__file__).resolve().parent / "lung_shapes.npz"
ZIP_NAME = "semantic_masks_v7labs_lungs.zip"
N_MODES = 8


@dataclass(frozen=True, kw_only=True)
class LungPair:
    """A pair of real lung masks cropped to the thorax box and resized.

    Attributes:
        right: bool [S, S], the patient's right lung (image left).
        left: bool [S, S], the patient's left lung (image right).
        name: file name inside the zip.
    """

    right: np.ndarray
    left: np.ndarray
    name: str


def _components(mask: np.ndarray) -> list[np.ndarray]:
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    if n < 2:
        return []
    sizes = np.bincount(lab.ravel())[1:]
    order = np.argsort(sizes)[::-1][:2]
    if sizes[order[1]] < 0.2 * sizes[order[0]]:
        return []
    comps = [lab == (i + 1) for i in order]
    comps.sort(key=lambda c: np.nonzero(c)[1].mean())  # image-left first = patient right
    return comps


def load_real_masks(zip_path: Path, *, size: int = 64) -> list[LungPair]:
    """Read the V7 lung masks: PNG bytes behind .jpg names, lung == 255, 82 empty ones dropped.

    Right/left come from the two largest connected components by x position (a heuristic;
    masks without two comparable components are dropped). Both are cropped to the box around
    the two lungs and resized to ``size``×``size`` (nearest neighbour).
    """
    from PIL import Image

    pairs: list[LungPair] = []
    with zipfile.ZipFile(zip_path) as zf:
        for name in sorted(zf.namelist()):
            if name.endswith("/"):
                continue
            img = Image.open(io.BytesIO(zf.read(name))).convert("L")
            small = img.copy()
            small.thumbnail((256, 256), Image.NEAREST)
            mask = np.asarray(small) == 255
            if mask.sum() < 200:
                continue
            comps = _components(mask)
            if not comps:
                continue
            ys, xs = np.nonzero(comps[0] | comps[1])
            box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            crop = [_resize(c[box[1]:box[3], box[0]:box[2]], size) for c in comps]
            pairs.append(LungPair(right=crop[0], left=crop[1], name=name.rsplit("/", 1)[-1]))
    return pairs


def _resize(mask: np.ndarray, size: int) -> np.ndarray:
    h, w = mask.shape
    ry = (np.arange(size) + 0.5) * h / size
    rx = (np.arange(size) + 0.5) * w / size
    return mask[ry.astype(int)[:, None], rx.astype(int)[None, :]]


def spans_of(mask: np.ndarray, *, mirror: bool) -> np.ndarray:
    """Row spans of one lung in a [S, S] thorax-frame mask.

    Returns:
        float [2K + 2]: lateral edges (K), medial edges (K), top, bottom; all in [0, 1], x
        measured from the lung's own outer wall (mirrored for the left lung).
    """
    s = mask.shape[0]
    m = mask[:, ::-1] if mirror else mask
    rows = np.nonzero(m.any(axis=1))[0]
    top, bot = rows[0], rows[-1] + 1
    ys = np.clip((top + (np.arange(K_ROWS) + 0.5) * (bot - top) / K_ROWS).astype(int), 0, s - 1)
    lat, med = np.empty(K_ROWS), np.empty(K_ROWS)
    for i, y in enumerate(ys):
        xs = np.nonzero(m[y])[0]
        if xs.size == 0:  # rare gap row: reuse the previous
            lat[i], med[i] = (lat[i - 1], med[i - 1]) if i else (0.2, 0.4)
            continue
        lat[i], med[i] = xs[0] / s, (xs[-1] + 1) / s
    return np.concatenate([lat, med, [top / s, bot / s]])


def shape_vector(pair: LungPair) -> np.ndarray:
    """float [4K + 4]: the PCA input for one real film (see module docstring)."""
    r = spans_of(pair.right, mirror=False)
    lft = spans_of(pair.left, mirror=True)
    k = K_ROWS
    return np.concatenate([r[:k], r[k:2 * k], lft[:k], lft[k:2 * k], r[2 * k:], lft[2 * k:]])


def fit(zip_path: Path, out: Path = MODEL_PATH) -> dict:
    """Fit the PCA shape model to the real masks and write ``out`` (npz). Returns a summary."""
    pairs = load_real_masks(zip_path)
    vecs = np.stack([shape_vector(p) for p in pairs])
    mean = vecs.mean(axis=0)
    _, sv, vt = np.linalg.svd(vecs - mean, full_matrices=False)
    std = sv / np.sqrt(len(vecs) - 1)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, mean=mean.astype(np.float32), modes=vt[:N_MODES].astype(np.float32),
                        std=std[:N_MODES].astype(np.float32), n=np.int32(len(vecs)))
    tmp.replace(out)
    explained = float((std[:N_MODES] ** 2).sum() / (std ** 2).sum())
    return {"n_films": len(vecs), "modes": N_MODES, "explained_variance": round(explained, 3)}


@lru_cache(maxsize=1)
def _model() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(MODEL_PATH) as z:
        return z["mean"].astype(np.float64), z["modes"].astype(np.float64), z["std"].astype(np.float64)


@dataclass(frozen=True, kw_only=True)
class LungShape:
    """One sampled pair of lungs in the thorax frame (x from each lung's outer wall, [0, 1]).

    Attributes:
        lat, med: float [2, K] lateral / medial edge per row (index 0 = right, 1 = left).
        top, bot: float [2] top and bottom of each lung (thorax frame y).
    """

    lat: np.ndarray
    med: np.ndarray
    top: np.ndarray
    bot: np.ndarray


def sample_shape(rng: np.random.Generator, *, spread: float = 1.0) -> LungShape:
    """Draw lungs from the PCA model: mean + Σ z_k σ_k v_k, z ~ N(0, 1) clipped to ±2."""
    mean, modes, std = _model()
    z = np.clip(rng.standard_normal(len(std)), -2.0, 2.0) * spread
    v = mean + (z * std) @ modes
    k = K_ROWS
    lat = np.stack([v[:k], v[2 * k:3 * k]])
    med = np.stack([v[k:2 * k], v[3 * k:4 * k]])
    lat = np.clip(lat, 0.0, 0.35)
    lower = int(0.6 * k)  # below the widest row the chest wall only widens to the CP angle
    lat[:, lower:] = np.minimum.accumulate(lat[:, lower:], axis=1)
    med = np.maximum(med, lat + 0.05)
    return LungShape(lat=lat, med=med, top=v[4 * k:4 * k + 4:2].copy(), bot=v[4 * k + 1:4 * k + 4:2].copy())


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    from kg.paths import xrv_data_dir

    data = xrv_data_dir()
    if data is None:
        raise SystemExit("torchxrayvision data folder not found")
    print(fit(data / ZIP_NAME))
