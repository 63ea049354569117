"""Where the parser's vocabulary comes from: the knowledge graph (``kg.AnatomyKG``).

The graph is passed in; when it is not, the default comes from
:func:`anatomy_vlm.kgload.load_kg` (the project's one accessor), which raises
:class:`kg.errors.KGError` when the graph cannot be built or loaded: there is no fallback
vocabulary, because a silently different lexicon would silently change every mention. One
lexicon per graph object is kept in memory (never pickled, never on disk).
"""

from __future__ import annotations

from anatomy_vlm.report.lexicon import Lexicon

__all__ = ["lexicon_of", "node_json", "graph_or_default"]

_BY_GRAPH: dict[int, tuple[object, Lexicon]] = {}


def graph_or_default(kg=None):
    """``kg`` itself, or the default graph from ``anatomy_vlm.kgload.load_kg()`` (raises on failure)."""
    if kg is not None:
        return kg
    from anatomy_vlm.kgload import load_kg

    return load_kg()


def lexicon_of(kg=None) -> Lexicon:
    """Lexicon of ``kg`` (default: the default graph), built once per graph object."""
    graph = graph_or_default(kg)
    key = id(graph)
    cached = _BY_GRAPH.get(key)
    if cached is None or cached[0] is not graph:
        cached = (graph, Lexicon.from_kg(graph))
        _BY_GRAPH[key] = cached
    return cached[1]


def node_json(kg, node_id: str) -> dict:
    """The public JSON node of ``node_id`` (``{"id","label","type","radlex","umls","synonyms"}``).

    An id the graph lacks (a parser supplement id) gets ``null`` fields rather than an error.
    """
    from kg.errors import KGError

    graph = graph_or_default(kg)
    try:
        return graph.node(node_id).to_json()
    except (KGError, KeyError):
        return {"id": node_id, "label": node_id.replace("_", " "), "type": None, "radlex": None,
                "umls": None, "synonyms": []}
