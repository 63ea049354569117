"""Closed-world label completion: which unmentioned cells become negatives, which stay out."""

import torch

from anatomy_vlm.engine.labels import complete_labels, expressible_findings

NAN = float("nan")
# regions: 0 = left lung, 1 = left upper zone (part of 0), 2 = right lung; findings: 0, 1, 2
DESCENDANTS = torch.tensor([[False, True, False], [False, False, False], [False, False, False]])


def _complete(
    region_labels,
    image_labels,
    *,
    uncertain=None,
    expressible=(True, True, False),
    mode="closed_world",
):
    region_labels = torch.tensor(region_labels)[None]
    region_uncertain = (
        torch.zeros_like(region_labels, dtype=torch.bool)
        if uncertain is None
        else torch.tensor(uncertain)[None]
    )
    image_labels = torch.tensor(image_labels)[None]
    return complete_labels(
        region_labels,
        region_uncertain,
        image_labels,
        torch.zeros_like(image_labels, dtype=torch.bool),
        descendants=DESCENDANTS,
        expressible=torch.tensor(expressible),
        mode=mode,
        negative_weight=0.5,
    )


def test_none_mode_leaves_nan_and_uncertain_out():
    labels, weights = _complete(
        [[1, NAN, NAN], [NAN, NAN, NAN], [0, NAN, NAN]],
        [1, NAN, NAN],
        uncertain=[[False] * 3, [False] * 3, [True, False, False]],
        mode="none",
    )
    assert weights[0].tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_closed_world_fills_unmentioned_cells():
    labels, weights = _complete([[1, NAN, NAN], [NAN, NAN, NAN], [NAN, NAN, NAN]], [1, NAN, NAN])
    # finding 0 positive at the left lung: the left upper zone (a part) stays unknown, the right
    # lung becomes negative; finding 1 is not asserted: negative everywhere; finding 2 cannot be
    # placed by the reports (never a region positive in train): left out
    assert weights[0, :, 0].tolist() == [1.0, 0.0, 0.5]
    assert labels[0, 2, 0] == 0
    assert weights[0, :, 1].tolist() == [0.5, 0.5, 0.5] and (labels[0, :, 1] == 0).all()
    assert weights[0, :, 2].tolist() == [0.0, 0.0, 0.0]


def test_hedged_or_unplaced_findings_stay_out():
    labels, weights = _complete(
        [[NAN, NAN, NAN], [NAN, NAN, NAN], [NAN, NAN, NAN]],
        [1, NAN, NAN],
        uncertain=[[False, True, False], [False] * 3, [False] * 3],
    )
    assert weights[0, :, 0].tolist() == [0.0, 0.0, 0.0]  # asserted, but at no region of the set
    assert weights[0, :, 1].tolist() == [0.0, 0.0, 0.0]  # hedged somewhere


def test_expressible_findings_are_those_seen_as_region_positives():
    labels = torch.tensor([[[1.0, NAN], [0.0, 0.0]]])
    assert expressible_findings(labels).tolist() == [True, False]


def test_lateral_findings_fill_only_the_other_side():
    from anatomy_vlm.engine.labels import region_sides

    ids = ["left_apical_zone", "left_upper_lung_zone", "right_apical_zone", "trachea"]
    sides = region_sides(ids)
    assert sides.tolist() == [1, 1, 2, 0]
    labels = torch.tensor([[[1.0], [NAN], [NAN], [NAN]]])  # a left apical pneumothorax
    none = torch.zeros_like(labels, dtype=torch.bool)
    out, weights = complete_labels(
        labels,
        none,
        torch.tensor([[1.0]]),
        torch.zeros(1, 1, dtype=torch.bool),
        descendants=torch.zeros(4, 4, dtype=torch.bool),
        expressible=torch.tensor([True]),
        mode="closed_world",
        sides=sides,
    )
    # the left upper zone may hold part of it (stays out); the right side is negative; the
    # midline stays out too
    assert weights[0, :, 0].tolist() == [1.0, 0.0, 1.0, 0.0] and out[0, 2, 0] == 0
    absent, w_absent = complete_labels(
        torch.full_like(labels, NAN),
        none,
        torch.tensor([[0.0]]),
        torch.zeros(1, 1, dtype=torch.bool),
        descendants=torch.zeros(4, 4, dtype=torch.bool),
        expressible=torch.tensor([True]),
        mode="closed_world",
        sides=sides,
    )
    assert w_absent[0, :, 0].tolist() == [
        1.0,
        1.0,
        1.0,
        1.0,
    ]  # not in the report: negative everywhere
