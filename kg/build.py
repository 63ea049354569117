"""Build the knowledge graph (ontology + mined evidence) and cache it as JSON.

The cache key hashes: the graph format version, the kg modules that shape the graph, every
ontology file (content), and each corpus file (name, size, mtime). A built graph is written
atomically (temp file + ``os.replace``) to ``<cache_dir>/kg/graph-<key>.json``; no pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from kg.errors import OntologyError
from kg.paths import cache_dir, ontology_dir, xrv_data_dir
from kg.sources import OPENI_TGZ, PADCHEST_CSV

GRAPH_FORMAT = 1
_BUILDER_MODULES = ("build.py", "ontology.py", "mapping.py", "evidence.py", "sources/padchest.py", "sources/openi.py")
CORPORA = {"padchest": PADCHEST_CSV, "openi": OPENI_TGZ}
KEEP_BUILDS = 8  # cached graphs kept per cache folder (e.g. with and without corpora, fixtures)


def ontology_files(folder: Path) -> list[Path]:
    """Every file of the ontology folder that shapes the graph (ttl, tsv, json), sorted."""
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".ttl", ".tsv", ".json")]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


_KEYS: dict[tuple, str] = {}  # file signature (path, size, mtime) -> version key, per process


def version_key(onto: Path, data: Path | None) -> str:
    """Short hash identifying a build: format, builder code, ontology content, corpus files.

    The content hash is computed once per process for a given set of file sizes and
    modification times; an edited file changes its signature and is hashed again.
    """
    here = Path(__file__).resolve().parent
    code = [here / name for name in _BUILDER_MODULES]
    files = ontology_files(onto)
    corpora = sorted(_corpora(data).items())
    signature = (GRAPH_FORMAT, str(onto), *(_stat(p) for p in (*code, *files)),
                 *((name, _stat(path) if path else None) for name, path in corpora))
    if signature in _KEYS:
        return _KEYS[signature]
    digest = hashlib.sha256(f"format={GRAPH_FORMAT}".encode())
    for name, path in zip(_BUILDER_MODULES, code, strict=True):
        digest.update(name.encode() + path.read_bytes())
    for path in files:
        digest.update(path.relative_to(onto).as_posix().encode() + path.read_bytes())
    for name, path in corpora:
        stat = path.stat() if path else None
        digest.update(f"{name}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}".encode())
    _KEYS[signature] = key = digest.hexdigest()[:16]
    return key


def _stat(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _corpora(data: Path | None) -> dict[str, Path | None]:
    out: dict[str, Path | None] = {}
    for name, filename in CORPORA.items():
        path = data / filename if data is not None else None
        out[name] = path if path is not None and path.is_file() else None
    return out


def build_graph(onto: Path, data: Path | None) -> dict:
    """Build the JSON-ready graph: nodes, axiom edges, crosswalks, projections, evidence."""
    from kg import evidence as ev
    from kg.mapping import TermMapper
    from kg.ontology import (
        parse_graph,
        read_classes,
        read_crosswalks,
        read_projections,
        turtle_files,
    )

    started = time.perf_counter()
    files = turtle_files(onto)
    if not files:
        raise OntologyError(f"no Turtle (*.ttl) files in the ontology folder {onto.name}/")
    nodes, edges = read_classes(parse_graph(files))
    crosswalks = read_crosswalks(onto)
    projections, problems = _check_projections(read_projections(onto), nodes)
    mapper = TermMapper(nodes=nodes, edges=edges, crosswalks=crosswalks)
    parts, missing, sources = [], [], []
    corpora = _corpora(data)
    for name, path in corpora.items():
        if path is None:
            where = "torchxrayvision data folder not found" if data is None else f"not in {data.name}/"
            missing.append(f"{name}: {CORPORA[name]} ({where}); its evidence is absent")
            continue
        miner = ev.mine_padchest if name == "padchest" else ev.mine_openi
        parts.append(miner(mapper, path))
        sources.append({"name": name, "file": CORPORA[name], "bytes": path.stat().st_size})
    return {
        "format": GRAPH_FORMAT,
        "nodes": nodes,
        "edges": edges,
        "crosswalks": crosswalks,
        "projections": projections,
        "evidence": ev.merge(parts),
        "sources": sources,
        "missing": missing,
        "problems": problems,
        "ontology_files": [p.relative_to(onto).as_posix() for p in ontology_files(onto)],
        "build_seconds": round(time.perf_counter() - started, 3),
    }


def _check_projections(rows: list[list], nodes: dict) -> tuple[list[list], list[str]]:
    kept, problems = [], []
    for src, dst, weight, note in rows:
        bad = [i for i in (src, dst) if i not in nodes]
        if bad:
            problems.append(f"projections.tsv: unknown id(s) {', '.join(bad)}")
        elif weight > 0:
            kept.append([src, dst, weight, note])
    return kept, problems


def inputs(*, onto: Path | None = None, data: Path | None | str = "default") -> tuple[Path, Path | None, str]:
    """``(ontology folder, corpora folder or None, version key)`` for these build inputs.

    ``data="default"`` uses :func:`kg.paths.xrv_data_dir`; ``None`` builds from the ontology alone.
    """
    onto = onto or ontology_dir()
    data_dir = xrv_data_dir() if data == "default" else (Path(data) if data else None)
    return onto, data_dir, version_key(onto, data_dir)


def load_or_build(*, onto: Path | None = None, data: Path | None | str = "default", rebuild: bool = False) -> dict:
    """The built graph for these inputs: from the cache when present, else built and cached."""
    onto, data_dir, key = inputs(onto=onto, data=data)
    path = cache_dir() / "kg" / f"graph-{key}.json"
    if path.is_file() and not rebuild:
        try:
            graph = json.loads(path.read_text(encoding="utf-8"))
            if graph.get("format") == GRAPH_FORMAT:
                graph["version"] = key
                return graph
        except (OSError, json.JSONDecodeError):
            pass  # a damaged cache entry is rebuilt
    graph = build_graph(onto, data_dir)
    graph["version"] = key
    _atomic_write_json(path, graph)
    _prune(path.parent, keep=KEEP_BUILDS)
    return graph


def _prune(folder: Path, *, keep: int) -> None:
    """Drop all but the ``keep`` most recently written graphs (other inputs, older versions)."""
    graphs = sorted(folder.glob("graph-*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in graphs[keep:]:
        old.unlink(missing_ok=True)


def _atomic_write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)
