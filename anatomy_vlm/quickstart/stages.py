"""The quickstart's stages, one function each; every one returns the JSON-ready part of the
summary it adds (see :func:`anatomy_vlm.quickstart.run_quickstart`)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

__all__ = ["knowledge_graph", "phantoms", "read_back", "grounding", "films", "train_models",
           "evaluate_runs", "predict_one", "machine_line", "write_json", "write_text"]

# regions drawn on the page's films (a readable subset of cig29)
_DRAWN = ("right_lung", "left_lung", "cardiac_silhouette", "right_apical_zone", "left_apical_zone",
          "right_costophrenic_angle", "left_costophrenic_angle", "trachea")


def knowledge_graph(out: Path) -> dict:
    from anatomy_vlm.kgload import load_kg

    t0 = time.perf_counter()
    kg = load_kg()
    seconds = time.perf_counter() - t0
    answers = {
        "locations_of pleural effusion": [
            {"region": r.node.id, "score": round(r.score, 4), "sources": r.sources}
            for r in kg.locations_of("pleural effusion", region_set="cig36")[:5]],
        "findings_at cardiac silhouette": [
            {"finding": r.node.id, "count": r.count} for r in kg.findings_at("cardiac silhouette")[:5]],
        "resolve L CPA": kg.resolve("L CPA")[0].node.id,
        "path pneumonia -> right lower lung zone": [
            [f"{s.source} -{s.relation}-> {s.target}" for s in path]
            for path in kg.path("pneumonia", "right lower lung zone")],
    }
    write_json(out / "kg_answers.json", answers)
    return {"version": kg.version, "load_seconds": round(seconds, 3), "info": kg.info(),
            "answers": "kg_answers.json", "headline": answers}


def phantoms(config) -> dict:
    """The training folder (one seed) and one test folder per test domain (another seed)."""
    from anatomy_vlm.data.phantom.generate import PhantomConfig, generate

    plan = [("phantom", config.n, "id", config.seed)]
    plan += [(f"phantom_test_{d}", config.test_n, d, config.test_seed) for d in ("id", "prior_shift")]
    made = {}
    for name, n, domain, seed in plan:
        result = generate(PhantomConfig(out=config.out / name, n=n, size=config.size, domain=domain,
                                        seed=seed, workers=config.workers))
        made[name] = {**result.to_json(), "out": name, "data_card": f"{name}/DATA_CARD.md"}
    return made


def read_back(folder: Path) -> dict:
    """Open every split of the training folder with the real loader; count samples meeting the
    sample contract and compare report-derived labels with the truth file (a data check — the
    truth file is read here to judge the data layer, never by training)."""
    from anatomy_vlm.data.datasets import open_dataset

    truth = _read_truth(folder)
    report: dict = {}
    for split in ("train", "valid", "test"):
        dataset = open_dataset("mimic", folder, split=split, region_set="cig29", finding_set="core")
        checked = passing = agree = positives = 0
        for sample in (dataset[i] for i in range(len(dataset))):
            if sample is None:
                continue
            checked += 1
            passing += _passes_contract(sample)
            for finding in truth.get(sample.image_id, ()):
                if finding not in sample.finding_set.ids:
                    continue
                positives += 1
                column = sample.finding_set.ids.index(finding)
                label = sample.image_labels[column]
                agree += int(bool(label == 1 or sample.image_uncertain[column]))
        report[split] = {"images": len(dataset), "checked": checked,
                         "images_with_all_boxes_inside": passing, "true_findings": positives,
                         "true_findings_labelled_positive_or_uncertain": agree,
                         "load_summary": dataset.report.summary()}
    return report


def _passes_contract(sample) -> int:
    try:
        sample.validate()
    except ValueError:
        return 0
    return 1


def _read_truth(folder: Path) -> dict[str, set[str]]:
    truth: dict[str, set[str]] = {}
    with open(folder / "phantom_truth.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            truth[record["dicom_id"]] = {f["finding"] for f in record.get("findings", [])}
    return truth


def grounding(folder: Path) -> dict:
    from anatomy_vlm.report import parse_report

    reports = sorted(folder.glob("files/p*/p*/s*.txt"))[:3]
    examples = []
    for path in reports:
        mentions = parse_report(path.read_text(encoding="utf-8"))
        examples.append({"report": path.name, "mentions": [
            {"sentence": m.sentence, "finding": m.finding, "regions": list(m.regions),
             "negated": m.negated, "uncertain": m.uncertain} for m in mentions]})
    return {"reports_parsed": len(examples), "examples": examples}


def films(folder: Path, figures: Path, *, count: int = 3) -> list[dict]:
    """Draw the first training films that have findings, with their scene-graph boxes."""
    from anatomy_vlm.data.datasets import open_dataset
    from anatomy_vlm.quickstart.figures import draw_film

    dataset = open_dataset("mimic", folder, split="train", region_set="cig29", finding_set="core")
    drawn = []
    for i in range(len(dataset)):
        sample = dataset[i]
        if sample is None:
            continue
        positive = [sample.finding_set.ids[j] for j, v in enumerate(sample.image_labels.tolist()) if v == 1]
        if not positive:
            continue
        rows = sample.region_set.ids
        boxes = [(name.replace("_", " "), sample.boxes[rows.index(name)].tolist())
                 for name in _DRAWN if name in rows]
        path = draw_film(sample.image[0].numpy(), boxes, figures / f"film_{len(drawn)}.png")
        drawn.append({"figure": str(path.relative_to(figures.parent)),
                      "caption": "report findings: " + ", ".join(f.replace("_", " ") for f in positive)})
        if len(drawn) == count:
            break
    return drawn


def train_models(config, data: Path, runs: Path) -> dict:
    """Train ``anatomy_vlm``, ``holistic`` and ``prior`` with the ``quickstart`` preset."""
    from anatomy_vlm.engine import apply_overrides, load_preset, train

    trained = {}
    for kind in ("anatomy_vlm", "holistic", "prior"):
        overrides = [f"seed={config.seed}"]
        if config.steps is not None:
            overrides.append(f"steps={config.steps}")
        preset = apply_overrides(load_preset("quickstart"), overrides)
        t0 = time.perf_counter()
        run_dir = train(preset, data=data, out=runs / kind, kind=kind, progress=False)
        seconds = time.perf_counter() - t0
        run = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
        steps = run.get("steps")
        neural = kind != "prior"
        trained[kind] = {"kind": kind, "steps": steps if neural else None, "train_s": round(seconds, 1),
                         "images_per_s": round(steps * preset.batch_size / seconds, 1)
                         if neural and steps else None,
                         "run_dir": str(Path(run_dir).relative_to(runs.parent))}
    return trained


def evaluate_runs(run_dirs: list[Path], test_folders: list[Path], out: Path) -> dict:
    """The one evaluation protocol over the test folders; the page's and the table's rows."""
    from anatomy_vlm.eval import evaluate

    metrics = evaluate(run_dirs, test_folders, split="all", out=out, progress=False)
    table = []
    for model, by_domain in metrics["results"].items():
        for domain, result in by_domain.items():
            table.append({"model": model, "domain": domain, "n_images": result["n_images"],
                          **{k: result[k] for k in ("region_auroc_macro", "region_auroc_pooled",
                                                    "image_auroc_macro", "box_iou_mean")},
                          "ece_region": result["ece_region"], "ece_image": result["ece_image"]})
    comparisons = {domain: dict(by_name) for domain, by_name in metrics.get("comparisons", {}).items()}
    per_finding = []
    id_results = {m: d.get("id") for m, d in metrics["results"].items() if d.get("id")}
    if id_results:
        first = next(iter(id_results.values()))
        for finding, info in first["per_finding"].items():
            row = {"finding": finding, "n_cells": info["n_cells"], "n_pos": info["n_pos"]}
            row.update({m: r["per_finding"].get(finding, {}).get("region_auroc") for m, r in id_results.items()})
            per_finding.append(row)
    protocol = metrics.get("protocol", {})
    line = (f"Region AUROC per (region, finding) cell with at least {protocol.get('min_positives', 20)} "
            f"moderate-or-worse positives (subtle positives left out), mean per finding, macro over "
            f"findings; 95% intervals from {protocol.get('n_boot', 1000)} patient bootstrap resamples, "
            "the same draws for every model.")
    return {"metrics": "eval/metrics.json", "table": table, "comparisons": comparisons,
            "per_finding": per_finding, "protocol_line": line}


def predict_one(run_dir: Path, test_folder: Path, out: Path) -> dict:
    """Predict the first test film with findings; write ``prediction.json`` and a drawn figure."""
    from anatomy_vlm.data.datasets import open_dataset
    from anatomy_vlm.data.types import resize
    from anatomy_vlm.model.run import load_run
    from anatomy_vlm.quickstart.figures import draw_film

    predictor = load_run(run_dir)
    dataset = open_dataset("mimic", test_folder, split=None, region_set=predictor.region_set.name,
                           finding_set=predictor.finding_set.name)
    sample = next(s for s in (dataset[i] for i in range(len(dataset)))
                  if s is not None and bool((s.image_labels == 1).any()))
    small = resize(sample, predictor.image_size)
    prediction = predictor.predict(small.image[None])
    scale = np.array([sample.width, sample.height, sample.width, sample.height], dtype=np.float32)
    boxes = prediction["boxes"][0] / predictor.image_size * scale
    regions, findings = list(predictor.region_set.ids), list(predictor.finding_set.ids)
    region_probs, image_probs = prediction["region_probs"][0], prediction["image_probs"][0]
    ranked = []
    for j in np.argsort(-image_probs):
        top = np.argsort(-region_probs[:, j])[:2]
        ranked.append({"name": findings[j].replace("_", " "), "id": findings[j],
                       "probability": round(float(image_probs[j]), 4),
                       "regions": [regions[r].replace("_", " ") for r in top]})
    drawn = [(name.replace("_", " "), boxes[regions.index(name)].tolist()) for name in _DRAWN if name in regions]
    figure = draw_film(sample.image[0].numpy(), drawn, out / "figures" / "prediction.png")
    payload = {"image": sample.image_id, "width": sample.width, "height": sample.height,
               "regions": [{"name": r.replace("_", " "), "id": r, "box": [round(float(v), 1) for v in boxes[i]]}
                           for i, r in enumerate(regions)],
               "findings": ranked}
    write_json(out / "prediction.json", payload)
    return {"figure": str(figure.relative_to(out)), "findings": ranked[:8],
            "report_findings": [findings[j].replace("_", " ")
                                for j, v in enumerate(sample.image_labels.tolist()) if v == 1]}


def machine_line() -> str:
    """CPU model, cores and Python (the GPU too when torch sees one)."""
    import torch

    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    line = f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"
    if torch.cuda.is_available():
        line += f", {torch.cuda.get_device_name(0)}"
    return line


def write_json(path: Path, payload) -> None:
    write_text(path, json.dumps(payload, indent=1, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def write_text(path: Path, text: str) -> None:
    """Atomic UTF-8 write (the project's one atomic writer)."""
    from anatomy_vlm.knowledge._io import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))
