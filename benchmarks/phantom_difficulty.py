"""How shortcut-able is the phantom? Per finding, region-level AUROC of two cheap models.

1. **Image-blind prior**: the score of (image, region) is the train-split prevalence of the
   finding at that region (what a model that memorised locations gets for free).
2. **Thumbnail model**: a logistic regression per (finding, region) on 16×16 thumbnails of the
   stored JPEGs (train split → held-out validate + test splits); regions with fewer than 5 train positives fall back
   to the prior.

AUROC is pooled over (held-out image, region) pairs at the regions where the finding occurs in the
train split; by severity bin, positives of that bin against all negatives. Image-level AUROC
(the finding anywhere on the film; thumbnail model on the whole film) is given beside it.
Bars (issue 3): for local findings (nodule, small effusion, pneumothorax, rib/clavicle fracture)
the thumbnail model stays ≤ 0.75; detectability rises with severity.

Run: ``.venv/bin/python -m benchmarks.phantom_difficulty [N] [SIZE]`` (default 1500 images, 256 px).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from anatomy_vlm.data.phantom import findings
from benchmarks._machine import write_result

BINS = ("subtle", "moderate", "obvious")
LOCAL = ("nodule", "pleural_effusion", "pneumothorax", "rib_fracture", "clavicle_fracture")
BAR = 0.75
CEILING = 0.98
N_FEATURES = 2 * (4 + 3 * 4)  # (intensity stats + 3 band-pass scales × 4) for the region and vs its mirror
DEVICES = findings.DEVICES  # severity is not meaningful


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if labels.min() == labels.max():
        return None
    return round(float(roc_auc_score(labels, scores)), 4)


def _stats(image: np.ndarray, bands: list[np.ndarray], box) -> np.ndarray:
    """Translation-invariant statistics of one region box: intensity mean/std/p10/p90 and, per
    band-pass scale, the extreme responses (p1, p99, min, max)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    crop = image[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    feats = [crop.mean(), crop.std(), *np.percentile(crop, (10, 90))]
    for band in bands:
        sub = band[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
        feats += [*np.percentile(sub, (1, 99)), sub.min(), sub.max()]
    return np.asarray(feats, np.float32)


def _region_features(image: np.ndarray, boxes: dict, regions: tuple[str, ...]) -> np.ndarray:
    """Per region ``[R, 2 * S]``: its statistics and their difference from the contralateral region."""
    from scipy.ndimage import gaussian_filter

    from anatomy_vlm.data.types import name_counterpart

    scale = image.shape[0] / 256.0
    smooth = [gaussian_filter(image, s * scale) for s in (1.0, 3.0, 8.0)]
    bands = [image - smooth[0], smooth[0] - smooth[1], smooth[1] - smooth[2]]
    # a region the film does not show (no box) has no features: NaN, imputed by the model
    blank = np.full(N_FEATURES // 2, np.nan, np.float32)
    stats = {r: _stats(image, bands, boxes[r]) if r in boxes else blank for r in regions}
    return np.stack([np.concatenate([stats[r], stats[r] - stats.get(name_counterpart(r) or r, stats[r])])
                     for r in regions])


def load(root: Path, regions: tuple[str, ...], findings: tuple[str, ...]):
    """Thumbnails ``[N, 256]``, region patches ``[N, R, 288]``, labels ``[N, R, F]``, severities
    ``[N, R, F]`` (NaN = absent), image severities ``[N, F]``, splits ``[N]``."""
    rows = [json.loads(line) for line in (root / "phantom_truth.jsonl").read_text().splitlines()]
    thumbs = np.zeros((len(rows), 256), np.float32)
    patches = np.zeros((len(rows), len(regions), N_FEATURES), np.float32)
    labels = np.zeros((len(rows), len(regions), len(findings)), np.int8)
    severity = np.full(labels.shape, np.nan, np.float32)
    image_severity = np.full((len(rows), len(findings)), np.nan, np.float32)
    r_index = {r: i for i, r in enumerate(regions)}
    for i, row in enumerate(rows):
        with Image.open(root / row["image"]) as image:
            image = image.convert("L")
            thumbs[i] = np.asarray(image.resize((16, 16), Image.BOX), np.float32).ravel() / 255.0
            patches[i] = _region_features(np.asarray(image, np.float32) / 255.0, row["region_boxes"], regions)
        for f in row["findings"]:
            k = findings.index(f["finding"])
            image_severity[i, k] = np.fmax(image_severity[i, k], f["severity"])
            for region in f["regions"]:
                if region in r_index:
                    labels[i, r_index[region], k] = 1
                    severity[i, r_index[region], k] = np.fmax(severity[i, r_index[region], k], f["severity"])
    splits = np.array([row["split"] for row in rows])
    return thumbs, patches, labels, severity, image_severity, splits


def load_labels(root: Path, regions: tuple[str, ...], findings: tuple[str, ...]) -> np.ndarray:
    """Region labels ``[N, R, F]`` of a phantom dataset, from its truth file."""
    rows = [json.loads(line) for line in (root / "phantom_truth.jsonl").read_text().splitlines()]
    labels = np.zeros((len(rows), len(regions), len(findings)), np.int8)
    r_index = {r: i for i, r in enumerate(regions)}
    for i, row in enumerate(rows):
        for f in row["findings"]:
            for region in f["regions"]:
                if region in r_index:
                    labels[i, r_index[region], findings.index(f["finding"])] = 1
    return labels


def _shifted_prior(k: int, labels: np.ndarray, splits: np.ndarray, shifted: np.ndarray) -> float | None:
    """AUROC of the ``id`` train prevalence prior on a ``prior_shift`` dataset (same regions as in
    :func:`evaluate_finding`): a memorised location prior should lose its edge there."""
    train = splits == "train"
    prevalence = labels[train, :, k].mean(axis=0)
    eligible = np.nonzero(labels[train, :, k].sum(axis=0) > 0)[0]
    truth = shifted[:, eligible, k]
    return _auroc(np.tile(prevalence[eligible], (len(shifted), 1)).ravel(), truth.ravel())


def _bin_of(severity: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(severity), -1, np.digitize(np.nan_to_num(severity), [1 / 3, 2 / 3]))


def evaluate_finding(k: int, thumbs, patches, labels, severity, image_severity, splits) -> dict:
    """Region- and image-level AUROC of the prior and the thumbnail model for finding ``k``."""
    from sklearn.linear_model import LogisticRegression

    train, test = splits == "train", splits != "train"  # held out = validate + test (more positives per bin)
    y = labels[:, :, k]
    prevalence = y[train].mean(axis=0)
    eligible = np.nonzero(y[train].sum(axis=0) > 0)[0]
    mean, std = thumbs[train].mean(0), thumbs[train].std(0) + 1e-6
    x = (thumbs - mean) / std
    prior = np.tile(prevalence[eligible], (int(test.sum()), 1))
    thumb = prior.copy()
    for j, r in enumerate(eligible):
        if y[train, r].sum() >= 5 and y[train, r].sum() < train.sum() - 5:
            model = LogisticRegression(C=0.05, max_iter=300).fit(x[train], y[train, r])
            thumb[:, j] = model.predict_proba(x[test])[:, 1]
    truth = y[test][:, eligible]
    bins = _bin_of(severity[test][:, eligible, k])
    out = {"eligible_regions": len(eligible), "test_positives": int(truth.sum()),
           "prior_region_auroc": _auroc(prior.ravel(), truth.ravel()),
           "thumbnail_region_auroc": _auroc(thumb.ravel(), truth.ravel())}
    for b, name in enumerate(BINS):
        keep = (truth.ravel() == 0) | (bins.ravel() == b)
        out[f"thumbnail_region_auroc_{name}"] = _auroc(thumb.ravel()[keep], truth.ravel()[keep])
        out[f"n_region_positives_{name}"] = int((bins.ravel() == b).sum())
    out.update(_patch_model(patches, y, truth, bins, eligible, train, test, prior))
    img_y = (~np.isnan(image_severity[:, k])).astype(int)
    if img_y[train].min() != img_y[train].max():
        model = LogisticRegression(C=0.05, max_iter=300).fit(x[train], img_y[train])
        score = model.predict_proba(x[test])[:, 1]
        out["thumbnail_image_auroc"] = _auroc(score, img_y[test])
        ibins = _bin_of(image_severity[test, k])
        for b, name in enumerate(BINS):
            keep = (img_y[test] == 0) | (ibins == b)
            out[f"thumbnail_image_auroc_{name}"] = _auroc(score[keep], img_y[test][keep])
    return out


def _patch_model(patches, y, truth, bins, eligible, train, test, prior) -> dict:
    """Anatomy-aware probe: a logistic regression per region on that region's own full-resolution
    statistics (intensity, band-pass extremes at three scales) and their difference from the
    contralateral region. Shows that the finding is in the pixels where it should be, and how its
    detectability grows with severity, where the global thumbnail cannot see it."""
    from sklearn.linear_model import LogisticRegression

    score = prior.copy()
    for j, r in enumerate(eligible):
        n_pos = y[train, r].sum()
        if 5 <= n_pos < train.sum() - 5:
            x = patches[:, r]
            if np.isnan(x).any():  # films that do not show the region: the train mean
                x = np.where(np.isnan(x), np.nan_to_num(np.nanmean(x[train], 0)), x)
            mean, std = x[train].mean(0), x[train].std(0) + 1e-6
            model = LogisticRegression(C=1.0, max_iter=500).fit((x[train] - mean) / std, y[train, r])
            score[:, j] = model.predict_proba((x[test] - mean) / std)[:, 1]
    out = {"patch_region_auroc": _auroc(score.ravel(), truth.ravel())}
    for b, name in enumerate(BINS):
        keep = (truth.ravel() == 0) | (bins.ravel() == b)
        out[f"patch_region_auroc_{name}"] = _auroc(score.ravel()[keep], truth.ravel()[keep])
    return out


def main(argv: list[str]) -> None:
    from anatomy_vlm.cli import main as cli
    from anatomy_vlm.data.phantom.sampler import CORE_FINDINGS
    from kg import region_set

    n = int(argv[0]) if argv else 1500
    size = int(argv[1]) if len(argv) > 1 else 256
    regions = region_set("cig36").ids
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "phantom"
        start = time.perf_counter()
        assert cli(["data", "phantom", "--out", str(root), "--n", str(n), "--size", str(size), "--seed", "2024",
                    "--workers", "2"]) == 0
        generated_s = time.perf_counter() - start
        data = load(root, regions, CORE_FINDINGS)
        shifted = Path(tmp) / "prior_shift"
        assert cli(["data", "phantom", "--out", str(shifted), "--n", str(max(n // 3, 50)), "--size", str(size),
                    "--seed", "2025", "--domain", "prior_shift", "--workers", "2"]) == 0
        shifted_labels = load_labels(shifted, regions, CORE_FINDINGS)
    per_finding = {f: evaluate_finding(k, *data) for k, f in enumerate(CORE_FINDINGS)}
    for k, f in enumerate(CORE_FINDINGS):
        per_finding[f]["prior_region_auroc_on_prior_shift"] = _shifted_prior(k, data[2], data[-1], shifted_labels)
    bars = _bars(per_finding)
    payload = {"n": n, "size": size, "seed": 2024, "domain": "id", "generation_s": round(generated_s, 1),
               "splits": {s: int((data[-1] == s).sum()) for s in ("train", "validate", "test")},
               "bar": BAR, "local_findings": list(LOCAL), "findings": per_finding, "bars": bars}
    write_result("phantom_difficulty", payload, markdown=_markdown(payload))
    print(_markdown(payload))


def _bars(per_finding: dict) -> dict:
    """Per finding: thumbnail under the bar (local findings); detectability (patch probe) rising
    from the subtle to the obvious bin (gain > 0.02) and monotone over the three bins (no step
    down by more than 0.02). Devices carry no severity."""
    out = {}
    for f, r in per_finding.items():
        # "small effusion": the bar applies to the subtle bin of pleural effusion
        auc = r.get("thumbnail_region_auroc_subtle" if f == "pleural_effusion" else "thumbnail_region_auroc")
        bins = [r.get(f"patch_region_auroc_{b}") for b in BINS]
        known = None not in bins and f not in DEVICES
        gain = round(bins[2] - bins[0], 4) if known else None
        ceiling = known and bins[0] >= CEILING  # already found when subtle: a rise cannot show
        out[f] = {"local": f in LOCAL, "thumbnail_le_bar": None if auc is None else auc <= BAR,
                  "patch_gain_obvious_minus_subtle": gain, "patch_at_ceiling": bool(ceiling),
                  "rises_with_severity": None if gain is None or ceiling else gain > 0.02,
                  "monotone": None if not known else bool(bins[1] >= bins[0] - 0.02 and bins[2] >= bins[1] - 0.02)}
    return out


def _yn(v) -> str:
    return "—" if v is None else ("yes" if v else "**no**")


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def _markdown(p: dict) -> str:
    lines = [
        "# Phantom difficulty (region-level AUROC, held-out validate + test splits)", "",
        f"{p['n']} images at {p['size']} px, domain `{p['domain']}`, seed {p['seed']}; splits {p['splits']}.",
        "- **Prior**: train prevalence of the finding per region (image-blind); also scored on a `prior_shift`",
        "  dataset (locations and co-occurrence drawn without the KG), where a memorised prior should lose its edge.",
        "- **Thumb**: logistic regression per region on the 16×16 thumbnail of the whole film (the shortcut).",
        "- **Patch**: logistic regression per region on that region's full-resolution statistics (intensity;",
        "  band-pass extremes at 3 scales) and their difference from the contralateral region (an anatomy-aware",
        "  probe: is the finding in the pixels where it should be?).", "",
        "Region AUROC pooled over (held-out image, region) at the regions where the finding occurs in train;",
        "severity columns: positives of that bin against all negatives.",
        f"Bars: thumb ≤ {BAR} for local findings (pleural effusion: its subtle bin); detectability (patch) rises",
        "with severity: obvious − subtle > 0.02 (\"rises\"); \"monotone\": no bin-to-bin drop over 0.02.", "",
        "| finding | local | prior | prior on prior_shift | thumb | thumb subtle / moderate / obvious | thumb (image-level) "
        "| patch | patch subtle / moderate / obvious | thumb ≤ bar | rises | monotone |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f, r in p["findings"].items():
        b = p["bars"][f]
        thumb_bins = " / ".join(_fmt(r.get(f"thumbnail_region_auroc_{x}")) for x in BINS)
        patch_bins = " / ".join(_fmt(r.get(f"patch_region_auroc_{x}")) for x in BINS)
        lines.append(f"| {f} | {'yes' if b['local'] else ''} | {_fmt(r['prior_region_auroc'])} | "
                     f"{_fmt(r.get('prior_region_auroc_on_prior_shift'))} | "
                     f"{_fmt(r['thumbnail_region_auroc'])} | {thumb_bins} | {_fmt(r.get('thumbnail_image_auroc'))} | "
                     f"{_fmt(r.get('patch_region_auroc'))} | {patch_bins} | "
                     f"{_yn(b['thumbnail_le_bar']) if b['local'] else ''} | "
                     f"{'ceiling' if b['patch_at_ceiling'] else _yn(b['rises_with_severity'])} | "
                     f"{_yn(b['monotone'])} |")
    over = [f for f, b in p["bars"].items() if b["local"] and b["thumbnail_le_bar"] is False]
    flat = [f for f, b in p["bars"].items() if b["rises_with_severity"] is False]
    bumpy = [f for f, b in p["bars"].items() if b["monotone"] is False]
    lines += ["", f"Local findings over the thumbnail bar: {', '.join(over) or 'none'}.",
              f"Detectability (patch) not rising from subtle to obvious: {', '.join(flat) or 'none'}.",
              f"Not monotone over the three bins: {', '.join(bumpy) or 'none'}.",
              f"\"ceiling\": the probe already scores ≥ {CEILING} on subtle cases, so a rise cannot show.",
              "Prior on prior_shift: effusion and pneumothorax keep their places there (the renderer puts fluid at",
              "the base and air at the apex whatever the target region), so their prior does not drop; the",
              "parenchymal findings (opacity, consolidation, atelectasis) lose much of the prior's edge.",
              "Devices have no severity (— in the rises column). Bins with few held-out positives are noisy;",
              "counts are in the JSON (n_region_positives_*)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
