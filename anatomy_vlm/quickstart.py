"""``anatomy-vlm quickstart``: the embedded default, end to end, offline, on one CPU.

What runs today (ARCHITECTURE.md steps 1–2 and the data path):

1. knowledge graph — build (or load from cache) the KG from the shipped ontology and the
   report corpora in the ``torchxrayvision`` package; answer the headline queries;
2. data — write a phantom dataset in the MIMIC-CXR-JPG + Chest ImaGenome layout;
3. read it back through the real MIMIC-CXR-JPG + Chest ImaGenome loader (the one path real data
   takes) and check region boxes and report-derived labels against the phantom's truth file;
4. ground a few reports with the report parser;
5. write ``summary.json`` and ``index.html`` into the output folder.

The image model (anatomy decoder, fusion, training, zero-shot interpretation; steps 4–8) is
not part of this release; the summary says so rather than pretending. The knowledge encoder
and FAISS index of step 3/5 exist as a library (``anatomy_vlm.knowledge``).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import time
from pathlib import Path

from anatomy_vlm.errors import ConfigError

__all__ = ["run_quickstart", "add_parser"]


def add_parser(subparsers, *, name: str, help: str) -> None:
    parser = subparsers.add_parser(name, help=help, description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("anatomy_vlm_quickstart"),
                        help="output folder (default: ./anatomy_vlm_quickstart)")
    parser.add_argument("--n", type=int, default=48, help="number of phantom films (default 48)")
    parser.add_argument("--size", type=int, default=256, help="phantom film size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    summary = run_quickstart(out=args.out, n=args.n, size=args.size, seed=args.seed)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        _print_summary(summary)
    return 0


def run_quickstart(*, out: Path, n: int = 48, size: int = 256, seed: int = 0) -> dict:
    """Run every implemented stage; return the summary written to ``out/summary.json``."""
    if n < 8:
        raise ConfigError(f"--n must be at least 8 so every split gets films, got {n}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not (out / "summary.json").exists():
        raise ConfigError(f"--out {out} exists, is not empty and is not a quickstart folder")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    summary: dict = {"out": str(out), "stages": {}}
    stages = summary["stages"]
    stages["kg"] = _stage_kg(out)
    stages["phantom"] = _stage_phantom(out / "phantom", n=n, size=size, seed=seed)
    stages["loader"] = _stage_loader(out / "phantom")
    stages["report_grounding"] = _stage_grounding(out / "phantom")
    summary["not_yet_implemented"] = (
        "the image model (anatomy decoder, knowledge fusion), training, evaluation and "
        "interpretation (ARCHITECTURE.md steps 4-8) are the next milestones; this quickstart "
        "runs the knowledge graph and data layers")
    _write_json(out / "summary.json", summary)
    _write_html(out / "index.html", summary)
    return summary


def _stage_kg(out: Path) -> dict:
    from kg import AnatomyKG

    t0 = time.perf_counter()
    kg = AnatomyKG.load()
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
    _write_json(out / "kg_answers.json", answers)
    return {"version": kg.version, "load_seconds": round(seconds, 3), "info": kg.info(),
            "answers": "kg_answers.json", "headline": answers}


def _stage_phantom(folder: Path, *, n: int, size: int, seed: int) -> dict:
    from anatomy_vlm.data.phantom.generate import PhantomConfig, generate

    if folder.exists():
        import shutil

        shutil.rmtree(folder)  # a previous quickstart's phantom: regenerated, same seed → same bytes
    result = generate(PhantomConfig(out=folder, n=n, size=size, seed=seed, workers=1))
    return result.to_json()


def _stage_loader(folder: Path) -> dict:
    from anatomy_vlm.data.datasets import open_dataset

    truth = _read_truth(folder)
    report: dict = {}
    for split in ("train", "valid", "test"):
        dataset = open_dataset("mimic", folder, split=split, region_set="cig29", finding_set="core")
        checked = boxes_inside = agree = positives = 0
        for sample in (dataset[i] for i in range(len(dataset))):
            if sample is None:
                continue
            checked += 1
            boxes_inside += _passes_contract(sample)
            for finding in truth.get(sample.image_id, ()):
                if finding not in sample.finding_set.ids:
                    continue
                positives += 1
                column = sample.finding_set.ids.index(finding)
                label = sample.image_labels[column]
                agree += int(bool(label == 1 or sample.image_uncertain[column]))
        report[split] = {"images": len(dataset), "checked": checked,
                         "images_with_all_boxes_inside": boxes_inside,
                         "true_findings": positives, "true_findings_labelled_positive_or_uncertain": agree,
                         "load_summary": dataset.report.summary()}
    return report


def _passes_contract(sample) -> int:
    """1 when the sample meets the loader's contract (boxes inside the image, label ranges);
    the same check the loader runs on every sample (:meth:`CXRSample.validate`)."""
    try:
        sample.validate()
    except ValueError:
        return 0
    return 1


def _read_truth(folder: Path) -> dict[str, set[str]]:
    """Per image, the findings the phantom rendered (evaluation-only file)."""
    truth: dict[str, set[str]] = {}
    with open(folder / "phantom_truth.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            truth[record["dicom_id"]] = {f["finding"] for f in record.get("findings", [])}
    return truth


def _stage_grounding(folder: Path) -> dict:
    from anatomy_vlm.report import parse_report

    reports = sorted(folder.glob("files/p*/p*/s*.txt"))[:3]
    examples = []
    for path in reports:
        text = path.read_text(encoding="utf-8")
        mentions = parse_report(text)
        examples.append({"report": path.name, "mentions": [
            {"sentence": m.sentence, "finding": m.finding, "regions": list(m.regions),
             "negated": m.negated, "uncertain": m.uncertain} for m in mentions]})
    return {"reports_parsed": len(examples), "examples": examples}


def _write_json(path: Path, payload: dict) -> None:
    _write_text(path, json.dumps(payload, indent=1, default=str) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Atomic UTF-8 write (temp file + ``os.replace``)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_html(path: Path, summary: dict) -> None:
    kg_stage = summary["stages"]["kg"]
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td><pre>{html.escape(json.dumps(v, indent=1, default=str))}</pre></td></tr>"
        for k, v in kg_stage["headline"].items())
    loader = html.escape(json.dumps(summary["stages"]["loader"], indent=1))
    phantom = html.escape(json.dumps(summary["stages"]["phantom"], indent=1))
    grounding = html.escape(json.dumps(summary["stages"]["report_grounding"], indent=1))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Anatomy-VLM quickstart</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}pre{{white-space:pre-wrap}}
th{{text-align:left;vertical-align:top;padding-right:1em}}</style></head><body>
<h1>Anatomy-VLM quickstart</h1><p>Not for clinical use. Phantom data only.</p>
<h2>Knowledge graph (version {html.escape(str(kg_stage['version']))})</h2><table>{rows}</table>
<h2>Phantom dataset</h2><pre>{phantom}</pre>
<h2>Read back through the MIMIC-CXR-JPG + Chest ImaGenome loader</h2><pre>{loader}</pre>
<h2>Report grounding</h2><pre>{grounding}</pre>
<h2>Not yet implemented</h2><p>{html.escape(summary['not_yet_implemented'])}</p>
</body></html>"""
    _write_text(path, page)


def _print_summary(summary: dict) -> None:
    stages = summary["stages"]
    kg_stage = stages["kg"]
    print(f"knowledge graph {kg_stage['version']}: loaded in {kg_stage['load_seconds']} s")
    for query, answer in kg_stage["headline"].items():
        print(f"  {query}: {json.dumps(answer)[:160]}")
    phantom = stages["phantom"]
    print(f"phantom: {phantom['n']} films at {phantom['size']} px in {phantom['seconds']} s "
          f"-> {phantom['out']}")
    for split, info in stages["loader"].items():
        print(f"loader {split}: {info['load_summary']}; boxes inside {info['images_with_all_boxes_inside']}"
              f"/{info['checked']}; true findings labelled positive or uncertain "
              f"{info['true_findings_labelled_positive_or_uncertain']}/{info['true_findings']}")
    print(f"report grounding: {stages['report_grounding']['reports_parsed']} reports parsed")
    print(f"not yet implemented: {summary['not_yet_implemented']}")
    out = summary["out"]
    print(f"summary: {out}/summary.json, {out}/index.html")
