"""Loss terms: NaN boxes are masked, duplicate reports are positives, unlabelled cells are out."""

import torch

from anatomy_vlm.engine.data import SplitTensors, make_batch
from anatomy_vlm.model.losses import AlignmentCriterion, box_losses, concept_loss, sigmoid_contrast


def test_box_loss_ignores_regions_without_a_box():
    target = torch.tensor([[[0.1, 0.1, 0.3, 0.3], [float("nan")] * 4]])
    good = torch.tensor([[[0.2, 0.2, 0.2, 0.2], [0.9, 0.9, 0.1, 0.1]]])  # (cx, cy, w, h)
    wild = good.clone()
    wild[0, 1] = torch.tensor([0.1, 0.5, 0.05, 0.9])  # anything at the missing region
    a, b = box_losses(good, target), box_losses(wild, target)
    assert torch.isfinite(a["box_l1"]) and float(a["box_l1"]) < 1e-6 and float(a["box_giou"]) < 1e-4
    torch.testing.assert_close(a["box_l1"], b["box_l1"])
    none = box_losses(good, torch.full_like(target, float("nan")))
    assert float(none["box_l1"]) == 0.0


def test_duplicate_reports_are_positives_not_negatives():
    g = torch.Generator().manual_seed(0)
    reports = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=-1)
    reports = torch.cat([reports[:1], reports])  # reports 0 and 1 are the same text
    images = reports.clone()  # perfectly aligned images
    scale, bias = torch.tensor(10.0), torch.tensor(-5.0)
    diagonal = torch.eye(4, dtype=torch.bool)
    duplicates = diagonal.clone()
    duplicates[0, 1] = duplicates[1, 0] = True
    naive = sigmoid_contrast(images, reports, diagonal, scale, bias)
    masked = sigmoid_contrast(images, reports, duplicates, scale, bias)
    assert masked < naive  # treating the twin as a negative would penalise a perfect match


def _split(report_rows):
    n, r, f = len(report_rows), 3, 2
    return SplitTensors(
        image_ids=[str(i) for i in range(n)],
        images=torch.zeros(n, 1, 8, 8, dtype=torch.uint8),
        boxes=torch.zeros(n, r, 4),
        region_labels=torch.zeros(n, r, f),
        region_uncertain=torch.zeros(n, r, f, dtype=torch.bool),
        image_labels=torch.zeros(n, f),
        image_uncertain=torch.zeros(n, f, dtype=torch.bool),
        report_rows=torch.tensor(report_rows),
        report_text=torch.randn(3, 4),
        pairs=torch.tensor([[0, 1, 0], [1, 1, 0], [2, 0, 1], [3, 2, 2]]),
        sentence_text=torch.randn(3, 4),
        labels=torch.zeros(n, r, f),
        weights=torch.ones(n, r, f),
    )


def test_batches_mark_identical_reports_and_shared_sentences_as_positives():
    batch = make_batch(_split([0, 0, 1, -1]), torch.tensor([0, 1, 2, 3]))
    positive = batch["targets"]["report_positive"]
    assert positive[0, 1] and positive[1, 0] and not positive[0, 2]
    assert batch["targets"]["report_valid"].tolist() == [True, True, True, False]
    sentences = batch["targets"]["sentence_positive"]  # [B, R, S]
    assert sentences.shape == (4, 3, 3)
    assert (
        sentences[0, 1, 0] and sentences[1, 1, 0] and sentences[2, 0, 1] and not sentences[0, 0, 0]
    )


def test_concept_loss_leaves_out_unlabelled_cells():
    logits = torch.tensor([[[5.0, -5.0]]])
    labels = torch.tensor([[[1.0, 1.0]]])
    only_first = concept_loss(logits, labels, torch.tensor([[[1.0, 0.0]]]))
    assert float(only_first) < 0.01  # the wrong second cell is not counted
    both = concept_loss(logits, labels, torch.ones(1, 1, 2))
    assert float(both) > 1.0


def test_criterion_sums_named_terms_with_their_weights():
    criterion = AlignmentCriterion(weight_dict={"concept": 2.0, "box_l1": 0.0})
    outputs = {
        "region_embedding": torch.zeros(1, 1, 4),
        "concept_logits": torch.zeros(1, 1, 2),
        "boxes": torch.full((1, 1, 4), 0.5),
    }
    targets = {
        "region_labels": torch.ones(1, 1, 2),
        "label_weights": torch.ones(1, 1, 2),
        "boxes": torch.zeros(1, 1, 4),
    }
    terms = criterion(outputs, targets)
    assert set(terms) == {"concept", "loss"}
    torch.testing.assert_close(terms["loss"], 2.0 * terms["concept"])
