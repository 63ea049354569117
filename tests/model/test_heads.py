"""Scores come only from prompt similarity: swapping two findings' prompts swaps their scores."""

import torch

from anatomy_vlm.model.heads import image_probabilities
from tests.model.tiny import tiny_context, tiny_model


def _swap_findings(context, a: int, b: int):
    from dataclasses import replace

    prompts = context.prompts.clone()
    prompts[:, [a, b]] = prompts[:, [b, a]]
    return replace(context, prompts=prompts)


def test_swapping_two_findings_prompts_swaps_their_scores():
    images = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    context = tiny_context()
    model = tiny_model(context=context)
    swapped = tiny_model(context=_swap_findings(context, 2, 5))  # same seed: same weights
    before = model.predict_tensors(images)["region_probs"]
    after = swapped.predict_tensors(images)["region_probs"]
    assert not torch.allclose(before[..., 2], before[..., 5])
    torch.testing.assert_close(after[..., 2], before[..., 5])
    torch.testing.assert_close(after[..., 5], before[..., 2])
    others = [j for j in range(before.shape[-1]) if j not in (2, 5)]
    torch.testing.assert_close(after[..., others], before[..., others])


def test_no_parameter_is_indexed_by_finding():
    model = tiny_model()
    n_findings = len(model.finding_set.ids)
    for name, p in model.named_parameters():
        assert n_findings not in p.shape, f"{name} {tuple(p.shape)} may index findings"


def test_image_probability_is_the_prior_weighted_max_over_regions():
    region_probs = torch.tensor([[[0.9, 0.1], [0.5, 0.8]]])  # [1, R=2, F=2]
    prior = torch.tensor([[0.2, 1.0], [1.0, 0.5]])
    out = image_probabilities(region_probs, prior)
    torch.testing.assert_close(
        out, torch.tensor([[max(0.9 * 0.2, 0.5 * 1.0), max(0.1, 0.8 * 0.5)]])
    )


def test_holistic_boxes_are_nan_and_anatomy_boxes_are_pixels():
    images = torch.rand(2, 1, 64, 64)
    holistic = tiny_model("holistic").predict_tensors(images)
    assert torch.isnan(holistic["boxes"]).all()
    boxes = tiny_model().predict_tensors(images)["boxes"]
    assert boxes.shape == (2, 29, 4) and bool((boxes >= 0).all() and (boxes <= 64).all())
    assert bool((boxes[..., 2] >= boxes[..., 0]).all())
