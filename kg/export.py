"""Export the graph: Turtle (OWL + evidence), GraphML, and PyG tensors (safetensors + JSON ids).

No pickle anywhere. ``pyg`` export writes numpy arrays with ``safetensors.numpy`` (no torch
import, so ``anatomy-vlm kg export`` stays light); :func:`load_hetero_data` and
:func:`to_hetero_data` turn them into a ``torch_geometric.data.HeteroData`` (imports torch).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np

from kg.errors import KGError, QueryError

PYG_FORMAT = "anatomy-vlm-kg-pyg/1"
FORMATS = ("ttl", "graphml", "pyg")


def export(kg, fmt: str, out: Path) -> list[Path]:
    """Write the graph in ``fmt`` to ``out``; returns the written files.

    ``ttl``/``graphml``: ``out`` is the file. ``pyg``: ``out`` is the ``.safetensors`` file
    (suffix added when missing) and its id mapping goes beside it as ``<stem>.mapping.json``.

    All or nothing: every part is written to a temporary beside its target and flushed to disk;
    the targets are replaced only when all parts are written. A target that exists must be a
    regular file (a folder, device, pipe or socket is refused before anything is written). On
    any failure, SIGINT or SIGTERM the temporaries are removed and the old files stay as they were;
    an OSError (full or read-only disk…) becomes one :class:`~kg.errors.KGError` line.
    """
    if fmt not in FORMATS:
        raise QueryError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = Path(out)
    _check_target(out)  # also the path as given, before a suffix is added (``--out /dev/full``)
    if fmt == "pyg" and out.suffix != ".safetensors":
        out = out.with_name(out.name + ".safetensors")
    targets = [out] if fmt != "pyg" else [out, out.with_name(out.name[: -len(".safetensors")] + ".mapping.json")]
    for target in targets:
        _check_target(target)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KGError(f"cannot create the folder of {out}: {err.strerror or err}") from None
    return _write_all(targets, lambda: _payloads(kg, fmt))


def _payloads(kg, fmt: str) -> list[bytes]:
    """The bytes of every part, in the order of the targets."""
    if fmt == "ttl":
        from kg.rdf import rdf_graph

        data = rdf_graph(kg).serialize(format="turtle")
        return [data.encode("utf-8") if isinstance(data, str) else data]
    if fmt == "graphml":
        return [_graphml_bytes(kg)]
    from safetensors.numpy import save

    arrays, mapping = hetero_arrays(kg)
    return [save(arrays, metadata={"format": PYG_FORMAT, "kg_version": kg.version}),
            (json.dumps(mapping, indent=1) + "\n").encode("utf-8")]


def _check_target(target: Path) -> None:
    """Refuse a target that exists and is not a regular file (followed through symlinks)."""
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise KGError(f"cannot write {target}: {err.strerror or err}") from None
    if not stat.S_ISREG(mode):
        raise KGError(f"--out {target} is {_kind(mode)}, not a regular file; give a file path")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _write_all(targets: list[Path], payloads) -> list[Path]:
    """Temporaries first, then replace every target; temporaries removed on any failure or signal."""
    temps: list[Path] = []
    with _cleanup_on_signal():
        try:
            for target, data in zip(targets, payloads(), strict=True):
                _write_synced(_temporary(target, temps), data)
            for target in targets:  # a target swapped for a special file meanwhile is still refused
                _check_target(target)
            for temp, target in zip(temps, targets, strict=True):
                os.replace(temp, target)
            return targets
        except OSError as err:
            raise KGError(f"export failed writing {getattr(err, 'filename', None) or targets[0]}: "
                          f"{err.strerror or err}; nothing was replaced") from None
        finally:
            for temp in temps:
                temp.unlink(missing_ok=True)


def _temporary(target: Path, temps: list[Path]) -> Path:
    """An exclusive new file beside ``target`` (listed in ``temps`` at once, for the cleanup) with
    the mode the target has, or would get from the umask."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temps.append(Path(name))
    try:
        os.fchmod(fd, stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask())
    finally:
        os.close(fd)
    return temps[-1]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _cleanup_on_signal():
    """SIGTERM raises SystemExit(143) while exporting, so ``finally`` blocks remove temporaries
    (SIGINT already raises KeyboardInterrupt). Only the main thread can set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _graphml_bytes(kg) -> bytes:
    import networkx as nx

    graph = nx.MultiDiGraph(kg_version=kg.version)
    for node in kg.nodes():
        graph.add_node(node.id, label=node.label, type=node.type, radlex=node.radlex or "", umls=node.umls or "",
                       synonyms="|".join(node.synonyms), definition=node.definition or "",
                       laterality=node.laterality or "")
    for src, rel, dst in kg.raw["edges"]:
        graph.add_edge(src, dst, key=rel, relation=rel, provenance="ontology")
    for f, a, source, n in kg.raw.get("evidence", {}).get("located_in", []):
        graph.add_edge(f, a, key=f"located_in:{source}", relation="located_in", provenance=source, studies=int(n))
    for a, b, n, pmi, *_ in kg.raw.get("evidence", {}).get("cooccurs", []):
        graph.add_edge(a, b, key="co_occurs_with", relation="co_occurs_with", provenance="padchest",
                       studies=int(n), pmi=float(pmi))
    for a, r, w, _note in kg.raw.get("projections", []):
        graph.add_edge(a, r, key="projects_onto", relation="projects_onto", provenance="projections.tsv", weight=float(w))
    return ("\n".join(nx.generate_graphml(graph)) + "\n").encode("utf-8")


def hetero_arrays(kg) -> tuple[dict[str, np.ndarray], dict]:
    """Edge arrays per PyG edge type and the id mapping (numpy only).

    Keys: ``edge_index|<src_type>|<relation>|<dst_type>`` int64 ``[2, E]`` (row indices into
    ``mapping["node_types"][type]``) and ``edge_attr|…`` float32 ``[E, A]`` with column names
    in ``mapping["edge_attr_names"]``: axioms ``[1]``; ``located_in`` studies per evidence
    source; ``co_occurs_with`` ``[studies, pmi]``; ``projects_onto`` ``[weight]``.
    """
    node_types: dict[str, list[str]] = defaultdict(list)
    for node in kg.nodes():
        node_types[node.type].append(node.id)
    index = {nid: i for ids in node_types.values() for i, nid in enumerate(ids)}
    kind = {node.id: node.type for node in kg.nodes()}
    edges: dict[tuple, list] = defaultdict(list)
    attrs: dict[tuple, list] = defaultdict(list)
    names: dict[tuple, list[str]] = {}
    for src, rel, dst in kg.raw["edges"]:
        et = (kind[src], rel, kind[dst])
        edges[et].append((index[src], index[dst]))
        attrs[et].append([1.0])
        names[et] = ["axiom"]
    sources = sorted(kg.raw.get("evidence", {}).get("studies", {}))
    located: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * len(sources))
    for f, a, source, n in kg.raw.get("evidence", {}).get("located_in", []):
        located[(f, a)][sources.index(source)] += n
    for (f, a), counts in sorted(located.items()):
        et = (kind[f], "located_in", kind[a])
        edges[et].append((index[f], index[a]))
        attrs[et].append(counts)
        names[et] = [f"studies_{s}" for s in sources]
    for a, b, n, pmi, *_ in kg.raw.get("evidence", {}).get("cooccurs", []):
        et = (kind[a], "co_occurs_with", kind[b])
        edges[et].append((index[a], index[b]))
        attrs[et].append([float(n), float(pmi)])
        names[et] = ["studies", "pmi"]
    for a, r, w, _note in kg.raw.get("projections", []):
        et = (kind[a], "projects_onto", kind[r])
        edges[et].append((index[a], index[r]))
        attrs[et].append([float(w)])
        names[et] = ["weight"]
    arrays: dict[str, np.ndarray] = {}
    for et in sorted(edges):
        key = "|".join(et)
        arrays[f"edge_index|{key}"] = np.asarray(edges[et], dtype=np.int64).T.copy()
        arrays[f"edge_attr|{key}"] = np.asarray(attrs[et], dtype=np.float32)
    mapping = {
        "format": PYG_FORMAT,
        "kg_version": kg.version,
        "node_types": {t: ids for t, ids in sorted(node_types.items())},
        "edge_types": [list(et) for et in sorted(edges)],
        "edge_attr_names": {"|".join(et): names[et] for et in sorted(edges)},
    }
    return arrays, mapping


def _hetero(arrays: dict[str, np.ndarray], mapping: dict):
    import torch
    from torch_geometric.data import HeteroData

    data = HeteroData()
    for node_type, ids in mapping["node_types"].items():
        data[node_type].num_nodes = len(ids)
    for src, rel, dst in mapping["edge_types"]:
        key = f"{src}|{rel}|{dst}"
        data[src, rel, dst].edge_index = torch.from_numpy(np.ascontiguousarray(arrays[f"edge_index|{key}"]))
        data[src, rel, dst].edge_attr = torch.from_numpy(np.ascontiguousarray(arrays[f"edge_attr|{key}"]))
    return data


def to_hetero_data(kg):
    """``(HeteroData, mapping)``: node types with ``num_nodes``, per edge type ``edge_index`` [2, E] and ``edge_attr`` [E, A].

    ``mapping["node_types"][type][i]`` is the ontology id of row ``i`` of that node type.
    """
    arrays, mapping = hetero_arrays(kg)
    return _hetero(arrays, mapping), mapping


def load_hetero_data(path: Path | str):
    """Load a ``pyg`` export (``.safetensors`` + ``.mapping.json`` beside it) as ``(HeteroData, mapping)``."""
    from safetensors.numpy import load_file

    path = Path(path)
    mapping_path = path.with_name(path.name[: -len(".safetensors")] + ".mapping.json")
    if not path.is_file() or not mapping_path.is_file():
        raise KGError(f"pyg export incomplete: need {path.name} and {mapping_path.name}")
    mapping = json.loads(mapping_path.read_text(encoding="utf-8"))
    if mapping.get("format") != PYG_FORMAT:
        raise KGError(f"{mapping_path.name}: not an {PYG_FORMAT} mapping")
    return _hetero(load_file(str(path)), mapping), mapping
