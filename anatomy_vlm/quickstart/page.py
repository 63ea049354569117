"""The quickstart's ``index.html``: a page a person reads (tables and drawn films, no JSON dumps)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

__all__ = ["render_page"]

_STYLE = """body{font-family:system-ui,sans-serif;max-width:68em;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}.note{color:#a33}table{border-collapse:collapse;margin:.6em 0 1.4em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f1f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}figcaption{font-size:.85em;max-width:32em}
img{border:1px solid #999}.muted{color:#777;font-size:.9em}"""


def render_page(summary: dict) -> str:
    """The whole page for a quickstart ``summary`` (see :func:`anatomy_vlm.quickstart.run_quickstart`)."""
    stages = summary["stages"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Anatomy-VLM quickstart</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Anatomy-VLM quickstart</h1>",
        "<p class='note'>Not for clinical use. Phantom (procedurally generated) films only.</p>",
        _overview(summary),
    ]
    if "evaluate" in stages:
        parts.append(_results(stages["evaluate"]))
    if "predict" in stages:
        parts.append(_prediction(stages["predict"]))
    if "train" in stages:
        parts.append(_training(stages["train"]))
    parts.append(_films(stages.get("films", [])))
    parts.append(_kg(stages["kg"]))
    parts.append(_data(stages))
    parts.append("</body></html>")
    return "\n".join(parts)


def _overview(summary: dict) -> str:
    links = [("summary.json", "summary.json")] + [
        (label, href) for label, href in summary.get("links", {}).items()]
    items = " · ".join(f"<a href='{html.escape(href)}'>{html.escape(label)}</a>" for label, href in links)
    return (f"<p>Finished in {summary.get('seconds', 0):.0f} s on {html.escape(summary.get('machine', ''))}. "
            f"Files: {items}</p>")


def _results(evaluation: dict) -> str:
    rows = []
    for row in evaluation["table"]:
        rows.append([row["model"], row["domain"], _ci(row["region_auroc_macro"]),
                     _ci(row["region_auroc_pooled"]), _ci(row["image_auroc_macro"]),
                     _ci(row["box_iou_mean"]), _num(row["ece_region"]), _num(row["ece_image"]),
                     str(row["n_images"])])
    table = _table(["model", "domain", "region AUROC (macro)", "region AUROC (pooled)",
                    "image AUROC (macro)", "box IoU", "ECE region", "ECE image", "images"], rows)
    diffs = [[name, domain, _ci(value)] for domain, by_name in evaluation["comparisons"].items()
             for name, value in by_name.items()]
    diff_table = _table(["paired difference", "domain", "value [95% CI]"], diffs) if diffs else ""
    findings = evaluation.get("per_finding", [])
    finding_table = ""
    if findings:
        models = [m for m in findings[0] if m not in ("finding", "n_pos", "n_cells")]
        finding_table = ("<h3>Per finding (id test set, region AUROC; mean over its cells)</h3>"
                         + _table(["finding", "cells", "positives"] + models,
                                  [[f["finding"], str(f["n_cells"]), str(f["n_pos"])]
                                   + [_num(f[m]) for m in models] for f in findings]))
    return (f"<h2>Results on held-out test films</h2><p class='muted'>{html.escape(evaluation['protocol_line'])}"
            f"</p>{table}{diff_table}{finding_table}")


def _prediction(prediction: dict) -> str:
    findings = [[f["name"], _num(f["probability"]), ", ".join(f["regions"])] for f in prediction["findings"]]
    truth = ", ".join(prediction.get("report_findings", [])) or "none"
    return ("<h2>One test film, interpreted</h2>"
            f"<figure><img src='{html.escape(prediction['figure'])}' width='448' alt='predicted regions'>"
            f"<figcaption>Predicted region boxes (Anatomy-VLM). Findings its report states: "
            f"{html.escape(truth)}.</figcaption></figure>"
            + _table(["finding", "probability", "most likely regions"], findings))


def _training(training: dict) -> str:
    rows = [[name, info.get("kind", ""), _num(info.get("steps"), 0), _num(info.get("train_s"), 1),
             _num(info.get("images_per_s"), 1)] for name, info in training.items()]
    return "<h2>Training</h2>" + _table(["model", "kind", "steps", "seconds", "images/s"], rows)


def _films(films: Sequence[dict]) -> str:
    if not films:
        return ""
    figures = "".join(
        f"<figure><img src='{html.escape(f['figure'])}' width='320' alt='phantom film'>"
        f"<figcaption>{html.escape(f['caption'])}</figcaption></figure>" for f in films)
    return ("<h2>Phantom films with their scene-graph boxes</h2>"
            "<p class='muted'>Boxes and findings as the MIMIC-CXR-JPG + Chest ImaGenome loader reads "
            f"them (report-derived labels).</p>{figures}")


def _kg(kg: dict) -> str:
    head = kg["headline"]
    locations = _table(["region", "score", "sources (studies)"], [
        [r["region"], _num(r["score"], 4), ", ".join(f"{k}: {v}" for k, v in sorted(r["sources"].items()))]
        for r in head["locations_of pleural effusion"]])
    findings = _table(["finding", "evidence count"], [[r["finding"], str(r["count"])]
                                                       for r in head["findings_at cardiac silhouette"]])
    path = "<br>".join(html.escape(" → ".join(p)) for p in head["path pneumonia -> right lower lung zone"])
    info = kg["info"]
    counts = _table(["node type", "nodes"], [[k, str(v)] for k, v in sorted(info.get("nodes", {}).items())])
    return (f"<h2>Knowledge graph <span class='muted'>version {html.escape(str(kg['version']))}, "
            f"loaded in {kg['load_seconds']} s</span></h2>{counts}"
            f"<h3>Where does pleural effusion occur? (cig36)</h3>{locations}"
            f"<h3>What is seen at the cardiac silhouette?</h3>{findings}"
            f"<h3>Resolve “L CPA”</h3><p>{html.escape(head['resolve L CPA'])}</p>"
            f"<h3>Path pneumonia → right lower lung zone</h3><p>{path}</p>")


def _data(stages: dict) -> str:
    parts = ["<h2>Data</h2>"]
    rows = []
    for name, info in stages.get("phantoms", {}).items():
        splits = ", ".join(f"{k} {v}" for k, v in info["splits"].items())
        rows.append([name, info["domain"], str(info["n"]), f"{info['size']} px", splits,
                     _num(info["images_per_s"], 1), f"<a href='{html.escape(info['data_card'])}'>DATA_CARD.md</a>"])
    parts.append(_table(["folder", "domain", "films", "size", "splits", "films/s", "data card"], rows, raw=(6,)))
    loader = stages.get("loader", {})
    if loader:
        parts.append("<h3>Read back through the MIMIC-CXR-JPG + Chest ImaGenome loader (training folder)</h3>")
        parts.append(_table(["split", "images", "passing the sample contract",
                             "rendered findings labelled positive or uncertain", "load summary"],
                            [[split, str(i["images"]), f"{i['images_with_all_boxes_inside']}/{i['checked']}",
                              f"{i['true_findings_labelled_positive_or_uncertain']}/{i['true_findings']}",
                              i["load_summary"]] for split, i in loader.items()]))
    grounding = stages.get("report_grounding", {}).get("examples", [])
    if grounding:
        rows = [[m["sentence"], m["finding"], ", ".join(m["regions"]),
                 "absent" if m["negated"] else ("uncertain" if m["uncertain"] else "present")]
                for example in grounding[:2] for m in example["mentions"][:6]]
        parts.append("<h3>Report grounding (first reports of the training folder)</h3>")
        parts.append(_table(["sentence", "finding", "regions", "status"], rows))
    return "".join(parts)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, raw: tuple[int, ...] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell) if i in raw else html.escape(str(cell))
            numeric = _looks_numeric(str(cell))
            cells.append(f"<td class='num'>{text}</td>" if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _looks_numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "-+−") and "," not in text


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}"


def _ci(metric) -> str:
    if not metric or metric.get("value") is None:
        return "—"
    low, high = metric.get("ci95") or (None, None)
    if low is None:
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{low:.3f}, {high:.3f}]"
