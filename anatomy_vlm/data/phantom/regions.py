"""The 36 Chest ImaGenome regions (cig36), derived from the rendered anatomy.

Each region is kept as a window (row/column offset + a bool sub-mask) so boxes are cheap and a
full [H, W] mask is built only when asked for (:class:`LazyMasks`). Zones follow
docs/radiograph_facts.md#lung-zones: apical above the clavicle; upper down to the 2nd anterior rib end; mid
2nd–4th; lower below the 4th (the upper zone includes the apical zone, as the boxes overlap).

A region that the film does not show is left out, as Chest ImaGenome leaves out a region it
could not place: on a lordotic AP film the clavicles project over the apices and the apical
zone above them shrinks to a sliver or nothing. A region is written only when its tight box
is at least :data:`MIN_BOX_CM2` in area and :data:`MIN_SIDE_CM` on each side; the others are
listed in :attr:`RegionGeometry.omitted` and have neither a box nor a mask (never a dummy).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from anatomy_vlm.data.phantom import fields as F
from anatomy_vlm.data.phantom import findings
from anatomy_vlm.data.phantom.anatomy import Layout, Patient

CIG36 = findings.CIG36  # the KG's cig36 region set, in its order

Window = tuple[int, int, np.ndarray]  # (y0, x0, bool [h, w])

MIN_BOX_CM2 = 1.0  # smallest box a region is written with (the id domain's smallest is ~2 cm²)
MIN_SIDE_CM = 0.3  # and its shortest side


class LazyMasks(Mapping):
    """Read-only mapping cig36 id → bool [S, S], built from windows on first access."""

    def __init__(self, size: int, windows: dict[str, Window]) -> None:
        self._size, self._windows, self._cache = size, windows, {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._cache:
            y0, x0, sub = self._windows[key]
            full = np.zeros((self._size, self._size), bool)
            full[y0:y0 + sub.shape[0], x0:x0 + sub.shape[1]] = sub
            self._cache[key] = full
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._windows)

    def __len__(self) -> int:
        return len(self._windows)

    def window(self, key: str) -> Window:
        """The compact (y0, x0, sub-mask) form of one region."""
        return self._windows[key]


@dataclass(frozen=True, kw_only=True)
class RegionGeometry:
    """Region masks (lazy), boxes (x1, y1, x2, y2 pixels, exclusive ends) and zone levels (y px)
    of the visible regions (in :data:`CIG36` order); ``omitted`` the cig36 regions not shown."""

    masks: LazyMasks
    boxes: dict[str, tuple[int, int, int, int]]
    levels: dict[str, float]
    omitted: tuple[str, ...] = ()


def _box_window(s: int, x1: float, y1: float, x2: float, y2: float) -> tuple[int, int, int, int]:
    xa, ya = int(np.clip(np.floor(x1), 0, s - 1)), int(np.clip(np.floor(y1), 0, s - 1))
    xb, yb = int(np.clip(np.ceil(x2), xa + 1, s)), int(np.clip(np.ceil(y2), ya + 1, s))
    return xa, ya, xb, yb


def _rect(s: int, x1: float, y1: float, x2: float, y2: float, within: np.ndarray | None = None) -> Window:
    xa, ya, xb, yb = _box_window(s, x1, y1, x2, y2)
    sub = np.ones((yb - ya, xb - xa), bool) if within is None else within[ya:yb, xa:xb].copy()
    return ya, xa, sub


def _rows(mask: np.ndarray, y1: float, y2: float) -> Window:
    s = mask.shape[0]
    ya, yb = int(np.clip(round(y1), 0, s - 1)), int(np.clip(round(y2), 1, s))
    yb = max(yb, ya + 1)
    return ya, 0, mask[ya:yb]


def _clip_rows(s: int, y0: float, y1: float) -> tuple[int, int]:
    a = int(np.clip(np.floor(y0), 0, s - 1))
    return a, int(np.clip(np.ceil(y1), a + 1, s))


def _tight(win: Window) -> tuple[Window, tuple[int, int, int, int]] | None:
    """Crop a window to its content; None when the region is empty."""
    y0, x0, sub = win
    rows, cols = np.nonzero(sub.any(axis=1))[0], np.nonzero(sub.any(axis=0))[0]
    if rows.size == 0:
        return None
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1] + 1), int(cols[0]), int(cols[-1] + 1)
    return (y0 + r0, x0 + c0, sub[r0:r1, c0:c1]), (x0 + c0, y0 + r0, x0 + c1, y0 + r1)


def visible(box: tuple[int, int, int, int], cm: float) -> bool:
    """Whether a region's tight box (pixels) is big enough to be written (see module docstring)."""
    width, height = box[2] - box[0], box[3] - box[1]
    return width * height >= MIN_BOX_CM2 * cm * cm and min(width, height) >= MIN_SIDE_CM * cm


def _lung_regions(p: Patient, lay: Layout, lungs: list[np.ndarray], ribs: F.RibModel,
                  levels: dict) -> dict[str, Window]:
    s, cm = lay.size, lay.cm
    out: dict[str, Window] = {}
    for side, name in ((0, "right"), (1, "left")):
        lung = lungs[side]
        cols = np.nonzero(lung.any(axis=0))[0]
        cx = float(cols.mean()) if cols.size else s / 2
        yc, _ = F.clavicle_centre(lay, p, side, np.array([cx], np.float32))
        apical, upper, mid = float(yc[0]), levels["zone_upper_mid"], levels["zone_mid_lower"]
        levels[f"{name}_apical_y"] = apical
        out[f"{name}_lung"] = (0, 0, lung)
        out[f"{name}_apical_zone"] = _rows(lung, 0, apical)
        out[f"{name}_upper_lung_zone"] = _rows(lung, 0, upper)
        out[f"{name}_mid_lung_zone"] = _rows(lung, upper, mid)
        out[f"{name}_lower_lung_zone"] = _rows(lung, mid, s)
        hx, hy = lay.points[f"{name}_hilum"]
        out[f"{name}_hilar_structures"] = _rect(s, hx - 2.0 * cm, hy - 2.8 * cm, hx + 2.0 * cm, hy + 2.8 * cm)
        cpx, cpy = lay.points[f"{name}_cp"]
        inward = 1.0 if side == 0 else -1.0
        xa, xb = sorted((cpx - inward * 0.8 * cm, cpx + inward * 3.6 * cm))
        out[f"{name}_costophrenic_angle"] = _rect(s, xa, cpy - 3.6 * cm, xb, cpy + 0.8 * cm, lung)
        kx, ky = lay.points[f"{name}_cardiophrenic"]
        xa, xb = sorted((kx - inward * 2.6 * cm, kx + inward * 1.4 * cm))
        out[f"{name}_cardiophrenic_angle"] = _rect(s, xa, ky - 3.0 * cm, xb, ky + 0.6 * cm)
        dome = lay.diaphragm[side]
        xs = (np.arange(s) + 0.5)[None, :]
        lung_cols = lung.any(axis=0) & ((xs[0] < float(np.median(lay.mid_x))) == (side == 0))
        ys_d = dome[lung_cols] if lung_cols.any() else dome
        y0, y1 = _clip_rows(s, float(ys_d.min()) - cm, float(ys_d.max()) + cm)
        ys = (np.arange(y0, y1) + 0.5)[:, None]
        band = (np.abs(ys - dome[None, :]) < 0.7 * cm) & lung_cols[None, :]
        out[f"{name}_hemidiaphragm"] = (y0, 0, band)
    return out


def _central_regions(p: Patient, lay: Layout, heart: np.ndarray, lungs: list[np.ndarray]) -> dict[str, Window]:
    s, cm = lay.size, lay.cm
    cx, cy = lay.points["carina"]
    kx, ky = lay.points["knob"]
    top, h_top, h_bot = lay.levels["lung_top"], lay.levels["heart_top"], lay.levels["heart_bottom"]
    mid = float(np.median(lay.mid_x))
    tw = p.trachea_cm * cm
    out: dict[str, Window] = {
        "trachea": _rect(s, cx - 0.7 * tw, top - 3.0 * cm, cx + 0.7 * tw, cy),
        "carina": _rect(s, cx - 1.4 * cm, cy - 1.2 * cm, cx + 1.4 * cm, cy + 1.2 * cm),
        "spine": _rect(s, mid - 2.3 * cm, top - 1.0 * cm, mid + 2.3 * cm, h_bot),
        "aortic_arch": _rect(s, kx - 2.6 * cm, ky - 1.7 * cm, kx + 1.8 * cm, ky + 1.5 * cm),
        "svc": _rect(s, mid - 2.9 * cm, top + 1.0 * cm, mid - 0.5 * cm, h_top + 0.15 * (h_bot - h_top)),
        "descending_aorta": _rect(s, kx - 1.6 * cm, ky, kx + 1.0 * cm, lay.points["left_dome"][1] + 0.5 * cm),
    }
    xs = (np.arange(s) + 0.5)[None, :]
    hy0, hy1 = _clip_rows(s, h_top - 1, h_bot + 1)
    hs = heart[hy0:hy1]
    right_of_mid = xs < lay.mid_x[hy0:hy1, None]
    out["cardiac_silhouette"] = (hy0, 0, hs)
    out["right_cardiac_silhouette"] = (hy0, 0, hs & right_of_mid)
    out["left_cardiac_silhouette"] = (hy0, 0, hs & ~right_of_mid)
    ra0, _ = _clip_rows(s, h_top + 0.3 * (h_bot - h_top), s)
    out["right_atrium"] = (ra0, 0, heart[ra0:hy1] & right_of_mid[ra0 - hy0:])
    ax, ay = lay.points["cavoatrial"]
    out["cavoatrial_junction"] = _rect(s, ax - 1.1 * cm, ay - 1.1 * cm, ax + 1.1 * cm, ay + 1.1 * cm)
    med_a = np.where(np.isfinite(lay.lung_b[0]), np.minimum(lay.lung_b[0], lay.heart_a), lay.mid_x - 3 * cm)
    med_b = np.where(np.isfinite(lay.lung_a[1]), np.maximum(lay.lung_a[1], lay.heart_b), lay.mid_x + 3 * cm)
    m0, m1 = _clip_rows(s, top, h_bot)
    med = F.span_mask(np.minimum(med_a, lay.mid_x - 1.5 * cm)[m0:m1],
                      np.maximum(med_b, lay.mid_x + 1.5 * cm)[m0:m1], s)
    out["mediastinum"] = (m0, 0, med | heart[m0:m1])
    out["upper_mediastinum"] = (m0, 0, med[: max(int(h_top) - m0, 1)])
    mid = float(np.median(lay.mid_x))
    dia = np.where(xs[0] < mid, lay.diaphragm[0], lay.diaphragm[1])
    x1, x2 = lay.levels["thorax_x1"], lay.levels["thorax_x2"]
    domes = (lay.points["right_dome"][1], lay.points["left_dome"][1])
    a0, _ = _clip_rows(s, min(domes), s)
    rows = (np.arange(a0, s) + 0.5)[:, None]
    belly = (rows > dia[None, :]) & (xs >= x1) & (xs < x2)
    low = int(min(s, max(domes) + 9 * cm))
    out["abdomen"] = (a0, 0, belly)
    right = xs < mid
    r0, l0 = (int(np.clip(d, a0, s - 1)) for d in domes)
    out["right_upper_abdomen"] = (r0, 0, (belly & right)[r0 - a0:max(low - a0, r0 - a0 + 1)])
    out["left_upper_abdomen"] = (l0, 0, (belly & ~right)[l0 - a0:max(low - a0, l0 - a0 + 1)])
    for side, name in ((0, "right"), (1, "left")):
        yc, ok = F.clavicle_centre(lay, p, side, xs[0])
        c0, c1 = _clip_rows(s, float(yc[ok].min()) - cm, float(yc[ok].max()) + cm) if ok.any() else (0, 1)
        rows_c = (np.arange(c0, c1) + 0.5)[:, None]
        out[f"{name}_clavicle"] = (c0, 0, (np.abs(rows_c - yc[None, :]) < 0.65 * cm) & ok[None, :])
    return out


def region_geometry(p: Patient, lay: Layout, masks: dict[str, np.ndarray], ribs: F.RibModel) -> RegionGeometry:
    """The regions of one film: lazy masks and tight boxes of the visible ones, zone levels."""
    s = lay.size
    levels = {"zone_upper_mid": float(ribs.anterior_end(2)), "zone_mid_lower": float(ribs.anterior_end(4))}
    lungs = [masks["right_lung"], masks["left_lung"]]
    wins = _lung_regions(p, lay, lungs, ribs, levels)
    wins.update(_central_regions(p, lay, masks["heart"], lungs))
    tight, boxes, omitted = {}, {}, []
    for rid in CIG36:
        cropped = _tight(wins[rid])
        if cropped is None or not visible(cropped[1], lay.cm):
            omitted.append(rid)
            continue
        tight[rid], boxes[rid] = cropped
    return RegionGeometry(masks=LazyMasks(s, tight), boxes=boxes, levels=levels, omitted=tuple(omitted))
