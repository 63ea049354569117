"""Support devices: endotracheal tube, enteric (nasogastric) tube, central venous catheter and
pacemaker. Metal and radio-opaque stripes are the brightest things on the film. Each device
returns its mask and tip (x, y) in pixels; placements follow docs/radiograph_facts.md#support-devices (ETT tip
3–7 cm above the carina; enteric tube midline, through the diaphragm, tip under the left dome;
CVC tip at the cavoatrial junction / lower SVC; pacemaker left infraclavicular, leads to RA/RV).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from anatomy_vlm.data.phantom import fields as F
from anatomy_vlm.data.phantom.findings import DEVICES, RULES
from anatomy_vlm.data.phantom.lesions import LesionSpec, RenderedLesion, box_of

if TYPE_CHECKING:
    from anatomy_vlm.data.phantom.render import Canvas

Point = tuple[float, float]


def _curve(points: list[Point], n: int = 24) -> list[Point]:
    """Smooth polyline through control points (Catmull-Rom-like via cumulative interpolation)."""
    pts = np.asarray(points, np.float64)
    seg = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    t = np.linspace(0.0, seg[-1], n)
    x, y = np.interp(t, seg, pts[:, 0]), np.interp(t, seg, pts[:, 1])
    k = np.array([0.25, 0.5, 0.25])  # one smoothing pass, ends pinned
    xs, ys = x.copy(), y.copy()
    xs[1:-1], ys[1:-1] = np.convolve(x, k, "valid"), np.convolve(y, k, "valid")
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def _stroke(cv: Canvas, path: list[Point], radius: float, value: float, mask: np.ndarray) -> None:
    """Add a tube of ``radius`` px along ``path`` to the attenuation (max-combined along it)."""
    s = cv.size
    layer = np.zeros((s, s), np.float32)
    for p0, p1 in zip(path[:-1], path[1:], strict=True):
        win, d = F.capsule((s, s), p0, p1, radius, soft=0.6)
        np.maximum(layer[win], d, out=layer[win])
    cv.att += value * layer
    mask |= layer > 0.4


def _ett(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, Point, dict]:
    lay, cm = cv.lay, cv.lay.cm
    cx, cy = lay.points["carina"]
    above = float(spec.params.get("tip_cm_above_carina", rng.uniform(3.0, 7.0)))
    tip = (cx + rng.normal(0, 0.15) * cm, cy - above * cm)
    top = (float(lay.mid_x[0]) + 0.3 * cm, 0.0)
    path = _curve([top, (top[0] - 0.2 * cm, tip[1] * 0.5), tip], n=10)
    mask = np.zeros((cv.size, cv.size), bool)
    _stroke(cv, path, 0.42 * cm, 0.08, mask)  # plastic tube wall
    _stroke(cv, [(x - 0.2 * cm, y) for x, y in path], 0.1 * cm + 0.5, 1.3, mask)  # radio-opaque line
    return mask, tip, {"tip_cm_above_carina": round(above, 1)}


def _enteric(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, Point, dict]:
    lay, cm = cv.lay, cv.lay.cm
    dx, dy = lay.points["left_dome"]
    mx = float(np.median(lay.mid_x))
    tip = (dx + rng.uniform(0.0, 2.0) * cm, dy + rng.uniform(2.5, 4.5) * cm)
    ctrl = [(mx + 0.3 * cm, 0.0), (mx + 0.5 * cm, lay.points["carina"][1]),
            (mx + 1.2 * cm, dy + 0.5 * cm), (mx + 2.8 * cm, dy + 2.2 * cm), tip]
    mask = np.zeros((cv.size, cv.size), bool)
    _stroke(cv, _curve(ctrl, 30), 0.12 * cm + 0.5, 1.2, mask)
    return mask, tip, {"tip": "stomach"}


def _cvc(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, Point, dict]:
    lay, cm = cv.lay, cv.lay.cm
    ax, ay = lay.points["cavoatrial"]
    mx = float(np.median(lay.mid_x))
    left = (spec.side == "left") if spec.side else bool(rng.random() < 0.3)
    tip = (ax + 0.3 * cm, ay + rng.uniform(-1.5, 0.3) * cm)
    cly = lay.points["clavicle_r"][1]
    sign = 1.0 if left else -1.0
    ctrl = [(mx + sign * 9.5 * cm, cly - 2.5 * cm), (mx + sign * 5.0 * cm, cly + 0.6 * cm),
            (mx - 1.8 * cm, cly + 2.2 * cm), (ax + 0.3 * cm, ay - 3.0 * cm), tip]
    if not left:
        ctrl = [(mx - 3.0 * cm, 0.0), (mx - 2.3 * cm, cly)] + ctrl[2:]
    mask = np.zeros((cv.size, cv.size), bool)
    _stroke(cv, _curve(ctrl, 30), 0.11 * cm + 0.5, 1.1, mask)
    return mask, tip, {"approach": ("left" if left else "right") + (" subclavian" if left else " internal jugular")}


def _pacemaker(cv: Canvas, spec: LesionSpec, rng: np.random.Generator) -> tuple[np.ndarray, Point, dict]:
    lay, cm, s = cv.lay, cv.lay.cm, cv.size
    mx = float(np.median(lay.mid_x))
    half = 0.5 * (lay.levels["thorax_x2"] - lay.levels["thorax_x1"])
    gx, gy = mx + 0.6 * half, lay.points["clavicle_l"][1] + rng.uniform(2.5, 4.0) * cm
    mask = np.zeros((s, s), bool)
    win, d = F.disk((s, s), (gx, gy), (2.4 * cm, 2.0 * cm), soft=0.15 * cm)
    cv.att[win] += 1.1 * d
    mask[win] |= d > 0.4
    h0, h1 = lay.levels["heart_top"], lay.levels["heart_bottom"]
    ra = (lay.heart_a[int(h0 + 0.55 * (h1 - h0))] + 1.5 * cm, h0 + 0.55 * (h1 - h0))
    rv = (mx + 0.25 * lay.levels["heart_width"], h1 - 2.0 * cm)
    svc = (mx - 1.3 * cm, h0 - 1.0 * cm)
    for tip, wiggle in ((ra, -0.6), (rv, 0.6)):
        ctrl = [(gx - 1.5 * cm, gy), (mx + 2.0 * cm, gy - 1.0 * cm), (mx - 1.2 * cm, gy + 1.5 * cm), svc,
                (svc[0] + wiggle * cm, svc[1] + 3.0 * cm), tip]
        _stroke(cv, _curve(ctrl, 36), 0.1 * cm + 0.5, 1.3, mask)
    return mask, rv, {"leads": ["right_atrium", "right_ventricle"], "generator": "left_infraclavicular",
                      "ra_tip": [round(ra[0], 1), round(ra[1], 1)]}


_RENDERERS = {"ett": _ett, "enteric": _enteric, "cvc": _cvc, "pacemaker": _pacemaker}
_DEVICE_DRAW = {f: _RENDERERS[RULES[f].renderer] for f in DEVICES}


def draw_devices(cv: Canvas, specs, rendered: list) -> list[RenderedLesion]:
    """Fill the device placeholders of ``rendered`` (drawn last: metal over everything)."""
    out = []
    for spec, item in zip(specs, rendered, strict=True):
        if item is None and spec.finding in DEVICES:
            mask, tip, params = _DEVICE_DRAW[spec.finding](cv, spec, cv.rng)
            params["tip_xy"] = [round(tip[0], 1), round(tip[1], 1)]
            item = RenderedLesion(spec=spec, mask=mask, box=box_of(mask), params=params, tip=tip)
        out.append(item)
    return out
