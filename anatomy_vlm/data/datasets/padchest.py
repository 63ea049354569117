"""PadChest loader (``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz`` + PNGs).

List literals are parsed by ``kg.sources.padchest.parse_list`` (the KG's own reader, reused
here: bare ``nan`` dropped, terms stripped); a row whose literal does not parse is malformed.
One label record per ``StudyID`` (several images share one report; the first row wins). Each image row of the CSV is read for its ``ImageID``, ``ImageDir``,
``Projection`` and ``PatientID`` (PadChest's pseudonymous patient key, a CSV column, not a
DICOM header).

- Images ``<root>/<ImageDir>/<ImageID>`` (or ``<root>/images/<ImageID>``, ``<root>/<ImageID>``):
  16-bit PNGs, scaled by their bit depth (:mod:`anatomy_vlm.data.io`).
- Frontal views: ``Projection`` PA, AP, AP_horizontal.
- Image labels: the study's ``Labels`` through the ``padchest_labels`` crosswalk; PadChest
  lists every finding its report states, so a finding not listed is 0 (declared), unless a
  narrow match left it uncertain.
- Region labels: per report sentence, each finding is positive at the regions its ``loc …``
  terms name (``padchest_localizations`` crosswalk, then :mod:`.regions`: side + site
  combined, KG projection onto the region set); sentences keep those links (text = the sentence's terms, since
  the report text is stemmed Spanish).
- Splits: :func:`hash_split` of PatientID (patient level).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.data.datasets import options as opt
from anatomy_vlm.data.datasets.base import CXRDataset, ImageRecord, hash_split, read_csv_rows
from anatomy_vlm.data.types import CXRSample, GroundedSentence
from anatomy_vlm.errors import BadRow, MissingFile, OutsideRoot, UnlabelledStudy
from kg.sources import PADCHEST_CSV

__all__ = ["PadChest"]

CSV_NAME = PADCHEST_CSV


class PadChest(CXRDataset):
    """PadChest. Keyword arguments as :class:`CXRDataset`, plus ``csv`` (path of the labels CSV,
    default ``root/`` + the official name)."""

    source = "padchest"
    OPTIONS = {**CXRDataset.OPTIONS, "csv": opt.optional(opt.existing_path)}

    def __init__(self, root: str | Path, *, csv: str | Path | None = None, **kwargs) -> None:
        csv = self.option("csv", csv)
        self.csv_path = Path(csv) if csv else Path(root) / CSV_NAME
        super().__init__(root, **kwargs)

    def _image_path(self, image_dir: str, image_id: str, where: str) -> Path:
        return self.locate([self.within(self.root, image_dir, image_id, where=where),
                            self.within(self.root, "images", image_id, where=where),
                            self.within(self.root, image_id, where=where)])

    def _study(self, row: dict[str, str]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """(labels, sentences) of a row, parsed by kg's PadChest reader (ValueError if bad).

        Model-labelled studies give one flat pseudo-sentence (sentence boundaries lost).
        """
        from kg.sources.padchest import list_terms, sentence_terms

        labels = list_terms(row.get("Labels") or "")
        sentences, _flat = sentence_terms(row.get("LabelsLocalizationsBySentence") or "")
        return labels, sentences

    def _index(self) -> Iterator[ImageRecord]:
        if not self.csv_path.is_file():
            raise MissingFile(f"padchest: labels CSV not found: {self.csv_path.name}")
        studies: dict[str, tuple | None] = {}
        required = ("ImageID", "StudyID", "PatientID")
        for row in read_csv_rows(self.csv_path, self.report, required=required):
            study_id = row["StudyID"].strip()
            if study_id not in studies:  # several images share one report: first row wins
                try:
                    studies[study_id] = self._study(row)
                except ValueError:
                    studies[study_id] = None
            study = studies[study_id]
            if study is None:
                self.report.skip(BadRow(f"{row.where}: Labels or LabelsLocalizationsBySentence "
                                        "is not a list literal"))
                continue
            if not study[0]:
                self.report.skip(UnlabelledStudy(f"{row.where}: the study has no labels"))
                continue
            image_id = row["ImageID"].strip()
            try:
                image_path = self._image_path(row.get("ImageDir", "").strip(), image_id, row.where)
            except OutsideRoot as err:
                self.report.skip(err)
                continue
            yield ImageRecord(
                image_path=image_path,
                image_id=image_id,
                study_id=study_id,
                subject_id=row["PatientID"].strip(),
                view=row.get("Projection", "").strip(),
                split=hash_split(row["PatientID"].strip()),
                extra={"labels": study[0], "sentences": study[1]},
                origin=row.where,
            )

    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        mapper = self.mapper("padchest_labels")
        labels, uncertain = mapper.map({label: 1.0 for label in record.extra["labels"]})
        labels[np.isnan(labels) & ~uncertain] = 0.0
        fields = self.empty_targets(*image.shape)
        region_labels = fields["region_labels"]
        rows = {rid: i for i, rid in enumerate(self.region_set.ids)}
        sentences = []
        for terms in record.extra["sentences"]:
            findings = [t for t in terms if not t.startswith("loc ")]
            locs = tuple(t for t in terms if t.startswith("loc "))
            regions = self.locator().regions("padchest_localizations", locs) if locs else []
            columns = [c for f in findings for c in mapper.positives(f)]
            for rid in regions:
                region_labels[rows[rid], columns] = 1.0
            sentences.append(GroundedSentence(
                text=", ".join(terms), region_ids=tuple(regions),
                finding_ids=tuple(dict.fromkeys(self.finding_set.ids[c] for c in columns)),
            ))
        return self.make_sample(
            record, image,
            image_labels=torch.from_numpy(labels),
            image_uncertain=torch.from_numpy(uncertain),
            region_labels=region_labels,
            sentences=sentences,
        )
