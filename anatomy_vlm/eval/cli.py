"""``anatomy-vlm evaluate``: run directories side by side (metrics.json, scores.npz)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_parser"]

_DESCRIPTION = (
    "Evaluate run directories side by side with the one evaluation protocol: region AUROC per "
    "(region, finding) cell with at least 20 moderate-or-worse positives (subtle positives left "
    "out), macro over findings, pooled and image-level AUROC, box IoU and ECE per domain, 95%% "
    "intervals from patient bootstrap resamples shared by every model. Writes OUT/metrics.json "
    "and OUT/scores.npz."
)


def add_parser(subparsers, *, name: str, help: str) -> None:
    parser = subparsers.add_parser(name, help=help, description=_DESCRIPTION)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        required=True,
        metavar="RUN_DIR",
        help="a run directory (repeat to compare models)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        metavar="DIR",
        help="a dataset folder, MIMIC-CXR-JPG + Chest ImaGenome layout or a phantom "
        "(repeat to pool folders; results are per domain)",
    )
    parser.add_argument(
        "--split",
        choices=("test", "validate", "all"),
        default="test",
        help="which split of each folder (default test)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("anatomy_vlm_eval"),
        help="output folder (default ./anatomy_vlm_eval)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--device", default="cpu", help="device the models run on (default cpu)")
    parser.add_argument("--json", action="store_true", help="print metrics.json on stdout")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from anatomy_vlm.errors import ConfigError
    from anatomy_vlm.eval.evaluator import evaluate

    if args.n_boot < 0:
        raise ConfigError(f"--n-boot must be at least 0, got {args.n_boot}")
    metrics = evaluate(
        args.checkpoint,
        args.data,
        split=args.split,
        out=args.out,
        batch_size=args.batch_size,
        progress=not args.json,
        n_boot=args.n_boot,
        seed=args.seed,
        device=args.device,
    )
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        print(results_table(metrics))
        print(f"metrics: {args.out / 'metrics.json'}; scores: {args.out / 'scores.npz'}")
    return 0


def results_table(metrics: dict) -> str:
    """A plain-text table: one row per (model, domain), then the paired differences."""
    lines = [
        f"{'model':<14} {'domain':<14} {'films':>6}  {'region AUROC (macro, 95% CI, n)':<34} "
        f"{'pooled':>7} {'image AUROC':>12} {'box IoU':>8} {'ECE reg':>8}"
    ]
    for name, by_domain in metrics["results"].items():
        for domain, r in by_domain.items():
            macro = r["region_auroc_macro"]
            lines.append(
                f"{name:<14} {domain:<14} {r['n_images']:>6}  "
                f"{_fmt(macro) + ' n=' + str(macro['n_findings']):<34} "
                f"{_num(r['region_auroc_pooled']['value']):>7} "
                f"{_num(r['image_auroc_macro']['value']):>12} "
                f"{_num(r['box_iou_mean']['value']):>8} {_num(r['ece_region']):>8}"
            )
    for domain, by_pair in metrics["comparisons"].items():
        for pair, diff in by_pair.items():
            lines.append(f"{domain}: {pair} region AUROC macro {_fmt(diff)}")
    return "\n".join(lines)


def _fmt(entry: dict) -> str:
    ci = entry.get("ci95")
    text = _num(entry.get("value"))
    return text + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _num(value) -> str:
    return "—" if value is None else f"{value:.3f}"
