"""Anatomy of normal phantom PA films, measured on the rendered masks, and render speed.

Over N normal PA films (default 500, 256 px): cardiothoracic ratio < 0.50 (heart and lung
masks); right dome higher than the left (top of each lung mask's lower border over its middle
half); left hilum higher than the right (the renderer's hilum points; there is no hilum mask); lungs spanning 55–65% of image height;
Dice between each lung mask and its nearest real lung mask (the 435 usable V7 masks of
torchxrayvision, both cropped to the thorax box and resized to 64×64). Also ms per film for
``render()`` at 256 and 512 px (CPU time, one thread).

Run: ``.venv/bin/python -m benchmarks.bench_phantom_anatomy [--n 500]``
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per generator process, as in the CLI
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from anatomy_vlm.data.phantom.render import render, sample_patient  # noqa: E402
from anatomy_vlm.data.phantom.shapes import ZIP_NAME, load_real_masks  # noqa: E402
from benchmarks._machine import write_result  # noqa: E402

CROP = 64


def _crop_pair(right: np.ndarray, left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    both = right | left
    rows, cols = np.nonzero(both.any(axis=1))[0], np.nonzero(both.any(axis=0))[0]
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    ry = (y0 + (np.arange(CROP) + 0.5) * (y1 - y0) / CROP).astype(int)
    rx = (x0 + (np.arange(CROP) + 0.5) * (x1 - x0) / CROP).astype(int)
    return right[ry[:, None], rx[None, :]], left[ry[:, None], rx[None, :]]


def _best_dice(mask: np.ndarray, real: np.ndarray, real_sum: np.ndarray) -> float:
    flat = mask.reshape(-1).astype(np.float32)
    inter = real @ flat
    return float(np.max(2 * inter / (real_sum + flat.sum() + 1e-6)))


def _dome_y(lung: np.ndarray) -> float:
    """Highest point (min y, px) of the lung's lower border over the middle half of its columns."""
    cols = np.nonzero(lung.any(axis=0))[0]
    a, b = cols[0] + (cols[-1] - cols[0]) // 4, cols[-1] - (cols[-1] - cols[0]) // 4
    sub = lung[:, a:b + 1]
    bottom = sub.shape[0] - 1 - np.argmax(sub[::-1], axis=0)
    return float(bottom.min())


def _timing(size: int, n: int) -> float:
    rng = np.random.default_rng(123)
    patients = [sample_patient(rng) for _ in range(n)]
    render(patients[0], [], size=size, rng=rng)
    t = time.process_time()
    for p in patients:
        film = render(p, [], size=size, rng=rng)
        dict(film.region_masks)
    return (time.process_time() - t) / n * 1000


def _reference_op_us() -> float:
    """CPU µs of one elementwise op on a 256² float32 frame: a load gauge for the timings."""
    a = np.random.default_rng(0).random((256, 256), dtype=np.float32)
    t = time.process_time()
    for _ in range(400):
        a * np.float32(2.0)
    return (time.process_time() - t) / 400 * 1e6


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    from kg.paths import xrv_data_dir

    data = xrv_data_dir()
    real = load_real_masks(data / ZIP_NAME, size=CROP) if data else []
    real_r = np.stack([p.right.reshape(-1) for p in real]).astype(np.float32) if real else None
    real_l = np.stack([p.left.reshape(-1) for p in real]).astype(np.float32) if real else None
    rng = np.random.default_rng(2024)
    rows = []
    for _ in range(args.n):
        film = render(sample_patient(rng, view="PA"), [], size=args.size, rng=rng)
        m = film.measurements
        dome_r, dome_l = _dome_y(film.masks["right_lung"]), _dome_y(film.masks["left_lung"])
        row = {"ctr": m["ctr"], "right_dome_higher": dome_r < dome_l,
               "left_hilum_higher": m["left_hilum_y"] < m["right_hilum_y"],
               "lung_height_frac": m["lung_height_frac"],
               "dome_diff_cm": (dome_l - dome_r) / m["px_per_cm"],
               "hilum_diff_cm": (m["right_hilum_y"] - m["left_hilum_y"]) / m["px_per_cm"]}
        if real:
            r, lft = _crop_pair(film.masks["right_lung"], film.masks["left_lung"])
            row["dice_right"] = _best_dice(r, real_r, real_r.sum(1))
            row["dice_left"] = _best_dice(lft, real_l, real_l.sum(1))
        rows.append(row)
    ctr = np.array([r["ctr"] for r in rows])
    lh = np.array([r["lung_height_frac"] for r in rows])
    out = {
        "n_films": args.n, "size": args.size, "view": "PA",
        "ctr_below_0_50": float(np.mean(ctr < 0.5)), "ctr_median": float(np.median(ctr)),
        "ctr_p5_p95": [float(np.percentile(ctr, 5)), float(np.percentile(ctr, 95))],
        "right_dome_higher": float(np.mean([r["right_dome_higher"] for r in rows])),
        "dome_diff_cm_median": float(np.median([r["dome_diff_cm"] for r in rows])),
        "left_hilum_higher": float(np.mean([r["left_hilum_higher"] for r in rows])),
        "hilum_diff_cm_median": float(np.median([r["hilum_diff_cm"] for r in rows])),
        "lung_height_in_55_65": float(np.mean((lh >= 0.55) & (lh <= 0.65))),
        "lung_height_frac_p5_median_p95": [float(np.percentile(lh, 5)), float(np.median(lh)),
                                           float(np.percentile(lh, 95))],
        "n_real_masks": len(real),
    }
    if real:
        dr = np.array([r["dice_right"] for r in rows])
        dl = np.array([r["dice_left"] for r in rows])
        out.update({"dice_right_median": float(np.median(dr)), "dice_left_median": float(np.median(dl)),
                    "dice_p5": [float(np.percentile(dr, 5)), float(np.percentile(dl, 5))]})
    out["ms_per_film"] = {"256": round(_timing(256, 40), 2), "512": round(_timing(512, 20), 2)}
    out["reference_op_us"] = round(_reference_op_us(), 1)  # ~20 µs on an idle core of this box
    out["load_average"] = os.getloadavg()[0]
    md = ["# Phantom anatomy (normal PA films)", "", "| measure | value | target |", "|---|---|---|",
          f"| CTR < 0.50 | {out['ctr_below_0_50']:.3f} (median {out['ctr_median']:.3f}) | ≥ 0.95 |",
          f"| right dome higher | {out['right_dome_higher']:.3f} (median {out['dome_diff_cm_median']:.2f} cm) | ≥ 0.95 |",
          f"| left hilum higher | {out['left_hilum_higher']:.3f} (median {out['hilum_diff_cm_median']:.2f} cm) | ≥ 0.95 |",
          f"| lungs 55–65% of height | {out['lung_height_in_55_65']:.3f} | all |"]
    if real:
        md.append(f"| median Dice vs nearest real lung (R / L) | {out['dice_right_median']:.3f} / "
                  f"{out['dice_left_median']:.3f} | ≥ 0.8 |")
    md.append(f"| render ms/film 256 / 512 px (CPU, 1 thread, incl. 36 region masks) | "
              f"{out['ms_per_film']['256']} / {out['ms_per_film']['512']} | ≲ 8 at 256 |")
    md.append(f"\nTimings are CPU time with load average {out['load_average']:.1f} on this machine; one "
              f"elementwise op on a 256² frame took {out['reference_op_us']} µs during the run.")
    write_result("phantom_anatomy", out, markdown="\n".join(md) + "\n")
    print("\n".join(md))
    return out


if __name__ == "__main__":
    main()
