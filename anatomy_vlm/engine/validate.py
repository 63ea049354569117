"""Validation during training: region AUROC on the validate split's report-derived labels.

This is a development proxy (the evaluation protocol scores against the phantom's truth file,
which training never reads): a (region, finding) cell counts when its completed labels
(``engine.labels``) hold at least ``min_positives`` positives and one negative; per-finding AUROC
is the mean over its cells, the macro is over findings; pooled AUROC ranks every counted cell
together.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["auroc", "region_auroc", "predict_split"]


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUROC with ties counted half; NaN without both classes."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def region_auroc(
    probs: np.ndarray, labels: np.ndarray, weights: np.ndarray, *, min_positives: int = 5
) -> dict:
    """``probs`` / ``labels`` / ``weights`` ``[N, R, F]`` → ``{"macro", "pooled", "per_finding"}``.
    """
    known = weights > 0
    per_finding, pooled_scores, pooled_labels = {}, [], []
    for f in range(probs.shape[2]):
        cells = []
        for r in range(probs.shape[1]):
            mask = known[:, r, f]
            y = labels[mask, r, f] == 1
            if y.sum() >= min_positives and (~y).any():
                cells.append(auroc(probs[mask, r, f], y))
                pooled_scores.append(probs[mask, r, f])
                pooled_labels.append(y)
        if cells:
            per_finding[f] = float(np.mean(cells))
    macro = float(np.mean(list(per_finding.values()))) if per_finding else float("nan")
    pooled = (
        auroc(np.concatenate(pooled_scores), np.concatenate(pooled_labels))
        if pooled_scores
        else float("nan")
    )
    return {"macro": macro, "pooled": pooled, "per_finding": per_finding}


@torch.no_grad()
def predict_split(
    predict, images_uint8: torch.Tensor, *, batch_size: int = 64, device: str = "cpu"
) -> dict:
    """Run ``predict(images [B, 1, S, S] float) -> {name: tensor}`` over uint8 images."""
    parts: dict[str, list] = {}
    for start in range(0, len(images_uint8), batch_size):
        chunk = images_uint8[start : start + batch_size].to(device).float() / 255.0
        for key, value in predict(chunk).items():
            parts.setdefault(key, []).append(value.detach().float().cpu())
    return {k: torch.cat(v).numpy() for k, v in parts.items()}
