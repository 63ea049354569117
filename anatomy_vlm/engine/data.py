"""Training data in memory: one pass over a split through the real loader, kept as tensors.

For the CPU presets every film is decoded and resized once and kept as uint8 (a 160 px film is
25 kB: 4,000 films are 100 MB), so a step costs no JPEG decode. Grounded sentences and reports
become rows of frozen text-embedding tables (each unique text embedded once, through the on-disk
text cache). Masks and ``phantom_truth.jsonl`` are never read: the loader is opened with
``load_masks=False`` and reads only real-format files.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.errors import DataError

__all__ = ["SplitTensors", "load_split", "make_batch"]


@dataclass
class SplitTensors:
    """One split in memory (N images, R regions, F findings, P grounded (image, region, sentence)).

    Attributes:
        image_ids: N dataset image ids.
        images: ``[N, 1, S, S]`` uint8.
        boxes: ``[N, R, 4]`` ``(x1, y1, x2, y2)`` in [0, 1] of the image; NaN rows = missing.
        region_labels / region_uncertain: ``[N, R, F]`` as the loader gave them.
        image_labels / image_uncertain: ``[N, F]``.
        report_rows: ``[N]`` row of the image's report in ``report_text`` (-1: no report).
        report_text: ``[U, D]`` frozen report embeddings (mean of its sentence embeddings).
        pairs: ``[P, 3]`` int64 ``(image, region, sentence row)``.
        sentence_text: ``[V, D]`` frozen sentence embeddings.
        labels / weights: ``[N, R, F]`` completed labels and loss weights (``engine.labels``).
    """

    image_ids: list[str]
    images: torch.Tensor
    boxes: torch.Tensor
    region_labels: torch.Tensor
    region_uncertain: torch.Tensor
    image_labels: torch.Tensor
    image_uncertain: torch.Tensor
    report_rows: torch.Tensor
    report_text: torch.Tensor
    pairs: torch.Tensor
    sentence_text: torch.Tensor
    labels: torch.Tensor | None = None
    weights: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.image_ids)


def _samples(dataset, workers: int):
    if workers <= 0:
        for i in range(len(dataset)):
            yield dataset[i]
        return
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=workers, collate_fn=lambda s: s
    )
    yield from loader


# Splits already read in this process (the quickstart trains two models on the same data):
# key -> SplitTensors; a hit returns a shallow copy, so per-run label completion never leaks.
_READ: OrderedDict = OrderedDict()
_READ_MAX = 4


def _read_key(root, split, config, text_cache, limit) -> tuple | None:
    """What a cached read depends on: the folder and its top-level files' sizes and mtimes,
    the split, loader settings and the text model; None when the folder cannot be listed."""
    try:
        entries = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                         for e in os.scandir(root) if e.is_file(follow_symlinks=False))
    except OSError:
        return None
    return (str(Path(root).resolve()), tuple(entries), split, config.dataset, config.region_set,
            config.finding_set, config.image_size, limit, getattr(text_cache, "model_name", None))


def load_split(
    root, *, split: str, config, text_cache, limit: int | None = None, progress=None
) -> SplitTensors:
    """Read ``split`` of the dataset at ``root`` into :class:`SplitTensors` (no masks).

    A split read earlier in the same process with the same settings (and unchanged top-level
    files: CSVs, split tables, marker) is reused instead of decoded again."""
    key = _read_key(root, split, config, text_cache, limit)
    if key is not None and key in _READ:
        _READ.move_to_end(key)
        return replace(_READ[key], labels=None, weights=None)
    tensors = _read_split(root, split=split, config=config, text_cache=text_cache, limit=limit,
                          progress=progress)
    if key is not None:
        _READ[key] = tensors
        while len(_READ) > _READ_MAX:
            _READ.popitem(last=False)
    return replace(tensors)


def _read_split(root, *, split, config, text_cache, limit, progress) -> SplitTensors:
    from anatomy_vlm.data.datasets import open_dataset

    dataset = open_dataset(
        config.dataset,
        root,
        split=split,
        region_set=config.region_set,
        finding_set=config.finding_set,
        image_size=config.image_size,
        limit=limit,
        **({"load_masks": False} if config.dataset in ("mimic", "phantom") else {}),
    )
    if len(dataset) == 0:
        raise DataError(f"{root}: no {split} images for dataset {config.dataset!r}")
    region_index = {r: i for i, r in enumerate(dataset.region_set.ids)}
    fields: dict[str, list] = {
        k: []
        for k in (
            "image_ids",
            "images",
            "boxes",
            "region_labels",
            "region_uncertain",
            "image_labels",
            "image_uncertain",
        )
    }
    sentences: dict[str, int] = {}
    reports: dict[tuple[int, ...], int] = {}
    pairs, report_rows = [], []
    for sample in _samples(dataset, config.loader_workers):
        if sample is None:
            continue
        n = len(fields["image_ids"])
        size = float(sample.width)
        fields["image_ids"].append(sample.image_id)
        # numpy, not torch: one small op per film, where torch's thread pool costs more than the op
        pixels = np.rint(sample.image.numpy() * 255.0).astype(np.uint8)
        fields["images"].append(torch.from_numpy(pixels))
        fields["boxes"].append(sample.boxes / size)
        for key in ("region_labels", "region_uncertain", "image_labels", "image_uncertain"):
            fields[key].append(getattr(sample, key))
        rows = []
        for sentence in sample.sentences:
            row = sentences.setdefault(sentence.text, len(sentences))
            rows.append(row)
            pairs.extend(
                (n, region_index[r], row) for r in sentence.region_ids if r in region_index
            )
        key = tuple(sorted(set(rows)))
        report_rows.append(reports.setdefault(key, len(reports)) if key else -1)
        if progress is not None:
            progress(n + 1, len(dataset))
    if not fields["image_ids"]:
        raise DataError(f"{root}: every {split} image failed to load")
    sentence_text = torch.from_numpy(np.ascontiguousarray(text_cache.encode(list(sentences))))
    report_text = (
        torch.stack(
            [torch.nn.functional.normalize(sentence_text[list(k)].mean(0), dim=0) for k in reports]
        )
        if reports
        else torch.zeros(0, sentence_text.shape[-1])
    )
    return SplitTensors(
        image_ids=fields["image_ids"],
        images=torch.stack(fields["images"]),
        boxes=torch.stack(fields["boxes"]).float(),
        region_labels=torch.stack(fields["region_labels"]),
        region_uncertain=torch.stack(fields["region_uncertain"]),
        image_labels=torch.stack(fields["image_labels"]),
        image_uncertain=torch.stack(fields["image_uncertain"]),
        report_rows=torch.tensor(report_rows, dtype=torch.long),
        report_text=report_text,
        pairs=torch.tensor(pairs, dtype=torch.long).reshape(-1, 3),
        sentence_text=sentence_text,
    )


def make_batch(split: SplitTensors, index: torch.Tensor) -> dict:
    """Images ``[B, 1, S, S]`` in [0, 1] and the loss targets (``model.losses``) of ``index``."""
    b, r = len(index), split.boxes.shape[1]
    report_rows = split.report_rows[index]
    valid = report_rows >= 0
    report_text = (
        split.report_text[report_rows.clamp(min=0)]
        if len(split.report_text)
        else torch.zeros(b, split.sentence_text.shape[-1])
    )
    position = torch.full((len(split),), -1, dtype=torch.long)
    position[index] = torch.arange(b)
    chosen = split.pairs[position[split.pairs[:, 0]] >= 0]
    sentence_rows, sentence_col = torch.unique(chosen[:, 2], return_inverse=True)
    sentence_positive = torch.zeros(b, r, len(sentence_rows), dtype=torch.bool)
    sentence_positive[position[chosen[:, 0]], chosen[:, 1], sentence_col] = True
    return {
        "images": split.images[index].float() / 255.0,
        "report_text": report_text,
        "sentence_text": split.sentence_text[sentence_rows],
        "targets": {
            "region_labels": split.labels[index].nan_to_num(0.0),
            "label_weights": split.weights[index],
            "boxes": split.boxes[index],
            "report_positive": report_rows[:, None] == report_rows[None, :],
            "report_valid": valid,
            "sentence_positive": sentence_positive,
        },
    }
