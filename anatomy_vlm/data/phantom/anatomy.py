"""Patient geometry for the phantom: sampled once per film, independent of the rendered size.

All positions are normalised film coordinates (x right, y down, [0, 1]); the patient's right
is on the image LEFT (PA and AP alike). ``CM`` converts centimetres to normalised units (a
40 cm field of view). :func:`layout` turns a :class:`Patient` into pixel geometry at a size.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from anatomy_vlm.data.phantom.shapes import K_ROWS, LungShape, sample_shape

CM = 1.0 / 40.0  # normalised units per centimetre (40 cm field of view)
RIGHT_SHARE = 0.34  # fraction of the heart width right of the midline (right atrial bulge)


@dataclass(frozen=True, kw_only=True)
class Patient:
    """One sampled patient and acquisition geometry (normalised units; see module docstring).

    Attributes:
        view: "PA" or "AP".
        shape: lung shape in the thorax frame (from the PCA model of the real masks).
        thorax: (x1, y1, x2, y2) box around both lungs (inner chest wall, apex to CP angles).
        dome_rise: (right, left) height of each dome apex above its CP angle, normalised y.
        dome_drop: extra drop of the left CP angle below the right (right dome higher), norm. y.
        ctr: cardiothoracic ratio (max heart width / max inner thoracic width).
        heart_top: heart top as a fraction of lung height.
        hilum_t: (right, left) hilum level as a fraction of lung height (left higher).
        carina_t: carina level as a fraction of lung height.
        shear: in-plane tilt (dx/dy); rotation: axial rotation, spine offset in cm.
        soft: soft-tissue thickness factor (habitus); breasts: breast shadow strength (0 = none).
        clavicle_t: clavicle level (medial end) as a fraction of lung height.
        knob_cm: aortic knob radius in cm; mediastinum_cm: upper mediastinal width in cm.
        trachea_cm: tracheal air column width in cm.
        seed: texture seed (vessels, parenchyma) so one patient renders the same twice.
        inspiration: posterior rib number at the right dome (≈ 10 good inspiration, < 9 poor).
        extras: finding-driven geometry changes (raised dome, normal mediastinal width).
    """

    view: str
    shape: LungShape
    thorax: tuple[float, float, float, float]
    dome_rise: tuple[float, float]
    dome_drop: float
    ctr: float
    heart_top: float
    hilum_t: tuple[float, float]
    carina_t: float
    shear: float
    rotation: float
    soft: float
    breasts: float
    clavicle_t: float
    knob_cm: float
    mediastinum_cm: float
    trachea_cm: float
    seed: int
    inspiration: float = 10.0
    extras: dict = field(default_factory=dict)

    @property
    def lung_height(self) -> float:
        return self.thorax[3] - self.thorax[1]

    @property
    def thorax_width(self) -> float:
        return self.thorax[2] - self.thorax[0]

    def with_(self, **changes) -> Patient:
        """A copy with some fields changed (used by findings that alter geometry)."""
        return replace(self, **changes)


def sample_patient(rng: np.random.Generator, *, view: str = "PA", domain: str = "id") -> Patient:
    """Draw a normal adult patient. ``domain="portable_ap"`` implies an AP view.

    AP films: heart magnified 15–20% (CTR up to ~0.55), lower lung volumes, clavicles higher.
    """
    if domain == "portable_ap":
        view = "AP"
    ap = view == "AP"
    shape = sample_shape(rng, spread=0.8)
    width = rng.uniform(27.0, 31.5) * CM
    height = rng.uniform(0.565, 0.625) * (rng.uniform(0.9, 0.95) if ap else 1.0)
    cx = 0.5 + rng.normal(0.0, 0.008)
    top = rng.uniform(0.11, 0.15) + (0.03 if ap else 0.0)
    ctr = float(np.clip(rng.normal(0.425, 0.025), 0.36, 0.485))
    if ap:
        ctr = min(ctr * rng.uniform(1.15, 1.20), 0.56)
    hilum_r = rng.uniform(0.40, 0.46)
    return Patient(
        view=view,
        shape=shape,
        thorax=(cx - width / 2, top, cx + width / 2, top + height),
        dome_rise=(rng.uniform(2.5, 4.0) * CM, rng.uniform(2.2, 3.6) * CM),
        dome_drop=rng.uniform(1.2, 2.6) * CM,
        ctr=ctr,
        heart_top=rng.uniform(0.44, 0.50),
        hilum_t=(hilum_r, hilum_r - rng.uniform(0.6, 1.8) * CM / height),
        carina_t=rng.uniform(0.27, 0.32),
        shear=rng.normal(0.0, 0.015),
        rotation=rng.normal(0.0, 0.35),
        soft=rng.uniform(0.8, 1.25),
        breasts=float(rng.uniform(0.4, 1.0)) if rng.random() < 0.45 else 0.0,
        clavicle_t=rng.uniform(0.11, 0.17) - (0.09 if ap else 0.0),
        knob_cm=rng.uniform(1.4, 2.0),
        mediastinum_cm=rng.uniform(5.0, 6.8) * (1.1 if ap else 1.0),
        trachea_cm=rng.uniform(1.5, 2.2),
        seed=int(rng.integers(0, 2**31 - 1)),
        inspiration=float(rng.uniform(8.3, 9.3) if ap else rng.uniform(9.5, 10.6)),
    )


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Pixel geometry of one patient at one size (film frame, tilt applied).

    Row arrays are float [S] indexed by pixel row; column arrays float [S] by pixel column.
    Spans are (a, b) with a > b on rows where the structure is absent.

    Attributes:
        size: S.
        lung_a, lung_b: float [2, S] span of each lung per row (0 = right, 1 = left) before the
            diaphragm cut; diaphragm: float [2, S] y of each hemidiaphragm per column.
        heart_a, heart_b: float [S] heart span per row.
        mid_x: float [S] midline (spine centre) per row.
        points: named (x, y) pixel points (carina, hila, domes, CP angles, knob, ...).
        levels: named y levels in pixels (zone boundaries, lung top/bottom, ...).
        cm: pixels per centimetre.
    """

    size: int
    lung_a: np.ndarray
    lung_b: np.ndarray
    diaphragm: np.ndarray
    heart_a: np.ndarray
    heart_b: np.ndarray
    mid_x: np.ndarray
    points: dict[str, tuple[float, float]]
    levels: dict[str, float]
    cm: float
    shear: float


def _lung_spans(p: Patient, rows: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row lateral/medial spans of both lungs (pixels), diaphragm region not yet cut."""
    x1, y1, x2, y2 = (v * s for v in p.thorax)
    tw, th = x2 - x1, y2 - y1
    sh = p.shape
    a = np.full((2, rows.size), np.inf)
    b = np.full((2, rows.size), -np.inf)
    t_src = (np.arange(K_ROWS) + 0.5) / K_ROWS
    raise_r, raise_l = p.extras.get("raise_dome", (0.0, 0.0))
    drop = np.array([(p.dome_drop + raise_r) * s, raise_l * s])
    for side in (0, 1):
        top = y1 + th * max(sh.top[side], 0.0)
        bot = y2 - drop[side]
        t = (rows - top) / max(bot - top, 1.0)
        ok = (t >= 0) & (t <= 1)
        lat = np.interp(t, t_src, sh.lat[side])
        med = np.interp(t, t_src, sh.med[side])
        knee = np.interp(0.72, t_src, sh.med[side])
        med = np.where(t > 0.72, knee, med)  # the bottom is cut by the explicit dome instead
        t_r = 0.14  # round the apex: shrink the top rows toward a point 40% from the lateral edge
        r = np.sqrt(np.clip(1.0 - ((t_r - np.clip(t, 0, t_r)) / t_r) ** 2, 0.0, 1.0))
        c = lat + 0.45 * (med - lat)
        lat, med = c + (lat - c) * r, c + (med - c) * r
        if side == 0:
            a[0] = np.where(ok, x1 + lat * tw, np.inf)
            b[0] = np.where(ok, x1 + med * tw, -np.inf)
        else:
            a[1] = np.where(ok, x2 - med * tw, np.inf)
            b[1] = np.where(ok, x2 - lat * tw, -np.inf)
    return a, b


def _domes(p: Patient, cols: np.ndarray, lat_x: np.ndarray, mid: float, s: int,
           cp_y: np.ndarray) -> tuple[np.ndarray, dict]:
    """Hemidiaphragm y per column (both sides) and the dome apex / CP points."""
    dia = np.empty((2, cols.size))
    pts = {}
    for side, name in ((0, "right"), (1, "left")):
        rise = p.dome_rise[side] * s
        sign = -1.0 if side == 0 else 1.0
        apex_x = mid + sign * 0.5 * abs(lat_x[side] - mid)
        apex_y = cp_y[side] - rise
        u = (cols - apex_x) / (lat_x[side] - apex_x)  # 0 at apex, 1 at the CP angle
        lateral = apex_y + rise * np.clip(u, 0, None) ** 2
        medial = apex_y + 0.9 * rise * np.clip(-u, 0, None) ** 2
        dia[side] = np.where(u >= 0, lateral, medial)
        pts[f"{name}_dome"] = (apex_x, apex_y)
        pts[f"{name}_cp"] = (lat_x[side], cp_y[side])
    return dia, pts


def layout(p: Patient, size: int) -> Layout:
    """Pixel geometry of ``p`` rendered at ``size``×``size`` (see :class:`Layout`)."""
    s = float(size)
    rows = np.arange(size) + 0.5
    x1, y1, x2, y2 = (v * s for v in p.thorax)
    th = y2 - y1
    cm = CM * s
    a, b = _lung_spans(p, rows, size)
    raise_r, raise_l = p.extras.get("raise_dome", (0.0, 0.0))
    cp_y = np.array([y2 - (p.dome_drop + raise_r) * s, y2 - raise_l * s]) - 0.5
    lat_x = np.array([a[0][int(np.clip(cp_y[0] - 2, 0, size - 1))],
                      b[1][int(np.clip(cp_y[1] - 2, 0, size - 1))]])
    mid = (x1 + x2) / 2 + p.rotation * cm
    dia, pts = _domes(p, rows, lat_x, mid, s, cp_y)
    # heart: ~1/3 right of the midline (right atrium), ~2/3 left; width = ctr × max inner
    # thoracic width
    thor_w = float(np.max(np.where(np.isfinite(b[1] - a[0]), b[1] - a[0], 0.0)))
    hw = p.ctr * thor_w
    h_top = y1 + p.heart_top * th
    # the heart sits on the diaphragm: reach the lowest diaphragm point under its width
    rw, lw = RIGHT_SHARE * hw, (1.0 - RIGHT_SHARE) * hw  # heart extent right / left of midline
    c0, cm_, c1 = (int(np.clip(v, 0, size - 1)) for v in (mid - rw, mid, mid + lw))
    under = np.concatenate([dia[0][c0:cm_ + 1], dia[1][cm_:c1 + 1]])  # each dome on its own side
    shape_bot = max(pts["right_dome"][1], pts["left_dome"][1]) + 1.2 * cm  # outline fitted to here
    h_bot = float(np.clip(under.max() + 0.6 * cm, shape_bot, shape_bot + 2.5 * cm))
    sfrac = np.clip((rows - h_top) / (shape_bot - h_top), 0, 1)  # base rows below keep its width
    # right atrial border: convex, widest just above the right dome, still ~0.9 wide where it
    # meets the hemidiaphragm (right cardiophrenic angle), not hidden under the dome
    right_bot = max(float(dia[0][c0]), h_top + 3.0 * cm)
    rfrac = np.clip((rows - h_top) / (right_bot - h_top), 0, 1)
    right_prof = np.sin(np.pi * rfrac ** 1.3 * 0.7) ** 0.6
    left_prof = np.sin(np.pi * np.clip(sfrac, 0, 1) ** 1.9 * 0.86) ** 0.55
    inside = (rows >= h_top) & (rows <= h_bot)
    lm = 0.62 * cm  # minimal width at the heart top (great vessels)
    heart_a = np.where(inside, mid - lm - (rw - lm) * right_prof, np.inf)
    heart_b = np.where(inside, mid + lm + (lw - lm) * left_prof, -np.inf)
    # the right lung reaches the right atrium, so its convex border shows against aerated lung
    atrium = inside & (rfrac > 0.25) & np.isfinite(b[0])
    b[0] = np.where(atrium, np.maximum(b[0], heart_a + 0.3 * cm), b[0])
    hil_y = [y1 + t * th for t in p.hilum_t]
    carina_y = y1 + p.carina_t * th
    knob_y = carina_y - 1.8 * cm
    pts.update({
        "carina": (mid, carina_y),
        "right_hilum": (mid - 0.17 * (x2 - x1), hil_y[0]),
        "left_hilum": (mid + 0.16 * (x2 - x1), hil_y[1]),
        "knob": (mid + 0.9 * cm + 0.5 * p.knob_cm * cm + 0.6 * cm, knob_y),
        "right_cardiophrenic": (mid - rw * float(right_prof[-1]), right_bot),
        "left_cardiophrenic": (mid + lw * 0.92, dia[1][int(np.clip(mid + lw * 0.92, 0, size - 1))]),
        "cavoatrial": (mid - 0.45 * hw / 3 - 0.6 * cm, h_top + 0.1 * (h_bot - h_top)),
        # clavicle heads stay with the chest wall; axial rotation moves the spine (``mid``)
        "clavicle_r": ((x1 + x2) / 2 - 1.6 * cm, y1 + p.clavicle_t * th),
        "clavicle_l": ((x1 + x2) / 2 + 1.6 * cm, y1 + p.clavicle_t * th),
    })
    levels = {"lung_top": y1 + th * float(min(p.shape.top.min(), 0.05)), "lung_bottom": y2,
              "heart_top": h_top, "heart_bottom": h_bot, "thorax_x1": x1, "thorax_x2": x2,
              "thoracic_width": thor_w, "heart_width": hw}
    shift = p.shear * (rows - s / 2)
    for side in (0, 1):  # tilt the diaphragm curves with everything else
        dia[side] = np.interp(rows - p.shear * (dia[side] - s / 2), rows, dia[side])
    f32 = np.float32
    return Layout(size=size, lung_a=(a + shift).astype(f32), lung_b=(b + shift).astype(f32),
                  diaphragm=dia.astype(f32), heart_a=(heart_a + shift).astype(f32),
                  heart_b=(heart_b + shift).astype(f32), mid_x=(mid + shift).astype(f32),
                  points=_shear_points(pts, p.shear, s), levels=levels, cm=cm, shear=p.shear)


def _shear_points(pts: dict, shear: float, s: float) -> dict[str, tuple[float, float]]:
    return {k: (float(x + shear * (y - s / 2)), float(y)) for k, (x, y) in pts.items()}
