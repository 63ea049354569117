"""Metric kernels of the evaluation protocol: AUROC under a patient bootstrap, ECE, box IoU.

Everything is numpy and vectorised over bootstrap draws. A bootstrap draw is a vector of
patient multiplicities (how often each patient was drawn), so every metric below is a
weighted statistic of the images with their patient's multiplicity as weight; the point
estimate is the same statistic with every weight 1. The same draws serve every model, which
makes differences between models paired.

AUROC is the Mann–Whitney statistic with ties counted one half:
``AUC = sum_{i pos, j neg} w_i w_j [s_i > s_j] + 0.5 [s_i = s_j]  /  (sum_pos w)(sum_neg w)``.
Because weights are per patient, the pair sum reduces to a quadratic form
``u^T A v`` over patients, with ``A[p, q]`` the (tie-halved) count of positive-of-``p`` over
negative-of-``q`` pairs; ``A`` is built once per (cell, model) from one sort, then all draws
cost one matrix product (``O(B * P * P+)``, P+ = patients holding a positive).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bootstrap_weights",
    "auroc",
    "auroc_boot",
    "ece",
    "box_iou",
    "ci95",
]


def bootstrap_weights(n_patients: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``[1 + n_boot, n_patients]`` float64 patient weights: row 0 is all ones (the point
    estimate), each further row the multiplicities of one draw of ``n_patients`` patients with
    replacement (row sums equal ``n_patients``)."""
    draws = rng.integers(0, max(n_patients, 1), size=(n_boot, n_patients))
    flat = draws + (np.arange(n_boot) * n_patients)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_boot * n_patients).reshape(n_boot, n_patients)
    return np.vstack([np.ones((1, n_patients)), counts.astype(float)])


def _pair_matrix(scores: np.ndarray, labels: np.ndarray, patients: np.ndarray, n_patients: int):
    """``(pos_patients [P+], A [P+, P], n_pos [P], n_neg [P])`` with ``A`` twice the tie-halved
    pair counts (integers, exact), rows indexed by the patients holding a positive."""
    pos, neg = labels == 1, labels == 0
    neg_order = np.argsort(scores[neg], kind="stable")
    neg_scores = scores[neg][neg_order]
    neg_patients = patients[neg][neg_order]
    pos_scores, pos_pat = scores[pos], patients[pos]
    lo = np.searchsorted(neg_scores, pos_scores, side="left")
    hi = np.searchsorted(neg_scores, pos_scores, side="right")
    breaks = np.unique(np.concatenate([lo, hi]))
    # counts[m, q]: negatives of patient q at sorted positions < breaks[m]
    segment = np.searchsorted(breaks, np.arange(len(neg_scores)), side="right")
    hist = np.zeros((len(breaks) + 1, n_patients))
    np.add.at(hist, (segment, neg_patients), 1.0)
    below = np.cumsum(hist, axis=0)[: len(breaks)]
    doubled = below[np.searchsorted(breaks, lo)] + below[np.searchsorted(breaks, hi)]  # [n_pos, P]
    order = np.argsort(pos_pat, kind="stable")
    pos_patients, starts = np.unique(pos_pat[order], return_index=True)
    pair = np.add.reduceat(doubled[order], starts, axis=0)
    n_pos = np.bincount(pos_pat, minlength=n_patients).astype(float)
    n_neg = np.bincount(patients[neg], minlength=n_patients).astype(float)
    return pos_patients, pair, n_pos, n_neg


def auroc_boot(
    scores: np.ndarray, labels: np.ndarray, patients: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """AUROC under every row of patient weights.

    Args:
        scores: ``[n]`` predicted probabilities (any real scores).
        labels: ``[n]`` in {1, 0, NaN}; NaN entries are left out.
        patients: ``[n]`` int patient index in ``[0, P)``.
        weights: ``[W, P]`` patient weights, e.g. :func:`bootstrap_weights` (row 0 all ones).

    Returns:
        ``[W]`` AUROC per weight row; NaN where a class is empty (in the data or in a draw).
    """
    known = ~np.isnan(labels)
    scores, labels, patients = scores[known], labels[known], patients[known]
    if not (labels == 1).any() or not (labels == 0).any():
        return np.full(len(weights), np.nan)
    pos_patients, pair, n_pos, n_neg = _pair_matrix(
        scores.astype(np.float64), labels, patients, weights.shape[1]
    )
    numerator = np.einsum("bp,bp->b", weights[:, pos_patients], weights @ pair.T) / 2.0
    denominator = (weights @ n_pos) * (weights @ n_neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Plain AUROC (Mann–Whitney, ties one half); NaN labels left out; NaN when a class is empty."""
    scores, labels = np.asarray(scores, float).ravel(), np.asarray(labels, float).ravel()
    return float(auroc_boot(scores, labels, np.zeros(len(scores), dtype=int), np.ones((1, 1)))[0])


def ece(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 15) -> float | None:
    """Expected calibration error with ``n_bins`` equal-width bins on [0, 1] (the last bin
    holds 1.0): ``sum_b (n_b / n) |mean(prob_b) - mean(label_b)|``. NaN labels (and NaN
    probabilities) are left out; None when nothing is left."""
    probs, labels = np.asarray(probs, float).ravel(), np.asarray(labels, float).ravel()
    keep = ~np.isnan(labels) & ~np.isnan(probs)
    probs, labels = np.clip(probs[keep], 0.0, 1.0), labels[keep]
    if not len(probs):
        return None
    bins = np.minimum((probs * n_bins).astype(int), n_bins - 1)
    n = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, probs, n_bins) - np.bincount(bins, labels, n_bins))
    return float(gap.sum() / n.sum())


def box_iou(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Elementwise IoU of ``[..., 4]`` boxes ``[x1, y1, x2, y2]`` (same pixel frame); NaN where
    either box is missing (any NaN coordinate). Zero-area boxes: IoU 0 unless both are equal."""
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    ix = np.clip(
        np.minimum(pred[..., 2], truth[..., 2]) - np.maximum(pred[..., 0], truth[..., 0]), 0, None
    )
    iy = np.clip(
        np.minimum(pred[..., 3], truth[..., 3]) - np.maximum(pred[..., 1], truth[..., 1]), 0, None
    )
    inter = ix * iy

    def area(b: np.ndarray) -> np.ndarray:
        return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)

    union = area(pred) + area(truth) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(
            union > 0,
            inter / np.where(union > 0, union, 1),
            np.where(np.all(pred == truth, axis=-1), 1.0, 0.0),
        )
    missing = np.isnan(pred).any(axis=-1) | np.isnan(truth).any(axis=-1)
    return np.where(missing, np.nan, iou)


def ci95(replicates: np.ndarray) -> list[float] | None:
    """Percentile 95% interval ``[2.5%, 97.5%]`` of the finite replicates; None when fewer
    than two are finite."""
    finite = np.asarray(replicates, float)
    finite = finite[np.isfinite(finite)]
    if len(finite) < 2:
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return [float(low), float(high)]
