"""Open-I / Indiana University chest X-ray loader (``NLMCXR_reports.tgz`` XML + PNGs).

Reports: ``<reports>/ecgen-radiology/*.xml`` or the archive ``NLMCXR_reports.tgz`` itself
(``reports=``, default: whichever is under ``root``), parsed by ``kg.sources.openi`` (the KG's
own reader, reused here). Images: ``parentImage/@id`` + ``.png`` (or ``.jpg``) under
``root/NLMCXR_png/``, ``root/images/`` or ``root/``.

- View: ``View Position`` of ``nlmcxr_dicom_metadata.csv[.gz]`` (column ``imageid``); only
  these two columns are read (the file holds DICOM header fields, identifiers included, which
  are never read). Without a view an image is not frontal and frontal filtering drops it.
- Image labels: MeSH ``major`` headings through the ``openi_mesh`` crosswalk; ``normal``
  reports are negative for every finding; in an indexed report a finding not named is 0
  (declared: MeSH indexing lists the abnormal findings); ``No Indexing`` reports stay NaN.
- Region labels: a heading's finding is positive at the regions its anatomy / side qualifiers
  name (crosswalk, then :mod:`.regions`).
- Sentences: FINDINGS then IMPRESSION, grounded by the report parser (:mod:`.grounding`).
- Splits: each report is one patient study with no patient key: :func:`hash_split` of the report id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from anatomy_vlm.data.datasets import options as opt
from anatomy_vlm.data.datasets.base import (
    CXRDataset,
    ImageRecord,
    find_table,
    hash_split,
    read_csv_rows,
)
from anatomy_vlm.data.types import CXRSample
from anatomy_vlm.errors import DataError, MalformedReport, MissingFile, OutsideRoot, UnreadableTable

__all__ = ["OpenI"]


class OpenI(CXRDataset):
    """Open-I. Keyword arguments as :class:`CXRDataset`, plus ``reports`` (folder or .tgz)."""

    source = "openi"
    OPTIONS = {**CXRDataset.OPTIONS, "reports": opt.optional(opt.existing_path)}

    def __init__(self, root: str | Path, *, reports: str | Path | None = None, **kwargs) -> None:
        reports = self.option("reports", reports)
        self.reports_path = Path(reports) if reports else None
        super().__init__(root, **kwargs)

    def _reports(self):
        """(where, parsed report) per report: ``where`` = ``"report file N"`` / ``"report N"``."""
        from anatomy_vlm.data.io import read_regular
        from kg.errors import KGError
        from kg.sources.openi import iter_reports, parse_report

        path = self.reports_path
        if path is None:
            candidates = [self.root / "ecgen-radiology", self.root / "NLMCXR_reports.tgz"]
            path = next((c for c in candidates if c.exists()), None)
        if path is None or not path.exists():
            raise MissingFile("openi: neither ecgen-radiology/ nor NLMCXR_reports.tgz found")
        if path.is_file():
            try:
                for number, report in enumerate(iter_reports(path), start=1):
                    yield f"{path.name} report {number}", report
            except KGError as err:
                raise UnreadableTable(f"openi: {path.name}: {err}") from None
            return
        for number, xml in enumerate(sorted(path.glob("*.xml")), start=1):
            where = f"report file {number} of {path.name}"
            try:
                yield where, parse_report(read_regular(xml, max_bytes=16 << 20))
            except KGError:
                self.report.skip(MalformedReport(f"{where}: XML that does not parse"))
            except DataError as err:
                self.report.skip(err.at(where))

    def _views(self) -> dict[str, str]:
        path = find_table(self.root, "nlmcxr_dicom_metadata")
        if path is None:
            if self.frontal_only:
                raise MissingFile("openi: nlmcxr_dicom_metadata.csv(.gz) not found, so views are "
                                "unknown; add it under the root or pass frontal_only=False")
            return {}
        return {row["imageid"].strip(): row.get("View Position", "").strip()
                for row in read_csv_rows(path, self.report, required=("imageid",))}

    def _image_path(self, image_id: str, where: str) -> Path:
        return self.locate([self.within(folder, f"{image_id}{suffix}", where=where)
                            for folder in (self.root / "NLMCXR_png", self.root / "images", self.root)
                            for suffix in (".png", ".jpg")])

    def _index(self) -> Iterator[ImageRecord]:
        views = self._views()
        for where, report in self._reports():
            if not report.report_id:
                self.report.skip(MalformedReport(f"{where}: report without uId"))
                continue
            for image_id in report.image_ids:
                try:
                    image_path = self._image_path(image_id, where)
                except OutsideRoot as err:
                    self.report.skip(err)
                    continue
                yield ImageRecord(
                    image_path=image_path,
                    image_id=image_id,
                    study_id=report.report_id,
                    subject_id=report.report_id,
                    view=views.get(image_id, ""),
                    split=hash_split(report.report_id),
                    extra={"report": report},
                    origin=where,
                )

    def _build(self, record: ImageRecord, image: np.ndarray) -> CXRSample:
        report = record.extra["report"]
        mapper = self.mapper("openi_mesh")
        fields = self.empty_targets(*image.shape)
        rows = {rid: i for i, rid in enumerate(self.region_set.ids)}
        headings = [term.heading for term in report.mesh_terms]
        labels, uncertain = mapper.map({h: 1.0 for h in headings})
        if "No Indexing" not in headings:
            labels[np.isnan(labels) & ~uncertain] = 0.0
        for term in report.mesh_terms:
            for rid in self.locator().regions("openi_mesh", term.qualifiers):
                for column in mapper.positives(term.heading):
                    fields["region_labels"][rows[rid], column] = 1.0
        text = " ".join(t for t in (report.findings, report.impression) if t)
        return self.make_sample(
            record, image,
            image_labels=torch.from_numpy(labels),
            image_uncertain=torch.from_numpy(uncertain),
            region_labels=fields["region_labels"],
            sentences=self.ground(text),
        )
