"""The quickstart's terminal output: where everything went and one results table."""

from __future__ import annotations

__all__ = ["print_summary", "results_table"]


def print_summary(summary: dict) -> None:
    stages = summary["stages"]
    kg = stages["kg"]
    print(f"knowledge graph {kg['version']}: loaded in {kg['load_seconds']} s")
    for name, info in stages["phantoms"].items():
        print(f"phantom {name}: {info['n']} {info['domain']} films at {info['size']} px in "
              f"{info['seconds']} s")
    for split, info in stages["loader"].items():
        print(f"loader {split}: {info['load_summary']}; sample contract "
              f"{info['images_with_all_boxes_inside']}/{info['checked']}")
    for name, info in stages["train"].items():
        print(f"trained {name}: {info['steps']} steps in {info['train_s']} s -> {info['run_dir']}")
    print()
    print(results_table(stages["evaluate"]))
    print()
    top = ", ".join(f"{f['name']} {f['probability']:.2f}" for f in stages["predict"]["findings"][:3])
    print(f"one test film interpreted (prediction.json): {top}")
    out = summary["out"]
    print(f"finished in {summary['seconds']} s; page: {out}/index.html; metrics: {out}/eval/metrics.json")


def results_table(evaluation: dict) -> str:
    """Per model and domain: region macro AUROC with its interval, pooled region AUROC, image
    macro AUROC, box IoU, ECE; then the paired differences."""
    header = ("model", "domain", "region AUROC macro [95% CI]", "pooled", "image AUROC", "box IoU",
              "ECE region", "ECE image")
    rows = [header]
    for row in evaluation["table"]:
        rows.append((row["model"], row["domain"], _ci(row["region_auroc_macro"]),
                     _value(row["region_auroc_pooled"]), _value(row["image_auroc_macro"]),
                     _value(row["box_iou_mean"]), _num(row["ece_region"]), _num(row["ece_image"])))
    for domain, by_name in evaluation["comparisons"].items():
        for name, metric in by_name.items():
            rows.append((name.replace("_minus_", " - "), domain, _ci(metric), "", "", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _value(metric) -> str:
    return "-" if not metric or metric.get("value") is None else f"{metric['value']:.3f}"


def _ci(metric) -> str:
    if not metric or metric.get("value") is None:
        return "-"
    ci = metric.get("ci95")
    if not ci or ci[0] is None:
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
