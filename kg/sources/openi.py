"""Open-I / Indiana University chest X-ray reports (``NLMCXR_reports.tgz``, 3,955 XML files).

Each report gives its id (``uId/@id``, e.g. ``CXR1002``), the COMPARISON / INDICATION /
FINDINGS / IMPRESSION texts, MeSH ``major`` terms (slash-delimited: a heading followed by
lower-case qualifiers, e.g. ``Opacity/lung/base/left/mild``), ``automatic`` terms (single
machine-extracted strings) and the ids of its images (``parentImage/@id``, the image file
stem). De-identified spans appear as ``XXXX`` and are kept as they are.
"""

from __future__ import annotations

import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kg.errors import KGError
from kg.sources import OPENI_TGZ, source_file


@dataclass(frozen=True)
class MeshTerm:
    """One MeSH major term split at ``/``: ``heading`` and its ``qualifiers`` (in order)."""

    heading: str
    qualifiers: tuple[str, ...]


@dataclass(frozen=True)
class OpenIReport:
    """One Open-I report. Text fields are ``""`` when the section is empty."""

    report_id: str
    comparison: str
    indication: str
    findings: str
    impression: str
    mesh_major: tuple[str, ...]
    mesh_automatic: tuple[str, ...]
    image_ids: tuple[str, ...]

    @property
    def mesh_terms(self) -> tuple[MeshTerm, ...]:
        """``mesh_major`` parsed with :func:`parse_mesh`."""
        return tuple(parse_mesh(term) for term in self.mesh_major)


def parse_mesh(term: str) -> MeshTerm:
    """``"Opacity/lung/base/left/mild"`` → ``MeshTerm("Opacity", ("lung", "base", "left", "mild"))``."""
    parts = [p.strip() for p in term.split("/")]
    return MeshTerm(heading=parts[0], qualifiers=tuple(p for p in parts[1:] if p))


def iter_reports(path: Path | str | None = None) -> Iterator[OpenIReport]:
    """Yield every report of the archive, ordered by file name.

    ``path`` defaults to ``NLMCXR_reports.tgz`` in torchxrayvision's data folder; KGError when
    it is absent or not a readable tar archive.
    """
    path = Path(path) if path is not None else source_file(OPENI_TGZ)
    if path is None or not path.is_file():
        raise KGError(f"Open-I reports archive not found ({OPENI_TGZ})")
    try:
        with tarfile.open(path, "r:*") as archive:
            members = sorted((m for m in archive.getmembers() if m.isfile() and m.name.endswith(".xml")),
                             key=lambda m: m.name)
            for member in members:
                handle = archive.extractfile(member)
                if handle is not None:
                    yield parse_report(handle.read())
    except (tarfile.TarError, OSError) as err:
        raise KGError(f"cannot read {path.name}: {err}") from err


def parse_report(xml_bytes: bytes) -> OpenIReport:
    """Parse one report's XML (bytes) into an :class:`OpenIReport`."""
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as err:
        raise KGError(f"malformed Open-I report XML: {err}") from err
    uid = root.find("uId")
    sections = {
        (node.get("Label") or "").upper(): " ".join((node.text or "").split())
        for node in root.iter("AbstractText")
    }
    mesh = root.find("MeSH")
    major = tuple(t.text.strip() for t in mesh.iter("major") if t.text) if mesh is not None else ()
    automatic = tuple(t.text.strip() for t in mesh.iter("automatic") if t.text) if mesh is not None else ()
    images = tuple(dict.fromkeys(img.get("id", "") for img in root.iter("parentImage") if img.get("id")))
    return OpenIReport(
        report_id=uid.get("id", "") if uid is not None else "",
        comparison=sections.get("COMPARISON", ""),
        indication=sections.get("INDICATION", ""),
        findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""),
        mesh_major=major,
        mesh_automatic=automatic,
        image_ids=images,
    )
