"""Metric kernels: AUROC (against sklearn and by hand, ties included), the patient bootstrap,
ECE and box IoU."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from anatomy_vlm.eval.metrics import auroc, auroc_boot, bootstrap_weights, box_iou, ci95, ece


def test_auroc_hand_computed():
    # pairs (pos, neg): (0.9 > 0.1), (0.9 > 0.5), (0.5 = 0.5 -> 1/2), (0.5 > 0.1) -> 3.5 / 4
    assert auroc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.875)
    assert auroc([0.2, 0.8], [1, 0]) == 0.0
    assert auroc([0.3, 0.3, 0.3], [1, 0, 0]) == 0.5


def test_auroc_leaves_nan_labels_out_and_is_nan_without_a_class():
    assert auroc([0.9, 0.1, 0.99], [1, 0, np.nan]) == 1.0
    assert np.isnan(auroc([0.2, 0.4], [1, 1]))
    assert np.isnan(auroc([0.2, 0.4], [np.nan, 0]))


@pytest.mark.parametrize("levels", [3, 11, 0])
def test_auroc_matches_sklearn_with_ties(levels):
    rng = np.random.default_rng(levels)
    for _ in range(50):
        n = int(rng.integers(4, 80))
        labels = (rng.random(n) < 0.3).astype(float)
        labels[:2] = [0, 1]
        scores = rng.random(n) + 0.4 * labels
        if levels:  # heavy ties
            scores = np.round(scores * levels) / levels
        assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_bootstrap_weights_rows():
    weights = bootstrap_weights(7, 30, np.random.default_rng(0))
    assert weights.shape == (31, 7)
    assert (weights[0] == 1).all()
    assert (weights.sum(axis=1) == 7).all()
    again = bootstrap_weights(7, 30, np.random.default_rng(0))
    assert np.array_equal(weights, again)


def test_weighted_auroc_equals_auroc_of_the_resampled_patients():
    rng = np.random.default_rng(3)
    n, patients_n = 200, 60
    patients = rng.integers(0, patients_n, n)
    labels = (rng.random(n) < 0.25).astype(float)
    scores = np.round(rng.random(n) + 0.3 * labels, 1)  # ties
    weights = bootstrap_weights(patients_n, 20, rng)
    values = auroc_boot(scores, labels, patients, weights)
    assert values[0] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    for b in range(1, 21):
        drawn = np.concatenate(
            [
                np.flatnonzero(patients == p)
                for p in range(patients_n)
                for _ in range(int(weights[b, p]))
            ]
        )
        y, s = labels[drawn], scores[drawn]
        expected = roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan
        assert values[b] == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_ece_known_cases():
    assert ece([0.0, 1.0], [0, 1]) == 0.0
    assert ece([1.0, 1.0], [0, 0]) == 1.0
    # one bin [0.2, 0.2667): mean prob 0.25, accuracy 0.5 -> 0.25; other bin exact
    assert ece([0.25, 0.25, 0.9], [0, 1, 1]) == pytest.approx((2 * 0.25 + 1 * 0.1) / 3)
    assert ece([0.5, 0.7], [np.nan, 1]) == pytest.approx(0.3)
    assert ece([0.5], [np.nan]) is None


def test_ece_bins_are_equal_width():
    # 0.05 and 0.0 share bin 0 of 15 ([0, 1/15)); their mean 0.025 vs accuracy 0
    assert ece([0.0, 0.05], [0, 0], n_bins=15) == pytest.approx(0.025)
    # with 30 bins they split, but still each gap is its own probability
    assert ece([0.0, 0.05], [0, 0], n_bins=30) == pytest.approx(0.025)
    assert ece([0.05, 0.06], [1, 0], n_bins=15) == pytest.approx(abs(0.055 - 0.5))


def test_box_iou():
    truth = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 4, 4]], float)
    pred = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [np.nan] * 4])
    iou = box_iou(pred, truth)
    assert iou[:3] == pytest.approx([1.0, 50 / 150, 0.0])
    assert np.isnan(iou[3])


def test_ci95_needs_two_finite_draws():
    assert ci95(np.array([np.nan, 0.5])) is None
    low, high = ci95(np.linspace(0, 1, 1001))
    assert low == pytest.approx(0.025) and high == pytest.approx(0.975)
