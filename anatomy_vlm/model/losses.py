"""Named loss terms and one ``weight_dict`` (DETR style) whose keys are the term names.

Targets (a dict; B images, R regions, F findings, S unique sentences in the batch):

- ``"region_labels"`` ``[B, R, F]`` in {1, 0, NaN}; ``"label_weights"`` ``[B, R, F]`` ≥ 0
  (0 leaves a cell out: NaN or uncertain labels get 0);
- ``"boxes"`` ``[B, R, 4]`` ``(x1, y1, x2, y2)`` in [0, 1] of the image, NaN rows = region missing;
- ``"report_positive"`` ``[B, B]`` bool: image i and report j are a positive pair (the same
  report text, so templated duplicates are positives, not negatives); ``"report_valid"`` ``[B]``;
- ``"sentence_positive"`` ``[B, R, S]`` bool: sentence s is grounded to region r of image b.

Terms: ``concept`` (BCE of ``σ((s⁺ − s⁻)/τ)`` against the report-derived region label, the main
signal), ``image_report`` and ``region_sentence`` (sigmoid contrastive losses with several
positives), ``box_l1`` and ``box_giou``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "AlignmentCriterion",
    "DEFAULT_WEIGHTS",
    "sigmoid_contrast",
    "box_losses",
    "concept_loss",
]

DEFAULT_WEIGHTS = {
    "concept": 1.0,
    "image_report": 0.5,
    "region_sentence": 0.5,
    "box_l1": 2.0,
    "box_giou": 1.0,
}


def sigmoid_contrast(a: Tensor, b: Tensor, positive: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    """SigLIP loss of unit ``a`` ``[N, D]`` against unit ``b`` ``[M, D]`` with a ``[N, M]`` bool
    positive mask (any number of positives per row): mean over rows of the summed pair losses."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return a.sum() * 0.0
    logits = scale * a @ b.T + bias
    sign = positive.float() * 2 - 1
    return -nn.functional.logsigmoid(sign * logits).sum() / a.shape[0]


def concept_loss(logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """Weighted BCE-with-logits over labelled cells: ``[B, R, F]`` each; 0 when none is labelled."""
    known = weights > 0
    if not bool(known.any()):
        return logits.sum() * 0.0
    loss = nn.functional.binary_cross_entropy_with_logits(
        logits[known], labels[known].float(), weight=weights[known], reduction="sum"
    )
    return loss / weights[known].sum()


def _xyxy(boxes: Tensor) -> Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def box_losses(predicted: Tensor, target: Tensor) -> dict[str, Tensor]:
    """L1 and GIoU of predicted ``(cx, cy, w, h)`` ``[B, R, 4]`` against target ``(x1, y1, x2, y2)``
    ``[B, R, 4]`` (both in [0, 1]); regions with a NaN target row are masked out."""
    from torchvision.ops import generalized_box_iou_loss

    present = ~torch.isnan(target).any(dim=-1)
    if not bool(present.any()):
        zero = predicted.sum() * 0.0
        return {"box_l1": zero, "box_giou": zero}
    pred = _xyxy(predicted[present])
    true = target[present]
    return {
        "box_l1": (pred - true).abs().sum(-1).mean(),
        "box_giou": generalized_box_iou_loss(pred, true, reduction="mean"),
    }


class AlignmentCriterion(nn.Module):
    """Computes every applicable term and their weighted sum.

    Args:
        weight_dict: term name → weight; a term with weight 0 is not computed.
    """

    def __init__(self, *, weight_dict: dict[str, float]) -> None:
        super().__init__()
        unknown = set(weight_dict) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown loss terms: {', '.join(sorted(unknown))}")
        self.weight_dict = dict(weight_dict)

    def forward(self, outputs: dict, targets: dict) -> dict[str, Tensor]:
        """Returns ``{term: value, ..., "loss": weighted sum}`` for the terms the outputs allow."""
        terms: dict[str, Tensor] = {}
        wanted = {k for k, w in self.weight_dict.items() if w}
        if "concept" in wanted and "region_embedding" in outputs:
            terms["concept"] = concept_loss(
                outputs["concept_logits"], targets["region_labels"], targets["label_weights"]
            )
        if "image_report" in wanted and "report_embedding" in outputs:
            valid = targets["report_valid"]
            scale, bias = outputs["contrast"]["image"]
            terms["image_report"] = sigmoid_contrast(
                outputs["image_embedding"][valid],
                outputs["report_embedding"][valid],
                targets["report_positive"][valid][:, valid],
                scale,
                bias,
            )
        if (
            "region_sentence" in wanted
            and "sentence_embedding" in outputs
            and "region_embedding" in outputs
        ):
            positive = targets["sentence_positive"]  # [B, R, S]
            anchors = positive.any(dim=-1)
            scale, bias = outputs["contrast"]["region"]
            terms["region_sentence"] = sigmoid_contrast(
                outputs["region_embedding"][anchors],
                outputs["sentence_embedding"],
                positive[anchors],
                scale,
                bias,
            )
        if wanted & {"box_l1", "box_giou"} and "boxes" in outputs:
            terms.update(
                {
                    k: v
                    for k, v in box_losses(outputs["boxes"], targets["boxes"]).items()
                    if k in wanted
                }
            )
        terms["loss"] = sum(self.weight_dict[k] * v for k, v in terms.items())
        return terms
