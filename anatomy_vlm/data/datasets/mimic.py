"""MIMIC-CXR-JPG + Chest ImaGenome loader (also reads the embedded phantom, same layout).

Three roots, each defaulting to ``root`` (the phantom keeps everything under one folder):

- ``root``: MIMIC-CXR-JPG: ``files/p1X/p1XXXXXXX/sNNNNNNNN/<dicom_id>.jpg`` and
  ``mimic-cxr-2.0.0-{metadata,split,chexpert}.csv[.gz]``;
- ``reports_root``: MIMIC-CXR reports ``files/p1X/p1XXXXXXX/sNNNNNNNN.txt``;
- ``imagenome_root``: Chest ImaGenome (``chest-imagenome/1.0.0`` or its ``silver_dataset``):
  ``[silver_dataset/]scene_graph[/scene_graph]/<dicom_id>_SceneGraph.json`` (the unzipped
  archive is sometimes doubled) and ``[silver_dataset/]splits/{train,valid,test}.csv``.

Splits (``split_source``): ``imagenome`` (ImaGenome's own split files; images they do not list
are left out, and ``images_to_avoid.csv`` — the gold-standard images — is kept out of train),
``mimic`` (``mimic-cxr-2.0.0-split.csv``, "validate" -> "valid"), or ``auto``
(default: ImaGenome's when present, else MIMIC's). Views from metadata ``ViewPosition``.

Targets per image:

- region boxes and ``[R, F]`` labels from the scene graph (see :mod:`.imagenome`); when the
  image is a resized copy (its size differs from metadata Rows/Columns) boxes are scaled;
- image labels from the CheXpert CSV (per study; 1 / 0 / -1 / blank under the declared
  uncertainty policy) through the ``chexpert`` crosswalk; findings the CSV leaves unknown are
  set positive when a scene-graph region is positive;
- sentences: scene-graph phrases grounded to their regions; without a scene graph, the report's
  FINDINGS / IMPRESSION sentences grounded by the report parser (:mod:`.grounding`);
- masks: ``masks/<dicom_id>/<name>.png`` when present (the phantom writes them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.data.datasets import options as opt
from anatomy_vlm.data.datasets.base import (
    CXRDataset,
    ImageRecord,
    find_table,
    normalise_split,
    read_csv_rows,
)
from anatomy_vlm.data.datasets.chexpert import chexpert_values
from anatomy_vlm.data.datasets.imagenome import parse_scene_graph, read_scene_graph
from anatomy_vlm.data.datasets.labels import UNC
from anatomy_vlm.data.types import CXRSample, GroundedSentence
from anatomy_vlm.errors import BadRow, ConfigError, MissingFile, OutsideRoot
from anatomy_vlm.report.sentences import report_sections

__all__ = ["MimicImaGenome", "Phantom", "find_table"]  # find_table: re-exported from .tables


def study_folder(subject_id: str, study_id: str) -> Path:
    return Path("files") / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}"


LESION_MASK_PREFIX = "lesion_"


class MimicImaGenome(CXRDataset):
    """MIMIC-CXR-JPG + Chest ImaGenome. Keyword arguments as :class:`CXRDataset`, plus
    ``reports_root``, ``imagenome_root``, ``split_source`` (module docstring),
    ``no_finding_negative`` (see :func:`chexpert_values`), ``load_masks`` (default True;
    False skips decoding ``masks/`` for speed) and ``lesion_masks`` (default False).

    Lesion masks (the phantom's ``lesion_NN_<finding>.png``) are ground truth that real data
    does not have: they are for evaluation only and are left out unless ``lesion_masks=True``,
    so a training loop cannot receive them by default. Anatomy masks (lungs, heart) load as
    before."""

    source = "mimic"
    OPTIONS = {
        **CXRDataset.OPTIONS,
        "reports_root": opt.optional(opt.existing_dir),
        "imagenome_root": opt.optional(opt.existing_dir),
        "split_source": opt.choice("auto", "imagenome", "mimic"),
        "no_finding_negative": opt.boolean,
        "load_masks": opt.boolean,
        "lesion_masks": opt.boolean,
    }

    def __init__(
        self,
        root: str | Path,
        *,
        reports_root: str | Path | None = None,
        imagenome_root: str | Path | None = None,
        split_source: str = "auto",
        no_finding_negative: bool = False,
        load_masks: bool = True,
        lesion_masks: bool = False,
        **kwargs,
    ) -> None:
        self.lesion_masks = self.option("lesion_masks", lesion_masks)
        self.no_finding_negative = self.option("no_finding_negative", no_finding_negative)
        self.load_masks = self.option("load_masks", load_masks)
        self.reports_root = Path(self.option("reports_root", reports_root) or root)
        self.imagenome_root = Path(self.option("imagenome_root", imagenome_root) or root)
        self.split_source = self.option("split_source", split_source)
        super().__init__(root, **kwargs)

    # -- index ------------------------------------------------------------------------
    def _scene_graph_dir(self) -> Path | None:
        for base in (self.imagenome_root, self.imagenome_root / "silver_dataset"):
            for folder in (base / "scene_graph" / "scene_graph", base / "scene_graph"):
                if folder.is_dir():
                    return folder
        return None

    def _imagenome_splits(self) -> dict[str, str] | None:
        folder = self.imagenome_root / "silver_dataset" / "splits"
        if not folder.is_dir():  # imagenome_root may be the silver_dataset folder itself
            folder = self.imagenome_root / "splits"
        files = {name: folder / f"{name}.csv" for name in ("train", "valid", "test")}
        if not any(p.is_file() for p in files.values()):
            return None
        splits: dict[str, str] = {}
        for name, path in files.items():
            if path.is_file():
                for row in read_csv_rows(path, self.report, required=("dicom_id",)):
                    splits[row["dicom_id"].strip()] = name
        avoid = folder / "images_to_avoid.csv"  # gold-standard images: kept out of train
        if avoid.is_file():
            for row in read_csv_rows(avoid, self.report, required=("dicom_id",)):
                dicom_id = row["dicom_id"].strip()
                if splits.get(dicom_id) == "train":
                    del splits[dicom_id]
        return splits

    def _mimic_splits(self) -> dict[str, str]:
        path = find_table(self.root, "mimic-cxr-2.0.0-split")
        if path is None:
            raise MissingFile("mimic: mimic-cxr-2.0.0-split.csv(.gz) not found and no ImaGenome splits")
        splits = {}
        for row in read_csv_rows(path, self.report, required=("dicom_id", "split")):
            try:
                splits[row["dicom_id"].strip()] = normalise_split(row["split"])
            except ConfigError:
                self.report.skip(BadRow(f"{row.where}: unknown split name"))
        return splits

    def _splits(self) -> dict[str, str]:
        if self.split_source in {"auto", "imagenome"}:
            found = self._imagenome_splits()
            if found is not None:
                return found
            if self.split_source == "imagenome":
                raise MissingFile("mimic: silver_dataset/splits/*.csv not found")
        return self._mimic_splits()

    def _chexpert(self) -> dict[tuple[str, str], dict[str, float]]:
        path = find_table(self.root, "mimic-cxr-2.0.0-chexpert")
        table: dict[tuple[str, str], dict[str, float]] = {}
        if path is None:
            return table
        for row in read_csv_rows(path, self.report, required=("subject_id", "study_id")):
            try:
                values = chexpert_values(row, no_finding_negative=self.no_finding_negative)
            except ValueError:
                self.report.skip(BadRow(f"{row.where}: a label value other than 1, 0, -1 or blank"))
                continue
            table[(row["subject_id"].strip(), row["study_id"].strip())] = values
        return table

    def _index(self) -> Iterator[ImageRecord]:
        meta = find_table(self.root, "mimic-cxr-2.0.0-metadata")
        if meta is None:
            raise MissingFile("mimic: mimic-cxr-2.0.0-metadata.csv(.gz) not found")
        splits = self._splits()
        self._labels = self._chexpert()
        graphs = self._scene_graph_dir()
        graph_names = {entry.name for entry in os.scandir(graphs)} if graphs else set()
        required = ("dicom_id", "subject_id", "study_id")
        for row in read_csv_rows(meta, self.report, required=required):
            dicom_id, subject, study = (row[c].strip() for c in required)
            split = splits.get(dicom_id)
            if split is None:  # not in the chosen split files (e.g. outside ImaGenome)
                continue
            folder = study_folder(subject, study)
            graph_name = f"{dicom_id}_SceneGraph.json"
            try:  # every path built from these ids must stay under its root
                image_path = self.within(self.root, *folder.parts, f"{dicom_id}.jpg", where=row.where)
                report = self.within(self.reports_root, *folder.parent.parts, f"{folder.name}.txt",
                                     where=row.where)
                masks = self.within(self.root, "masks", dicom_id, where=row.where)
                graph = (self.within(graphs, graph_name, where=row.where)
                         if graphs is not None and graph_name in graph_names else None)
            except OutsideRoot as err:
                self.report.skip(err)
                continue
            yield ImageRecord(
                image_path=image_path,
                image_id=dicom_id,
                study_id=study,
                subject_id=subject,
                view=row.get("ViewPosition", "").strip(),
                split=split,
                extra={
                    "scene_graph": graph,
                    "report": report,
                    "masks": masks,
                    "rows": _int_or_none(row.get("Rows")),
                    "columns": _int_or_none(row.get("Columns")),
                },
                origin=row.where,
            )

    # -- sample -----------------------------------------------------------------------
    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        height, width = image.shape
        fields: dict = {}
        region_pos = None
        if record.extra["scene_graph"] is not None:
            rows, cols = record.extra["rows"], record.extra["columns"]
            scale = (width / cols if cols else 1.0, height / rows if rows else 1.0)
            targets = parse_scene_graph(
                read_scene_graph(record.extra["scene_graph"]),
                region_ids=self.region_set.ids,
                mapper=self.mapper("chest_imagenome"),
                width=width,
                height=height,
                scale=scale,
            )
            fields.update(
                boxes=torch.from_numpy(targets.boxes),
                region_labels=torch.from_numpy(targets.region_labels),
                region_uncertain=torch.from_numpy(targets.region_uncertain),
                sentences=targets.sentences,
            )
            region_pos = (targets.region_labels == 1).any(axis=0)
        else:
            fields["sentences"] = self._report_sentences(record.extra["report"])
        values = self._labels.get((record.subject_id, record.study_id), {})
        labels, uncertain = self.mapper("chexpert").map(values)
        if region_pos is not None:
            # a positive at a region is a positive for the image. It also settles an image label
            # that is uncertain only because a CheXpert column is broader than the finding
            # ("Support Devices" reaches every device: each stays uncertain until the scene graph
            # names the device). A hedge in the report (-1) stays uncertain, because scene graphs,
            # like Chest ImaGenome's, record hedged mentions as "yes"; an explicit negative stays.
            fill = region_pos & np.isnan(labels) & ~uncertain
            settle = region_pos & uncertain
            if settle.any():  # which of those uncertain columns a hedge reached
                _, hedged = self.mapper("chexpert").map({k: v for k, v in values.items() if v == UNC})
                fill |= settle & ~hedged
            labels[fill] = 1.0
            uncertain[fill] = False
        fields["image_labels"] = torch.from_numpy(labels)
        fields["image_uncertain"] = torch.from_numpy(uncertain)
        fields["masks"] = self._masks(record.extra["masks"], (height, width))
        return self.make_sample(record, image, **fields)

    def _report_sentences(self, path: Path) -> list[GroundedSentence]:
        """FINDINGS and IMPRESSION (else the whole report), grounded by the report parser.

        No report file: no sentences. A report that is not a regular file, unreadable or over
        1 MiB raises its typed DataError (the sample is skipped and counted)."""
        from anatomy_vlm.data.io import read_regular

        try:
            data = read_regular(path, max_bytes=1 << 20)
        except MissingFile:
            return []
        text = data.decode("utf-8", errors="replace")
        sections = report_sections(text)
        return self.ground(" ".join(s for s in sections if s) if sections else " ".join(text.split()))

    def _masks(self, folder: Path, shape: tuple[int, int]) -> dict[str, torch.Tensor]:
        if not self.load_masks or not folder.is_dir():
            return {}
        from anatomy_vlm.data.io import read_mask

        masks = {}
        for path in sorted(folder.glob("*.png")):
            if path.stem.startswith(LESION_MASK_PREFIX) and not self.lesion_masks:
                continue  # evaluation-only truth (see the class docstring)
            mask = read_mask(path)
            if mask.shape == shape:
                masks[path.stem] = torch.from_numpy(mask)
        return masks


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "") else None
    except (ValueError, OverflowError):
        return None


class Phantom(MimicImaGenome):
    """The embedded phantom: the same loader and files as MIMIC-CXR-JPG + Chest ImaGenome,
    named ``phantom`` in samples and summaries (``phantom_truth.jsonl`` is never read)."""

    source = "phantom"
