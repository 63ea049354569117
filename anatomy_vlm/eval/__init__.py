"""Evaluation: the one protocol (:func:`evaluate_scores`) and ``evaluate`` over run directories.

``evaluate`` is imported lazily so ``import anatomy_vlm.eval.protocol`` stays numpy-only.
"""

from __future__ import annotations

from anatomy_vlm.eval.protocol import evaluate_scores
from anatomy_vlm.eval.truth import EvalTruth

__all__ = ["evaluate", "evaluate_scores", "EvalTruth"]


def evaluate(*args, **kwargs) -> dict:
    """See :func:`anatomy_vlm.eval.evaluate.evaluate`."""
    from anatomy_vlm.eval.evaluate import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
