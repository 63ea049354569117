"""One phantom image end to end (runs in a worker): sample → render → region truth → report →
parse → files. Returns the small record the parent needs for the dataset-level files.

Each image draws from three independent streams seeded by ``(seed, index, stream)``: findings,
rendering and report wording, so changing the report templates never moves a pixel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from anatomy_vlm.data.phantom import writer
from anatomy_vlm.data.phantom.context import Job, RunContext
from anatomy_vlm.data.phantom.findings import RULES, expand
from anatomy_vlm.data.phantom.reports import TruthFinding, Vocabulary, write_report
from anatomy_vlm.data.phantom.sampler import (
    CORE_FINDINGS,
    FindingPlan,
    sample_findings,
    severity_bin,
    view_for_domain,
)
from anatomy_vlm.data.region_truth import default_regions, region_truth
from anatomy_vlm.report.sentences import report_sections

__all__ = ["FilmPlan", "make_image", "plan_film", "parse_mentions", "report_body"]


@dataclass(frozen=True)
class FilmPlan:
    """What film ``index`` of a run shows, before a pixel is drawn: its findings, the patient
    and the renderer's inputs. ``render_rng`` is the generator the renderer continues with."""

    view: str
    render_domain: str
    plans: list[FindingPlan]
    patient: Any
    specs: list
    render_rng: np.random.Generator


def plan_film(seed: int, index: int, *, domain: str, priors, normal_fraction: float) -> FilmPlan:
    """Findings (stream 0) and patient (stream 1) of film ``index``, exactly as the generator
    draws them (the geometry tests use this to check boxes without rendering)."""
    from anatomy_vlm.data.phantom.anatomy import sample_patient
    from anatomy_vlm.data.phantom.lesions import LesionSpec

    view = view_for_domain(domain)
    render_domain = "id" if domain == "prior_shift" else domain
    plans = sample_findings(np.random.default_rng([seed, index, 0]), domain=domain, priors=priors,
                            normal_fraction=normal_fraction)
    render_rng = np.random.default_rng([seed, index, 1])
    patient = sample_patient(render_rng, view=view, domain=render_domain)
    # the renderer reads side None as "bilateral or midline"
    specs = [LesionSpec(finding=p.finding, severity=p.severity, side=None if p.side == "bilateral" else p.side,
                        region=p.region, params=dict(p.params)) for p in plans]
    return FilmPlan(view=view, render_domain=render_domain, plans=plans, patient=patient, specs=specs,
                    render_rng=render_rng)


def make_image(context: RunContext, job: Job) -> dict:
    """Render, write and describe image ``job.index`` of the run ``context`` describes."""
    from anatomy_vlm.data.phantom.render import render

    config, maps, root = context.config, context.maps, context.root
    seed, index = config.seed, job.index
    ids = writer.image_ids(seed, index, job.subject_index)
    plan = plan_film(seed, index, domain=config.domain, priors=context.priors,
                     normal_fraction=config.normal_fraction)
    view = plan.view
    film = render(plan.patient, plan.specs, size=config.size, domain=plan.render_domain, rng=plan.render_rng)
    image = np.asarray(film.image)
    height, width = image.shape
    hierarchy = context.hierarchy  # all of cig36: omitted regions map to their ancestors
    truth_items, truth_json = _truth(plan.plans, film, film.region_masks, hierarchy, ids)
    report = write_report(np.random.default_rng([seed, index, 2]), truth_items, view=view,
                          vocabulary=Vocabulary(nouns=maps.nouns))
    mentions = parse_mentions(report_body(report), context.named_ancestor)
    mentions = _on_visible(mentions, film.omitted_regions, hierarchy)
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
        "regions_omitted": list(film.omitted_regions),
        "measurements": _jsonable(getattr(film, "measurements", {}) or {}),
    }
    return {"index": index, "ids": ids, "split": job.split, "view": view, "rows": height, "cols": width,
            "chexpert": writer.chexpert_row(mentions, maps.chexpert), "truth": truth}


_DEFAULTS = {f: default_regions(f) for f in CORE_FINDINGS}


def _shown(region: str | None, omitted: tuple[str, ...], hierarchy: dict[str, tuple[str, ...]]) -> str | None:
    """``region``, or when the film does not show it (no box) its nearest ``part_of`` ancestor
    that it shows (left apical zone → left lung)."""
    if region is None or region not in omitted:
        return region
    return next((a for a in hierarchy.get(region, ()) if a not in omitted), None)


def _on_visible(mentions: list[writer.Mention], omitted: tuple[str, ...],
                hierarchy: dict[str, tuple[str, ...]]) -> list[writer.Mention]:
    """Mentions grounded only to regions the film shows (see :func:`_shown`)."""
    if not omitted:
        return mentions
    out = []
    for m in mentions:
        regions: list[str] = []
        for region in m.regions:
            region = _shown(region, omitted, hierarchy)
            if region is not None and region not in regions:
                regions.append(region)
        out.append(replace(m, regions=tuple(regions)))
    return out


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
            "side": plan.side, "target_region": _shown(plan.region, film.omitted_regions, hierarchy),
            "regions": list(regions),
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


def parse_mentions(text: str, named_ancestor: Mapping[str, str]) -> list[writer.Mention]:
    """Mentions from the project's report parser (``anatomy_vlm.report.parse_report``), with the
    regions mapped onto Chest ImaGenome names (see :func:`imagenome_regions`).

    The parser's scope never crosses a sentence, so each sentence is parsed on its own and
    cached: phantom reports repeat their normal statements thousands of times.
    """
    from anatomy_vlm.report import split_sentences

    out: list[writer.Mention] = []
    for sentence in split_sentences(text):
        for m in _parse_sentence(sentence.text):
            out.append(writer.Mention(
                sentence=m.sentence, finding=m.finding,
                regions=imagenome_regions(m.finding, m.regions, m.sides, named_ancestor),
                negated=m.negated, uncertain=m.uncertain))
    return out


@dataclass(frozen=True)
class _Parsed:
    sentence: str
    finding: str
    regions: tuple[str, ...]
    sides: tuple[str, ...]
    negated: bool
    uncertain: bool


@lru_cache(maxsize=8192)
def _parse_sentence(sentence: str) -> tuple[_Parsed, ...]:
    from anatomy_vlm.report import parse_report

    return tuple(_Parsed(m.sentence, m.finding, tuple(m.regions), tuple(m.sides), m.negated, m.uncertain)
                 for m in parse_report(sentence))


def imagenome_regions(finding: str, regions: tuple[str, ...], sides: tuple[str, ...],
                      named_ancestor: Mapping[str, str]) -> tuple[str, ...]:
    """Chest ImaGenome region ids (cig36 + text-only names) for the anatomy a sentence names.

    An id outside that vocabulary (``left_lung_base``, ``right_lower_lobe``) becomes its nearest
    ``part_of`` ancestor inside it (``named_ancestor``, from the KG); when nothing maps, the
    sentence's side gives the finding's default regions ("left rib fracture" → left chest wall).
    """
    names = imagenome_names()
    out: list[str] = []
    for region in regions:
        mapped = region if region in names else named_ancestor.get(region)
        if mapped and mapped not in out:
            out.append(mapped)
    if out:
        return tuple(out)
    side = sides[0] if len(sides) == 1 else ("bilateral" if len(sides) > 1 else None)
    if not side:
        return ()
    named = RULES[finding].side_regions if finding in RULES else ()
    return expand(named, side) if named else default_regions(finding, side)


@lru_cache(maxsize=1)
def imagenome_names() -> frozenset[str]:
    """cig36 and cig38_text ids: every region name a Chest ImaGenome scene graph uses."""
    from kg import region_set

    return frozenset(region_set("cig36").ids) | frozenset(region_set("cig38_text").ids)


def nearest_named_ancestors(graph) -> dict[str, str]:
    """Anatomy id → its nearest ``part_of`` ancestor among :func:`imagenome_names` (ids that
    have one and are not a name themselves). Built once per run from the KG, in the parent."""
    names = imagenome_names()
    out = {}
    for node in graph.nodes(type="anatomy"):
        if node.id in names:
            continue
        ancestor = next((a for a in graph.ancestors(node.id) if a in names), None)
        if ancestor is not None:
            out[node.id] = ancestor
    return out


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
