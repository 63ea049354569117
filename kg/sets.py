"""Named, ordered region and finding sets (the label contract), read from ``sets.json``.

A set's order is part of the contract: tensor rows/columns follow it. Its ``hash`` is the first
16 hex digits of the sha256 of the ordered ids joined by newlines, so any change of content or
order changes the hash. Reading a set needs no KG build.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kg.errors import OntologyError, UnknownTermError
from kg.paths import ontology_dir

__all__ = ["NamedSet", "region_set", "finding_set", "set_names", "ids_hash"]


@dataclass(frozen=True)
class NamedSet:
    """An ordered list of ontology ids with a name and a content hash."""

    name: str
    ids: tuple[str, ...]
    hash: str

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, node_id: str) -> int:
        """Row/column of ``node_id`` in this set (ValueError when absent)."""
        return self.ids.index(node_id)

    def to_json(self) -> dict:
        return {"name": self.name, "ids": list(self.ids), "hash": self.hash}


def ids_hash(ids: tuple[str, ...] | list[str]) -> str:
    """Short content hash (16 hex digits of sha256) of an ordered id list."""
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=8)
def _read_sets(path: str, mtime_ns: int) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise OntologyError(f"cannot read {Path(path).name}: {err}") from err
    if not isinstance(data, dict):
        raise OntologyError(f"{Path(path).name}: expected a JSON object")
    return data


def _sets(kind: str, folder: Path | None = None) -> dict[str, list[str]]:
    path = (folder or ontology_dir()) / "sets.json"
    if not path.is_file():
        raise OntologyError(f"sets file missing: {path.name} in the ontology folder")
    data = _read_sets(str(path), path.stat().st_mtime_ns)
    return dict(data.get(kind, {}))


def _named(kind: str, name: str, folder: Path | None) -> NamedSet:
    sets = _sets(kind, folder)
    if name not in sets:
        import difflib

        raise UnknownTermError(name, difflib.get_close_matches(name, list(sets), n=3, cutoff=0.3))
    ids = tuple(str(i) for i in sets[name])
    if len(set(ids)) != len(ids):
        raise OntologyError(f"{kind} {name!r} lists an id twice")
    return NamedSet(name=name, ids=ids, hash=ids_hash(ids))


def region_set(name: str = "cig29", *, folder: Path | None = None) -> NamedSet:
    """The named region set (``cig29`` default, ``cig36``, ``cig38_text``)."""
    return _named("region_sets", name, folder)


def finding_set(name: str = "core", *, folder: Path | None = None) -> NamedSet:
    """The named finding set (``core`` = what the phantom renders, and others in sets.json)."""
    return _named("finding_sets", name, folder)


def set_names(*, folder: Path | None = None) -> dict[str, list[str]]:
    """Names of the available sets: ``{"region_sets": [...], "finding_sets": [...]}``."""
    return {kind: sorted(_sets(kind, folder)) for kind in ("region_sets", "finding_sets")}
