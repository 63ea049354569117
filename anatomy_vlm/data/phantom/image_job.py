"""One phantom image end to end (runs in a worker): sample → render → region truth → report →
parse → files. Returns the small record the parent needs for the dataset-level files.

Each image draws from three independent streams seeded by ``(seed, index, stream)``: findings,
rendering and report wording, so changing the report templates never moves a pixel.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from anatomy_vlm.data.phantom import writer
from anatomy_vlm.data.phantom.reports import TruthFinding, Vocabulary, write_report
from anatomy_vlm.data.phantom.sampler import (
    CORE_FINDINGS,
    sample_findings,
    severity_bin,
    view_for_domain,
)
from anatomy_vlm.data.region_truth import default_regions, region_hierarchy, region_truth
from anatomy_vlm.report.sentences import report_sections

__all__ = ["make_image", "parse_mentions", "report_body"]



def make_image(job) -> dict:
    """Render, write and describe image ``job.index`` (state comes from ``generate._STATE``)."""
    from anatomy_vlm.data.phantom.anatomy import sample_patient
    from anatomy_vlm.data.phantom.generate import _STATE
    from anatomy_vlm.data.phantom.lesions import LesionSpec
    from anatomy_vlm.data.phantom.render import render

    config, priors, maps, root = _STATE["config"], _STATE["priors"], _STATE["maps"], _STATE["root"]
    seed, index = config.seed, job.index
    ids = writer.image_ids(seed, index, job.subject_index)
    view = view_for_domain(config.domain)
    render_domain = "id" if config.domain == "prior_shift" else config.domain
    plans = sample_findings(np.random.default_rng([seed, index, 0]), domain=config.domain, priors=priors,
                            normal_fraction=config.normal_fraction)
    render_rng = np.random.default_rng([seed, index, 1])
    patient = sample_patient(render_rng, view=view, domain=render_domain)
    # the renderer reads side None as "bilateral or midline"
    specs = [LesionSpec(finding=p.finding, severity=p.severity, side=None if p.side == "bilateral" else p.side,
                        region=p.region, params=dict(p.params)) for p in plans]
    film = render(patient, specs, size=config.size, domain=render_domain, rng=render_rng)
    image = np.asarray(film.image)
    height, width = image.shape
    region_masks = film.region_masks  # lazy mapping: only the regions a rule reads are built
    hierarchy = region_hierarchy(tuple(region_masks))
    truth_items, truth_json = _truth(plans, film, region_masks, hierarchy, ids)
    report = write_report(np.random.default_rng([seed, index, 2]), truth_items, view=view,
                          vocabulary=Vocabulary(nouns=maps.nouns))
    mentions = parse_mentions(report_body(report))
    _write_files(root, ids, image, report, film, truth_json)
    boxes = {r: [float(v) for v in b] for r, b in dict(film.boxes).items()}
    graph = writer.scene_graph(ids, view=view, boxes=boxes, width=width, height=height, mentions=mentions,
                               imagenome_labels=maps.imagenome, default_regions=_DEFAULTS,
                               region_cuis=maps.region_cuis)
    writer.write_text(root / "scene_graph" / f"{ids.dicom_id}_SceneGraph.json", writer.dumps(graph))
    truth = {
        "dicom_id": ids.dicom_id, "study_id": ids.study_id, "subject_id": ids.subject_id, "split": job.split,
        "domain": config.domain, "seed": [seed, index], "size": [height, width], "view": view,
        "image": ids.image_path, "report": ids.report_path, "findings": truth_json,
        "region_boxes": {r: [round(v, 2) for v in b] for r, b in boxes.items()},
        "measurements": _jsonable(getattr(film, "measurements", {}) or {}),
    }
    return {"index": index, "ids": ids, "split": job.split, "view": view, "rows": height, "cols": width,
            "chexpert": writer.chexpert_row(mentions, maps.chexpert), "truth": truth}


_DEFAULTS = {f: default_regions(f) for f in CORE_FINDINGS}


def _truth(plans, film, region_masks, hierarchy, ids) -> tuple[list[TruthFinding], list[dict]]:
    lesions = list(getattr(film, "lesions", ()))
    items, rows = [], []
    for k, plan in enumerate(plans):
        lesion = lesions[k] if k < len(lesions) else None
        mask = _get(lesion, "mask")
        mask = None if mask is None else np.asarray(mask, dtype=bool)
        params = {**plan.params, **_jsonable(_get(lesion, "params") or {})}
        tip = _get(lesion, "tip") or params.get("tip")
        regions = region_truth(plan.finding, region_masks=region_masks, lesion_mask=mask, side=plan.side,
                               tip=tip, hierarchy=hierarchy)
        items.append(TruthFinding(finding=plan.finding, severity=plan.severity, side=plan.side,
                                  regions=regions, params=params))
        box = _get(lesion, "box")
        rows.append({
            "finding": plan.finding, "severity": round(plan.severity, 4), "severity_bin": severity_bin(plan.severity),
            "side": plan.side, "target_region": plan.region, "regions": list(regions),
            "box": None if box is None else [round(float(v), 2) for v in box],
            "mask": f"masks/{ids.dicom_id}/lesion_{k:02d}_{plan.finding}.png" if mask is not None else None,
            "params": params,
        })
    return items, rows


def _write_files(root, ids, image, report, film, truth_json) -> None:
    study = root / ids.study_dir
    study.mkdir(parents=True, exist_ok=True)
    writer.write_jpeg(study / f"{ids.dicom_id}.jpg", image)
    writer.write_text(root / ids.report_path, report)
    mask_dir = root / "masks" / ids.dicom_id
    mask_dir.mkdir()
    for name, mask in dict(getattr(film, "masks", {}) or {}).items():
        writer.write_mask(mask_dir / f"{name}.png", np.asarray(mask, dtype=bool))
    lesions = list(getattr(film, "lesions", ()))
    for k, row in enumerate(truth_json):
        if row["mask"] is not None:
            writer.write_mask(root / row["mask"], np.asarray(_get(lesions[k], "mask"), dtype=bool))


def report_body(report: str) -> str:
    """FINDINGS and IMPRESSION text of a report (what the labels are derived from; the same
    sections the MIMIC loader grounds)."""
    body = report_sections(report)
    return "\n".join(body) if body else report


def parse_mentions(text: str) -> list[writer.Mention]:
    """Mentions from the project's report parser (``anatomy_vlm.report.parse_report``), with the
    regions mapped onto Chest ImaGenome names (see :func:`imagenome_regions`).

    The parser's scope never crosses a sentence, so each sentence is parsed on its own and
    cached: phantom reports repeat their normal statements thousands of times.
    """
    from anatomy_vlm.report import split_sentences

    out: list[writer.Mention] = []
    for sentence in split_sentences(text):
        out.extend(_parse_sentence(sentence.text))
    return out


@lru_cache(maxsize=8192)
def _parse_sentence(sentence: str) -> tuple[writer.Mention, ...]:
    from anatomy_vlm.report import parse_report

    return tuple(
        writer.Mention(sentence=m.sentence, finding=m.finding,
                       regions=imagenome_regions(m.finding, tuple(m.regions), tuple(m.sides)),
                       negated=m.negated, uncertain=m.uncertain)
        for m in parse_report(sentence)
    )


def imagenome_regions(finding: str, regions: tuple[str, ...], sides: tuple[str, ...]) -> tuple[str, ...]:
    """Chest ImaGenome region ids (cig36 + text-only names) for the anatomy a sentence names.

    An id outside that vocabulary (``left_lung_base``, ``right_lower_lobe``) becomes its nearest
    ``part_of`` ancestor inside it; when nothing maps, the sentence's side gives the finding's
    default regions ("left rib fracture" → left chest wall).
    """
    names = _imagenome_names()
    out: list[str] = []
    for region in regions:
        mapped = region if region in names else _nearest_named_ancestor(region)
        if mapped and mapped not in out:
            out.append(mapped)
    if out:
        return tuple(out)
    side = sides[0] if len(sides) == 1 else ("bilateral" if len(sides) > 1 else None)
    if side and finding == "rib_fracture":
        return tuple(f"{s}_chest_wall" for s in (("right", "left") if side == "bilateral" else (side,)))
    return default_regions(finding, side) if side else ()


@lru_cache(maxsize=1)
def _imagenome_names() -> frozenset[str]:
    from kg import region_set

    return frozenset(region_set("cig36").ids) | frozenset(region_set("cig38_text").ids)


@lru_cache(maxsize=512)
def _nearest_named_ancestor(region: str) -> str | None:
    from anatomy_vlm.data.region_truth import load_kg

    graph = load_kg()
    if graph is None:
        return None
    try:
        ancestors = graph.ancestors(region)
    except Exception:
        return None
    names = _imagenome_names()
    return next((a for a in ancestors if a in names), None)


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist()) if value.size <= 64 else None
    if isinstance(value, (np.floating, float)):
        return round(float(value), 4)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value
