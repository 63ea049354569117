"""``anatomy-vlm kg …``: query and export the knowledge graph. Never imports torch.

Subcommands: info, resolve, findings-at, locations-of, path, sparql, export; ``--json``
everywhere. Bad input raises a :class:`kg.errors.KGError` (the dispatcher prints one line and
exits 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kg.errors import KGError


def add_parser(subparsers, *, name: str = "kg", help: str = "query and export the anatomy knowledge graph") -> argparse.ArgumentParser:  # noqa: A002
    """Register ``kg`` and its subcommands on the dispatcher's subparsers; leaf parsers set ``func``
    (the dispatcher prints this group's help when no subcommand is given)."""
    parser = subparsers.add_parser(name, help=help, description="Query and export the anatomy knowledge graph "
                                   "(ontology + evidence mined from PadChest and Open-I). Every subcommand takes --json.")
    sub = parser.add_subparsers(dest="kg_command", metavar="SUBCOMMAND")

    def leaf(cmd: str, func, help_line: str) -> argparse.ArgumentParser:
        p = sub.add_parser(cmd, help=help_line, description=help_line)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
        p.set_defaults(func=func)
        return p

    leaf("info", _info, "node counts by type, edge counts by relation, sources, version")
    p = leaf("resolve", _resolve, "nodes matching free text (synonyms, abbreviations, misspellings), best first")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--type", action="append", dest="types", metavar="TYPE",
                   choices=["anatomy", "finding", "disease", "device", "qualifier"], help="restrict to a node type (repeatable)")
    p.add_argument("--limit", type=_positive_int, default=5, help="at most this many matches (default 5)")
    p = leaf("findings-at", _findings_at, "findings seen at an anatomy or its parts, ranked by evidence")
    p.add_argument("anatomy", metavar="ANATOMY")
    p.add_argument("--no-parts", action="store_true", help="only the anatomy itself, not its parts")
    p.add_argument("--limit", type=_positive_int, default=20, help="at most this many findings (default 20)")
    p = leaf("locations-of", _locations_of, "regions where a finding occurs, ranked")
    p.add_argument("finding", metavar="FINDING")
    p.add_argument("--region-set", default="cig29", metavar="NAME",
                   help="answer in this region set's terms (cig29 default, cig36, cig38_text) or 'raw' for the anatomy the sources name")
    p.add_argument("--limit", type=_positive_int, default=20, help="at most this many regions (default 20)")
    p = leaf("path", _path, "shortest labelled path(s) between two nodes")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("-k", type=_positive_int, default=1, help="number of shortest paths (default 1)")
    p = leaf("sparql", _sparql, "SPARQL SELECT over the ontology and the evidence graph")
    p.add_argument("query", metavar="QUERY|FILE")
    p.add_argument("--max-rows", type=_positive_int, default=None, metavar="N",
                   help="stop (exit 2) when the answer has more rows than this (default 50000)")
    p.add_argument("--timeout", type=_positive_seconds, default=None, metavar="SECONDS",
                   help="stop (exit 2) after this many seconds of evaluation (default 10)")
    p = leaf("export", _export, "export the graph as Turtle, GraphML or PyG tensors")
    p.add_argument("--format", required=True, choices=["ttl", "graphml", "pyg"])
    p.add_argument("--out", required=True, type=Path, metavar="PATH")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _positive_seconds(text: str) -> float:
    from kg.rdf import MAX_TIMEOUT_S

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT_S:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds, not {text}")
    return value


def _kg():
    from kg.graph import AnatomyKG

    return AnatomyKG.load()


def _emit(args, payload, lines: list[str]) -> int:
    if args.json:
        json.dump(payload, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    return 0


def _info(args) -> int:
    info = _kg().info()
    lines = [f"version: {info['version']}", "nodes: " + ", ".join(f"{k} {v}" for k, v in info["nodes"].items()),
             "edges: " + ", ".join(f"{k} {v}" for k, v in sorted(info["edges"].items())),
             "evidence: " + (", ".join(f"{k} {v} studies" for k, v in info["evidence_studies"].items()) or "none")]
    lines += [f"missing: {m}" for m in info["missing"]] + [f"problem: {p}" for p in info["problems"]]
    return _emit(args, info, lines)


def _resolve(args) -> int:
    matches = _kg().resolve(args.text, types=args.types, limit=args.limit)
    payload = {"query": args.text, "matches": [m.to_json() for m in matches]}
    lines = [f"{m.score:.2f}  {m.node.id}  ({m.node.label}, {m.node.type})  via {m.matched_text!r}"
             + (f"  at {', '.join(m.locations)}" if m.locations else "")
             + (f"  [{', '.join(m.qualifiers)}]" if m.qualifiers else "") for m in matches]
    return _emit(args, payload, lines)


def _ranked_lines(results) -> list[str]:
    return [f"{r.score:.4f}  {r.count:>6}  {r.node.id}  [{r.relation}]  "
            + " ".join(f"{s}={n}" for s, n in r.sources.items()) for r in results]


def _findings_at(args) -> int:
    kg = _kg()
    anatomy = kg.node(kg.to_id(args.anatomy, types=("anatomy",)))
    results = kg.findings_at(anatomy.id, include_parts=not args.no_parts)[: args.limit]
    payload = {"anatomy": anatomy.to_json(), "include_parts": not args.no_parts, "results": [r.to_json() for r in results]}
    return _emit(args, payload, [f"findings at {anatomy.id} ({anatomy.label}):", *_ranked_lines(results)])


def _locations_of(args) -> int:
    from kg.sets import region_set

    kg = _kg()
    finding = kg.node(kg.to_id(args.finding, types=("finding", "disease", "device")))
    raw = args.region_set in ("raw", "none")
    named = None if raw else region_set(args.region_set)
    results = kg.locations_of(finding.id, region_set=None if raw else args.region_set)[: args.limit]
    payload = {"finding": finding.to_json(), "region_set": named.name if named else None,
               "region_set_hash": named.hash if named else None, "results": [r.to_json() for r in results]}
    head = f"locations of {finding.id} ({finding.label}) in {named.name if named else 'source anatomy'}:"
    return _emit(args, payload, [head, *_ranked_lines(results)])


def _path(args) -> int:
    kg = _kg()
    a, b = kg.node(kg.to_id(args.a)), kg.node(kg.to_id(args.b))
    found = kg.path(a.id, b.id, k=args.k)

    def step_json(s):
        return {**s.to_json(), "source_label": kg.node(s.source).label, "target_label": kg.node(s.target).label}

    payload = {"from": a.to_json(), "to": b.to_json(), "paths": [[step_json(s) for s in p] for p in found]}
    lines = []
    for p in found:
        text = a.label
        for s in p:
            arrow = f"<-{s.relation}-" if s.inverse else f"-{s.relation}->"
            text += f" {arrow} {kg.node(s.target).label}"
        lines.append(text)
    if not found:
        lines.append(f"no path between {a.id} and {b.id}")
    return _emit(args, payload, lines)


def _sparql(args) -> int:
    text = args.query
    path = Path(text)
    looks_like_file = "\n" not in text and " " not in text.strip() and (path.suffix in (".rq", ".sparql", ".txt") or "/" in text)
    if looks_like_file or _is_file(path):
        if not _is_file(path):
            raise KGError(f"SPARQL file not found: {text}")
        from kg.rdf import MAX_QUERY_CHARS

        if path.stat().st_size > 4 * MAX_QUERY_CHARS:
            raise KGError(f"SPARQL file {text} is {path.stat().st_size} bytes; a query is at most {MAX_QUERY_CHARS} characters")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise KGError(f"SPARQL file is not UTF-8 text: {text}") from None
    rows = _kg().sparql(text, max_rows=args.max_rows, timeout=args.timeout)
    lines = ["\t".join(str(v) for v in row.values()) for row in rows]
    if rows:
        lines.insert(0, "\t".join(rows[0].keys()))
    return _emit(args, {"rows": rows}, lines)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. ENAMETOOLONG: a long one-line query is text, not a path
        return False


def _export(args) -> int:
    files = _kg().export(args.format, args.out)
    return _emit(args, {"format": args.format, "files": [str(f) for f in files]}, [f"wrote {f}" for f in files])
