"""The evaluation protocol: one function, :func:`evaluate_scores`, used by ``evaluate``, the
quickstart and the benchmarks.

Per domain (the phantom domain of each image, ``id`` for real data), on the truth of
:mod:`anatomy_vlm.eval.truth`:

- a (region, finding) **cell is used** when it holds at least ``min_positives`` (20) positives
  (moderate or higher severity; subtle positives are left out, not negatives) and a negative;
- **region AUROC** of a finding is the mean of its used cells' AUROCs; the **macro** is the mean
  over findings with a used cell; the **pooled** region AUROC ranks every (image, cell) pair of
  all used cells together;
- **image AUROC** per finding (image truth: present anywhere at moderate+, subtle-only images
  left out) where the finding has ``min_positives`` positive images, and its macro;
- **95% intervals**: percentile intervals of ``n_boot`` (1,000) resamples of patients, the same
  draws for every model of a domain, so differences are paired (``comparisons``); a statistic
  undefined in a draw (a class drawn empty) is left out of that draw's mean;
- **box IoU** per region in original-image pixels over images where truth and prediction both
  have the box; the mean pools every (image, region) pair; null for a model without boxes;
- **ECE** with ``ece_bins`` (15) equal-width bins: region level over the used cells, image level
  over every (image, finding) with known image truth.

AUROC is Mann–Whitney with ties counted one half (:mod:`anatomy_vlm.eval.metrics`). A metric
that does not apply is ``None`` (JSON null), never missing.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np

from anatomy_vlm.eval.metrics import auroc_boot, bootstrap_weights, box_iou, ci95, ece
from anatomy_vlm.eval.truth import EvalTruth

__all__ = ["PROTOCOL", "COMPARISONS", "evaluate_scores"]

PROTOCOL = "anatomy-vlm-protocol/1"
COMPARISONS = (("anatomy_vlm", "holistic"), ("anatomy_vlm", "prior"))
_HEADLINE = ("region_auroc_macro", "region_auroc_pooled", "image_auroc_macro")


def evaluate_scores(
    truth: EvalTruth,
    scores_by_model: dict[str, dict[str, np.ndarray]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    min_positives: int = 20,
    ece_bins: int = 15,
) -> dict:
    """Score every model against ``truth``, domain by domain.

    Args:
        truth: the evaluation truth of N images.
        scores_by_model: ``NAME -> {"region_probs" [N, R, F], "image_probs" [N, F], "boxes"
            [N, R, 4]}`` aligned with ``truth`` (boxes in original-image pixels, NaN = none).

    Returns:
        ``{"protocol": {...}, "domains": {DOMAIN: {...}}, "results": {NAME: {DOMAIN: {...}}},
        "comparisons": {DOMAIN: {"A_minus_B": {...}}}}`` (metrics.json's protocol part).
    """
    protocol = {
        "name": PROTOCOL,
        "min_positives": min_positives,
        "severity_min": "moderate",
        "severity_bins": {"subtle": "< 1/3", "moderate": "[1/3, 2/3)", "obvious": ">= 2/3"},
        "subtle_positives": "left out (not negatives)",
        "n_boot": n_boot,
        "seed": seed,
        "ci": "95% percentile, patient (subject_id) bootstrap, same draws for every model",
        "auroc": "Mann-Whitney, ties one half",
        "ece_bins": ece_bins,
        "comparisons": [f"{a}_minus_{b}" for a, b in COMPARISONS],
    }
    out = {
        "protocol": protocol,
        "domains": {},
        "results": {name: {} for name in scores_by_model},
        "comparisons": {},
    }
    for domain in sorted(set(truth.domains.tolist())):
        index = np.flatnonzero(truth.domains == domain)
        domain_info, draws = _score_domain(
            truth,
            index,
            scores_by_model,
            domain,
            n_boot=n_boot,
            seed=seed,
            min_positives=min_positives,
            ece_bins=ece_bins,
        )
        out["domains"][domain] = domain_info
        for name in scores_by_model:
            out["results"][name][domain] = draws[name].pop("result")
        out["comparisons"][domain] = _comparisons(draws)
    return out


class _Domain:
    """The images of one domain, their patient index, bootstrap weights and used cells."""

    def __init__(
        self,
        truth: EvalTruth,
        index: np.ndarray,
        domain: str,
        *,
        n_boot: int,
        seed: int,
        min_positives: int,
    ) -> None:
        _, self.patients = np.unique(truth.patients[index], return_inverse=True)
        self.n_patients = int(self.patients.max()) + 1 if len(index) else 0
        rng = np.random.default_rng([seed, zlib.crc32(domain.encode("utf-8"))])
        self.weights = bootstrap_weights(self.n_patients, n_boot, rng)
        self.region_truth = truth.region_truth[index]
        self.image_truth = truth.image_truth[index]
        self.boxes = truth.boxes[index]
        self.cell_pos = (self.region_truth == 1).sum(axis=0)
        self.used = (self.cell_pos >= min_positives) & ((self.region_truth == 0).sum(axis=0) > 0)
        self.image_pos = (self.image_truth == 1).sum(axis=0)
        self.image_used = (self.image_pos >= min_positives) & (
            (self.image_truth == 0).sum(axis=0) > 0
        )


def _score_domain(truth, index, scores_by_model, domain, *, n_boot, seed, min_positives, ece_bins):
    dom = _Domain(truth, index, domain, n_boot=n_boot, seed=seed, min_positives=min_positives)
    cells = {
        f: [truth.region_ids[r] for r in np.flatnonzero(dom.used[:, j])]
        for j, f in enumerate(truth.finding_ids)
    }
    info = {
        "n_images": int(len(index)),
        "n_patients": dom.n_patients,
        "n_findings_region": int(dom.used.any(axis=0).sum()),
        "n_cells": int(dom.used.sum()),
        "n_findings_image": int(dom.image_used.sum()),
        "cells": cells,
        "max_cell_positives": {
            f: int(dom.cell_pos[:, j].max(initial=0)) for j, f in enumerate(truth.finding_ids)
        },
        "image_positives": {f: int(dom.image_pos[j]) for j, f in enumerate(truth.finding_ids)},
    }
    draws = {}
    for name, scores in scores_by_model.items():
        picked = {
            key: np.asarray(scores[key])[index] for key in ("region_probs", "image_probs", "boxes")
        }
        draws[name] = _score_model(dom, picked, truth, ece_bins=ece_bins)
    return info, draws


def _score_model(dom: _Domain, scores: dict, truth: EvalTruth, *, ece_bins: int) -> dict:
    region_probs, image_probs = scores["region_probs"], scores["image_probs"]
    per_finding, finding_draws, image_draws = {}, [], []
    for j, finding in enumerate(truth.finding_ids):
        rows = np.flatnonzero(dom.used[:, j])
        cell_draws = [
            auroc_boot(region_probs[:, r, j], dom.region_truth[:, r, j], dom.patients, dom.weights)
            for r in rows
        ]
        region = _nanmean(np.array(cell_draws), axis=0) if len(rows) else None
        image = (
            auroc_boot(image_probs[:, j], dom.image_truth[:, j], dom.patients, dom.weights)
            if dom.image_used[j]
            else None
        )
        if region is not None:
            finding_draws.append(region)
        if image is not None:
            image_draws.append(image)
        per_finding[finding] = {
            "region_auroc": _value(region),
            "ci95": _ci(region),
            "n_pos": int(dom.cell_pos[rows, j].sum()),
            "n_cells": int(len(rows)),
            "cells": [truth.region_ids[r] for r in rows],
            "image_auroc": _value(image),
            "image_ci95": _ci(image),
            "n_pos_image": int(dom.image_pos[j]),
        }
    macro = _nanmean(np.array(finding_draws), axis=0) if finding_draws else None
    image_macro = _nanmean(np.array(image_draws), axis=0) if image_draws else None
    pooled = _pooled(dom, region_probs)
    box_mean, per_region = _box_iou(dom, scores["boxes"], truth.region_ids)
    result = {
        "n_images": int(len(dom.patients)),
        "region_auroc_macro": {
            "value": _value(macro),
            "ci95": _ci(macro),
            "n_findings": len(finding_draws),
        },
        "region_auroc_pooled": {"value": _value(pooled), "ci95": _ci(pooled)},
        "image_auroc_macro": {
            "value": _value(image_macro),
            "ci95": _ci(image_macro),
            "n_findings": len(image_draws),
        },
        "box_iou_mean": {"value": _value(box_mean), "ci95": _ci(box_mean)},
        "ece_region": _round(
            ece(region_probs[:, dom.used], dom.region_truth[:, dom.used], n_bins=ece_bins)
        ),
        "ece_image": _round(ece(image_probs, dom.image_truth, n_bins=ece_bins)),
        "per_finding": per_finding,
        "per_region_iou": per_region,
    }
    return {
        "result": result,
        "region_auroc_macro": macro,
        "region_auroc_pooled": pooled,
        "image_auroc_macro": image_macro,
    }


def _pooled(dom: _Domain, region_probs: np.ndarray) -> np.ndarray | None:
    if not dom.used.any():
        return None
    n_cells = int(dom.used.sum())
    patients = np.repeat(dom.patients, n_cells)
    return auroc_boot(
        region_probs[:, dom.used].ravel(),
        dom.region_truth[:, dom.used].ravel(),
        patients,
        dom.weights,
    )


def _box_iou(dom: _Domain, boxes: np.ndarray, region_ids: tuple[str, ...]):
    """``(mean over every (image, region) pair [W] or None, {region: iou or None} or None)``."""
    if np.isnan(boxes).all():
        return None, None
    iou = box_iou(boxes, dom.boxes)  # [n, R]
    known = ~np.isnan(iou)
    with np.errstate(invalid="ignore"):
        per_region = np.nansum(iou, axis=0) / known.sum(axis=0)
    per_region_json = {
        r: _round(v) if known[:, i].any() else None
        for i, (r, v) in enumerate(zip(region_ids, per_region, strict=True))
    }
    if not known.any():
        return None, per_region_json
    sums = np.bincount(dom.patients, np.nansum(iou, axis=1), minlength=dom.n_patients)
    counts = np.bincount(dom.patients, known.sum(axis=1), minlength=dom.n_patients)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (dom.weights @ sums) / (dom.weights @ counts)
    return mean, per_region_json


def _comparisons(draws: dict[str, dict]) -> dict:
    out = {}
    for a, b in COMPARISONS:
        if a not in draws or b not in draws:
            continue
        entry: dict = {"metric": _HEADLINE[0]}
        for metric in _HEADLINE:
            x, y = draws[a][metric], draws[b][metric]
            diff = None if x is None or y is None else x - y
            if metric == _HEADLINE[0]:
                entry.update({"value": _value(diff), "ci95": _ci(diff)})
            else:
                entry[metric] = {"value": _value(diff), "ci95": _ci(diff)}
        out[f"{a}_minus_{b}"] = entry
    return out


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a draw where every entry is undefined
        return np.nanmean(values, axis=axis)


def _value(draws: np.ndarray | None) -> float | None:
    return None if draws is None else _round(draws[0])


def _ci(draws: np.ndarray | None) -> list[float] | None:
    if draws is None:
        return None
    interval = ci95(draws[1:])
    return None if interval is None else [_round(v) for v in interval]


def _round(value) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), 6)
