"""Where kg finds its inputs and keeps its cache. Nothing here imports torch.

- ontology files: ``$ANATOMY_VLM_ONTOLOGY``, else the wheel's package data ``kg._ontology``,
  else the source tree's ``ontology/`` (editable installs);
- torchxrayvision's ``data/`` folder (real report corpora): ``$ANATOMY_VLM_XRV_DATA``, else
  located with ``importlib.util.find_spec`` without importing the package;
- cache of built graphs: ``$ANATOMY_VLM_CACHE``, else ``~/.cache/anatomy-vlm``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from kg.errors import OntologyError


def ontology_dir() -> Path:
    """The folder holding the ontology's Turtle files, crosswalks and sets."""
    env = os.environ.get("ANATOMY_VLM_ONTOLOGY")
    if env:
        path = Path(env)
        if not path.is_dir():
            raise OntologyError(f"ANATOMY_VLM_ONTOLOGY={env} is not a folder")
        return path
    spec = importlib.util.find_spec("kg._ontology")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "sets.json").is_file():
                return Path(location)
    source_tree = Path(__file__).resolve().parent.parent / "ontology"
    if (source_tree / "sets.json").is_file():
        return source_tree
    raise OntologyError("ontology files not found: reinstall anatomy-vlm or set ANATOMY_VLM_ONTOLOGY")


def xrv_data_dir() -> Path | None:
    """torchxrayvision's ``data/`` folder, or None when the package is not installed."""
    env = os.environ.get("ANATOMY_VLM_XRV_DATA")
    if env is not None:
        return Path(env) if env and Path(env).is_dir() else None
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).parent / "data"
    return data if data.is_dir() else None


def cache_dir() -> Path:
    """Folder for built graphs and other derived artefacts (created on demand)."""
    root = Path(os.environ.get("ANATOMY_VLM_CACHE") or Path.home() / ".cache" / "anatomy-vlm")
    root.mkdir(parents=True, exist_ok=True)
    return root
