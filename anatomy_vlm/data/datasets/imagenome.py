"""Chest ImaGenome scene graphs -> region boxes, region labels and grounded sentences.

Scene graph (``<dicom_id>_SceneGraph.json``, docs/data_formats.md#chest-imagenome-scene-graphs):

- ``objects[]``: ``bbox_name`` and ``original_x1, original_y1, original_x2, original_y2``
  (pixels of the original image; ``x1..y2`` are the 224 frame and are not used). Region id =
  ``bbox_name`` with spaces -> underscores.
- ``attributes[]``: per mentioned region, ``phrases`` (report sentences) aligned with
  ``attributes`` (lists of ``category|yes/no|label``).

Boxes: a box is faulty, and its row left NaN, when a coordinate is not finite, it has no area
(x2 <= x1 or y2 <= y1), or it lies wholly outside the image (x2 <= 0, y2 <= 0, x1 >= W,
y1 >= H), following RGRG; otherwise it is scaled to the returned image (when the image is a
resized copy) and clipped to it.

Labels: per region, ``yes`` -> 1, ``no`` -> 0, not mentioned -> NaN; a label stated both ways
for one region counts as positive. A boxed (cig36) region that a graph with objects leaves out
was not placed on that film: its box and its labels are NaN (missing), whatever it says.
Categories ``temporal``, ``severity``, ``laterality``, ``comparison`` and ``nlp`` carry no
finding and are skipped. Labels go through the
``chest_imagenome`` crosswalk (the bare label first, then ``category|label``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anatomy_vlm.data.datasets.labels import NEG, POS, LabelMapper
from anatomy_vlm.data.types import GroundedSentence
from anatomy_vlm.errors import CorruptAnnotation

__all__ = ["SceneGraphTargets", "region_id", "read_scene_graph", "checked_scene_graph",
           "parse_scene_graph", "box_or_none"]

SKIPPED_CATEGORIES = {"temporal", "severity", "laterality", "comparison", "nlp"}


def region_id(bbox_name: str) -> str:
    """Chest ImaGenome ``bbox_name`` -> ontology id (``right costophrenic angle`` ->
    ``right_costophrenic_angle``)."""
    return "_".join(str(bbox_name).strip().lower().split())


@dataclass
class SceneGraphTargets:
    """Targets read from one scene graph. Shapes: boxes [R, 4], labels/uncertain [R, F]."""

    boxes: np.ndarray
    region_labels: np.ndarray
    region_uncertain: np.ndarray
    sentences: list[GroundedSentence] = field(default_factory=list)
    faulty_boxes: int = 0


@functools.cache
def _boxed_regions() -> frozenset[str]:
    """Regions a Chest ImaGenome scene graph gives a box (cig36); the others are text-only."""
    from kg.sets import region_set

    return frozenset(region_set("cig36").ids)


MAX_SCENE_GRAPH_BYTES = 64 << 20  # real scene graphs are ~100 kB


def read_scene_graph(path: Path) -> dict:
    """Parse one scene-graph JSON file and check its shape (:func:`checked_scene_graph`).

    Raises a typed DataError: ``MissingFile``, ``NotRegularFile`` (a named pipe is never
    opened for reading), ``FileTooLarge`` or ``CorruptAnnotation`` (not UTF-8 JSON, nested
    past the parser's depth, or the wrong shape)."""
    from anatomy_vlm.data.io import read_regular

    data = read_regular(path, max_bytes=MAX_SCENE_GRAPH_BYTES)
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # ValueError: JSON syntax
        raise CorruptAnnotation(f"corrupt scene graph {Path(path).name} ({type(err).__name__})",
                                detail=f"scene graph: {type(err).__name__}") from None
    return checked_scene_graph(parsed)


def _corrupt(what: str) -> CorruptAnnotation:
    return CorruptAnnotation(f"corrupt scene graph: {what}", detail=f"scene graph: {what}")


def _list_of(value, kind: type | tuple[type, ...], what: str) -> list:
    """``value`` as a list whose items are all ``kind`` (None = empty); CorruptAnnotation if not."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        raise _corrupt(f"{what} has the wrong shape")
    return value


def checked_scene_graph(data) -> dict:
    """``data`` when it has the scene-graph shape the parser reads, else ``CorruptAnnotation``.

    A JSON object; ``objects`` a list of objects with a string ``bbox_name``; ``attributes`` a
    list of objects with a string ``bbox_name``, ``phrases`` a list of strings and
    ``attributes`` a list of lists of strings (absent or null = empty). Box coordinates are
    not checked here: a coordinate that is not a finite number makes a faulty box.
    """
    if not isinstance(data, dict):
        raise _corrupt("not a JSON object")
    for key in ("objects", "attributes"):
        for item in _list_of(data.get(key), dict, key):
            if not isinstance(item.get("bbox_name", ""), str):
                raise _corrupt(f"{key} bbox_name is not a string")
    for attr in data.get("attributes") or []:
        _list_of(attr.get("phrases"), str, "phrases")
        for labels in _list_of(attr.get("attributes"), (list, type(None)), "attributes"):
            _list_of(labels, str, "attribute labels")
    return data


def box_or_none(
    coords: tuple[float, float, float, float], width: float, height: float
) -> tuple[float, float, float, float] | None:
    """RGRG-style faulty-box rejection, then clipping to ``[0, width] x [0, height]``."""
    x1, y1, x2, y2 = coords
    if not all(math.isfinite(v) for v in coords):
        return None
    if x2 <= x1 or y2 <= y1 or x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return None
    return max(x1, 0.0), max(y1, 0.0), min(x2, width), min(y2, height)


def _object_box(obj: dict, sx: float, sy: float) -> tuple[float, float, float, float] | None:
    try:
        return (
            float(obj["original_x1"]) * sx,
            float(obj["original_y1"]) * sy,
            float(obj["original_x2"]) * sx,
            float(obj["original_y2"]) * sy,
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _attribute_values(strings: list, mapper: LabelMapper) -> dict[str, float]:
    """``["cat|yes|label", ...]`` -> {crosswalk key: 1.0 / 0.0}; positive wins over negative."""
    values: dict[str, float] = {}
    for item in strings or []:
        parts = str(item).split("|")
        if len(parts) != 3:
            continue
        category, relation, label = (p.strip().lower() for p in parts)
        if category in SKIPPED_CATEGORIES or relation not in {"yes", "no"}:
            continue
        key = label if mapper.targets(label) else f"{category}|{label}"
        value = POS if relation == "yes" else NEG
        values[key] = max(values.get(key, value), value)
    return values


def parse_scene_graph(
    data: dict,
    *,
    region_ids: tuple[str, ...],
    mapper: LabelMapper,
    width: int,
    height: int,
    scale: tuple[float, float] = (1.0, 1.0),
) -> SceneGraphTargets:
    """Boxes, ``[R, F]`` labels and grounded sentences of one scene graph.

    ``scale`` = (image width / original width, image height / original height) when the
    returned image is a resized copy of the original. Raises ``CorruptAnnotation`` when
    ``data`` does not have the scene-graph shape (:func:`checked_scene_graph`).
    """
    data = checked_scene_graph(data)
    rows = {rid: i for i, rid in enumerate(region_ids)}
    f = len(mapper.finding_ids)
    boxes = np.full((len(region_ids), 4), np.nan, dtype=np.float32)
    faulty = 0
    for obj in data.get("objects") or []:
        rid = region_id(obj.get("bbox_name", ""))
        if rid not in rows:
            continue
        coords = _object_box(obj, *scale)
        box = box_or_none(coords, width, height) if coords else None
        if box is None:
            faulty += 1
            continue
        boxes[rows[rid]] = box
    labels = np.full((len(region_ids), f), np.nan, dtype=np.float32)
    uncertain = np.zeros((len(region_ids), f), dtype=bool)
    per_region: dict[str, dict[str, float]] = {}
    sentences: dict[str, dict[str, list[str]]] = {}
    for attr in data.get("attributes") or []:
        rid = region_id(attr.get("bbox_name", ""))
        phrases = attr.get("phrases") or []
        lists = attr.get("attributes") or []
        for i, phrase in enumerate(phrases):
            values = _attribute_values(lists[i] if i < len(lists) else [], mapper)
            region_values = per_region.setdefault(rid, {})
            for key, value in values.items():
                region_values[key] = max(region_values.get(key, value), value)
            _add_sentence(sentences, str(phrase).strip(), rid, values, mapper)
    placed = {region_id(obj.get("bbox_name", "")) for obj in data.get("objects") or []}
    for rid, values in per_region.items():
        # a boxed region that a graph with objects leaves out was not placed (not visible on
        # the film): missing, its labels NaN like its box
        if rid in rows and (rid in placed or not placed or rid not in _boxed_regions()):
            labels[rows[rid]], uncertain[rows[rid]] = mapper.map(values)
    grounded = [
        GroundedSentence(
            text=text,
            region_ids=tuple(entry["regions"]),
            finding_ids=tuple(entry["positive"]),
            negated_ids=tuple(x for x in entry["negated"] if x not in entry["positive"]),
        )
        for text, entry in sentences.items()
    ]
    return SceneGraphTargets(boxes, labels, uncertain, grounded, faulty)


def _add_sentence(
    sentences: dict[str, dict[str, list[str]]],
    text: str,
    rid: str,
    values: dict[str, float],
    mapper: LabelMapper,
) -> None:
    if not text:
        return
    entry = sentences.setdefault(text, {"regions": [], "positive": [], "negated": []})
    if rid and rid not in entry["regions"]:
        entry["regions"].append(rid)
    for key, value in values.items():
        kind = "positive" if value == POS else "negated"
        columns = (
            mapper.positives(key)
            if value == POS
            else [c for c, m in mapper.targets(key) if m in {"exact", "narrow"}]
        )
        for column in columns:
            fid = mapper.finding_ids[column]
            if fid not in entry[kind]:
                entry[kind].append(fid)
