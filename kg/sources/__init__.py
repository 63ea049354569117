"""Readers for the real report corpora shipped in torchxrayvision's ``data/`` folder.

Public, reusable by the data loaders and the report grounder:

- :mod:`kg.sources.padchest`: :func:`~kg.sources.padchest.iter_studies` (one record per
  StudyID), :func:`~kg.sources.padchest.sentence_pairs`, :func:`~kg.sources.padchest.parse_list`;
- :mod:`kg.sources.openi`: :func:`~kg.sources.openi.iter_reports`,
  :func:`~kg.sources.openi.parse_mesh`.

Files are located with :func:`kg.paths.xrv_data_dir` (``$ANATOMY_VLM_XRV_DATA`` overrides;
an empty value means "no corpora"). Nothing here imports torch or pandas.
"""

from __future__ import annotations

from pathlib import Path

from kg.paths import xrv_data_dir

PADCHEST_CSV = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"
OPENI_TGZ = "NLMCXR_reports.tgz"


def source_file(name: str, data_dir: Path | None = None) -> Path | None:
    """Path of a corpus file in the data folder, or None when the folder or file is absent."""
    folder = data_dir if data_dir is not None else xrv_data_dir()
    if folder is None:
        return None
    path = Path(folder) / name
    return path if path.is_file() else None
