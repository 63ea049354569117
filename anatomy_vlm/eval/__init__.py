"""Evaluation: the one protocol (:func:`evaluate_scores`) and :func:`evaluate` over run
directories (``anatomy-vlm evaluate``). Importing this package does not import torch."""

from __future__ import annotations

from anatomy_vlm.eval.evaluator import evaluate
from anatomy_vlm.eval.protocol import evaluate_scores
from anatomy_vlm.eval.truth import EvalTruth

__all__ = ["evaluate", "evaluate_scores", "EvalTruth"]
