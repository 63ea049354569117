"""``AnatomyKG``: the query API over the built graph (ontology axioms + provenance evidence)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from kg.errors import QueryError, UnknownTermError
from kg.ontology import SYMMETRIC
from kg.types import NODE_TYPES, CrosswalkEntry, Match, Node, Ranked, Step

HIERARCHY = ("part_of", "is_a")
_LOADED: dict[str, AnatomyKG] = {}  # the last graph loaded in this process, by version key


class AnatomyKG:
    """The anatomy knowledge graph. Build or load it with :meth:`load`.

    Axiom edges (``is_a``, ``part_of``, ``has_finding_site``, ``may_indicate``,
    ``lateral_counterpart``, ``overlaps``, ``adjacent_to``) come from the ontology; evidence
    edges (``located_in`` with per-source study counts, ``co_occurs_with`` with PMI, weighted
    ``projects_onto``) live in a separate provenance block.
    """

    def __init__(self, *, graph: dict):
        self._graph = graph
        self.version: str = graph.get("version", "")
        self._nodes = {nid: Node.from_record(nid, rec) for nid, rec in graph["nodes"].items()}
        self._out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self._in: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for src, rel, dst in graph["edges"]:
            self._add(src, rel, dst)
            if rel in SYMMETRIC:
                self._add(dst, rel, src)
        evidence = graph.get("evidence", {})
        self._by_finding: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        self._by_anatomy: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        for finding, anatomy, source, count in evidence.get("located_in", []):
            self._by_finding[finding].append((anatomy, source, count))
            self._by_anatomy[anatomy].append((finding, source, count))
        self._projects: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for src, dst, weight, _note in graph.get("projections", []):
            self._projects[src].append((dst, float(weight)))
        self._resolver = None
        self._cache: dict = {}

    def _add(self, src: str, rel: str, dst: str) -> None:
        if dst not in self._out[rel][src]:
            self._out[rel][src].append(dst)
            self._in[rel][dst].append(src)

    # ----------------------------------------------------------------- loading
    @classmethod
    def load(cls, *, ontology: Path | str | None = None, data: Path | str | None = "default",
             rebuild: bool = False) -> AnatomyKG:
        """The cached graph for the current ontology + corpora (built on first use, < 30 s).

        Args:
            ontology: ontology folder (default :func:`kg.paths.ontology_dir`).
            data: torchxrayvision ``data/`` folder; ``"default"`` locates it, ``None`` builds
                from the ontology alone.
            rebuild: ignore the cache.
        """
        from kg.build import inputs, load_or_build

        onto = Path(ontology) if ontology else None
        key = inputs(onto=onto, data=data)[2]
        if key in _LOADED and not rebuild:  # same inputs in this process: reuse (the graph is read-only)
            return _LOADED[key]
        kg = cls(graph=load_or_build(onto=onto, data=data, rebuild=rebuild))
        while len(_LOADED) >= 4:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = kg
        return kg

    @property
    def raw(self) -> dict:
        """The JSON-ready built graph (read-only by convention)."""
        return self._graph

    def info(self) -> dict:
        """Node counts by type, edge counts by relation, evidence sources, what is missing, version."""
        nodes = {t: 0 for t in NODE_TYPES}
        for node in self._nodes.values():
            nodes[node.type] = nodes.get(node.type, 0) + 1
        edges: dict[str, int] = defaultdict(int)
        for _src, rel, _dst in self._graph["edges"]:
            edges[rel] += 1
        evidence = self._graph.get("evidence", {})
        edges["located_in"] = len(evidence.get("located_in", []))
        edges["co_occurs_with"] = len(evidence.get("cooccurs", []))
        edges["projects_onto"] = len(self._graph.get("projections", []))
        return {
            "version": self.version,
            "nodes": nodes,
            "edges": dict(edges),
            "sources": self._graph.get("sources", []),
            "evidence_studies": evidence.get("studies", {}),
            "source_weights": evidence.get("source_weights", {}),
            "min_cooccurrence": evidence.get("min_cooccurrence"),
            "crosswalks": {k: len(v) for k, v in self._graph.get("crosswalks", {}).items()},
            "missing": self._graph.get("missing", []),
            "problems": self._graph.get("problems", []),
            "build_seconds": self._graph.get("build_seconds"),
        }

    # ----------------------------------------------------------------- nodes
    def node(self, node_id: str) -> Node:
        """The node with this id; UnknownTermError (with suggestions) otherwise."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise UnknownTermError(node_id, self._suggest(node_id)) from None

    def nodes(self, type: str | None = None) -> list[Node]:  # noqa: A002 - contract name
        """All nodes (sorted by id), optionally of one type (anatomy, finding, disease, device, qualifier)."""
        if type is not None and type not in NODE_TYPES:
            raise QueryError(f"unknown node type {type!r}; use one of {', '.join(NODE_TYPES)}")
        return [n for _, n in sorted(self._nodes.items()) if type is None or n.type == type]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def resolve(self, text: str, *, types=None, limit: int = 5) -> list[Match]:
        """Nodes matching free text, best first (see :class:`kg.resolve.Resolver`); ``limit`` ≥ 1."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise QueryError(f"limit must be a positive whole number, not {limit!r}")
        if not isinstance(text, str):
            raise QueryError(f"resolve takes text, not {type(text).__name__}")
        if self._resolver is None:
            from kg.resolve import Resolver

            self._resolver = Resolver(kg=self)
        return self._resolver.resolve(text, types=types, limit=limit)

    def to_id(self, term: str, *, types=None) -> str:
        """An id unchanged, else the best :meth:`resolve` match's id."""
        if term in self._nodes and (types is None or self._nodes[term].type in _types(types)):
            return term
        return self.resolve(term, types=types, limit=1)[0].node.id

    def _suggest(self, term: str, n: int = 3) -> list[str]:
        try:
            return [m.node.id for m in self.resolve(term, limit=n)]
        except UnknownTermError as err:
            return err.suggestions

    # ----------------------------------------------------------------- structure
    def parents(self, node_id: str, relation: str = "part_of") -> list[str]:
        """Direct targets of ``relation`` from this node (part_of parents, is_a parents, …)."""
        self.node(node_id)
        return list(self._out[relation].get(node_id, []))

    def children(self, node_id: str, relation: str = "part_of") -> list[str]:
        """Direct sources of ``relation`` pointing at this node."""
        self.node(node_id)
        return list(self._in[relation].get(node_id, []))

    def ancestors(self, node_id: str, relation: str = "part_of") -> list[str]:
        """Transitive parents along ``relation``, nearest first (breadth-first)."""
        return self._walk(node_id, relation, self._out)

    def descendants(self, node_id: str, relation: str = "part_of") -> list[str]:
        """Transitive children along ``relation``, nearest first."""
        return self._walk(node_id, relation, self._in)

    def _walk(self, node_id: str, relation: str, adjacency) -> list[str]:
        key = (node_id, relation, adjacency is self._out)
        if key in self._cache:
            return list(self._cache[key])
        self.node(node_id)
        seen: dict[str, None] = {}
        frontier = [node_id]
        while frontier:
            nxt = []
            for cur in frontier:
                for other in adjacency[relation].get(cur, []):
                    if other not in seen and other != node_id:
                        seen[other] = None
                        nxt.append(other)
            frontier = nxt
        self._cache[key] = tuple(seen)
        return list(seen)

    def lateral_counterpart(self, node_id: str) -> str | None:
        """The other side's node (``left_lung`` → ``right_lung``), or None."""
        found = self.parents(node_id, "lateral_counterpart")
        return found[0] if found else None

    def edges(self, relation: str | None = None) -> list[tuple[str, str, str]]:
        """Axiom edges ``(source, relation, target)`` as stored in the ontology."""
        return [tuple(e) for e in self._graph["edges"] if relation is None or e[1] == relation]

    # ----------------------------------------------------------------- crosswalks
    def crosswalk(self, vocabulary: str, label: str | None = None) -> list[CrosswalkEntry]:
        """Crosswalk rows of a vocabulary, or those for one label (case-insensitive)."""
        tables = self._graph.get("crosswalks", {})
        if vocabulary not in tables:
            import difflib

            raise UnknownTermError(vocabulary, difflib.get_close_matches(vocabulary, list(tables), n=3, cutoff=0.3))
        rows = [CrosswalkEntry(label=r[0], ontology_id=r[1] or None, match=r[2], note=r[3]) for r in tables[vocabulary]]
        if label is None:
            return rows
        wanted = " ".join(label.split()).lower()
        hits = [r for r in rows if " ".join(r.label.split()).lower() == wanted]
        if not hits:
            import difflib

            raise UnknownTermError(label, difflib.get_close_matches(label, [r.label for r in rows], n=3, cutoff=0.5))
        return hits

    def cooccurrence(self, finding: str) -> list[tuple[str, int, float]]:
        """Findings co-labelled with this one in PadChest studies: ``(id, studies, pmi_bits)``, by PMI.

        Only pairs with at least ``info()["min_cooccurrence"]`` studies are kept.
        """
        fid = self.to_id(finding, types=("finding", "disease", "device"))
        out = []
        for a, b, n, pmi, *_ in self._graph.get("evidence", {}).get("cooccurs", []):
            if fid in (a, b):
                out.append((b if a == fid else a, int(n), float(pmi)))
        return sorted(out, key=lambda t: (-t[2], -t[1], t[0]))

    # ----------------------------------------------------------------- queries (kg.query)
    def findings_at(self, anatomy: str, *, include_parts: bool = True) -> list[Ranked]:
        """Findings seen at this anatomy (or its parts), ranked by evidence. See :func:`kg.query.findings_at`."""
        from kg.query import findings_at

        return findings_at(self, anatomy, include_parts=include_parts)

    def locations_of(self, finding: str, *, region_set: str | None = None) -> list[Ranked]:
        """Where a finding occurs, ranked. See :func:`kg.query.locations_of`."""
        from kg.query import locations_of

        return locations_of(self, finding, region_set=region_set)

    def project(self, anatomy: str, *, region_set="cig29") -> dict[str, float]:
        """Weights ``{region_id: w}`` with which evidence at ``anatomy`` reaches a region set.

        ``region_set``: a set name (``cig29``, ``cig36``, ``cig38_text``) or a collection of ids.
        Same walk as :meth:`locations_of` (itself, ``projects_onto`` rows, lateral split,
        nearest ``part_of`` ancestor in the set); ``{}`` when nothing in the set is reached.
        """
        from kg.query import _target_ids, project

        return dict(project(self, self.to_id(anatomy, types=("anatomy",)), frozenset(_target_ids(self, region_set) or ())))

    def path(self, a: str, b: str, *, k: int = 1) -> list[list[Step]]:
        """Up to ``k`` shortest labelled paths between two nodes. See :func:`kg.query.paths`."""
        from kg.query import paths

        return paths(self, a, b, k=k)

    # ----------------------------------------------------------------- model outputs
    def node_text(self, node_id: str) -> str:
        """Label + definition + synonyms of a node, the text embedded for the GNN's input features."""
        from kg.text import node_text

        return node_text(self.node(self.to_id(node_id)))

    def prompt(self, finding: str, region: str | None = None, *, negated: bool = False) -> str:
        """Graph-enriched prompt for a (finding, region) pair. See :func:`kg.text.prompt`."""
        from kg.text import prompt

        f = self.node(self.to_id(finding, types=("finding", "disease", "device")))
        r = self.node(self.to_id(region, types=("anatomy",))) if region else None
        return prompt(f, r, negated=negated)

    def location_prior(self, finding_ids, region_ids):
        """Soft prior ``[R, F]`` in (0, 1] of each finding at each region. See :func:`kg.labels.location_prior`."""
        from kg.labels import location_prior

        return location_prior(self, finding_ids, region_ids)

    def propagate_labels(self, labels, region_ids, finding_ids):
        """Propagate positive labels up ``part_of`` (regions) and ``is_a`` (findings). See :func:`kg.labels.propagate_labels`."""
        from kg.labels import propagate_labels

        return propagate_labels(self, labels, region_ids, finding_ids)

    def sparql(self, query: str, *, max_rows: int | None = None, timeout: float | None = None) -> list[dict]:
        """SPARQL SELECT/ASK over ontology + evidence; rows as ``{variable: value}``. See :func:`kg.rdf.sparql`.

        ``max_rows`` (default 50,000) and ``timeout`` seconds (default 10) bound the query; past
        either it stops with :class:`~kg.errors.QueryLimitError`. SERVICE, FROM and GRAPH are refused.
        """
        from kg.rdf import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, sparql

        return sparql(self, query, max_rows=DEFAULT_MAX_ROWS if max_rows is None else max_rows,
                      timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout)

    def export(self, fmt: str, out: Path | str) -> list[Path]:
        """Write the graph as ``ttl``, ``graphml`` or ``pyg`` (safetensors + JSON); returns the files."""
        from kg.export import export

        return export(self, fmt, Path(out))

    def to_hetero_data(self):
        """``(HeteroData, mapping)`` for PyTorch Geometric (imports torch). See :func:`kg.export.to_hetero_data`."""
        from kg.export import to_hetero_data

        return to_hetero_data(self)


def _types(types) -> tuple[str, ...]:
    return (types,) if isinstance(types, str) else tuple(types)
