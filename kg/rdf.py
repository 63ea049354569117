"""RDF view of the built graph (rdflib, imported lazily): Turtle export and SPARQL SELECT.

The graph holds the ontology as OWL (classes, labels, ids, ``rdfs:subClassOf`` and
``owl:someValuesFrom`` restrictions) plus the provenance graph of evidence as individuals:

- ``?e a avlm:LocatedInEvidence ; avlm:finding ?f ; avlm:anatomy ?a ; avlm:evidence_source "padchest_physician" ; avlm:studies 123``
- ``?e a avlm:CooccurrenceEvidence ; avlm:finding ?f ; avlm:other_finding ?g ; avlm:studies n ; avlm:pmi x``
- ``?e a avlm:ProjectionEvidence ; avlm:anatomy ?a ; avlm:region ?r ; avlm:weight w``

For querying, SPARQL additionally sees direct class-to-class shortcuts: ``?a avlm:part_of ?b``
(and every other axiom relation), ``?f avlm:is_a ?g``, ``?f avlm:located_in ?a`` (any
evidence), ``?f avlm:co_occurs_with ?g`` and ``?a avlm:projects_onto ?r``.
"""

from __future__ import annotations

import os
import sys
import time

from kg.errors import KGError, QueryError, QueryLimitError
from kg.ontology import NS

DEFAULT_MAX_ROWS = 50_000
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 3600.0
MAX_QUERY_CHARS = 100_000
MAX_MEMORY_GROWTH_MIB = 512

_TOP = {"anatomy": "AnatomicalEntity", "finding": "Finding", "disease": "Disease",
        "device": "SupportDevice", "qualifier": "Qualifier"}
_PREFIXES = {"avlm": NS, "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
             "owl": "http://www.w3.org/2002/07/owl#", "skos": "http://www.w3.org/2004/02/skos/core#",
             "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "xsd": "http://www.w3.org/2001/XMLSchema#"}


def rdf_graph(kg, *, shortcuts: bool = False):
    """The rdflib Graph of ontology + evidence (cached per KG; ``shortcuts`` adds direct triples)."""
    key = ("rdf", shortcuts)
    if key in kg._cache:
        return kg._cache[key]
    from rdflib import OWL, RDF, RDFS, BNode, Graph, Literal, Namespace, URIRef
    from rdflib.namespace import SKOS, XSD

    avlm = Namespace(NS)
    g = Graph(store="SimpleMemory")  # no named graphs here; ~40% faster to fill than the default store
    for prefix, iri in _PREFIXES.items():
        g.bind(prefix, iri)
    g.add((URIRef(NS.rstrip("#")), RDF.type, OWL.Ontology))
    for top in _TOP.values():
        g.add((avlm[top], RDF.type, OWL.Class))
    for node in kg.nodes():
        s = avlm[node.id]
        g.add((s, RDF.type, OWL.Class))
        g.add((s, RDFS.label, Literal(node.label, lang="en")))
        for syn in node.synonyms:
            g.add((s, SKOS.altLabel, Literal(syn, lang="en")))
        for abbr in node.abbreviations:
            g.add((s, avlm.abbreviation, Literal(abbr)))
        if node.definition:
            g.add((s, SKOS.definition, Literal(node.definition, lang="en")))
        for attr in ("radlex", "umls", "laterality", "cig_name", "cig_short"):
            if getattr(node, attr):
                g.add((s, avlm[attr], Literal(getattr(node, attr))))
        for xref in node.xrefs:
            g.add((s, avlm.xref, Literal(xref)))
        if not kg.parents(node.id, "is_a"):
            g.add((s, RDFS.subClassOf, avlm[_TOP[node.type]]))
        g.add((s, avlm.node_type, Literal(node.type)))
    for src, rel, dst in kg.raw["edges"]:
        if rel == "is_a":
            g.add((avlm[src], RDFS.subClassOf, avlm[dst]))
        else:
            restriction = BNode()
            g.add((restriction, RDF.type, OWL.Restriction))
            g.add((restriction, OWL.onProperty, avlm[rel]))
            g.add((restriction, OWL.someValuesFrom, avlm[dst]))
            g.add((avlm[src], RDFS.subClassOf, restriction))
        if shortcuts:
            g.add((avlm[src], avlm[rel], avlm[dst]))
    _add_evidence(kg, g, avlm, Literal, RDF, XSD, shortcuts)
    kg._cache[key] = g
    return g


def _declare(g, avlm, RDF) -> None:
    from rdflib import OWL

    for cls in ("LocatedInEvidence", "CooccurrenceEvidence", "ProjectionEvidence"):
        g.add((avlm[cls], RDF.type, OWL.Class))
    for prop in ("finding", "other_finding", "anatomy", "region"):
        g.add((avlm[prop], RDF.type, OWL.ObjectProperty))
    for prop in ("evidence_source", "studies", "pmi", "weight"):
        g.add((avlm[prop], RDF.type, OWL.DatatypeProperty))
    g.add((avlm.node_type, RDF.type, OWL.AnnotationProperty))


def _add_evidence(kg, g, avlm, Literal, RDF, XSD, shortcuts: bool) -> None:
    """Evidence rows as reified nodes (~80k triples): terms are built once and added in bulk."""
    _declare(g, avlm, RDF)
    evidence = kg.raw.get("evidence", {})
    node_uri: dict[str, object] = {}

    def uri(node_id: str):
        term = node_uri.get(node_id)
        if term is None:
            term = node_uri[node_id] = avlm[node_id]
        return term

    literals: dict[object, object] = {}

    def literal(value, datatype=None):
        key = (value, datatype)
        term = literals.get(key)
        if term is None:
            term = literals[key] = Literal(value, datatype=datatype)
        return term

    a_type, p_finding, p_other, p_anatomy, p_region = RDF.type, avlm.finding, avlm.other_finding, avlm.anatomy, avlm.region
    p_source, p_studies, p_pmi, p_weight = avlm.evidence_source, avlm.studies, avlm.pmi, avlm.weight
    p_located, p_cooccurs, p_projects = avlm.located_in, avlm.co_occurs_with, avlm.projects_onto
    triples = []
    add = triples.append
    for i, (f, a, source, n) in enumerate(evidence.get("located_in", [])):
        e = avlm[f"evidence_located_in_{i}"]
        add((e, a_type, avlm.LocatedInEvidence))
        add((e, p_finding, uri(f)))
        add((e, p_anatomy, uri(a)))
        add((e, p_source, literal(source)))
        add((e, p_studies, literal(int(n), XSD.integer)))
        if shortcuts:
            add((uri(f), p_located, uri(a)))
    for i, (a, b, n, pmi, *_rest) in enumerate(evidence.get("cooccurs", [])):
        e = avlm[f"evidence_cooccurrence_{i}"]
        add((e, a_type, avlm.CooccurrenceEvidence))
        add((e, p_finding, uri(a)))
        add((e, p_other, uri(b)))
        add((e, p_studies, literal(int(n), XSD.integer)))
        add((e, p_pmi, literal(float(pmi), XSD.double)))
        if shortcuts:
            add((uri(a), p_cooccurs, uri(b)))
            add((uri(b), p_cooccurs, uri(a)))
    for i, (a, r, w, _note) in enumerate(kg.raw.get("projections", [])):
        e = avlm[f"evidence_projection_{i}"]
        add((e, a_type, avlm.ProjectionEvidence))
        add((e, p_anatomy, uri(a)))
        add((e, p_region, uri(r)))
        add((e, p_weight, literal(float(w), XSD.double)))
        if shortcuts:
            add((uri(a), p_projects, uri(r)))
    g.addN((s, p, o, g) for s, p, o in triples)


def sparql(kg, query: str, *, max_rows: int = DEFAULT_MAX_ROWS, timeout: float = DEFAULT_TIMEOUT_S) -> list[dict]:
    """Run a SPARQL SELECT (or ASK) query; rows as ``{variable: str | int | float | None}``.

    Prefixes ``avlm:``, ``rdfs:``, ``owl:``, ``skos:``, ``rdf:``, ``xsd:`` are predefined. The
    graph answers from itself only: ``SERVICE`` (also ``SILENT``), ``FROM``/``FROM NAMED`` and
    ``GRAPH`` are refused after parsing, before anything is evaluated, so no query makes the
    process open a connection or a file. Updates (``LOAD``, ``INSERT``…) do not parse as queries.

    Args:
        max_rows: more result rows than this stops the query (add ``LIMIT`` to page).
        timeout: wall-clock seconds of evaluation (the one-off RDF build not counted).
    Raises:
        QueryError: malformed, refused, or failing in evaluation (a bad regex…);
        QueryLimitError: over ``max_rows``, ``timeout`` or :data:`MAX_MEMORY_GROWTH_MIB` of memory
            (``reason``: ``"rows"``, ``"timeout"`` or ``"memory"``).
    """
    _check_limits(max_rows, timeout)
    prepared = _prepare(query)
    graph = rdf_graph(kg, shortcuts=True)
    guard = _Deadline(timeout)
    try:
        result = _bounded(graph, guard).query(prepared)
        if result.type == "ASK":
            return [{"ask": bool(result.askAnswer)}]
        names = [str(v) for v in result.vars]
        rows = []
        for row in result:
            if len(rows) >= max_rows:
                raise QueryLimitError("rows", f"SPARQL query returned more than {max_rows} rows; "
                                      "add LIMIT/OFFSET or raise --max-rows")
            guard.check()
            if not len(rows) & 1023:
                guard.check_memory()
            rows.append({name: _py(row[i]) for i, name in enumerate(names)})
        return rows
    except KGError:
        raise
    except Exception as err:  # rdflib raises many types while evaluating (bad regex, type errors…)
        raise QueryError(f"SPARQL evaluation failed: {_first_line(err)}") from err


def _check_limits(max_rows, timeout) -> None:
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise QueryError(f"max_rows must be a positive whole number, not {max_rows!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise QueryError(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT_S:g}], not {timeout!r}")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def _prepare(query: str):
    """Parse and translate to algebra; refuse what would reach outside this graph or is not a query."""
    from rdflib.plugins.sparql.processor import prepareQuery

    if not isinstance(query, str):
        raise QueryError(f"a SPARQL query is text, not {type(query).__name__}")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"SPARQL query is {len(query)} characters; at most {MAX_QUERY_CHARS} are read")
    try:
        prepared = prepareQuery(query, initNs=_PREFIXES)
    except Exception as err:  # pyparsing / rdflib raise many types
        raise QueryError(f"bad SPARQL query: {_first_line(err)}") from err
    algebra = prepared.algebra
    if algebra.name not in ("SelectQuery", "AskQuery"):
        kind = algebra.name.replace("Query", "").upper()
        raise QueryError(f"only SELECT and ASK queries are supported, not {kind}")
    if algebra.get("datasetClause"):
        raise QueryError("FROM / FROM NAMED refused: the graph answers from itself only (no remote or file graphs)")
    _refuse_outside(algebra)
    return prepared


def _refuse_outside(algebra) -> None:
    """Walk the algebra tree: a SERVICE (federated, would send HTTP) or GRAPH pattern is refused."""
    from rdflib.plugins.sparql.parserutils import CompValue

    stack = [algebra]
    while stack:
        part = stack.pop()
        if isinstance(part, CompValue):
            if part.name == "ServiceGraphPattern":
                raise QueryError("SERVICE refused: the graph answers from itself only (no federated or remote queries)")
            if part.name == "Graph":
                raise QueryError("GRAPH patterns are not supported: this graph has no named graphs")
            stack.extend(part.values())
        elif isinstance(part, (list, tuple)):
            stack.extend(part)


class _Deadline:
    """Budget of one query: wall-clock time (``check``) and memory growth (``check_memory``:
    the process's resident size may grow by :data:`MAX_MEMORY_GROWTH_MIB` — rows gathered for
    ORDER BY, DISTINCT or a hash join grow fast). Past either, QueryLimitError."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.end = time.monotonic() + timeout
        self.peak_limit = _resident_mib() + MAX_MEMORY_GROWTH_MIB

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise QueryLimitError("timeout", f"SPARQL query stopped after {self.timeout:g} s "
                                  "(--timeout); narrow it or add LIMIT")

    def check_memory(self) -> None:
        if _resident_mib() > self.peak_limit:
            raise QueryLimitError("memory", f"SPARQL query stopped: it needed more than {MAX_MEMORY_GROWTH_MIB} MiB "
                                  "of memory; narrow it or add LIMIT")


def _resident_mib() -> float:
    """Resident size now (Linux ``/proc/self/statm``), else the peak so far (other Unix), else 0."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource
    except ImportError:  # Windows: the time and row limits still hold
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def _bounded(graph, guard: _Deadline):
    """A view of ``graph`` (same store) whose triple matching checks the deadline: every pattern
    match of the evaluation goes through ``triples``, so a runaway join stops within ~a ms."""
    from rdflib import Graph

    class _BoundedGraph(Graph):
        def triples(self, triple):
            guard.check()
            for n, found in enumerate(super().triples(triple)):
                if not n & 255:
                    guard.check()
                    if not n & 4095:
                        guard.check_memory()
                yield found

    return _BoundedGraph(store=graph.store, identifier=graph.identifier, namespace_manager=graph.namespace_manager)


def _py(term):
    from rdflib import Literal, URIRef

    if term is None:
        return None
    if isinstance(term, Literal):
        value = term.toPython()
        return value if isinstance(value, (int, float, bool, str)) else str(term)
    if isinstance(term, URIRef) and str(term).startswith(NS):
        return "avlm:" + str(term)[len(NS):]
    return str(term)
