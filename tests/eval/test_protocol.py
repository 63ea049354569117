"""The evaluation protocol on hand-made truth: known AUROCs, the cell threshold, subtle
positives masked, the same bootstrap draws for every model, paired differences, nulls."""

import numpy as np
import pytest

from anatomy_vlm.eval import EvalTruth, evaluate_scores
from anatomy_vlm.eval.metrics import ece
from anatomy_vlm.eval.truth import phantom_targets

REGIONS = ("left_lung", "right_lung")
FINDINGS = ("nodule", "pleural_effusion")


def _truth(region_truth, *, patients=None, domains=None, boxes=None) -> EvalTruth:
    region_truth = np.asarray(region_truth, dtype=np.float32)
    n = len(region_truth)
    image_truth = np.nanmax(np.where(np.isnan(region_truth), 0, region_truth), axis=1)
    return EvalTruth(
        image_ids=np.array([f"img{i}" for i in range(n)]),
        patients=np.array(patients if patients is not None else [f"p{i}" for i in range(n)]),
        domains=np.array(domains if domains is not None else ["id"] * n),
        region_ids=REGIONS,
        finding_ids=FINDINGS,
        region_truth=region_truth,
        image_truth=image_truth.astype(np.float32),
        boxes=boxes if boxes is not None else np.full((n, len(REGIONS), 4), np.nan, np.float32),
    )


def _scores(region_probs, *, boxes=None):
    region_probs = np.asarray(region_probs, dtype=np.float32)
    n = len(region_probs)
    return {
        "region_probs": region_probs,
        "image_probs": region_probs.max(axis=1),
        "boxes": boxes if boxes is not None else np.full((n, len(REGIONS), 4), np.nan, np.float32),
    }


def _known_case(n_pos_nodule_left=20, n_pos_effusion=19):
    """80 images; nodule@left_lung: 20 positives, 15 ranked above every negative, 5 below
    (AUROC 0.75); nodule@right_lung: 20 positives ranked perfectly (1.0); effusion: too few."""
    n = 80
    truth = np.zeros((n, 2, 2), np.float32)
    probs = np.full((n, 2, 2), 0.5, np.float32)
    truth[:n_pos_nodule_left, 0, 0] = 1
    probs[:15, 0, 0], probs[15:n_pos_nodule_left, 0, 0] = 0.9, 0.1
    truth[40:60, 1, 0] = 1
    probs[40:60, 1, 0] = 0.8
    truth[60 : 60 + n_pos_effusion, 0, 1] = 1
    return truth, probs


def test_known_auroc_and_macro():
    truth, probs = _known_case()
    out = evaluate_scores(_truth(truth), {"m": _scores(probs)}, n_boot=50)
    r = out["results"]["m"]["id"]
    nodule = r["per_finding"]["nodule"]
    assert nodule["n_cells"] == 2 and nodule["cells"] == ["left_lung", "right_lung"]
    assert nodule["n_pos"] == 40
    assert nodule["region_auroc"] == pytest.approx((0.75 + 1.0) / 2)
    assert r["per_finding"]["pleural_effusion"]["region_auroc"] is None  # 19 positives
    assert r["region_auroc_macro"]["value"] == pytest.approx(0.875)
    assert r["region_auroc_macro"]["n_findings"] == 1
    low, high = r["region_auroc_macro"]["ci95"]
    assert low <= 0.875 <= high
    assert out["domains"]["id"]["cells"] == {
        "nodule": ["left_lung", "right_lung"],
        "pleural_effusion": [],
    }
    assert out["domains"]["id"]["max_cell_positives"]["pleural_effusion"] == 19


@pytest.mark.parametrize(("n_pos", "used"), [(19, False), (20, True)])
def test_cell_threshold(n_pos, used):
    truth, probs = _known_case(n_pos_effusion=n_pos)
    out = evaluate_scores(_truth(truth), {"m": _scores(probs)}, n_boot=0)
    effusion = out["results"]["m"]["id"]["per_finding"]["pleural_effusion"]
    assert (effusion["n_cells"] == 1) is used
    assert (effusion["region_auroc"] is not None) is used
    assert out["results"]["m"]["id"]["region_auroc_macro"]["n_findings"] == (2 if used else 1)


def test_masked_cells_are_not_negatives():
    truth, probs = _known_case()
    truth[60:80, 1, 0] = np.nan  # e.g. subtle positives: left out
    probs[60:80, 1, 0] = 0.99  # ranked above every positive: would cost AUROC as negatives
    out = evaluate_scores(_truth(truth), {"m": _scores(probs)}, n_boot=0)
    assert out["results"]["m"]["id"]["per_finding"]["nodule"]["region_auroc"] == pytest.approx(
        0.875
    )
    truth[60:80, 1, 0] = 0
    out = evaluate_scores(_truth(truth), {"m": _scores(probs)}, n_boot=0)
    assert out["results"]["m"]["id"]["per_finding"]["nodule"]["region_auroc"] < 0.8


def test_phantom_targets_mask_subtle_and_omitted():
    record = {
        "findings": [
            {"finding": "nodule", "severity": 0.2, "regions": ["left_lung"]},  # subtle only
            {"finding": "nodule", "severity": 0.5, "regions": ["right_lung"]},  # moderate
            {
                "finding": "pleural_effusion",
                "severity": 0.1,
                "regions": ["right_lung"],
            },  # subtle only
            {"finding": "mass", "severity": 0.9, "regions": ["left_lung"]},  # not in the set
        ],
        "regions_omitted": [],
    }
    region, image = phantom_targets(record, REGIONS, FINDINGS)
    assert np.isnan(region[0, 0]) and region[1, 0] == 1
    assert np.isnan(region[1, 1]) and region[0, 1] == 0
    assert image[0] == 1 and np.isnan(image[1])
    # subtle and moderate at the same region: positive
    record["findings"][0]["regions"] = ["right_lung"]
    region, _ = phantom_targets(record, REGIONS, FINDINGS)
    assert region[1, 0] == 1 and region[0, 0] == 0
    record["regions_omitted"] = ["left_lung"]
    region, _ = phantom_targets(record, REGIONS, FINDINGS)
    assert np.isnan(region[0]).all()
    # the phantom's bins: 1/3 is moderate
    region, _ = phantom_targets(
        {"findings": [{"finding": "nodule", "severity": 1 / 3, "regions": ["left_lung"]}]},
        REGIONS,
        FINDINGS,
    )
    assert region[0, 0] == 1


def test_same_draws_for_every_model_and_paired_differences():
    rng = np.random.default_rng(0)
    truth, _ = _known_case()
    patients = [f"p{i // 2}" for i in range(80)]  # two films per patient
    probs = rng.random(truth.shape).astype(np.float32) * 0.5 + 0.4 * np.nan_to_num(truth)
    shifted = probs * 0.5 + 0.1  # a monotone transform: the same ranking, every draw
    other = rng.random(truth.shape).astype(np.float32)
    t = _truth(truth, patients=patients)
    both = evaluate_scores(
        t,
        {"anatomy_vlm": _scores(probs), "holistic": _scores(shifted), "prior": _scores(other)},
        n_boot=200,
        seed=3,
    )
    alone = evaluate_scores(t, {"anatomy_vlm": _scores(probs)}, n_boot=200, seed=3)
    a, h = both["results"]["anatomy_vlm"]["id"], both["results"]["holistic"]["id"]
    assert a == alone["results"]["anatomy_vlm"]["id"]  # draws do not depend on the other models
    assert a["region_auroc_macro"] == h["region_auroc_macro"]
    width = a["region_auroc_macro"]["ci95"][1] - a["region_auroc_macro"]["ci95"][0]
    assert width > 0.01
    diff = both["comparisons"]["id"]["anatomy_vlm_minus_holistic"]
    assert diff["value"] == 0 and diff["ci95"] == [0, 0]  # paired: zero in every draw
    vs_prior = both["comparisons"]["id"]["anatomy_vlm_minus_prior"]
    expected = (
        a["region_auroc_macro"]["value"]
        - both["results"]["prior"]["id"]["region_auroc_macro"]["value"]
    )
    assert vs_prior["value"] == pytest.approx(expected, abs=1e-5)
    assert vs_prior["ci95"][0] < vs_prior["value"] < vs_prior["ci95"][1]
    assert set(alone["comparisons"]["id"]) == set()
    other_seed = evaluate_scores(t, {"anatomy_vlm": _scores(probs)}, n_boot=200, seed=4)
    assert (
        other_seed["results"]["anatomy_vlm"]["id"]["region_auroc_macro"]["ci95"]
        != a["region_auroc_macro"]["ci95"]
    )


def test_domains_scored_apart():
    truth, probs = _known_case()
    truth2, probs2 = truth.copy(), probs.copy()
    probs2[:, 0, 0] = 1 - probs2[:, 0, 0]  # nodule@left_lung reversed in domain b: AUROC 0.25
    t = _truth(np.concatenate([truth, truth2]), domains=["a"] * 80 + ["b"] * 80)
    out = evaluate_scores(t, {"m": _scores(np.concatenate([probs, probs2]))}, n_boot=0)
    assert out["results"]["m"]["a"]["region_auroc_macro"]["value"] == pytest.approx(0.875)
    assert out["results"]["m"]["b"]["region_auroc_macro"]["value"] == pytest.approx(
        (0.25 + 1.0) / 2
    )
    assert out["results"]["m"]["a"]["n_images"] == 80


def test_pooled_image_ece_and_boxes():
    truth, probs = _known_case()
    n = len(truth)
    true_boxes = np.tile(np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32), (n, 1, 1))
    pred_boxes = true_boxes.copy()
    pred_boxes[:, 1] = [25, 0, 35, 10]  # IoU 1/3 on right_lung
    out = evaluate_scores(
        _truth(truth, boxes=true_boxes),
        {"boxed": _scores(probs, boxes=pred_boxes), "blind": _scores(probs)},
        n_boot=20,
    )
    boxed, blind = out["results"]["boxed"]["id"], out["results"]["blind"]["id"]
    assert boxed["per_region_iou"] == pytest.approx({"left_lung": 1.0, "right_lung": 1 / 3})
    assert boxed["box_iou_mean"]["value"] == pytest.approx(2 / 3)
    assert (
        blind["box_iou_mean"] == {"value": None, "ci95": None} and blind["per_region_iou"] is None
    )
    used = np.zeros((2, 2), bool)
    used[:, 0] = True
    assert boxed["ece_region"] == pytest.approx(ece(probs[:, used], truth[:, used]), abs=1e-6)
    pooled = boxed["region_auroc_pooled"]["value"]
    from sklearn.metrics import roc_auc_score

    assert pooled == pytest.approx(
        roc_auc_score(truth[:, used].ravel(), probs[:, used].ravel()), abs=1e-6
    )
    # image truth: 20 + 20 nodule images, effusion 19 -> only nodule is scored at image level
    assert boxed["image_auroc_macro"]["n_findings"] == 1
    assert boxed["per_finding"]["pleural_effusion"]["image_auroc"] is None


def test_nothing_scorable_is_null_not_missing():
    truth = np.zeros((10, 2, 2), np.float32)
    truth[0, 0, 0] = 1
    out = evaluate_scores(_truth(truth), {"m": _scores(np.full((10, 2, 2), 0.3))}, n_boot=10)
    r = out["results"]["m"]["id"]
    assert r["region_auroc_macro"] == {"value": None, "ci95": None, "n_findings": 0}
    assert r["region_auroc_pooled"] == {"value": None, "ci95": None}
    assert r["image_auroc_macro"] == {"value": None, "ci95": None, "n_findings": 0}
    assert r["ece_region"] is None and r["ece_image"] is not None
    assert out["comparisons"] == {"id": {}}
