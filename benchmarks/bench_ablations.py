"""Ablations of Anatomy-VLM on the phantom, scored through the one evaluation protocol.

Variants (same data, steps and preset; only the named switch differs):

- ``anatomy_vlm``: the full model (quickstart preset).
- ``no_kg_queries``: region queries learned from a random init, not seeded from the KG
  (``model.query_init=random``).
- ``no_retrieval``: no knowledge fusion (``model.fusion=false``).
- ``shuffled_kg``: the KG node texts permuted once, so each node carries another's knowledge
  (``model.shuffle_knowledge=true``).
- ``holistic``: the image ↔ report baseline.

Each variant trains with every ``--seeds`` seed on one training phantom and is scored by
``anatomy_vlm.eval.evaluate`` on a separate test phantom (all of its films). The table gives the
mean over seeds of region macro AUROC, image macro AUROC and box IoU with a 95 % t-interval over
seeds, and each seed's protocol bootstrap interval; the plot shows the region macro AUROC.

Run: ``python -m benchmarks.bench_ablations [--train-n 800 --test-n 300 --size 128 --steps 80]``;
``--smoke`` (2 steps, tiny phantoms, one seed) checks the pipeline and writes into ``--work``
only. Results: ``benchmarks/results/ablations.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

VARIANTS = {
    "anatomy_vlm": ("anatomy_vlm", []),
    "no_kg_queries": ("anatomy_vlm", ["model.query_init=random"]),
    "no_retrieval": ("anatomy_vlm", ["model.fusion=false"]),
    "shuffled_kg": ("anatomy_vlm", ["model.shuffle_knowledge=true"]),
    "holistic": ("holistic", []),
}
METRICS = ("region_auroc_macro", "image_auroc_macro", "box_iou_mean")
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # two-sided t quantiles by dof


def _phantom(out: Path, *, n: int, size: int, seed: int) -> Path:
    from anatomy_vlm.cli import main

    if not (out / "phantom_truth.jsonl").is_file():
        argv = ["data", "phantom", "--out", str(out), "--n", str(n), "--size", str(size),
                "--seed", str(seed), "--workers", "1"]
        if main(argv) != 0:
            raise SystemExit(f"phantom generation failed for {out.name}")
    return out


def _train(variant: str, seed: int, *, data: Path, out: Path, size: int, steps: int) -> Path:
    from anatomy_vlm.engine import apply_overrides, load_preset, train

    kind, switches = VARIANTS[variant]
    overrides = [f"image_size={size}", f"steps={steps}", f"seed={seed}", f"val_every={steps}",
                 f"name={variant}-s{seed}", f"warmup_steps={max(1, min(40, steps // 5))}",
                 *switches]
    config = apply_overrides(load_preset("quickstart"), overrides)
    return train(config, data=data, out=out, kind=kind, progress=False,
                 extra={"preset": "quickstart", "overrides": overrides})


def _summarise(values: list[float]) -> dict:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "ci95": None, "n": 0, "per_seed": values}
    mean = statistics.fmean(finite)
    if len(finite) < 2:
        return {"mean": mean, "ci95": None, "n": 1, "per_seed": values}
    half = T95.get(len(finite) - 1, 1.96) * statistics.stdev(finite) / math.sqrt(len(finite))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": len(finite),
            "per_seed": values}


def _table(metrics: dict, seeds: list[int]) -> dict:
    rows = {}
    for variant in VARIANTS:
        per_seed = [next(iter(metrics["results"][f"{variant}-s{s}"].values())) for s in seeds]
        rows[variant] = {
            name: {**_summarise([r[name]["value"] for r in per_seed]),
                   "protocol_ci95_per_seed": [r[name]["ci95"] for r in per_seed]}
            for name in METRICS
        }
    return rows


def _fmt(summary: dict) -> str:
    if summary["mean"] is None:
        return "n/a"
    interval = summary["ci95"]
    if interval is None:
        return f"{summary['mean']:.3f}"
    return f"{summary['mean']:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _markdown(rows: dict, setup: dict) -> str:
    lines = [
        "# Ablations (phantom)",
        "",
        f"**{setup['label']}**: {setup['train_n']} training films, {setup['test_n']} test films "
        f"at {setup['size']} px, {setup['steps']} steps, seeds {setup['seeds']}, quickstart "
        "preset otherwise; scored by `anatomy_vlm.eval.evaluate` on all films of a separate "
        "test phantom. Mean over seeds with a 95 % t-interval over seeds.",
        "",
        "| variant | region AUROC macro | image AUROC macro | box IoU |",
        "|---|---|---|---|",
    ]
    for variant, row in rows.items():
        cells = " | ".join(_fmt(row[name]) for name in METRICS)
        lines.append(f"| {variant} | {cells} |")
    lines += ["", "![region AUROC by variant](ablations.png)", ""]
    return "\n".join(lines)


def _plot(rows: dict, path: Path) -> None:
    """Bar plot of region macro AUROC with the seed intervals (matplotlib, else PIL)."""
    names = list(rows)
    means = [rows[n]["region_auroc_macro"]["mean"] or 0.0 for n in names]
    intervals = [rows[n]["region_auroc_macro"]["ci95"] for n in names]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _plot_pil(names, means, intervals, path)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    errors = [[m - (c[0] if c else m) for m, c in zip(means, intervals, strict=True)],
              [(c[1] if c else m) - m for m, c in zip(means, intervals, strict=True)]]
    ax.bar(names, means, yerr=errors, capsize=4, color="#4c72b0")
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("region AUROC (macro)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_pil(names, means, intervals, path: Path) -> None:
    from PIL import Image, ImageDraw

    width, height, left, bottom, top = 700, 350, 60, 60, 20
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    low, high = 0.4, 1.0

    def y(value: float) -> float:
        value = min(max(value, low), high)
        return height - bottom - (value - low) / (high - low) * (height - bottom - top)

    draw.line([(left, top), (left, height - bottom), (width - 10, height - bottom)], fill="black")
    for tick in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        draw.text((10, y(tick) - 6), f"{tick:.1f}", fill="black")
    slot = (width - left - 20) / len(names)
    for k, (name, mean, interval) in enumerate(zip(names, means, intervals, strict=True)):
        x0 = left + 10 + k * slot
        draw.rectangle([x0, y(mean), x0 + slot * 0.6, y(low)], fill=(76, 114, 176))
        if interval:
            xc = x0 + slot * 0.3
            draw.line([(xc, y(interval[0])), (xc, y(interval[1]))], fill="black", width=2)
        draw.text((x0, height - bottom + 8), name, fill="black")
    draw.text((left, height - 25), "region AUROC (macro), mean over seeds, 95% t-interval",
              fill="black")
    image.save(path)


def run(args: argparse.Namespace) -> dict:
    from anatomy_vlm.eval.evaluator import evaluate

    work = Path(args.work)
    started = time.perf_counter()
    films = max(128, args.size)  # the phantom's smallest film; training resizes to --size
    train_data = _phantom(work / "train_phantom", n=args.train_n, size=films, seed=0)
    test_data = _phantom(work / "test_phantom", n=args.test_n, size=films, seed=1)
    runs = []
    for seed in args.seeds:
        for variant in VARIANTS:
            out = work / "runs" / f"{variant}-s{seed}"
            runs.append(_train(variant, seed, data=train_data, out=out, size=args.size,
                               steps=args.steps))
    metrics = evaluate(runs, [test_data], split="all", out=work / "eval", progress=False,
                       n_boot=args.n_boot, min_positives=args.min_positives)
    rows = _table(metrics, args.seeds)
    label = "SMOKE (pipeline check only)" if args.smoke else args.label
    setup = {"label": label,
             "train_n": args.train_n, "test_n": args.test_n, "size": args.size,
             "steps": args.steps, "seeds": list(args.seeds), "n_boot": args.n_boot,
             "min_positives": args.min_positives, "variants": {k: v[1] for k, v in
                                                                VARIANTS.items()}}
    payload = {"setup": setup, "table": rows, "kg_version": metrics["kg_version"],
               "wall_s": round(time.perf_counter() - started, 1)}
    markdown = _markdown(rows, setup)
    if args.smoke:
        results = work / "results"
        results.mkdir(parents=True, exist_ok=True)
        (results / "ablations.json").write_text(json.dumps(payload, indent=1) + "\n")
        (results / "ablations.md").write_text(markdown)
        _plot(rows, results / "ablations.png")
    else:
        from benchmarks._machine import RESULTS, write_result

        write_result("ablations", payload, markdown=markdown)
        _plot(rows, RESULTS / "ablations.png")
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="bench_ablations_work", help="phantoms, runs, eval")
    parser.add_argument("--train-n", type=int, default=800)
    parser.add_argument("--test-n", type=int, default=300)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--min-positives", type=int, default=20)
    parser.add_argument("--label", default="Reduced size (not the full-size ablation)",
                        help="the size label at the head of the md table")
    parser.add_argument("--smoke", action="store_true",
                        help="2 steps at 64 px on 24-film phantoms (128 px), one seed, into --work")
    args = parser.parse_args(argv)
    if args.smoke:
        args.train_n, args.test_n, args.size, args.steps = 24, 24, 64, 2
        args.seeds, args.n_boot, args.min_positives = [0], 20, 1
    if min(args.train_n, args.test_n, args.steps, args.n_boot) < 1 or args.size < 32:
        parser.error("--train-n, --test-n, --steps, --n-boot must be >= 1 and --size >= 32")
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
