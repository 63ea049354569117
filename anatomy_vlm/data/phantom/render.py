"""Draw a phantom chest film: :func:`render` turns a :class:`Patient` plus findings into a
:class:`Film` (8-bit image, organ/region masks, region boxes, lesion masks, measurements).

The film is built as an attenuation map (body soft tissue minus lung air, plus bone, vessels,
findings and devices), then exposed through the acquisition domain (contrast, blur, noise).
Pixel value rises with attenuation (MONOCHROME2). Patient left is on image right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from anatomy_vlm.data.phantom import fields as F
from anatomy_vlm.data.phantom.anatomy import Layout, Patient, layout, sample_patient
from anatomy_vlm.data.phantom.devices import draw_devices
from anatomy_vlm.data.phantom.domains import expose, get_style
from anatomy_vlm.data.phantom.lesions import (
    LesionSpec,
    RenderedLesion,
    adjust_patient,
    draw_lesions,
)
from anatomy_vlm.data.phantom.regions import LazyMasks, RegionGeometry, region_geometry

__all__ = ["Film", "LesionSpec", "Patient", "RenderedLesion", "film_geometry", "render", "sample_patient"]

# attenuation weights (unitless; body soft tissue ≈ 1 at the centre)
AIR = 0.72
RIB_POST, RIB_ANT, CLAVICLE, SPINE, VESSEL = 0.085, 0.045, 0.2, 0.10, 0.3


@dataclass(kw_only=True)
class Film:
    """One rendered film.

    Attributes:
        image: uint8 [H, W] (H = W = size), brighter = more attenuation.
        masks: bool [H, W] per organ: right_lung, left_lung, heart, trachea, ... .
        region_masks: mapping cig36 id → bool [H, W] (computed on first access, cached), visible
            regions only.
        boxes: cig36 id → (x1, y1, x2, y2) pixels, x1 < x2 ≤ W, y1 < y2 ≤ H, visible regions only.
        omitted_regions: cig36 ids the film does not show (no box, no mask; see ``regions``).
        lesions: one RenderedLesion per spec, in order (mask bool [H, W], box).
        measurements: ctr, dome / hilum / carina y, lung top/bottom y (pixels), ... .
        patient: the (finding-adjusted) patient; domain: the acquisition style name.
    """

    image: np.ndarray
    masks: dict[str, np.ndarray]
    region_masks: LazyMasks
    boxes: dict[str, tuple[int, int, int, int]]
    lesions: list[RenderedLesion]
    measurements: dict[str, float]
    patient: Patient
    domain: str = "id"
    omitted_regions: tuple[str, ...] = ()
    extras: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class Canvas:
    """Mutable render state shared with the finding renderers (all float32 [S, S] unless noted).

    Attributes:
        att: attenuation accumulated so far (soft tissue, bone, findings, devices).
        air: lung air still present (0 = none, ~1 = full aerated lung depth).
        air0: lung air of the normal lung (before findings).
        lung_d: float32 [2, S, S] signed distance into each lung (px).
        lungs: bool [2, S, S] lung masks; heart: float32 soft heart mask.
        vessel_keep: multiplier on vessel markings (0 beyond a pneumothorax); None = all kept.
        rib_breaks: (rib u, x px, y px, step in rib units, side, gap px) per rib fracture.
        clavicle_breaks: (side, x px, drop px, override px, gap px) per clavicle fracture.
    """

    size: int
    patient: Patient
    lay: Layout
    att: np.ndarray
    air: np.ndarray
    air0: np.ndarray
    lung_d: np.ndarray
    lung_dmax: np.ndarray
    lungs: np.ndarray
    heart: np.ndarray
    vessel_keep: np.ndarray | None
    ribs: F.RibModel
    rng: np.random.Generator
    rib_breaks: list = field(default_factory=list)
    clavicle_breaks: list = field(default_factory=list)
    vessel_gain: np.ndarray | None = None
    regions: LazyMasks | None = None
    zone_levels: dict = field(default_factory=dict)


def render(patient: Patient, lesions: Sequence[LesionSpec] = (), *, size: int = 512,
           domain: str = "id", rng: np.random.Generator | None = None) -> Film:
    """Render one film of ``patient`` with ``lesions`` at ``size``×``size`` in ``domain`` style.

    Deterministic: the anatomy texture comes from ``patient.seed``; findings and noise from
    ``rng`` (default: a generator seeded from the patient), so equal inputs give equal bytes.
    """
    if not 64 <= size <= 2048:
        raise ValueError(f"size must be in [64, 2048], got {size}")
    rng = rng if rng is not None else np.random.default_rng(patient.seed ^ 0x5EED)
    style = get_style(domain)
    patient = adjust_patient(patient, lesions)
    lay = layout(patient, size)
    cv = _base_canvas(patient, lay, rng)
    masks = {"right_lung": cv.lungs[0], "left_lung": cv.lungs[1], "heart": cv.heart > 0.5}
    geo = region_geometry(patient, lay, masks, cv.ribs)
    cv.regions, cv.zone_levels = geo.masks, geo.levels
    rendered = draw_lesions(cv, lesions)
    cv.att -= AIR * cv.air
    _vessels(cv)
    _bones(cv)
    rendered = draw_devices(cv, lesions, rendered)
    image = expose(cv.att, style, rng, view=patient.view, lay=lay)
    return Film(image=image, masks=masks, region_masks=geo.masks, boxes=geo.boxes,
                lesions=rendered, measurements=_measure(lay, masks, geo.levels),
                patient=patient, domain=domain, omitted_regions=geo.omitted)


def film_geometry(patient: Patient, lesions: Sequence[LesionSpec] = (), *,
                  size: int = 512) -> tuple[Layout, RegionGeometry]:
    """The layout and region geometry :func:`render` would give, without drawing a pixel.

    Regions depend only on the (finding-adjusted) patient and the size, so this is exact and
    cheap: what tests of the boxes over thousands of films use.
    """
    patient = adjust_patient(patient, lesions)
    lay = layout(patient, size)
    lung_d, heart = _organs(lay)
    masks = {"right_lung": lung_d[0] > 0, "left_lung": lung_d[1] > 0, "heart": heart > 0.5}
    return lay, region_geometry(patient, lay, masks, F.rib_model(patient, lay))


def _organs(lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance into each lung float32 [2, S, S] (px) and the soft heart mask [S, S]."""
    cols, _ = F.grid(lay.size)
    lung_d = np.stack([F.lung_distance(lay, 0), F.lung_distance(lay, 1)])
    heart = F.ramp(np.minimum(cols - lay.heart_a[:, None], lay.heart_b[:, None] - cols), 0.35 * lay.cm)
    return lung_d, heart


def _base_canvas(p: Patient, lay: Layout, rng: np.random.Generator) -> Canvas:
    s = lay.size
    lung_d, heart = _organs(lay)
    lungs = lung_d > 0
    depth = 1.3 * lay.cm
    lung_dmax = np.maximum(lung_d[0], lung_d[1])
    air = np.sqrt(F.ramp(lung_dmax, depth))  # thin lung near the walls, full depth inside
    air *= 1.0 - 0.9 * heart
    _mediastinum(lay, air, p.mediastinum_cm)
    tex = np.random.default_rng(p.seed)
    air *= 1.0 + 0.05 * F.lowpass_noise(tex, s, 24)
    att = _body(p, lay)
    cv = Canvas(size=s, patient=p, lay=lay, att=att, air=air, air0=air.copy(), lung_d=lung_d, lung_dmax=lung_dmax,
                lungs=lungs, heart=heart, vessel_keep=None,
                ribs=F.rib_model(p, lay), rng=rng)
    _trachea(cv)
    _stomach(cv)
    return cv


def _body(p: Patient, lay: Layout) -> np.ndarray:
    """Soft tissue: elliptic thickness profile across a body outline with neck and shoulders."""
    s, cm = lay.size, lay.cm
    cols, rows = F.grid(s)
    r = rows[:, 0]
    half = 0.5 * (lay.levels["thorax_x2"] - lay.levels["thorax_x1"]) + p.soft * 2.4 * cm
    shoulder = lay.levels["lung_top"] - 1.0 * cm
    neck = 5.5 * cm
    f = np.clip((r - (shoulder - 4 * cm)) / (4 * cm), 0, 1)
    wide = half + (6.0 * cm) * np.clip((lay.levels["lung_top"] + 9 * cm - r) / (9 * cm), 0, 1)
    hw = neck + (wide - neck) * (f * f * (3 - 2 * f))
    dx = (cols - lay.mid_x[:, None]) / hw[:, None]
    body = (0.35 + 0.65 * np.sqrt(np.clip(1.0 - dx * dx, 0.0, 1.0))) * (dx * dx < 1) * np.float32(0.8 + 0.15 * p.soft)
    if p.breasts > 0:
        for sign in (-1.0, 1.0):
            c = (float(lay.mid_x[s // 2]) + sign * 0.55 * half, lay.levels["lung_bottom"] - 4.5 * cm)
            win, d = F.disk((s, s), c, (0.33 * half, 5.5 * cm), soft=2.5 * cm)
            lower = F.ramp((np.arange(win[0].start, win[0].stop) + 0.5 - c[1]) + 4 * cm, 3 * cm)
            body[win] += 0.2 * p.breasts * d * lower[:, None]
    return body.astype(np.float32)


def _mediastinum(lay: Layout, air: np.ndarray, width_cm: float) -> None:
    """Remove lung air where the upper mediastinum, aortic knob, SVC and hila overlap."""
    s, cm = lay.size, lay.cm
    shape = (s, s)
    kx, ky = lay.points["knob"]
    win, d = F.disk(shape, (kx, ky), (1.5 * cm, 1.4 * cm), soft=0.3 * cm)
    air[win] *= 1.0 - d
    top = lay.levels["lung_top"]
    hy = lay.levels["heart_top"]
    cols, rows = F.grid(s)
    y0, y1 = int(max(top - 2 * cm, 0)), int(min(hy + 1.5 * cm, s))
    half = 0.5 * float(np.clip(width_cm, 3.0, 14.0)) * cm
    sl = slice(y0, y1)
    rel = cols - (lay.mid_x[sl, None] + 0.3 * cm)
    fade = F.ramp(hy + 1.5 * cm - rows[sl], 1.5 * cm)
    t = np.clip((rows[sl] - top) / max(hy - top, 1.0), 0.0, 1.0)
    bulge = 0.72 + 0.28 * np.sin(np.pi * np.minimum(t * 1.4, 1.0))  # narrow inlet, fuller middle
    bulge = bulge + (0.06 * np.sin(3 * np.pi * t) if width_cm > 8.0 else 0.0)  # lobulated when wide
    med = F.ramp(half * bulge - np.abs(rel), 0.5 * cm) * fade
    air[sl] *= 1.0 - med  # upper mediastinum (SVC on the right, great vessels on the left)
    dx, dy = kx + 0.2 * cm, lay.points["left_dome"][1]
    win, d = F.capsule(shape, (kx - 0.2 * cm, ky), (dx - 0.6 * cm, dy), 1.1 * cm, soft=0.4 * cm)
    air[win] *= 1.0 - 0.35 * d  # descending aorta, seen through the heart
    for name in ("right_hilum", "left_hilum"):
        hx, hy2 = lay.points[name]
        win, d = F.disk(shape, (hx, hy2), (1.1 * cm, 1.8 * cm), soft=1.2 * cm)
        air[win] *= 1.0 - 0.3 * d


def _trachea(cv: Canvas) -> None:
    lay, cm, s = cv.lay, cv.lay.cm, cv.size
    cx, cy = lay.points["carina"]
    w = cv.patient.trachea_cm * cm
    layer = np.zeros((s, s), np.float32)
    for p0, p1, r in (((float(lay.mid_x[0]), 0.0), (cx, cy), w / 2),
                      ((cx, cy), (cx - 1.3 * cm, cy + 2.3 * cm), 0.40 * w),
                      ((cx, cy), (cx + 3.0 * cm, cy + 2.6 * cm), 0.36 * w)):
        win, d = F.capsule((s, s), p0, p1, r, soft=0.35 * cm)
        np.maximum(layer[win], d, out=layer[win])
    cv.att -= 0.28 * layer * (1.0 - np.minimum(cv.air, 1.0))  # airways show against tissue, not lung


def _stomach(cv: Canvas) -> None:
    lay, cm = cv.lay, cv.lay.cm
    x, y = lay.points["left_dome"]
    rx, ry = cv.rng.uniform(1.6, 2.8) * cm, cv.rng.uniform(1.1, 1.8) * cm
    cy = float(lay.diaphragm[1][int(np.clip(x, 0, cv.size - 1))]) + ry + 1.0 * cm  # below the dome
    win, d = F.disk((cv.size, cv.size), (x, cy), (rx, ry), soft=0.3 * cm)
    level = (np.arange(win[0].start, win[0].stop) + 0.5) < cy + ry * 0.25  # air-fluid level
    cv.att[win] -= 0.22 * d * level[:, None]


def _vessels(cv: Canvas) -> None:
    """Pulmonary vessels: branching, tapering trees from each hilum, visible only in air."""
    lay, cm, s = cv.lay, cv.lay.cm, cv.size
    tex = np.random.default_rng(cv.patient.seed + 1)
    angs, oxs, oys = [], [], []
    for name, sign in (("right_hilum", -1.0), ("left_hilum", 1.0)):  # 11 trunks per hilum
        hx, hy = lay.points[name]
        base = np.linspace(-1.35, 1.45, 11) + tex.normal(0, 0.1, 11)
        angs.append(np.pi - base if sign < 0 else base)
        oxs.append(hx + tex.normal(0, 0.8, 11) * cm)
        oys.append(hy + (np.arange(11) - 5) * 0.35 * cm)
    x, y, w = F.tree_points((np.concatenate(oxs), np.concatenate(oys)), np.concatenate(angs),
                            tex.uniform(2.2, 3.4, 22) * cm, 0.45 * cm, tex, levels=6)
    if cv.vessel_gain is not None:  # cephalisation / engorgement from findings
        iy, ix = np.clip(y.astype(int), 0, s - 1), np.clip(x.astype(int), 0, s - 1)
        w = w * cv.vessel_gain[iy, ix]
    scale = 256.0 / s
    field = F.splat(s, x, y, (w / (0.45 * cm)) ** 1.5 * 1.6 * scale, sigma=0.9 * (s / 256) ** 0.5)
    rows = np.nonzero((cv.air0 > 0.02).any(axis=1))[0]  # vessels only matter on lung rows
    band = slice(int(rows[0]), int(rows[-1]) + 1) if rows.size else slice(0, 0)
    air0 = cv.air0[band]
    aerated = np.minimum(cv.air[band] / np.maximum(air0, 0.05), 1.0) * (air0 > 0.02)
    fade = np.sqrt(F.ramp(cv.lung_dmax[band], 5 * cm))
    marks = np.minimum(field[band], 1.2) * aerated * (0.15 + 0.85 * fade)
    if cv.vessel_keep is not None:
        marks *= cv.vessel_keep[band]
    cv.att[band] += VESSEL * marks


def _bones(cv: Canvas) -> None:
    """Ribs (posterior clear, anterior faint), clavicles and the thoracic spine."""
    lay, cm, s, p = cv.lay, cv.lay.cm, cv.size, cv.patient
    y0 = int(max(lay.levels["lung_top"] - 2.5 * cm, 0))
    y1 = int(min(lay.levels["lung_bottom"] + 3 * cm, s))
    band_rows = slice(y0, y1)
    cols, rows = F.grid(s)
    rows = rows[band_rows]
    rm = cv.ribs
    xp = cols - p.shear * (rows - s / 2)
    xq = np.abs(xp - rm.mid) / rm.half_w
    u = rm.index(xp, rows)
    cut = None
    for u_b, bx, by, step, side, gap in cv.rib_breaks:  # fracture: gap, lateral fragment stepped off
        along = (xp - bx) * (1.0 if side == 1 else -1.0)  # > 0 lateral to the break
        near = F.ramp(3.0 * cm - np.abs(rows - by), 1.0 * cm) * F.ramp(0.8 - np.abs(u - u_b), 0.3)
        u = u + step * near * F.ramp(along + 0.5, 1.0) * F.ramp(4.0 * cm - along, 3.0 * cm)
        c = F.ramp(0.5 * gap + 0.5 - np.abs(along), 1.0) * (np.abs(u - u_b) < 0.5) * near
        cut = c if cut is None else np.maximum(cut, c)
    post = F.rib_band(u, 0.4) * F.ramp(1.04 - xq + 0.25 * F.ramp(u - 10, 2.0), 0.06) * F.ramp(xq - 0.07, 0.08)
    if cut is not None:
        post *= 1.0 - cut
    ua = rm.index(xp, rows, anterior=True)
    ant = F.rib_band(ua, 0.5) * F.ramp(0.98 - xq, 0.05) * F.ramp(xq - 0.32, 0.12) * (ua < 7.5)
    ant *= rows < lay.levels["lung_bottom"]
    post *= F.ramp(lay.levels["lung_bottom"] + 3 * cm - rows, 2 * cm)
    cv.att[band_rows] += RIB_POST * post + RIB_ANT * ant
    rows = F.grid(s)[1]
    mid = float(np.median(lay.mid_x))
    xa, xb = int(max(mid - 4 * cm, 0)), int(min(mid + 4 * cm, s))  # only columns near the spine
    sy0 = int(max(lay.levels["lung_top"] - 4 * cm, 0))
    dxs = np.abs(cols[:, xa:xb] - lay.mid_x[sy0:, None])
    vert = 0.7 + 0.3 * np.abs(np.sin(np.pi * (rows[sy0:] - lay.levels["lung_top"]) / (2.4 * cm)))
    spine = F.ramp(2.2 * cm - dxs, 0.4 * cm) * vert + 0.5 * F.ramp(0.35 * cm - dxs, 0.2 * cm)
    cv.att[sy0:, xa:xb] += SPINE * spine
    cy0 = int(max(lay.points["clavicle_r"][1] - 6 * cm, 0))
    cy1 = int(min(lay.points["clavicle_r"][1] + 2 * cm, s))
    rows = rows[cy0:cy1]
    xp = cols  # tilt is negligible over the clavicles' few centimetres of height
    for side in (0, 1):
        yc, ok = F.clavicle_centre(lay, p, side, cols)
        half = 0.62 * cm
        band = F.ramp(half - np.abs(rows - yc), 0.25 * cm) * ok
        for bside, bx, drop, override, gap in cv.clavicle_breaks:
            if bside != side:
                continue
            sign = 1.0 if side else -1.0
            along = (xp - bx) * sign  # > 0 lateral to the break
            medial = band * F.ramp(-along - 0.5 * gap + 0.5, 1.0)
            yl, okl = F.clavicle_centre(lay, p, side, xp + sign * override)  # lateral fragment, shifted
            lateral = F.ramp(half - np.abs(rows - yl - drop), 0.25 * cm) * okl
            band = medial + lateral * F.ramp(along + override - 0.5 * gap + 0.5, 1.0)
        cv.att[cy0:cy1] += CLAVICLE * band


def _measure(lay: Layout, masks: dict, levels: dict) -> dict[str, float]:
    """Geometry read back from the film (pixels; ctr unitless)."""
    lungs = masks["right_lung"] | masks["left_lung"]
    rows = np.nonzero(lungs.any(axis=1))[0]
    heart_cols = np.nonzero(masks["heart"].any(axis=0))[0]
    lung_cols = np.nonzero(lungs.any(axis=0))[0]
    hw = heart_cols[-1] - heart_cols[0] + 1 if heart_cols.size else 0
    tw = lung_cols[-1] - lung_cols[0] + 1 if lung_cols.size else 1
    pts = lay.points
    return {
        "ctr": float(hw / tw), "heart_width_px": float(hw), "thoracic_width_px": float(tw),
        "right_dome_y": pts["right_dome"][1], "left_dome_y": pts["left_dome"][1],
        "right_hilum_y": pts["right_hilum"][1], "left_hilum_y": pts["left_hilum"][1],
        "carina_y": pts["carina"][1], "lung_top_y": float(rows[0]) if rows.size else 0.0,
        "lung_bottom_y": float(rows[-1] + 1) if rows.size else 0.0,
        "lung_height_frac": float((rows[-1] + 1 - rows[0]) / lay.size) if rows.size else 0.0,
        "px_per_cm": lay.cm, **{k: float(v) for k, v in levels.items()},
    }
