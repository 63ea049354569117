"""Evaluation protocol: what a 1,500-film phantom test folder covers, and what it costs.

In one run:

- writes the quickstart's two held-out test folders (1,500 films each, 256 px: domain ``id``
  seed 1 and ``prior_shift`` seed 2) unless given;
- coverage: per domain and split (``test`` and ``all``), how many findings and (region,
  finding) cells reach the protocol's 20 moderate-or-worse positives, and the best cell of
  every finding that does not;
- protocol speed: :func:`anatomy_vlm.eval.evaluate_scores` on the 3,000 films x 3 models with
  1,000 patient bootstrap draws; the scores are synthetic (a noisy oracle, a weaker one and a
  constant table), so only the time and the plumbing are measured, not a model;
- ``evaluate`` end to end (load, resize, predict, protocol, write) with a ``prior`` run
  trained on a separate 300-film phantom.

Run: ``.venv/bin/python -m benchmarks.bench_eval [--id DIR --shift DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._machine import write_result


def _phantom(out: Path, *, n: int, seed: int, domain: str) -> Path:
    from anatomy_vlm.data.phantom.generate import PhantomConfig, generate

    generate(PhantomConfig(out=out, n=n, size=256, seed=seed, domain=domain, workers=1))
    return out


def _truth(folders: list[Path], split: str | None):
    from anatomy_vlm.eval import EvalTruth
    from anatomy_vlm.eval.truth import phantom_targets, read_phantom_truth
    from kg.sets import finding_set, region_set

    regions, findings = region_set("cig29").ids, finding_set("core").ids
    ids, patients, domains, region, image, boxes = [], [], [], [], [], []
    for k, folder in enumerate(folders):
        for dicom_id, record in read_phantom_truth(folder).items():
            if split is not None and record["split"] != split:
                continue
            r, i = phantom_targets(record, regions, findings)
            ids.append(dicom_id)
            patients.append(f"{k}:{record['subject_id']}")
            domains.append(record["domain"])
            region.append(r)
            image.append(i)
            known = record.get("region_boxes", {})
            boxes.append([known.get(name, [np.nan] * 4) for name in regions])
    return EvalTruth(
        image_ids=np.array(ids),
        patients=np.array(patients),
        domains=np.array(domains),
        region_ids=regions,
        finding_ids=findings,
        region_truth=np.stack(region),
        image_truth=np.stack(image),
        boxes=np.asarray(boxes, dtype=np.float32),
    )


def _synthetic_scores(truth, rng: np.random.Generator) -> dict:
    """A noisy oracle (anatomy_vlm), a weaker one (holistic) and a constant table (prior)."""
    signal = np.nan_to_num(truth.region_truth, nan=0.5)
    out = {}
    for name, strength, jitter in (("anatomy_vlm", 2.0, 3.0), ("holistic", 1.0, 0.0)):
        logits = strength * signal + rng.normal(size=signal.shape) - 2.0
        region = 1.0 / (1.0 + np.exp(-logits))
        boxes = (
            truth.boxes + rng.normal(scale=jitter, size=truth.boxes.shape)
            if jitter
            else np.full_like(truth.boxes, np.nan)
        )
        out[name] = {
            "region_probs": region.astype(np.float32),
            "image_probs": region.max(axis=1),
            "boxes": boxes.astype(np.float32),
        }
    table = np.nanmean(np.nan_to_num(truth.region_truth, nan=0.0), axis=0)
    n = len(truth.image_ids)
    out["prior"] = {
        "region_probs": np.broadcast_to(table, signal.shape).astype(np.float32),
        "image_probs": np.broadcast_to(table.max(axis=0), (n, signal.shape[2])).astype(np.float32),
        "boxes": np.full_like(truth.boxes, np.nan),
    }
    return out


def _coverage(folders: list[Path]) -> list[dict]:
    from anatomy_vlm.eval import evaluate_scores

    rows = []
    for split in ("test", None):
        truth = _truth(folders, split)
        n = len(truth.image_ids)
        blank = {
            "region_probs": np.zeros(truth.region_truth.shape, np.float32),
            "image_probs": np.zeros(truth.image_truth.shape, np.float32),
            "boxes": np.full(truth.boxes.shape, np.nan, np.float32),
        }
        info = evaluate_scores(truth, {"blank": blank}, n_boot=0)["domains"]
        for domain, d in info.items():
            short = {f: d["max_cell_positives"][f] for f, cells in d["cells"].items() if not cells}
            rows.append(
                {
                    "split": split or "all",
                    "domain": domain,
                    "n_images": d["n_images"],
                    "n_findings_region": d["n_findings_region"],
                    "n_cells": d["n_cells"],
                    "n_findings_image": d["n_findings_image"],
                    "findings_below_20_best_cell": short,
                    "of_n": n,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", type=Path, help="an existing 1,500-film id test phantom")
    parser.add_argument(
        "--shift", type=Path, help="an existing 1,500-film prior_shift test phantom"
    )
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)
    import torch

    from anatomy_vlm.eval import evaluate, evaluate_scores
    from anatomy_vlm.model.prior import train_prior

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    load_before = os.getloadavg()
    try:
        folders = [
            args.id or _phantom(work / "test_id", n=1500, seed=1, domain="id"),
            args.shift or _phantom(work / "test_prior_shift", n=1500, seed=2, domain="prior_shift"),
        ]
        coverage = _coverage(folders)
        truth = _truth(folders, None)
        scores = _synthetic_scores(truth, np.random.default_rng(0))
        start, cpu = time.perf_counter(), time.process_time()
        scored = evaluate_scores(truth, scores, n_boot=args.n_boot, seed=0)
        protocol_s, protocol_cpu_s = time.perf_counter() - start, time.process_time() - cpu
        prior = train_prior(
            data=_phantom(work / "train", n=300, seed=0, domain="id"), out=work / "prior"
        )
        start = time.perf_counter()
        metrics = evaluate(
            [prior], folders, split="all", out=work / "eval", progress=False, n_boot=args.n_boot
        )
        end_to_end_s = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    synthetic = {
        name: {
            domain: {
                k: r[k]
                for k in (
                    "region_auroc_macro",
                    "region_auroc_pooled",
                    "image_auroc_macro",
                    "box_iou_mean",
                )
            }
            for domain, r in by_domain.items()
        }
        for name, by_domain in scored["results"].items()
    }
    payload = {
        "n_images": int(len(truth.image_ids)),
        "models": 3,
        "n_boot": args.n_boot,
        "protocol_s": round(protocol_s, 2),
        "protocol_cpu_s": round(protocol_cpu_s, 2),
        "evaluate_prior_end_to_end_s": round(end_to_end_s, 1),
        "evaluate_timing_s": metrics["timing_s"],
        "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
        "coverage": coverage,
        "synthetic_results": synthetic,
        "synthetic_comparisons": scored["comparisons"],
    }
    lines = [
        "# Evaluation protocol: coverage and cost",
        "",
        "Two 1,500-film test phantoms (256 px): `id` (seed 1) and `prior_shift` (seed 2). A cell "
        "counts at 20 moderate-or-worse positives; subtle positives are left out.",
        "",
        "| split | domain | films | findings (region) | cells | findings (image) | findings below 20: best cell |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in coverage:
        short = (
            ", ".join(f"{f} {n}" for f, n in row["findings_below_20_best_cell"].items()) or "none"
        )
        lines.append(
            f"| {row['split']} | {row['domain']} | {row['n_images']} | {row['n_findings_region']}/17 | "
            f"{row['n_cells']} | {row['n_findings_image']}/17 | {short} |"
        )
    lines += [
        "",
        f"Protocol on {payload['n_images']} films x 3 models, {args.n_boot} bootstrap draws: "
        f"**{payload['protocol_s']} s** wall, {payload['protocol_cpu_s']} s CPU (synthetic scores; "
        f"1 thread; load average {payload['load_average_1m']['start']} at start).",
        f"`evaluate` end to end with one prior run on the same films: {payload['evaluate_prior_end_to_end_s']} s "
        f"(read + predict {metrics['timing_s']['predict']} s, protocol {metrics['timing_s']['protocol']} s).",
        "",
    ]
    out = write_result("eval", payload, markdown="\n".join(lines) + "\n")
    for line in lines:
        print(line)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
