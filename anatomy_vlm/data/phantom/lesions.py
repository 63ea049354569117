"""Finding renderers: each core finding changes the canvas (mostly by replacing lung air with
fluid or tissue, so the silhouette sign and hidden vessels follow by themselves) and returns
its mask. Severity 0 = subtle … 1 = obvious; size, density and extent grow with it.

Devices live in :mod:`devices`; geometry-changing findings (cardiomegaly, lobar collapse,
large effusion, mediastinal widening) first adjust the patient in :func:`adjust_patient`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from anatomy_vlm.data.phantom import fields as F
from anatomy_vlm.data.phantom.anatomy import CM, Patient
from anatomy_vlm.data.phantom.findings import CORE_FINDINGS, DEVICES, RULES

if TYPE_CHECKING:
    from anatomy_vlm.data.phantom.render import Canvas

CORE = CORE_FINDINGS  # the KG's core finding set; each one's renderer is named in its rule


@dataclass(frozen=True, kw_only=True)
class LesionSpec:
    """What to draw. ``finding``: core id; ``severity`` in [0, 1]; ``side``: "left" | "right" |
    None (bilateral or midline); ``region``: cig36 id to centre it in (None = renderer's choice);
    ``params``: finding-specific overrides (e.g. ``lobe``, ``tip_cm_above_carina``)."""

    finding: str
    severity: float = 0.5
    side: str | None = None
    region: str | None = None
    params: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class RenderedLesion:
    """A drawn finding: mask bool [H, W], box (x1, y1, x2, y2) px or None when the mask is
    empty, ``params`` what was drawn (size_cm, lobe, silhouette, ...), ``tip`` (x, y) px for
    devices."""

    spec: LesionSpec
    mask: np.ndarray
    box: tuple[int, int, int, int] | None
    params: dict = field(default_factory=dict)
    tip: tuple[float, float] | None = None


def box_of(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight (x1, y1, x2, y2) of a bool mask, exclusive ends; None when empty."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1] + 1), int(rows[-1] + 1)


def _sides(spec: LesionSpec) -> tuple[int, ...]:
    return {"right": (0,), "left": (1,)}.get(spec.side or "", (0, 1))


def adjust_patient(p: Patient, specs: Sequence[LesionSpec]) -> Patient:
    """Geometry changes: cardiomegaly (CTR), lobar collapse (raised dome, hilum, shift toward),
    large effusion (shift away), mediastinal widening (upper mediastinal width)."""
    for spec in specs:
        sev = float(np.clip(spec.severity, 0, 1))
        if spec.finding == "cardiomegaly":
            base = 0.56 if p.view == "AP" else 0.52
            p = p.with_(ctr=max(p.ctr, base + 0.16 * sev))
        elif spec.finding == "atelectasis" and sev >= 0.55:
            side = _sides(spec)[0]
            lift = (0.6 + 1.2 * sev) * CM
            raise_dome = list(p.extras.get("raise_dome", (0.0, 0.0)))
            raise_dome[side] += lift
            hil = list(p.hilum_t)
            hil[side] += 0.6 * lift / p.lung_height
            p = p.with_(extras={**p.extras, "raise_dome": tuple(raise_dome)}, hilum_t=tuple(hil),
                        rotation=p.rotation + (-1 if side == 0 else 1) * 0.8 * sev)
        elif spec.finding == "pleural_effusion" and sev > 0.8 and spec.side in ("left", "right"):
            p = p.with_(rotation=p.rotation + (1 if spec.side == "right" else -1) * 2.0 * (sev - 0.8) / 0.2)
        elif spec.finding == "mediastinal_widening":
            p = p.with_(mediastinum_cm=max(p.mediastinum_cm, 8.5 + 4.0 * sev),
                        extras={**p.extras, "normal_mediastinum_cm": p.mediastinum_cm})
    return p


def _pick_point(cv: Canvas, spec: LesionSpec, side: int, rng: np.random.Generator,
                margin_cm: float = 1.0) -> tuple[float, float]:
    """A point inside ``spec.region`` (or the lung of ``side``), ``margin_cm`` inside the lung."""
    inner = cv.lung_d[side] > margin_cm * cv.lay.cm
    win = None
    if spec.region is not None and cv.regions is not None and spec.region in cv.regions:
        y0, x0, sub = cv.regions.window(spec.region)
        cand = sub & inner[y0:y0 + sub.shape[0], x0:x0 + sub.shape[1]]
        if cand.any():
            win = (y0, x0, cand)
    if win is None:
        mask = inner if inner.any() else cv.lungs[side]
        win = (0, 0, mask)
    ys, xs = np.nonzero(win[2][::2, ::2])
    if ys.size == 0:
        return cv.lay.points["right_hilum" if side == 0 else "left_hilum"]
    k = int(rng.integers(ys.size))
    return float(win[1] + 2 * xs[k] + 1), float(win[0] + 2 * ys[k] + 1)


def _fill(cv: Canvas, density: np.ndarray, win=None) -> None:
    """Replace lung air by fluid/tissue: air *= 1 − density (density float [0, 1])."""
    if win is None:
        cv.air *= 1.0 - density
    else:
        cv.air[win] *= 1.0 - density


def _blob(cv: Canvas, c: tuple[float, float], radius: float, rng: np.random.Generator,
          *, rough: float, edge: float) -> np.ndarray:
    """float [S, S] irregular blob: 1 inside, soft edge of ``edge`` px, boundary noise ``rough``."""
    cols, rows = F.grid(cv.size)
    d = np.hypot(cols - c[0], rows - c[1]) / radius
    noise = F.lowpass_noise(rng, cv.size, max(int(cv.size / (0.6 * radius + 1)), 3))
    return F.ramp(1.0 - d + rough * noise, edge / radius)


def _airspace(cv: Canvas, spec: LesionSpec, rng: np.random.Generator, *, dense: bool) -> tuple[np.ndarray, dict]:
    """Consolidation (dense, homogeneous, air bronchograms) or patchy lung opacity."""
    sev = float(np.clip(spec.severity, 0, 1))
    side = _sides(spec)[0] if spec.side else int(rng.integers(2))
    cm = cv.lay.cm
    lobe = spec.params.get("lobe")
    if lobe is None and dense and spec.region in (None, f"{'right' if side == 0 else 'left'}_lower_lung_zone"):
        lobe = str(rng.choice(["rml", "rll"] if side == 0 else ["lingula", "lll"]))
    if lobe in ("rml", "lingula"):  # against the heart border: effaces it
        h0, h1 = cv.lay.levels["heart_top"], cv.lay.levels["heart_bottom"]
        y = h0 + 0.55 * (h1 - h0)
        x = cv.lay.heart_a[int(y)] - 1.0 * cm if side == 0 else cv.lay.heart_b[int(y)] + 1.0 * cm
        c = (float(x), float(y))
    elif lobe in ("rll", "lll"):  # on the dome: effaces the hemidiaphragm
        dx, dy = cv.lay.points["right_dome" if side == 0 else "left_dome"]
        c = (dx, dy - 1.5 * cm)
    else:
        c = _pick_point(cv, spec, side, rng)
    radius = (2.2 + 3.5 * sev) * cm
    edge = ((1.0 + 0.8 * (1 - sev)) if dense else 2.2) * cm  # ill-defined margins
    blob = _blob(cv, c, radius, rng, rough=0.35 if dense else 0.6, edge=edge)
    blob *= F.ramp(cv.lung_d[side], 0.3 * cm)
    amount = (0.55 + 0.42 * sev) if dense else (0.3 + 0.4 * sev)
    if not dense:
        blob *= np.clip(0.75 + 0.5 * F.lowpass_noise(rng, cv.size, 20), 0, 1)
    density = amount * blob
    if dense and sev > 0.25:  # air bronchograms: bronchi stay aerated inside the consolidation
        hx, hy = cv.lay.points["right_hilum" if side == 0 else "left_hilum"]
        ang = np.arctan2(c[1] - hy, c[0] - hx) + rng.normal(0, 0.15, 3)
        x, y, w = F.tree_points((hx, hy), ang, 0.45 * np.hypot(c[0] - hx, c[1] - hy) + 1, 0.3 * cm, rng, levels=4)
        br = F.splat(cv.size, x, y, w / w.max(), 0.6 * cv.size / 256)
        br = np.clip(br / (0.6 * br.max() + 1e-6), 0, 1) * F.ramp(blob - 0.7, 0.3)
        density = density * (1.0 - (0.2 + 0.25 * sev) * br)  # thin lucent tubes, centre only
    _fill(cv, density)
    params = {"size_cm": round(2 * radius / cm, 1), "side": "right" if side == 0 else "left"}
    if lobe:
        params["lobe"] = lobe
        params["silhouette"] = {"rml": "right_heart_border", "lingula": "left_heart_border",
                                "rll": "right_hemidiaphragm", "lll": "left_hemidiaphragm"}[lobe]
    return (blob > 0.5) & cv.lungs[side], params


def _effusion(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    sev = float(np.clip(spec.severity, 0, 1))
    cols, rows = F.grid(cv.size)
    cm = cv.lay.cm
    mask = np.zeros((cv.size, cv.size), bool)
    for side in _sides(spec):
        name = "right" if side == 0 else "left"
        cpx, cpy = cv.lay.points[f"{name}_cp"]
        dome_y = cv.lay.points[f"{name}_dome"][1]
        mx = float(np.median(cv.lay.mid_x))
        lateral = np.clip((cols - mx) / (cpx - mx), 0, 1)  # 0 medial … 1 at the chest wall
        # trace (sev ≤ 0.3): fluid only in the tip of the costophrenic recess (blunting, a few mm
        # high); then a meniscus, concave upward and higher laterally, climbing the hemithorax
        small, big = min(sev, 0.3), max(sev - 0.3, 0.0)
        level = cpy - (0.25 + 1.2 * small + 2.8 * big) * cm - max(sev - 0.4, 0) * 0.55 * (cpy - cv.lay.levels["lung_top"])
        rise = (0.2 + 1.0 * small + 6.2 * big) * cm
        meniscus = level - rise * lateral ** 3
        fluid = F.ramp(rows - meniscus, (0.12 + 0.6 * small + 1.5 * big) * cm) * F.ramp(cv.lung_d[side] + 2 * cm, 1.0)
        fluid *= cv.lungs[side] | (rows > min(dome_y, level))
        _fill(cv, np.clip(fluid, 0, 1) * (0.8 + 0.2 * sev))
        if big > 0:  # subpulmonic fluid under the dome
            cv.att += (0.06 * min(big / 0.3, 1.0)) * fluid * F.ramp(rows - dome_y, 1.0 * cm) * F.ramp(cv.lung_d[side] + 1.5 * cm, 1.0 * cm)
        here = (fluid > 0.5) & cv.lungs[side]
        if not here.any():  # a trace at a small film size: keep at least the angle's tip
            here = (fluid > 0.05) & cv.lungs[side]
        mask |= here
    return mask, {"meniscus": bool(sev > 0.3), "blunting_only": bool(sev <= 0.3)}


def _pneumothorax(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Pleural air between the chest wall and a thin white visceral pleural line, no markings
    beyond it. Subtle: a 2–5 mm apical/upper-lateral rim (the line is the sign; the rim barely
    changes the mean density); obvious: ~3 cm of slightly lucent, markingless space down the lateral wall."""
    sev = float(np.clip(spec.severity, 0, 1))
    side = _sides(spec)[0] if spec.side else int(rng.integers(2))
    cols, rows = F.grid(cv.size)
    cm, lay = cv.lay.cm, cv.lay
    lung = cv.lungs[side]
    wall = (cols - lay.lung_a[side][:, None]) if side == 0 else (lay.lung_b[side][:, None] - cols)
    top = lay.levels["lung_top"]
    height = lay.levels["lung_bottom"] - top
    outer = np.minimum(wall, (rows - top) * 1.1)
    depth_cm = 0.2 + 0.9 * min(sev, 0.3) + 4.0 * max(sev - 0.3, 0.0) ** 1.15  # 2–5 mm (subtle) … ~3.4 cm at 1
    reach = height * (0.22 + 0.7 * sev)  # apical first, down the lateral wall as it grows
    depth = depth_cm * cm * np.clip(1.15 - (rows - top) / reach, 0.0, 1.0)
    space = lung & (outer < depth)
    if not space.any():  # sub-pixel rim at a small film size
        space = lung & (outer < depth + 1.0) & (depth > 0)
    lw = max(0.06 * cm, 0.45)  # visceral pleura: a fine line (~1 px at 256)
    line = F.ramp(lw - np.abs(outer - depth), lw) * lung * (depth > 0.12 * cm)
    keep = (~space).astype(np.float32)
    cv.vessel_keep = keep if cv.vessel_keep is None else cv.vessel_keep * keep
    lucent = 0.03 + 0.06 * sev ** 1.5  # pleural air is only slightly darker than thin peripheral lung
    cv.air = np.where(space, np.minimum(cv.air + lucent, 1.05), cv.air)
    cv.air0 = np.where(space, cv.air, cv.air0)
    cv.att += (0.12 + 0.06 * sev) * line
    return space, {"side": "right" if side == 0 else "left", "depth_cm": round(float(depth.max() / cm), 1)}


def _round(cv: Canvas, spec: LesionSpec, rng: np.random.Generator, *, mass: bool) -> tuple[np.ndarray, dict]:
    sev = float(np.clip(spec.severity, 0, 1))
    side = _sides(spec)[0] if spec.side else int(rng.integers(2))
    cm = cv.lay.cm
    diam = (3.3 + 4.5 * sev) if mass else (0.6 + 2.3 * sev)
    diam = float(spec.params.get("size_cm", diam))
    c = _pick_point(cv, spec, side, rng, margin_cm=diam / 2 + 0.3)
    r = diam / 2 * cm
    blob = _blob(cv, c, r, rng, rough=0.25 if mass else 0.05, edge=max((0.4 if mass else 0.15) * cm, 0.8))
    density = (0.5 + 0.35 * sev) * blob
    _fill(cv, density)
    calcified = bool(spec.params.get("calcified", False))
    cv.att += (0.25 if calcified else 0.0) * blob
    return blob > 0.5, {"size_cm": round(diam, 1), "side": "right" if side == 0 else "left"}


def _atelectasis(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    sev = float(np.clip(spec.severity, 0, 1))
    side = _sides(spec)[0] if spec.side else int(rng.integers(2))
    cm, lay, s = cv.lay.cm, cv.lay, cv.size
    name = "right" if side == 0 else "left"
    dx, dy = lay.points[f"{name}_dome"]
    mask = np.zeros((s, s), bool)
    if sev < 0.55:  # plate-like (discoid) bands above the dome
        for _ in range(1 + int(sev * 4)):
            y = dy - rng.uniform(1.5, 4.5) * cm
            x = dx + rng.uniform(-2.5, 2.5) * cm
            half = rng.uniform(1.8, 3.2) * cm
            tilt = rng.uniform(-0.15, 0.15) * half
            win, d = F.capsule((s, s), (x - half, y - tilt), (x + half, y + tilt), (0.12 + 0.22 * sev) * cm, soft=0.25 * cm)
            d = d * cv.lungs[side][win]
            _fill(cv, (0.35 + 0.4 * sev) * d, win)  # thin, faint discoid bands
            mask[win] |= d > 0.5
        return mask, {"kind": "plate", "side": name}
    # lower lobe collapse: dense triangle behind the heart / on the dome, volume loss
    cols, rows = F.grid(s)
    mx = float(np.median(lay.mid_x))
    hx, hy = lay.points[f"{name}_hilum"]
    frac = np.clip((rows - hy) / max(dy - hy, 1.0), 0, 1)
    edge = mx + (1 if side else -1) * (3.5 + 6.0 * sev) * cm * frac ** 0.7
    tri = F.ramp(((cols - edge) * (-1 if side else 1)) + 0.0, 0.12 * cm + 0.5) * (rows > hy) * cv.lungs[side]
    tri = tri * F.ramp(np.abs(cols - mx) - 0.5 * cm, 0.5 * cm)
    _fill(cv, 0.9 * tri)
    cv.att += (0.08 + 0.12 * sev) * tri  # the airless lobe's tissue: a sharp-edged retrocardiac "sail"
    return (tri > 0.5), {"kind": "lobar", "side": name, "lobe": "rll" if side == 0 else "lll",
                         "volume_loss": True}


def _edema(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    sev = float(np.clip(spec.severity, 0, 1))
    cols, rows = F.grid(cv.size)
    cm, lay, s = cv.lay.cm, cv.lay, cv.size
    haze = np.zeros((s, s), np.float32)
    for name in ("right_hilum", "left_hilum"):
        hx, hy = lay.points[name]
        sx, sy = (3.0 + 3.5 * sev) * cm, (3.5 + 3.0 * sev) * cm
        haze += np.exp(-(((cols - hx) / sx) ** 2 + ((rows - hy) / sy) ** 2))
    lungs = cv.lungs[0] | cv.lungs[1]
    haze = np.clip(haze, 0, 1) * lungs * np.clip(0.8 + 0.4 * F.lowpass_noise(rng, s, 16), 0, 1.2)
    _fill(cv, np.clip((0.15 + 0.55 * sev) * haze, 0, 0.95))
    gain = np.ones((s, s), np.float32)  # cephalisation: upper-zone vessels as big as lower
    gain += (0.3 + 0.9 * sev) * F.ramp(cv.zone_levels["zone_upper_mid"] - rows, 3 * cm)
    cv.vessel_gain = gain
    if sev > 0.25:  # Kerley B: short horizontal lines at the lateral bases
        for side, name in ((0, "right"), (1, "left")):
            cpx, cpy = lay.points[f"{name}_cp"]
            inward = 1.0 if side == 0 else -1.0
            for _ in range(int(3 + 8 * sev)):
                y = cpy - rng.uniform(1.0, 6.0) * cm
                x0 = cpx + inward * rng.uniform(0.0, 0.4) * cm
                win, d = F.capsule((s, s), (x0, y), (x0 + inward * rng.uniform(1.0, 2.0) * cm, y), 0.05 * cm + 0.4, soft=0.5)
                cv.att[win] += 0.1 * d * cv.lungs[side][win]
    return (haze * (0.15 + 0.55 * sev) > 0.12) & lungs, {"bilateral": True, "kerley_b": bool(sev > 0.25)}


def _hilar(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    sev = float(np.clip(spec.severity, 0, 1))
    s, cm = cv.size, cv.lay.cm
    mask = np.zeros((s, s), bool)
    for side in _sides(spec):
        hx, hy = cv.lay.points["right_hilum" if side == 0 else "left_hilum"]
        out = -1.0 if side == 0 else 1.0
        c = (hx + out * (0.3 + 0.6 * sev) * cm, hy)
        blob = _blob(cv, c, (1.3 + 1.3 * sev) * cm, rng, rough=0.5, edge=0.6 * cm)  # lobulated nodes
        _fill(cv, (0.25 + 0.4 * sev) * blob)
        mask |= blob > 0.5
    return mask, {"lobulated": True}


def _widening(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    s, cm, lay = cv.size, cv.lay.cm, cv.lay
    top, h_top = lay.levels["lung_top"], lay.levels["heart_top"]
    # the widened shadow itself is drawn with the mediastinum (adjust_patient); the finding's
    # mask is the lung it now covers: between the normal and the widened border, above the heart
    normal = float(cv.patient.extras.get("normal_mediastinum_cm", 6.0)) * cm / 2
    wide = cv.patient.mediastinum_cm * cm / 2
    cols, rows = F.grid(s)
    rel = np.abs(cols - (lay.mid_x[:, None] + 0.3 * cm))
    band = (rel > normal) & (rel < wide) & (rows > top) & (rows < h_top)
    mask = band & (cv.lungs[0] | cv.lungs[1])
    if not mask.any():
        mask = band
    return mask, {"width_cm": round(cv.patient.mediastinum_cm, 1)}


def _fracture_ladder(sev: float) -> tuple[float, float]:
    """(gap cm, displacement fraction 0..1): a hairline crack when subtle; a gap that widens and
    a fragment that steps off by up to a bone width as severity rises."""
    return 0.05 + 0.3 * sev, float(np.clip((sev - 0.25) / 0.7, 0.0, 1.0))


def _callus(cv: Canvas, c: tuple[float, float], along: tuple[float, float], sev: float, width_cm: float) -> None:
    """Healing: a fusiform bony swelling around the break, elongated along the bone."""
    cm, s = cv.lay.cm, cv.size
    half = (0.5 + 0.5 * sev) * cm
    p0 = (c[0] - along[0] * half, c[1] - along[1] * half)
    p1 = (c[0] + along[0] * half, c[1] + along[1] * half)
    r = (0.5 * width_cm + 0.2 + 0.2 * sev) * cm
    win, d = F.capsule((s, s), p0, p1, r, soft=0.45 * r)  # dense new bone, fading at its ends
    cv.att[win] += (0.08 + 0.24 * sev) * d


def _rib_point(cv: Canvas, spec: LesionSpec, side: int, rng: np.random.Generator) -> tuple[int, float, float, float]:
    """(rib u, x', x, y) of a break on a posterior rib, inside ``spec.region`` when given."""
    rm = cv.ribs
    sign = -1 if side == 0 else 1
    cands = []
    if spec.region is not None and cv.regions is not None and spec.region in cv.regions and "rib" not in spec.params:
        y0, x0, sub = cv.regions.window(spec.region)
        m = 0.5 * cv.lay.cm

        def inside(x: float, y: float) -> bool:
            iy, ix = int(y) - y0, int(x) - x0
            return 0 <= iy < sub.shape[0] and 0 <= ix < sub.shape[1] and bool(sub[iy, ix])

        for margin, lo, hi in ((m, 0.72, 0.94), (m, 0.35, 0.72), (0.0, 0.35, 0.94)):  # lateral first
            for u in range(1, 12):
                for xq in np.linspace(lo, hi, 9):
                    bx = rm.mid + sign * xq * rm.half_w
                    by = rm.level(u) + rm.lift * (-2.0 * xq + 3.0 * xq ** 4)
                    if all(inside(bx + dx, by + dy) for dx, dy in ((0, 0), (margin, 0), (-margin, 0), (0, margin), (0, -margin))):
                        cands.append((u, float(xq)))
            if cands:
                break
    if cands:
        u, xq = cands[int(rng.integers(len(cands)))]
    else:
        u, xq = int(spec.params.get("rib", rng.integers(4, 10))), float(rng.uniform(0.72, 0.94))
    bx = rm.mid + sign * xq * rm.half_w
    by = rm.level(u) + rm.lift * (-2.0 * xq + 3.0 * xq ** 4)
    return u, xq, float(bx), float(by)


def _rib_fracture(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Posterior rib fracture: hairline lucent crack (subtle) → cortical gap with the lateral
    fragment stepped off by up to a rib width (obvious, displaced); healing ones grow a callus."""
    sev = float(np.clip(spec.severity, 0, 1))
    side = _sides(spec)[0] if spec.side else int(rng.integers(2))
    rm, cm = cv.ribs, cv.lay.cm
    u, xq, bx, by = _rib_point(cv, spec, side, rng)
    gap_cm, disp = _fracture_ladder(sev)
    step = 0.42 * disp * (1 if rng.random() < 0.5 else -1)  # rib-index units (a rib is ~0.4 thick)
    healing = bool(spec.params.get("healing", rng.random() < 0.2 + 0.5 * sev))
    cv.rib_breaks.append((u, bx, by, step, side, gap_cm * cm))
    if healing:  # callus along the rib's local direction
        slope = rm.lift * (-2.0 + 12.0 * xq ** 3) / rm.half_w * (1.0 if side == 1 else -1.0)
        n = float(np.hypot(1.0, slope))
        _callus(cv, (bx, by), (1.0 / n, slope / n), sev, 0.4 * (rm.level(u + 1) - rm.level(u)) / cm)
    hematoma = disp > 0.3
    if hematoma:  # displaced: extrapleural hematoma, a pleural-based lens against the chest wall
        _extrapleural(cv, side, by, (0.3 + 0.9 * disp) * cm, (2.5 + 3.0 * disp) * cm)
    win, d = F.disk((cv.size, cv.size), (bx, by), (1.2 * cm, 1.2 * cm), soft=0.1)
    mask = np.zeros((cv.size, cv.size), bool)
    mask[win] = d > 0.3
    return mask, {"rib": u, "side": "right" if side == 0 else "left", "displaced": bool(disp > 0.3),
                  "healing": healing, "extrapleural_hematoma": bool(hematoma)}


def _extrapleural(cv: Canvas, side: int, y: float, thick: float, length: float) -> None:
    """Soft-tissue lens along the inner lateral chest wall centred at row ``y`` (convex toward
    the lung, tapering at both ends): displaces lung air."""
    s = cv.size
    y0, y1 = int(max(y - length / 2, 0)), int(min(y + length / 2 + 1, s))
    if y1 <= y0:
        return
    rows = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    prof = np.sqrt(np.clip(1.0 - ((rows - y) / (length / 2)) ** 2, 0.0, 1.0))
    cols = np.arange(s, dtype=np.float32)[None, :] + 0.5
    lay = cv.lay
    wall = (cols - lay.lung_a[side][y0:y1, None]) if side == 0 else (lay.lung_b[side][y0:y1, None] - cols)
    lens = F.ramp(thick * prof - wall, 0.12 * lay.cm) * cv.lungs[side, y0:y1]
    cv.air[y0:y1] *= 1.0 - 0.9 * lens
    cv.att[y0:y1] += 0.06 * lens


def _clavicle_fracture(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Midshaft clavicle fracture: hairline (subtle) → gap with the lateral fragment displaced
    down/up by up to a shaft width and overriding the medial one (the overlap is doubly dense);
    healing ones grow a callus."""
    sev = float(np.clip(spec.severity, 0, 1))
    side = _sides(spec)[0] if spec.side else int(rng.integers(2))
    cm, lay = cv.lay.cm, cv.lay
    mx, my = lay.points["clavicle_r" if side == 0 else "clavicle_l"]
    length = 0.40 * (lay.levels["thorax_x2"] - lay.levels["thorax_x1"]) + 2.0 * cm
    bx = mx + (-1 if side == 0 else 1) * rng.uniform(0.35, 0.65) * length
    yc, _ = F.clavicle_centre(lay, cv.patient, side, np.array([bx], np.float32))
    gap_cm, disp = _fracture_ladder(sev)
    drop = disp * rng.uniform(0.8, 1.2) * 1.1 * cm * (1 if rng.random() < 0.7 else -1)  # usually the lateral fragment sags
    override = disp * rng.uniform(0.6, 1.4) * 0.9 * cm if rng.random() < 0.7 else -0.4 * disp * cm  # < 0: distracted
    healing = bool(spec.params.get("healing", rng.random() < 0.2 + 0.5 * sev))
    cv.clavicle_breaks.append((side, bx, drop, override, gap_cm * cm))
    if healing:
        _callus(cv, (bx, float(yc[0]) + 0.5 * drop), (1.0, 0.0), sev, 1.24)
    win, d = F.disk((cv.size, cv.size), (bx, float(yc[0])), (1.3 * cm, 1.3 * cm), soft=0.1)
    mask = np.zeros((cv.size, cv.size), bool)
    mask[win] = d > 0.3
    return mask, {"side": "right" if side == 0 else "left", "third": "middle", "displaced": bool(disp > 0.3),
                  "healing": healing}


_RENDERERS = {
    "opacity": lambda cv, s, r: _airspace(cv, s, r, dense=False),
    "consolidation": lambda cv, s, r: _airspace(cv, s, r, dense=True),
    "effusion": _effusion, "pneumothorax": _pneumothorax,
    "nodule": lambda cv, s, r: _round(cv, s, r, mass=False),
    "mass": lambda cv, s, r: _round(cv, s, r, mass=True),
    "atelectasis": _atelectasis, "edema": _edema, "hilar": _hilar,
    "widening": _widening, "rib_fracture": _rib_fracture,
    "clavicle_fracture": _clavicle_fracture,
    "cardiomegaly": lambda cv, s, r: (cv.heart > 0.5, {"ctr": round(cv.patient.ctr, 3)}),
}
_DRAW = {f: _RENDERERS[r.renderer] for f, r in RULES.items() if not r.device}


def draw_lesions(cv: Canvas, specs: Sequence[LesionSpec]) -> list[RenderedLesion | None]:
    """Draw every non-device finding onto ``cv``; devices get a placeholder (None) for
    :func:`devices.draw_devices`. Unknown findings raise ValueError."""
    out: list[RenderedLesion | None] = []
    for spec in specs:
        if spec.finding in DEVICES:
            out.append(None)
            continue
        if spec.finding not in _DRAW:
            raise ValueError(f"the phantom cannot render finding {spec.finding!r}; core: {CORE}")
        mask, params = _DRAW[spec.finding](cv, spec, cv.rng)
        out.append(RenderedLesion(spec=spec, mask=mask, box=box_of(mask), params=params))
    return out
