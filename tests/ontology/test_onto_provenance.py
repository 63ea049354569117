"""ontology/README.md keeps the schema and a provenance table whose checksums match the files."""

from __future__ import annotations

import hashlib
import re

import pytest

from kg.paths import xrv_data_dir
from tests.ontology.onto_support import ONTOLOGY_DIR

README = (ONTOLOGY_DIR / "README.md").read_text(encoding="utf-8")
XRV = xrv_data_dir()


def provenance_checksums() -> dict[str, str]:
    """``{file name: sha256}`` for every row of the provenance table that names a data file."""
    table = README.split("## Provenance", 1)[1]
    out = {}
    for line in table.splitlines():
        files = re.findall(r"`([\w.\-]+\.(?:gz|zip|tgz))`", line)
        sums = re.findall(r"`([0-9a-f]{64})`", line)
        if files and len(files) == len(sums):
            out.update(zip(files, sums, strict=True))
    return out


def test_schema_and_provenance_sections():
    assert "## Schema (the contract every part reads)" in README
    assert "## Provenance" in README
    for source in ("PadChest", "Open-I", "RadLex", "UMLS", "CheXpert", "VinDr", "RSNA", "SIIM", "ChestX-ray14"):
        assert source in README.split("## Provenance", 1)[1], source
    assert len(provenance_checksums()) == 8


@pytest.mark.parametrize("name", sorted(provenance_checksums()))
def test_checksum_matches_file(name):
    assert XRV is not None, "torchxrayvision's data folder not found (a hard dependency)"
    path = XRV / name
    assert path.is_file(), f"{name} not in torchxrayvision's data folder {XRV}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == provenance_checksums()[name]
